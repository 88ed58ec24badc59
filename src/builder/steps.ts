/**
 * What each Dockerfile step means for the image, as pure functions: the config a metadata instruction leaves,
 * the history text Docker's classic builder writes (`/bin/sh -c #(nop)  CMD ["sh"]`, `|1 A=1 /bin/sh -c make`,
 * `/bin/sh -c #(nop) COPY file:<hex> in /app `), the command a RUN runs, and the build cache's keys.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';
import { escapeRegExp } from '../util/text.js';
import type { CreateOptions } from '../containers/service.js';
import { resolveUser } from '../containers/user.js';
import type { ContainerConfig } from '../images/model.js';
import type { CommandLine, Healthcheck, Instruction, RunInstruction } from './dockerfile/index.js';

export const defaultShell = ['/bin/sh', '-c'];

export const shellOf = (config: ContainerConfig): string[] => (Array.isArray(config.Shell) ? (config.Shell as string[]) : defaultShell);

/** Exec form as is; shell form behind the stage's SHELL. */
export function commandOf(config: ContainerConfig, line: CommandLine): string[] {
  return line.prependShell ? [...shellOf(config), line.command.join(' ')] : line.command;
}

/** What RUN executes: heredocs become part of the shell script, a lone `<<EOF` runs its content. */
export function runCommand(config: ContainerConfig, run: RunInstruction): string[] {
  if (!run.prependShell || run.heredocs.length === 0) return commandOf(config, run);
  const line = run.command.join(' ');
  const only = run.heredocs[0]!;
  if (run.heredocs.length === 1 && new RegExp(`^<<-?(["']?)${escapeRegExp(only.name)}\\1$`).test(line.trim())) {
    return [...shellOf(config), only.content];
  }
  const script = [line, ...run.heredocs.map((doc) => `${doc.content}${doc.name}`)].join('\n');
  return [...shellOf(config), script];
}

/** Docker's `|<n> K=V ...` prefix: the build args a RUN saw, sorted, which the history and the cache key keep. */
export function runCreatedBy(command: string[], args: readonly [string, string][]): string {
  const pairs = args.map(([key, value]) => `${key}=${value}`).sort();
  return [...(pairs.length > 0 ? [`|${pairs.length}`, ...pairs] : []), ...command].join(' ');
}

/** A metadata step's history: the shell, `#(nop) ` and the instruction, joined as Go's strings.Join does. */
export function nopCreatedBy(config: ContainerConfig, text: string): string {
  return [...shellOf(config), '#(nop) ', text].join(' ');
}

/** COPY/ADD's history: one comment word after `#(nop)`, with Docker's trailing space. */
export function copyCreatedBy(config: ContainerConfig, kind: 'COPY' | 'ADD', checksum: string, dest: string): string {
  return [...shellOf(config), `#(nop) ${kind} ${checksum} in ${dest} `].join(' ');
}

