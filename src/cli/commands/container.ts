import type { Engine } from '../../engine.js';
import { invalidArgument } from '../../errors.js';
import { parseTimestamp } from '../../util/time.js';
import type { ContainerRecord } from '../../containers/records.js';
import type { RunOptions } from '../../containers/run-options.js';
import { DetachWatcher, parseDetachKeys } from '../../containers/attach.js';
import { parseSettings } from '../../containers/settings.js';
import { containerStatus } from '../../containers/status.js';
import { formatPort } from '../../containers/ports.js';
import { checkFormat, ellipsis, formatRows, goTime, humanSize, timeAgo } from '../format.js';
import { print, reportError } from '../run.js';

export type RunFlags = RunOptions;

const create = (engine: Engine, image: string, command: string[], flags: RunFlags): ContainerRecord =>
  engine.createContainer(image, command, flags, (warning) => process.stderr.write(`${warning}\n`));

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
  const { exited } = await engine.runAttached(record.id, {
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

export async function startCommand(engine: Engine, names: string[], flags: { attach?: boolean; interactive?: boolean; detachKeys?: string } = {}) {
  if (flags.attach || flags.interactive) {
    // Docker's start -a/-i: one container, started and attached, its exit code ours.
    if (names.length > 1) throw invalidArgument('you cannot start and attach multiple containers at once');
    await engine.containers.start(names[0]!);
    await attachCommand(engine, names[0]!, { stdin: flags.interactive ?? false, detachKeys: flags.detachKeys ?? 'ctrl-p,ctrl-q' });
    return;
  }
  await forEach(names, async (name) => {
    await engine.containers.start(name);
    print(name);
  });
}

/**
 * `attach`: the container's output here as it comes, this terminal's input (raw, on a terminal) to its stdin
 * when it was started with -i, its pty sized as this terminal; the detach keys end the attach and leave the
 * container running; otherwise the attach ends with the container, and its exit code is ours.
 */
export async function attachCommand(engine: Engine, name: string, flags: { detachKeys: string; stdin?: boolean }) {
  const keys = parseDetachKeys(flags.detachKeys);
  const record = engine.containers.resolve(name);
  const settings = parseSettings(record.settings);
  const attached = engine.containers.attach(record.id);
  const withStdin = settings.interactive && flags.stdin !== false;
  const raw = withStdin && settings.tty && process.stdin.isTTY;
  if (settings.tty && process.stdout.isTTY) {
    const resize = () => attached.resize(process.stdout.rows, process.stdout.columns);
    resize();
    process.on('SIGWINCH', resize);
  }
  let detached = false;
  // Resolves when the detach keys are typed; never without stdin.
  const detachKeysTyped = new Promise<void>((resolve) => {
    if (!withStdin) return;
    if (raw) process.stdin.setRawMode(true);
    const watcher = new DetachWatcher(keys);
    process.stdin.on('data', (chunk: Buffer) => {
      const { pass, detach } = watcher.feed(chunk);
      if (pass.length > 0) void attached.write(pass).catch(() => undefined);
      if (detach) {
        detached = true;
        resolve();
      }
    });
    process.stdin.on('end', () => attached.endStdin());
  });
  const relay = (async () => {
    for await (const packet of attached.output()) (packet.stream === 'stderr' ? process.stderr : process.stdout).write(packet.data);
  })();
  await Promise.race([relay, detachKeysTyped]);
  if (raw) process.stdin.setRawMode(false);
  if (withStdin) process.stdin.destroy();
  await attached.close();
  if (!detached) process.exitCode = await engine.containers.wait(record.id);
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

export async function pauseCommand(engine: Engine, names: string[], paused: boolean) {
  await forEach(names, async (name) => {
    engine.containers.pause(name, paused);
    print(name);
  });
}

export function renameCommand(engine: Engine, name: string, newName: string) {
  engine.containers.rename(name, newName);
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
  const { removed, reclaimed } = await engine.containers.prune();
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

/** The fields of `ps` rows, and the type Docker's formatter gives them (named in unknown-field errors). */
const psFields = ['ID', 'Image', 'Command', 'CreatedAt', 'RunningFor', 'Status', 'State', 'Ports', 'Names', 'Size'];
const psType = '*formatter.ContainerContext';

export function psCommand(engine: Engine, flags: { all?: boolean; quiet?: boolean; size?: boolean; format?: string; trunc?: boolean; latest?: boolean }) {
  // As docker ps: the template is checked before listing, and asking for .Size asks for the sizes.
  if (flags.format !== undefined) {
    checkFormat(flags.format, psFields, psType);
    if (!flags.quiet && flags.size === undefined && /\.Size\b/.test(flags.format)) flags = { ...flags, size: true };
  }
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
      Status: engine.containers.isPaused(record) ? `${containerStatus(record)} (Paused)` : containerStatus(record, engine.containers.health(record)),
      State: engine.containers.isPaused(record) ? 'paused' : record.state,
      Ports: engine.containers.publishedPorts(record).map(formatPort).join(', '),
      Names: record.name,
    };
    if (flags.size) {
      const size = engine.containers.sizeOf(record);
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
  print(formatRows(rows, columns, flags.format, { type: psType }));
}

export async function logsCommand(engine: Engine, name: string, flags: { follow?: boolean; tail?: string; timestamps?: boolean; since?: string; until?: string }) {
  const tail = flags.tail === undefined || flags.tail === 'all' ? Number.POSITIVE_INFINITY : Number(flags.tail);
  if (!(tail >= 0)) throw invalidArgument(`invalid value for --tail: ${flags.tail}`);
  const window = {
    ...(flags.since !== undefined && { since: parseTimestamp(flags.since) }),
    ...(flags.until !== undefined && { until: parseTimestamp(flags.until) }),
  };
  for await (const entry of engine.containers.logs(name, { tail, follow: flags.follow ?? false, ...window })) {
    (entry.stream === 'stderr' ? process.stderr : process.stdout).write(flags.timestamps ? `${entry.time} ${entry.log}` : entry.log);
  }
}

export async function commitCommand(engine: Engine, name: string, reference: string | undefined, flags: { message?: string; author?: string; change?: string[] }) {
  const id = await engine.commit(name, {
    ...(reference !== undefined && { reference }),
    ...(flags.message !== undefined && { message: flags.message }),
    ...(flags.author !== undefined && { author: flags.author }),
    changes: flags.change ?? [],
  });
  print(id);
}

/** `diff`: A, C and D lines for what the container added, changed and deleted, as `docker diff` prints them. */
export async function diffCommand(engine: Engine, name: string) {
  const list = await engine.diff(name);
  print(list.map((change) => `${change.kind} ${change.path}`).join('\n'));
}

/** `export`: the container's whole filesystem (image layers and its own changes, merged) as one tar. */
export async function exportCommand(engine: Engine, name: string, flags: { output?: string }) {
  if (flags.output === undefined && process.stdout.isTTY) throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  await engine.export(name, flags.output ?? process.stdout);
}

/** `cp CONTAINER:SRC DEST` or `cp SRC CONTAINER:DEST`; paths inside the container never resolve outside its root. */
export async function cpCommand(engine: Engine, source: string, destination: string) {
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
  if (from) await engine.copyFromContainer(from.container, from.path, destination);
  else await engine.copyToContainer(source, to!.container, to!.path);
}

export async function execCommand(engine: Engine, name: string, command: string[], flags: { interactive?: boolean; tty?: boolean; env?: string[]; workdir?: string; user?: string; detach?: boolean }) {
  process.exitCode = await engine.exec(name, command, flags);
}
