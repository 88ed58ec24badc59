/**
 * The inspect objects as Docker's Go types see them, for `inspect -f`: its structs (whose fields exist even when
 * the JSON leaves them out: `{{.Config.User}}` is "" on an image without a user, `{{.Config.Labels.x}}` is
 * `<no value>` without labels) and its maps (a missing key is `<no value>`, `index` of one is "").
 */
import { withGoType } from './gofmt.js';

/** A field's Go kind: s string, b bool, n number, a slice, m map, p pointer (nil), or a nested struct. */
type Kind = 's' | 'b' | 'n' | 'a' | 'm' | 'p' | Schema;

interface Schema {
  fields: Record<string, Kind>;
  /** Slices of structs and maps of structs: the schema of their elements. */
  elements?: Record<string, Schema>;
}

/** A struct's fields as `Name:kind` words, with the nested structs named in `nested`. */
function schema(spec: string, nested: Record<string, Schema> = {}, elements?: Record<string, Schema>): Schema {
  const fields: Record<string, Kind> = {};
  for (const word of spec.split(/\s+/).filter(Boolean)) {
    const [name, kind] = word.split(':') as [string, string];
    fields[name] = kind === 'struct' ? nested[name]! : (kind as Kind);
  }
  return { fields, ...(elements && { elements }) };
}

// docker/docker api/types: container.Config and the image config (DockerOCIImageConfig) share these fields.
const imageConfig = schema('User:s ExposedPorts:m Env:a Entrypoint:a Cmd:a Volumes:m WorkingDir:s Labels:m StopSignal:s ArgsEscaped:b Healthcheck:p OnBuild:a Shell:a');
const containerConfig = schema(
  'Hostname:s Domainname:s User:s AttachStdin:b AttachStdout:b AttachStderr:b ExposedPorts:m Tty:b OpenStdin:b StdinOnce:b Env:a Cmd:a Healthcheck:p ' +
    'ArgsEscaped:b Image:s Volumes:m WorkingDir:s Entrypoint:a NetworkDisabled:b OnBuild:a Labels:m StopSignal:s StopTimeout:p Shell:a',
);

const imageInspect = schema(
  'Id:s RepoTags:a RepoDigests:a Parent:s Comment:s Created:s DockerVersion:s Author:s Config:struct Architecture:s Variant:s Os:s OsVersion:s Size:n RootFS:struct Metadata:struct',
  { Config: imageConfig, RootFS: schema('Type:s Layers:a'), Metadata: schema('LastTagTime:s') },
);

const containerInspect = schema(
  'Id:s Created:s Path:s Args:a State:struct Image:s ResolvConfPath:s HostnamePath:s HostsPath:s LogPath:s Name:s RestartCount:n Driver:s Platform:s ' +
    'MountLabel:s ProcessLabel:s AppArmorProfile:s ExecIDs:a HostConfig:struct Mounts:a Config:struct',
  {
    State: schema('Status:s Running:b Paused:b Restarting:b OOMKilled:b Dead:b Pid:n ExitCode:n Error:s StartedAt:s FinishedAt:s Health:p'),
    HostConfig: schema(
      'Binds:a ContainerIDFile:s NetworkMode:s PortBindings:m AutoRemove:b VolumeDriver:s VolumesFrom:a CapAdd:a CapDrop:a Dns:a DnsOptions:a DnsSearch:a ' +
        'ExtraHosts:a GroupAdd:a IpcMode:s Cgroup:s Links:a OomScoreAdj:n PidMode:s Privileged:b PublishAllPorts:b ReadonlyRootfs:b SecurityOpt:a ' +
        'StorageOpt:m Tmpfs:m UTSMode:s UsernsMode:s ShmSize:n Sysctls:m Runtime:s Memory:n NanoCpus:n CpuShares:n Annotations:m',
    ),
    Config: containerConfig,
  },
  { Mounts: schema('Type:s Name:s Source:s Destination:s Driver:s Mode:s RW:b Propagation:s') },
);

export const inspectSchemas = { image: imageInspect, container: containerInspect };
export type InspectKind = keyof typeof inspectSchemas;

/** Fields Docker declares as maps wherever they appear (for the parts of an object no schema covers). */
const mapFields = new Set(['Labels', 'ExposedPorts', 'Volumes', 'Data', 'Annotations', 'PortBindings', 'Ports', 'Networks', 'DriverOpts', 'Sysctls', 'StorageOpt', 'Tmpfs']);

function zero(kind: Kind): unknown {
  switch (kind) {
    case 's':
      return '';
    case 'b':
      return false;
    case 'n':
      return 0;
    case 'a':
      return withGoType([], '[]string');
    case 'm':
      return withGoType({}, 'map[string]string');
    case 'p':
      return null;
    default:
      return struct({}, kind);
  }
}

function map(value: Record<string, unknown>, elements?: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = view(item, elements);
  return withGoType(out, Object.values(out).every((item) => typeof item === 'string') ? 'map[string]string' : 'map[string]interface {}');
}

function struct(value: Record<string, unknown>, known?: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const kind = known?.fields[key];
    if (kind === 'm' || (kind === undefined && mapFields.has(key))) {
      out[key] = typeof item === 'object' && item !== null && !Array.isArray(item) ? map(item as Record<string, unknown>, known?.elements?.[key]) : item;
    } else if (kind === 'a' && Array.isArray(item)) {
      const element = known?.elements?.[key];
      out[key] = item.every((x) => typeof x === 'string') ? withGoType([...item], '[]string') : item.map((x) => view(x, element));
    } else out[key] = view(item, typeof kind === 'object' ? kind : undefined);
  }
  // Fields the JSON leaves out are there with their zero value, but not enumerable: `{{json .}}` and `{{.}}` print
  // the object as it is.
  for (const [key, kind] of Object.entries(known?.fields ?? {})) {
    if (!Object.hasOwn(out, key) || out[key] === undefined) Object.defineProperty(out, key, { value: zero(kind), enumerable: false, configurable: true, writable: true });
  }
  return withGoType(out, 'struct');
}

function view(value: unknown, known?: Schema): unknown {
  if (Array.isArray(value)) return value.map((item) => view(item));
  if (typeof value !== 'object' || value === null) return value;
  return struct(value as Record<string, unknown>, known);
}

/** An image's or a container's inspect object as Docker's typed value (a copy; the object is not changed). */
export function typedInspect(value: unknown, kind?: InspectKind): unknown {
  return view(value, kind ? inspectSchemas[kind] : undefined);
}