/** Go's %q of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

const goEscapes: Record<string, string> = { '\u0007': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u000b': '\\v' };

/** Go's strconv.Quote: JSON's escapes, but `\x01` for other control bytes and DEL. */
function goQuote(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (goEscapes[char]) out += goEscapes[char];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

/** Go's time.Duration String(): `1m30s`, `500ms`, `0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`;
  const hours = Math.floor(ns / 3600e9);
  const minutes = Math.floor((ns % 3600e9) / 60e9);
  const seconds = trim((ns % 60e9) / 1e9);
  return `${hours > 0 ? `${hours}h` : ''}${hours > 0 || minutes > 0 ? `${minutes}m` : ''}${seconds}s`;
}

const trim = (value: number) => String(Number(value.toFixed(9)));

/** Joins WORKDIR onto the previous one as Docker does (relative paths continue it). */
export function joinWorkdir(previous: string | undefined, next: string): string {
  const joined = next.startsWith('/') ? next : `${previous || '/'}/${next}`;
  const parts: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

export interface MetadataResult {
  config: ContainerConfig;
  /** The history text after `#(nop) `. */
  text: string;
  /** MAINTAINER sets the image's author. */
  author?: string;
}

/**
 * The config after a metadata instruction (one that makes no layer). `cmdSet`: whether this stage set CMD
 * already; an ENTRYPOINT resets a CMD that came from the base image, as Docker does.
 */
export function applyMetadata(config: ContainerConfig, inst: Instruction, cmdSet: boolean): MetadataResult {
  const next: ContainerConfig = { ...config };
  switch (inst.kind) {
    case 'CMD':
      next.Cmd = commandOf(config, inst);
      return { config: next, text: `CMD ${goQuoteList(next.Cmd)}` };
    case 'ENTRYPOINT':
      next.Entrypoint = commandOf(config, inst);
      if (!cmdSet) next.Cmd = null;
      return { config: next, text: `ENTRYPOINT ${goQuoteList(next.Entrypoint)}` };
    case 'ENV': {
      const env = [...(config.Env ?? [])];
      for (const { key, value } of inst.env) {
        const index = env.findIndex((entry) => entry.split('=', 1)[0] === key);
        if (index === -1) env.push(`${key}=${value}`);
        else env[index] = `${key}=${value}`;
      }
      next.Env = env;
      return { config: next, text: `ENV ${inst.env.map(({ key, value }) => `${key}=${value}`).join(' ')}` };
    }
    case 'LABEL':
      next.Labels = { ...(config.Labels ?? {}), ...Object.fromEntries(inst.labels.map(({ key, value }) => [key, value])) };
      return { config: next, text: `LABEL ${inst.labels.map(({ key, value }) => `${key}=${value}`).join(' ')}` };
    case 'ARG':
      return { config: next, text: `ARG ${inst.args.map((arg) => (arg.value === undefined ? arg.key : `${arg.key}=${arg.value}`)).join(' ')}` };
    case 'EXPOSE': {
      const ports = { ...(config.ExposedPorts ?? {}) };
      for (const spec of inst.ports) for (const port of exposedPorts(spec)) ports[port] = {};
      next.ExposedPorts = ports;
      return { config: next, text: `EXPOSE ${inst.ports.join(' ')}` };
    }
    case 'WORKDIR':
      next.WorkingDir = joinWorkdir(config.WorkingDir, inst.path);
      return { config: next, text: `WORKDIR ${next.WorkingDir}` };
    case 'USER':
      next.User = inst.user;
      return { config: next, text: `USER ${inst.user}` };
    case 'VOLUME': {
      const volumes = { ...(config.Volumes ?? {}) };
      for (const volume of inst.volumes) {
        if (volume.trim() === '') throw invalidArgument('VOLUME specified can not be an empty string');
        volumes[volume] = {};
      }
      next.Volumes = volumes;
      return { config: next, text: `VOLUME [${inst.volumes.join(' ')}]` };
    }
    case 'STOPSIGNAL':
      next.StopSignal = inst.signal;
      return { config: next, text: `STOPSIGNAL ${inst.signal}` };
    case 'HEALTHCHECK':
      next.Healthcheck = healthcheckConfig(inst.health);
      return { config: next, text: `HEALTHCHECK ${healthcheckText(inst.health)}` };
    case 'SHELL':
      next.Shell = inst.shell;
      return { config: next, text: `SHELL [${inst.shell.join(' ')}]` };
    case 'ONBUILD':
      next.OnBuild = [...(config.OnBuild ?? []), inst.expression];
      return { config: next, text: `ONBUILD ${inst.expression}` };
    case 'MAINTAINER':
      return { config: next, text: `MAINTAINER ${inst.maintainer}`, author: inst.maintainer };
    default:
      throw new Error(`${inst.kind} is not a metadata instruction`);
  }
}

/** `8080`, `53/udp`, `1000-1002/tcp` as the config's keys (`8080/tcp`, ...), ranges expanded, as Docker's nat package does. */
export function exposedPorts(spec: string): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/([a-z]+))?$/i.exec(spec);
  const protocol = (match?.[3] ?? 'tcp').toLowerCase();
  if (!match || !['tcp', 'udp', 'sctp'].includes(protocol)) throw invalidArgument(`invalid containerPort: ${spec}`);
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start > 65535 || end > 65535) throw invalidArgument(`invalid containerPort: ${spec}`);
  if (end < start) throw invalidArgument(`invalid range specified for container port: ${spec}`);
  return Array.from({ length: end - start + 1 }, (_, i) => `${start + i}/${protocol}`);
}

