import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../../engine.js';
import { invalidArgument } from '../../errors.js';
import { readLog } from '../../containers/logs.js';
import { type ContainerSettings, parseSettings } from '../../containers/settings.js';
import { mergeEnv, parseCpus, parseEnvFile, parseMemory, parseVolume, resolveCommand } from '../../containers/run-flags.js';
import type { ContainerRecord } from '../../metadata/db.js';
import { formatPort, parsePublish, type PublishedPort } from '../../containers/ports.js';
import { ellipsis, formatRows, goTime, humanDuration, humanSize, timeAgo } from '../format.js';
import { print, reportError } from '../run.js';

export interface RunFlags {
  name?: string;
  rm?: boolean;
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  volume?: string[];
  hostname?: string;
  network?: string;
  publish?: string[];
  memory?: string;
  cpus?: string;
  readOnly?: boolean;
  runtime?: string;
  label?: string[];
  stopSignal?: string;
  stopTimeout?: string;
}

/** Turns `run`/`create` flags and the image's config into the container's settings, with Docker's rules. */
function settingsFrom(engine: Engine, image: string, command: string[], flags: RunFlags): ContainerSettings {
  const config = engine.images.config(engine.images.resolve(image).id).config ?? {};
  const ports = (flags.publish ?? []).flatMap(parsePublish);
  // Docker's default is a private network; ours is the host's unless ports are published.
  const network = flags.network ?? (ports.length > 0 ? 'bridge' : 'host');
  if (network !== 'host' && network !== 'none' && network !== 'bridge') throw invalidArgument(`network "${network}" is not supported: use bridge, host or none`);
  if (network === 'host' && ports.length > 0) process.stderr.write('WARNING: Published ports are discarded when using host network mode\n');
  const fileEnv = (flags.envFile ?? []).flatMap((file) => parseEnvFile(fs.readFileSync(file, 'utf8')));
  const mounts = (flags.volume ?? []).map((spec) => {
    const volume = parseVolume(spec);
    return volume.type === 'volume' ? { ...volume, source: path.join(engine.root, 'volumes', volume.source, '_data') } : volume;
  });
  return {
    args: resolveCommand(config, { ...(flags.entrypoint !== undefined && { entrypoint: flags.entrypoint }), ...(command.length > 0 && { cmd: command }) }),
    env: mergeEnv(config.Env, [...fileEnv, ...(flags.env ?? [])], process.env, { tty: flags.tty ?? false }),
    cwd: flags.workdir ?? config.WorkingDir ?? '/',
    user: flags.user ?? config.User ?? '',
    ...(flags.hostname !== undefined && { hostname: flags.hostname }),
    tty: flags.tty ?? false,
    interactive: flags.interactive ?? false,
    autoRemove: flags.rm ?? false,
    readonlyRootfs: flags.readOnly ?? false,
    mounts,
    network,
    ...(network === 'bridge' && { ports }),
    ...(flags.memory !== undefined && { memoryBytes: parseMemory(flags.memory) }),
    ...(flags.cpus !== undefined && { cpus: parseCpus(flags.cpus) }),
    stopSignal: (flags.stopSignal ?? config.StopSignal ?? 'TERM').replace(/^SIG/i, '').toUpperCase(),
    stopTimeout: flags.stopTimeout !== undefined ? Number(flags.stopTimeout) : 10,
    runtime: flags.runtime ?? 'runc',
    labels: Object.fromEntries((flags.label ?? []).map((label) => [label.split('=')[0]!, label.slice(label.indexOf('=') + 1)])),
  } as ContainerSettings;
}

function create(engine: Engine, image: string, command: string[], flags: RunFlags): ContainerRecord {
  return engine.containers.create({ image, ...(flags.name !== undefined && { name: flags.name }), settings: settingsFrom(engine, image, command, flags) });
}

export function createCommand(engine: Engine, image: string, command: string[], flags: RunFlags) {
  print(create(engine, image, command, flags).id);
}

/**
 * `run`: create, then either hand the container to a detached monitor (-d) or run it right here with the
 * CLI as its monitor, output streamed and logged, signals forwarded, and the container's exit code as ours.
 */
