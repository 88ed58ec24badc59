import { parseDetachKeys } from '../../containers/attach.js';
import type { ContainerRecord } from '../../containers/records.js';
import type { HealthConfig } from '../../containers/health.js';
import type { RunOptions } from '../../containers/run-options.js';
import { parseSettings } from '../../containers/settings.js';
import { containerStatus } from '../../containers/status.js';
import type { PublishedPort } from '../../containers/ports.js';
import type { Engine } from '../../engine.js';
import { invalidArgument, notFound } from '../../errors.js';
import { boolParam, checkFilters, intParam, matchesLabels, parseFilters, readJson, sendJson, sendStatus, timeParam } from '../http.js';
import { hijack, relayAttach, replayLogs, frame, send } from '../hijack.js';
import type { Router } from '../router.js';
import { resolveImage } from './images.js';
import type { ApiContext } from '../server.js';

/** The parts of `POST /containers/create`'s body Strata acts on; the rest is kept for inspect, as sent. */
export interface CreateBody {
  Hostname?: string;
  User?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Image?: string;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  ExposedPorts?: Record<string, unknown> | null;
  Healthcheck?: HealthConfig | null;
  HostConfig?: {
    RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
    Binds?: string[] | null;
    Mounts?: { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean }[] | null;
    NetworkMode?: string;
    PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
    PublishAllPorts?: boolean;
    AutoRemove?: boolean;
    Memory?: number;
    NanoCpus?: number;
    ReadonlyRootfs?: boolean;
    Runtime?: string;
  } | null;
}

const words = (value: string[] | string | null | undefined): string[] | undefined => (value == null ? undefined : typeof value === 'string' ? [value] : value);

/** Docker's `-p` notation for one PortBindings entry: `[IP:]HOST:PORT/PROTO`, an empty or 0 host port being any free one. */
function publishSpec(containerPort: string, binding: { HostIp?: string; HostPort?: string }): string {
  const hostPort = binding.HostPort && binding.HostPort !== '0' ? binding.HostPort : '';
  const ip = binding.HostIp && binding.HostIp !== '0.0.0.0' ? binding.HostIp : '';
  const port = containerPort.includes('/') ? containerPort : `${containerPort}/tcp`;
  if (ip) return `${ip.includes(':') ? `[${ip}]` : ip}:${hostPort}:${port}`;
  return hostPort ? `${hostPort}:${port}` : port;
}

/** The create body as run options: the same rules as `strata run` from here on. */
export function runOptionsFromBody(body: CreateBody, name: string | undefined, imageExposed: Record<string, unknown> = {}): RunOptions {
  const host = body.HostConfig ?? {};
  const volume = [
    ...(host.Binds ?? []),
    ...(host.Mounts ?? []).map((mount) => {
      if (mount.Type !== undefined && mount.Type !== 'bind' && mount.Type !== 'volume') throw invalidArgument(`mount type "${mount.Type}" is not supported: use bind or volume`);
      if (!mount.Target) throw invalidArgument('invalid mount config: Target must not be empty');
      return `${mount.Source ? `${mount.Source}:` : ''}${mount.Target}${mount.ReadOnly ? ':ro' : ''}`;
    }),
  ];
  const publish = Object.entries(host.PortBindings ?? {}).flatMap(([port, bindings]) => (bindings?.length ? bindings : [{}]).map((binding) => publishSpec(port, binding)));
  if (host.PublishAllPorts) {
    for (const port of Object.keys({ ...imageExposed, ...(body.ExposedPorts ?? {}) })) if (!host.PortBindings?.[port]) publish.push(publishSpec(port, {}));
  }
  const networkMode = host.NetworkMode;
  let network: string | undefined;
  if (networkMode === 'host' || networkMode === 'none' || networkMode === 'bridge') network = networkMode;
  else if (networkMode && networkMode !== 'default') throw notFound(`network ${networkMode} not found`);
  const entrypoint = words(body.Entrypoint);
  const { HostConfig: hostConfig, ...config } = body;
  return {
    ...(name !== undefined && name !== '' && { name }),
    rm: host.AutoRemove ?? false,
    interactive: body.OpenStdin ?? false,
    stdinOnce: body.StdinOnce ?? false,
    tty: body.Tty ?? false,
    env: (body.Env ?? []).filter((entry) => entry.includes('=')),
    ...(body.WorkingDir && { workdir: body.WorkingDir }),
    ...(body.User && { user: body.User }),
    ...(entrypoint !== undefined && { entrypoint }),
    volume,
    ...(body.Hostname && { hostname: body.Hostname }),
    ...(network !== undefined && { network }),
    publish,
    ...(host.Memory && { memory: `${host.Memory}b` }),
    ...(host.NanoCpus && { cpus: String(host.NanoCpus / 1e9) }),
    readOnly: host.ReadonlyRootfs ?? false,
    ...(host.Runtime && { runtime: host.Runtime }),
    label: Object.entries(body.Labels ?? {}).map(([key, value]) => `${key}=${value}`),
    ...(body.StopSignal && { stopSignal: body.StopSignal }),
    ...(body.StopTimeout != null && { stopTimeout: String(body.StopTimeout) }),
    ...(body.Healthcheck && { healthConfig: body.Healthcheck }),
    ...(host.RestartPolicy?.Name && { restart: host.RestartPolicy.Name === 'on-failure' && host.RestartPolicy.MaximumRetryCount ? `on-failure:${host.RestartPolicy.MaximumRetryCount}` : host.RestartPolicy.Name }),
    requested: { config: config as Record<string, unknown>, hostConfig: (hostConfig ?? {}) as Record<string, unknown> },
  };
}