/** The image config's Healthcheck object (Docker's field names). */
function healthcheckConfig(health: Healthcheck): Record<string, unknown> {
  return {
    Test: health.test,
    ...(health.interval && { Interval: health.interval }),
    ...(health.timeout && { Timeout: health.timeout }),
    ...(health.startPeriod && { StartPeriod: health.startPeriod }),
    ...(health.startInterval && { StartInterval: health.startInterval }),
    ...(health.retries && { Retries: health.retries }),
  };
}

/** Go's %q of Docker's HealthConfig pointer, as the classic builder's history shows it. */
function healthcheckText(health: Healthcheck): string {
  const durations = [health.interval, health.timeout, health.startPeriod, health.startInterval].map((d) => `"${goDuration(d ?? 0)}"`);
  return `&{${goQuoteList(health.test)} ${durations.join(' ')} '${goRune(health.retries ?? 0)}'}`;
}

/** Go's %q of an int: a quoted rune (strconv.QuoteRune's escapes). */
function goRune(value: number): string {
  const char = String.fromCodePoint(value);
  if (char === "'" || char === '\\') return `\\${char}`;
  if (goEscapes[char]) return goEscapes[char];
  if (value >= 0x20 && value < 0x7f) return char;
  return `\\x${value.toString(16).padStart(2, '0')}`;
}

/** sha256 hex of the parts, each length-prefixed so no two lists collide. */
export function cacheKey(...parts: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update('strata-build-cache-v1');
  for (const part of parts) hash.update(`${Buffer.byteLength(part)}:${part}`);
  return hash.digest('hex');
}

/**
 * The container a RUN step runs in: the image's config plus build args (and proxy variables) in the environment,
 * no terminal, killed at once when stopped. Its hostname is its ID, as Docker gives a build container's.
 */
export function runSettings(config: ContainerConfig, command: string[], env: [string, string][], network: 'host' | 'none'): CreateOptions['settings'] {
  return {
    args: command,
    env: [...(config.Env ?? []), ...env.map(([k, v]) => `${k}=${v}`)],
    cwd: config.WorkingDir || '/',
    user: config.User ?? '',
    tty: false,
    interactive: false,
    autoRemove: false,
    readonlyRootfs: false,
    mounts: [],
    network,
    stopSignal: 'KILL',
    stopTimeout: 0,
    runtime: 'runc',
    labels: {},
  };
}

/** `--chown=user[:group]`: names looked up in the image's passwd and group; a lone user means gid = uid (Docker's rule). */
export function chownIds(spec: string, passwd: string, group: string): { uid: number; gid: number } {
  const [user = '', groupName] = spec.split(':');
  const uid = resolveUser(user, passwd, group).uid;
  const gid = groupName === undefined || groupName === '' ? uid : resolveUser(`${user}:${groupName}`, passwd, group).gid;
  return { uid, gid };
}

/** `--chmod`: an octal mode (755, 0644); symbolic modes are refused with a clear error. */
export function parseChmod(text: string): number {
  if (!/^[0-7]{3,4}$/.test(text)) throw invalidArgument(`invalid chmod parameter ${JSON.stringify(text)}: only octal modes such as 755 are supported`);
  return Number.parseInt(text, 8);
}