export async function runCommand(engine: Engine, image: string, command: string[], flags: RunFlags) {
  const record = create(engine, image, command, flags);
  if (flags.detach) {
    await engine.containers.start(record.id);
    print(record.id);
    return;
  }
  const { startContainer } = await import('../../containers/monitor.js');
  const { exited } = await startContainer(engine, record.id, {
    stdout: process.stdout,
    stderr: process.stderr,
    ...(flags.interactive && !flags.tty && { stdin: process.stdin }),
    ...(flags.tty && { tty: true }),
  });
  const runtime = engine.containers.runtime(record);
  const forward = (signal: NodeJS.Signals) => () => {
    try {
      runtime.kill(record.id, signal.replace('SIG', ''));
    } catch {
      // Already gone.
    }
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  process.exitCode = await exited;
  for (const [signal, handler] of handlers) process.off(signal, handler);
  if (flags.interactive) process.stdin.destroy();
}

export async function startCommand(engine: Engine, names: string[]) {
  await forEach(names, async (name) => {
    await engine.containers.start(name);
    print(name);
  });
}

export async function stopCommand(engine: Engine, names: string[], flags: { time?: string }) {
  await forEach(names, async (name) => {
    await engine.containers.stop(name, flags.time !== undefined ? Number(flags.time) : undefined);
    print(name);
  });
}

export async function restartCommand(engine: Engine, names: string[], flags: { time?: string }) {
  await forEach(names, async (name) => {
    await engine.containers.stop(name, flags.time !== undefined ? Number(flags.time) : undefined);
    await engine.containers.start(name);
    print(name);
  });
}

export async function killCommand(engine: Engine, names: string[], flags: { signal?: string }) {
  await forEach(names, async (name) => {
    engine.containers.kill(name, flags.signal ?? 'KILL');
    print(name);
  });
}

export async function waitCommand(engine: Engine, names: string[]) {
  await forEach(names, async (name) => print(String(await engine.containers.wait(name))));
}

export async function rmCommand(engine: Engine, names: string[], flags: { force?: boolean }) {
  await forEach(names, async (name) => {
    await engine.containers.remove(name, { force: flags.force ?? false });
    print(name);
  });
}

export async function pruneCommand(engine: Engine, flags: { force?: boolean }) {
  if (!flags.force) {
    const { confirm } = await import('../prompt.js');
    if (!(await confirm('WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return;
  }
  const removed: string[] = [];
  let reclaimed = 0;
  for (const record of engine.containers.list()) {
    if (record.state === 'running') continue;
    reclaimed += engine.containers.snapshotterFor(record).usage(record.id).size;
    await engine.containers.remove(record.id);
    removed.push(record.id);
  }
  if (removed.length > 0) print(`Deleted Containers:\n${removed.join('\n')}\n`);
  print(`Total reclaimed space: ${humanSize(reclaimed)}`);
}

/** Docker's per-name loop: an error is reported and the rest go on; any error makes the exit status 1. */
async function forEach(names: string[], action: (name: string) => Promise<void>) {
  for (const name of names) {
    try {
      await action(name);
    } catch (error) {
      reportError(error);
    }
  }
}

/** The PORTS column: what the monitor published for a running container (network.json in its bundle). */
function publishedPorts(engine: Engine, record: ContainerRecord): string {
  if (record.state !== 'running') return '';
  try {
    const network = JSON.parse(fs.readFileSync(path.join(engine.containers.bundle(record.id), 'network.json'), 'utf8')) as { ports: PublishedPort[] };
    return network.ports.map(formatPort).join(', ');
  } catch {
    return '';
  }
}

function statusOf(record: ContainerRecord, now = Date.now()): string {
  if (record.state === 'running') return `Up ${humanDuration(now - (record.startedAt ?? now))}`;
  if (record.state === 'exited') return `Exited (${record.exitCode ?? 0}) ${humanDuration(now - (record.finishedAt ?? now))} ago`;
  return 'Created';
}

export function psCommand(engine: Engine, flags: { all?: boolean; quiet?: boolean; size?: boolean; format?: string; trunc?: boolean; latest?: boolean }) {
  let records = engine.containers.list().filter((record) => flags.all || record.state === 'running');
  if (flags.latest) records = records.slice(0, 1);
  const noTrunc = flags.trunc === false;
  if (flags.quiet) {
    print(records.map((record) => (noTrunc ? record.id : record.id.slice(0, 12))).join('\n'));
    return;
  }
  const rows = records.map((record) => {
    const settings = parseSettings(record.settings);
    const command = settings.args.join(' ');
    const row: Record<string, string> = {
      ID: noTrunc ? record.id : record.id.slice(0, 12),
      Image: record.imageName,
      Command: JSON.stringify(noTrunc ? command : ellipsis(command, 20)),
      CreatedAt: goTime(new Date(record.created).toISOString()),
      RunningFor: timeAgo(new Date(record.created).toISOString()),
      Status: statusOf(record),
      State: record.state,
      Ports: publishedPorts(engine, record),
      Names: record.name,
    };
    if (flags.size) {
      const size = engine.containers.snapshotterFor(record).usage(record.id).size;
      const virtual = size + engine.images.resolve(record.imageId).size;
      row.Size = `${humanSize(size)} (virtual ${humanSize(virtual)})`;
    }
    return row;
  });
  const columns = [
    { header: 'CONTAINER ID', field: 'ID' },
    { header: 'IMAGE', field: 'Image' },
    { header: 'COMMAND', field: 'Command' },
    { header: 'CREATED', field: 'RunningFor' },
    { header: 'STATUS', field: 'Status' },
    { header: 'PORTS', field: 'Ports' },
    { header: 'NAMES', field: 'Names' },
    ...(flags.size ? [{ header: 'SIZE', field: 'Size' }] : []),
  ];
  print(formatRows(rows, columns, flags.format));
}

export async function logsCommand(engine: Engine, name: string, flags: { follow?: boolean; tail?: string; timestamps?: boolean }) {
  const record = engine.containers.resolve(name);
  const file = engine.containers.logPath(record.id);
  const tail = flags.tail === undefined || flags.tail === 'all' ? Number.POSITIVE_INFINITY : Number(flags.tail);
  if (!(tail >= 0)) throw invalidArgument(`invalid value for --tail: ${flags.tail}`);
  let { entries, next } = readLog(file);
  entries = tail === Number.POSITIVE_INFINITY ? entries : entries.slice(Math.max(0, entries.length - tail));
  const emit = (list: typeof entries) => {
    for (const entry of list) (entry.stream === 'stderr' ? process.stderr : process.stdout).write(flags.timestamps ? `${entry.time} ${entry.log}` : entry.log);
  };
  emit(entries);
  if (!flags.follow) return;
  for (;;) {
    const running = engine.meta.container(record.id)?.state === 'running';
    const more = readLog(file, next);
    emit(more.entries);
    next = more.next;
    if (!running && more.entries.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function inspectContainer(engine: Engine, record: ContainerRecord) {
  const settings = parseSettings(record.settings);
  return {
    Id: record.id,
    Created: new Date(record.created).toISOString(),
    Path: settings.args[0] ?? '',
    Args: settings.args.slice(1),
    State: {
      Status: record.state,
      Running: record.state === 'running',
      Pid: record.pid ?? 0,
      ExitCode: record.exitCode ?? 0,
      Error: record.error ?? '',
      StartedAt: record.startedAt ? new Date(record.startedAt).toISOString() : '0001-01-01T00:00:00Z',
      FinishedAt: record.finishedAt ? new Date(record.finishedAt).toISOString() : '0001-01-01T00:00:00Z',
    },
    Image: record.imageId,
    Name: `/${record.name}`,
    Driver: record.snapshotter,
    Config: {
      Hostname: settings.hostname,
      User: settings.user,
      Env: settings.env,
      Cmd: settings.args,
      Image: record.imageName,
      WorkingDir: settings.cwd,
      Labels: settings.labels,
      Tty: settings.tty,
      OpenStdin: settings.interactive,
      StopSignal: settings.stopSignal,
    },
    HostConfig: {
      AutoRemove: settings.autoRemove,
      NetworkMode: settings.network,
      ReadonlyRootfs: settings.readonlyRootfs,
      Memory: settings.memoryBytes ?? 0,
      NanoCpus: settings.cpus ? Math.round(settings.cpus * 1e9) : 0,
      Runtime: settings.runtime,
    },
    Mounts: settings.mounts.map((m) => ({ Type: m.type, Source: m.source, Destination: m.destination, RW: !m.readonly })),
    LogPath: engine.containers.logPath(record.id),
  };
}

export async function commitCommand(engine: Engine, name: string, reference: string | undefined, flags: { message?: string; author?: string; change?: string[] }) {
  const { commitContainer } = await import('../../containers/commit.js');
  const id = await commitContainer(engine, name, {
    ...(reference !== undefined && { reference }),
    ...(flags.message !== undefined && { message: flags.message }),
    ...(flags.author !== undefined && { author: flags.author }),
    changes: flags.change ?? [],
  });
  print(id);
}

/** `diff`: A, C and D lines for what the container added, changed and deleted, as `docker diff` prints them. */
export async function diffCommand(engine: Engine, name: string) {
  const { changes } = await import('../../layers/diff.js');
  const record = engine.containers.resolve(name);
  const lowers = engine.images.layerChain(engine.images.resolve(record.imageId)).map((layer) => engine.layers.path(layer.dir));
  const list = await changes(engine.containers.snapshotterFor(record).upperDir(record.id), lowers.reverse());
  print(list.map((change) => `${change.kind} ${change.path}`).join('\n'));
}

/** `export`: the container's whole filesystem (image layers and its own changes, merged) as one tar. */
export async function exportCommand(engine: Engine, name: string, flags: { output?: string }) {
  if (flags.output === undefined && process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const { exportContainer } = await import('../../containers/files.js');
  await exportContainer(engine, name, flags.output ?? process.stdout);
}

/** `cp CONTAINER:SRC DEST` or `cp SRC CONTAINER:DEST`; paths inside the container never resolve outside its root. */
export async function cpCommand(engine: Engine, source: string, destination: string) {
  const { copyFromContainer, copyToContainer } = await import('../../containers/files.js');
  const split = (arg: string) => {
    const colon = arg.indexOf(':');
    // A path with a slash before any colon is local (`./a:b`), as in Docker.
    if (colon <= 0 || arg.slice(0, colon).includes('/')) return undefined;
    return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
  };
  const from = split(source);
  const to = split(destination);
  if (from && to) throw invalidArgument('copying between containers is not supported');
  if (!from && !to) throw invalidArgument('must specify at least one container source');
  if (from) await copyFromContainer(engine, from.container, from.path, destination);
  else await copyToContainer(engine, source, to!.container, to!.path);
}

export async function execCommand(engine: Engine, name: string, command: string[], flags: { interactive?: boolean; tty?: boolean; env?: string[]; workdir?: string; user?: string; detach?: boolean }) {
  const { execInContainer } = await import('../../containers/exec.js');
  process.exitCode = await execInContainer(engine, name, command, flags);
}