/** Docker's NetworkSettings.Ports: every exposed port, with the host ports it was published on. */
function portMap(exposed: string[], published: PublishedPort[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const port of exposed) ports[port.includes('/') ? port : `${port}/tcp`] = null;
  for (const port of published) (ports[`${port.containerPort}/${port.protocol}`] ??= []).push({ HostIp: port.hostIp, HostPort: String(port.hostPort) });
  return ports;
}

/** The state word of the API (`created`, `running`, `paused`, `exited`). */
function stateOf(engine: Engine, record: ContainerRecord): string {
  return engine.containers.isPaused(record) ? 'paused' : record.state;
}

function inspectView(engine: Engine, record: ContainerRecord) {
  const base = engine.containers.inspect(record.id);
  const settings = parseSettings(record.settings);
  const requested = settings.requested ?? { config: {}, hostConfig: {} };
  let imageConfig: { ExposedPorts?: Record<string, unknown>; Entrypoint?: string[] | null; Cmd?: string[] | null } = {};
  try {
    imageConfig = engine.images.config(record.imageId).config ?? {};
  } catch {
    // The image went away (rmi -f): inspect still answers from the container's own settings.
  }
  const exposed = Object.keys({ ...(imageConfig.ExposedPorts ?? {}), ...((requested.config.ExposedPorts as Record<string, unknown> | undefined) ?? {}) });
  const published = engine.containers.publishedPorts(record);
  const networkName = settings.network;
  return {
    ...base,
    State: {
      ...base.State,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
    },
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    GraphDriver: { Name: record.snapshotter === 'overlay' ? 'overlay2' : 'vfs', Data: null },
    Config: {
      Domainname: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: exposed.length > 0 ? Object.fromEntries(exposed.map((port) => [port, {}])) : null,
      Volumes: null,
      OnBuild: null,
      Entrypoint: imageConfig.Entrypoint ?? null,
      ...requested.config,
      ...base.Config,
      Cmd: (requested.config.Cmd as string[] | undefined) ?? (requested.config.Entrypoint ? null : base.Config.Cmd),
      Image: record.imageName,
    },
    HostConfig: {
      Binds: null,
      PortBindings: {},
      Privileged: false,
      PublishAllPorts: false,
      // The logs are served by /logs as json-file's are; docker-py reads a run's output back only for json-file.
      LogConfig: { Type: 'json-file', Config: {} },
      ...requested.hostConfig,
      ...base.HostConfig,
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: portMap(exposed, published),
      SandboxKey: '',
      Gateway: networkName === 'bridge' && record.state === 'running' ? '10.0.2.2' : '',
      IPAddress: networkName === 'bridge' && record.state === 'running' ? '10.0.2.100' : '',
      IPPrefixLen: networkName === 'bridge' && record.state === 'running' ? 24 : 0,
      MacAddress: '',
      Networks: {
        [networkName]: {
          IPAMConfig: null,
          Links: null,
          Aliases: null,
          NetworkID: networkName,
          EndpointID: '',
          Gateway: networkName === 'bridge' && record.state === 'running' ? '10.0.2.2' : '',
          IPAddress: networkName === 'bridge' && record.state === 'running' ? '10.0.2.100' : '',
          IPPrefixLen: networkName === 'bridge' && record.state === 'running' ? 24 : 0,
          MacAddress: '',
        },
      },
    },
  };
}

/** A container as `GET /containers/json` lists it (and `/system/df`, with sizes). */
export function listEntry(engine: Engine, record: ContainerRecord, withSize: boolean) {
  const settings = parseSettings(record.settings);
  return {
    Id: record.id,
    Names: [`/${record.name}`],
    Image: record.imageName,
    ImageID: record.imageId,
    Command: settings.args.join(' '),
    Created: Math.floor(record.created / 1000),
    Ports: engine.containers.publishedPorts(record).map((port) => ({ IP: port.hostIp, PrivatePort: port.containerPort, PublicPort: port.hostPort, Type: port.protocol })),
    Labels: settings.labels,
    State: stateOf(engine, record),
    Status: engine.containers.isPaused(record) ? `${containerStatus(record)} (Paused)` : containerStatus(record, engine.containers.health(record)),
    HostConfig: { NetworkMode: settings.network },
    NetworkSettings: { Networks: { [settings.network]: { NetworkID: settings.network, IPAddress: '' } } },
    Mounts: settings.mounts.map((m) => ({ Type: m.type, Source: m.source, Destination: m.destination, Mode: m.readonly ? 'ro' : '', RW: !m.readonly, Propagation: '' })),
    ...(withSize && (() => {
      const rw = engine.containers.sizeOf(record);
      const image = engine.images.records.get(record.imageId)?.size ?? 0;
      return { SizeRw: rw, SizeRootFs: rw + image };
    })()),
  };
}

const containerFilters = ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'before', 'since', 'network', 'volume', 'health', 'isolation', 'is-task', 'publish', 'expose'];

export function containerRoutes(router: Router, { engine, hijacks }: ApiContext): void {
  const containers = () => engine.containers;

  /** A container by ID, unique prefix or name, in Docker's 404 words. */
  const find = (nameOrId: string): ContainerRecord => containers().reconcileOne(containers().resolve(nameOrId));

  router.add('POST', '/containers/create', async ({ req, res, query }) => {
    const body = await readJson<CreateBody>({ req });
    if (!body.Image) throw invalidArgument('Config cannot be empty in order to create a container');
    const image = resolveImage(engine, body.Image);
    const imageConfig = engine.images.config(image.id).config ?? {};
    const options = runOptionsFromBody(body, query.get('name') ?? undefined, imageConfig.ExposedPorts);
    const warnings: string[] = [];
    const record = engine.createContainer(body.Image, words(body.Cmd) ?? [], options, (warning) => warnings.push(warning.replace(/^WARNING: /, '')));
    sendJson(res, 201, { Id: record.id, Warnings: warnings });
  });

  router.add('GET', '/containers/json', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, containerFilters);
    const all = boolParam(query, 'all') || filters.has('status') || filters.has('exited');
    let records = containers().list().map((record) => containers().reconcileOne(record));
    records.sort((a, b) => b.created - a.created);
    const ancestors = (filters.get('ancestor') ?? []).map((name) => {
      try {
        return engine.images.resolve(name).id;
      } catch {
        return name;
      }
    });
    const any = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
    records = records.filter((record) => {
      const settings = parseSettings(record.settings);
      return (
        (all || record.state === 'running') &&
        any('id', (value) => record.id.startsWith(value)) &&
        any('name', (value) => namePattern(value).test(record.name)) &&
        any('status', (value) => value === stateOf(engine, record)) &&
        any('exited', (value) => record.state === 'exited' && String(record.exitCode) === value) &&
        (ancestors.length === 0 || ancestors.some((id) => id === record.imageId || id === record.imageName)) &&
        any('network', (value) => value === settings.network) &&
        matchesLabels(settings.labels, filters.get('label'))
      );
    });
    const limit = intParam(query, 'limit');
    if (limit !== undefined && limit > 0) records = records.slice(0, limit);
    sendJson(res, 200, records.map((record) => listEntry(engine, record, boolParam(query, 'size'))));
  });

  router.add('POST', '/containers/prune', async ({ res, query }) => {
    checkFilters(parseFilters(query.get('filters')), ['until', 'label']);
    const { removed, reclaimed } = await containers().prune();
    sendJson(res, 200, { ContainersDeleted: removed.length > 0 ? removed : null, SpaceReclaimed: reclaimed });
  });

  router.add('GET', '/containers/{id}/json', ({ res, params, query }) => {
    const record = find(params.id!);
    const view = inspectView(engine, record);
    if (boolParam(query, 'size')) {
      const rw = containers().sizeOf(record);
      sendJson(res, 200, { ...view, SizeRw: rw, SizeRootFs: rw + (engine.images.records.get(record.imageId)?.size ?? 0) });
    } else sendJson(res, 200, view);
  });

  router.add('POST', '/containers/{id}/start', async ({ res, params }) => {
    const record = find(params.id!);
    if (record.state === 'running') return sendStatus(res, 304);
    await containers().start(record.id, { onCreated: (started) => hijacks.started(started) });
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/stop', async ({ res, params, query }) => {
    const record = find(params.id!);
    if (record.state !== 'running') return sendStatus(res, 304);
    await containers().stop(record.id, intParam(query, 't'));
    containers().event(record, 'stop');
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/restart', async ({ res, params, query }) => {
    const record = find(params.id!);
    await containers().stop(record.id, intParam(query, 't'));
    await containers().start(record.id, { onCreated: (started) => hijacks.started(started) });
    containers().event(record, 'restart');
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/kill', async ({ res, params, query }) => {
    const given = query.get('signal') || 'KILL';
    const signal = /^\d+$/.test(given) ? signalName(Number(given)) : given.replace(/^SIG/i, '').toUpperCase();
    const record = containers().kill(params.id!, signal);
    // As the daemon: a SIGKILL is answered once the container has stopped, so a remove right after it works.
    if (signal === 'KILL') await containers().waitExit(record.id, 10_000);
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/pause', ({ res, params }) => {
    containers().pause(params.id!, true);
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/unpause', ({ res, params }) => {
    containers().pause(params.id!, false);
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/rename', ({ res, params, query }) => {
    const name = query.get('name');
    if (!name) throw invalidArgument('Error when allocating new name: name cannot be empty');
    containers().rename(params.id!, name);
    sendStatus(res, 204);
  });

  router.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    await containers().remove(params.id!, { force: boolParam(query, 'force') });
    sendStatus(res, 204);
  });

  router.add('POST', '/containers/{id}/wait', async ({ res, params, query }) => {
    const condition = query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalidArgument(`invalid condition: "${condition}"`);
    const record = containers().resolve(params.id!);
    // The headers go at once: `docker run` sends the wait before the start and waits for them.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let gone = false;
    res.on('close', () => (gone = true));
    const exitCode = await waitFor(engine, record, condition, () => gone);
    if (exitCode !== undefined) res.end(`${JSON.stringify({ Error: null, StatusCode: exitCode })}\n`);
  });

  router.add('POST', '/containers/{id}/resize', ({ res, params, query }) => {
    const rows = intParam(query, 'h');
    const columns = intParam(query, 'w');
    if (rows === undefined || columns === undefined) throw invalidArgument('h and w are required');
    containers().resize(params.id!, rows, columns);
    sendStatus(res, 200);
  });

  router.add('POST', '/containers/{id}/attach', async (call) => {
    const { query, params } = call;
    const record = find(params.id!);
    const settings = parseSettings(record.settings);
    const detachKeys = parseDetachKeys(query.get('detachKeys') || 'ctrl-p,ctrl-q');
    const streams = {
      stdin: boolParam(query, 'stdin') && settings.interactive,
      stdout: boolParam(query, 'stdout'),
      stderr: boolParam(query, 'stderr'),
      tty: settings.tty,
      detachKeys,
    };
    const connection = hijack(call);
    if (boolParam(query, 'logs')) await replayLogs(containers().logs(record.id), connection.output, streams);
    if (!boolParam(query, 'stream')) {
      connection.output.end();
      return;
    }
    const attachNow = async (current: ContainerRecord) => {
      await relayAttach(containers().attach(current.id), connection, streams);
    };
    if (record.state === 'running') {
      await attachNow(record).catch(() => undefined);
    } else if (record.state === 'created' || record.state === 'exited') {
      // Connected by the start (ours, through hijacks) or, when another process starts it, once it runs.
      let connected: Promise<void> | undefined;
      const withdraw = hijacks.onStart(record.id, (started) => {
        connected = attachNow(started);
        return Promise.resolve();
      });
      const closed = new Promise<void>((resolve) => connection.output.once('close', () => resolve()));
      let done = false;
      void closed.then(() => (done = true));
      while (!connected && !done) {
        const current = containers().records.get(record.id);
        if (!current) break;
        if (current.state === 'running' && !connected) {
          withdraw();
          connected = attachNow(current);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      withdraw();
      await connected?.catch(() => undefined);
    }
    connection.output.end();
  });

  router.add('GET', '/containers/{id}/logs', async ({ req, res, params, query }) => {
    const record = find(params.id!);
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
    const tailText = query.get('tail');
    const tail = tailText === null || tailText === '' || tailText === 'all' || Number(tailText) < 0 ? undefined : Number(tailText);
    if (tail !== undefined && !Number.isInteger(tail)) throw invalidArgument(`invalid tail value: ${tailText}`);
    const since = timeParam(query.get('since'));
    const until = timeParam(query.get('until'));
    const timestamps = boolParam(query, 'timestamps');
    const tty = parseSettings(record.settings).tty;
    // API 1.41's type for both framings: clients go by the container's Tty.
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
    res.flushHeaders();
    let gone = false;
    req.on('close', () => (gone = true));
    const entries = containers().logs(record.id, {
      ...(tail !== undefined && { tail }),
      follow: boolParam(query, 'follow'),
      ...(since !== undefined && { since }),
      ...(until !== undefined && { until }),
    });
    for await (const entry of entries) {
      if (gone) break;
      if (!(entry.stream === 'stdout' ? stdout : stderr)) continue;
      const data = Buffer.from(timestamps ? `${entry.time} ${entry.log}` : entry.log);
      if (!(await send(res, tty ? data : frame(entry.stream, data)))) break;
    }
    res.end();
  });
}

/**
 * `wait`: resolves with the exit code once the condition holds. `not-running`: now, unless it runs;
 * `next-exit`: the next exit from now (a created container's first run); `removed`: once the container is
 * gone. The code comes from the container's `die` event, so an --rm container removed at once still has one.
 */
async function waitFor(engine: Engine, record: ContainerRecord, condition: string, abandoned: () => boolean): Promise<number | undefined> {
  const { containers, events } = engine;
  const from = events.lastId();
  const dieCode = (after: number) => {
    const die = events.latest(record.id, 'die', after);
    return die ? Number(die.attributes.exitCode ?? 0) : undefined;
  };
  for (let delay = 10; !abandoned(); delay = Math.min(delay * 2, 100)) {
    const current = containers.records.get(record.id);
    const live = current && containers.reconcileOne(current);
    if (condition === 'not-running' && live?.state !== 'running') return live?.state === 'exited' ? (live.exitCode ?? 0) : (dieCode(0) ?? 0);
    if (condition === 'next-exit') {
      const code = dieCode(from);
      if (code !== undefined) return code;
      if (!live) return dieCode(0) ?? 0;
    }
    if (condition === 'removed' && !live) return dieCode(0) ?? 0;
    await containers.exitOrTimeout(delay);
  }
  return undefined;
}

/** Docker's name filter: a regular expression over the name; an invalid one is the client's error. */
function namePattern(value: string): RegExp {
  try {
    return new RegExp(value.replace(/^\//, ''));
  } catch {
    throw invalidArgument(`invalid name filter ${JSON.stringify(value)}: not a regular expression`);
  }
}

/** Signal numbers some clients send (`kill?signal=9`), as names. */
function signalName(number: number): string {
  const names: Record<number, string> = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 6: 'ABRT', 9: 'KILL', 10: 'USR1', 12: 'USR2', 14: 'ALRM', 15: 'TERM', 17: 'CHLD', 18: 'CONT', 19: 'STOP', 20: 'TSTP', 28: 'WINCH' };
  const name = names[number];
  if (!name) throw invalidArgument(`Invalid signal: ${number}`);
  return name;
}
