import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitStatusError } from '../errors.js';
import { isDatabaseFull } from '../metadata/database.js';
import { LogWriter } from './logs.js';
import { runtimeMessage, startFailureExitCode } from './runtime.js';
import { parseSettings } from './settings.js';
import { createNetwork, type Network } from './network.js';
import { mergeEnv } from './run-flags.js';
import { type RuntimeMount, runtimeSpec } from './runtime-spec.js';
import { readContainerFile, resolveUser } from './user.js';
import type { ContainerRecord } from './records.js';
import type { Containers } from './service.js';

export interface Attach {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Foreground with a terminal: runc owns the terminal and proxies it; output is not logged. */
  tty?: boolean;
}

export interface StartResult {
  /** Resolves with the container's exit code when it ends. */
  exited: Promise<number>;
}


/**
 * Runs a container to its end: mounts its root, writes config.json, starts `runc run`, records the state
 * transitions, logs stdout/stderr in json-file format, and cleans up (unmount; remove with --rm). Used by the
 * detached monitor process and, for `run` in the foreground, by the CLI process itself. Resolves once the
 * container's process is running; throws (with Docker's exit code) if it could not start.
 */
/**
 * Makes the container's bundle ready to run: its root mounted, its network up (bridge), config.json written
 * from its settings (`terminal`: the process gets a pty). On failure nothing is left mounted or running.
 */
export async function prepareBundle(containers: Containers, record: ContainerRecord, terminal: boolean): Promise<{ network?: Network }> {
  const { id } = record;
  const settings = parseSettings(record.settings);
  const image = containers.images.resolve(record.imageId);
  const bundle = containers.bundle(id);
  // The files a private network bind-mounts, and the targets of RUN --mount, are made in the init layer, so
  // they are no change of the container's.
  const initFiles = settings.network === 'bridge' ? ['etc/hosts', 'etc/resolv.conf'] : [];
  const initDirs: string[] = [];
  for (const mount of settings.mounts) {
    if (!mount.inInit) continue;
    const target = mount.destination.replace(/^\/+/, '');
    if (mount.type !== 'tmpfs' && !fs.statSync(mount.source).isDirectory()) initFiles.push(target);
    else initDirs.push(target);
  }
  if (initFiles.length > 0 || initDirs.length > 0) containers.snapshotterFor(record).addInitFiles(id, initFiles, initDirs);
  const rootfs = await containers.snapshotterFor(record).mount(id, containers.images.layerChain(image));
  fs.rmSync(path.join(bundle, 'container.pid'), { force: true });
  let network: Network | undefined;
  try {
    const networkMounts: RuntimeMount[] = [];
    if (settings.network === 'bridge') {
      network = await createNetwork(id, settings.ports ?? [], bundle);
      const { release: _release, ...published } = network;
      fs.writeFileSync(path.join(bundle, 'network.json'), JSON.stringify(published));
      networkMounts.push(...bridgeFiles(bundle, settings.hostname, network));
    }
    const user = resolveUser(settings.user, readContainerFile(rootfs, '/etc/passwd') ?? '', readContainerFile(rootfs, '/etc/group') ?? '');
    // A missing volume or bind source is made, as Docker makes a `-v` bind's; tmpfs has none.
    for (const mount of settings.mounts) if (mount.type !== 'tmpfs' && !fs.existsSync(mount.source)) fs.mkdirSync(mount.source, { recursive: true });
    const spec = runtimeSpec({
      rootfsPath: rootfs,
      readonlyRootfs: settings.readonlyRootfs,
      args: settings.args,
      // HOSTNAME and HOME are known only now (the ID, the user's passwd entry in the image).
      env: mergeEnv(settings.env, [], {}, { hostname: settings.hostname, home: user.home }),
      cwd: settings.cwd || '/',
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      hostname: settings.hostname,
      terminal,
      mounts: [...settings.mounts, ...networkMounts],
      network: network ? { mode: 'private', netnsPath: network.netnsPath } : { mode: settings.network === 'host' ? 'host' : 'none' },
      ...(settings.memoryBytes !== undefined && { memoryBytes: settings.memoryBytes }),
      ...(settings.cpus !== undefined && { cpus: settings.cpus }),
      cgroupsPath: `/strata/${id}`,
    });
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  } catch (error) {
    network?.release();
    containers.snapshotterFor(record).unmount(id);
    throw error;
  }
  return network ? { network } : {};
}

/**
 * Runs a container to its end in this process (the foreground `run`, a build's RUN): starts `runc run` on its
 * bundle, records the state transitions, logs stdout/stderr in json-file format, and cleans up (unmount; remove
 * with --rm). Resolves once the container's process is running; throws (with Docker's exit code) if it could
 * not start. Detached containers run under conmon instead (conmon.ts).
 */
export async function startContainer(containers: Containers, id: string, attach: Attach = {}): Promise<StartResult> {
  const record = containers.resolve(id);
  const settings = parseSettings(record.settings);
  const bundle = containers.bundle(id);
  const pidFile = path.join(bundle, 'container.pid');
  const { network } = await prepareBundle(containers, record, attach.tty ?? false);

  const runtime = containers.runtime(record);
  runtime.delete(id); // stale state of an earlier run
  const child = runtime.run(id, bundle, pidFile, attach.tty ? 'inherit' : [attach.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe']);
  const log = attach.tty ? undefined : new LogWriter(containers.logPath(id));
  let started = false;
  // stderr before we know whether the process started: the runtime's error, or the container's first words.
  const early: Buffer[] = [];
  const forwardStderr = (chunk: Buffer) => {
    log?.write('stderr', chunk);
    attach.stderr?.write(chunk);
  };
  const forwardStdout = (chunk: Buffer) => {
    log?.write('stdout', chunk);
    attach.stdout?.write(chunk);
  };
  child.stdout?.on('data', forwardStdout);
  child.stderr?.on('data', (chunk: Buffer) => (started ? forwardStderr(chunk) : early.push(chunk)));
  if (attach.stdin && child.stdin) {
    attach.stdin.pipe(child.stdin);
    child.stdin.on('error', () => undefined); // the container closed its stdin
  }
  const exited = new Promise<number>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 }) as Record<string, number>)[signal] ?? 1 : 1)));
  });

  // runc writes the pid file once the container's process exists (it may already be running).
  let done = false;
  void exited.then(() => (done = true));
  for (let delay = 1; !done && !fs.existsSync(pidFile); delay = Math.min(delay * 2, 20)) await sleep(delay);
  if (fs.existsSync(pidFile)) {
    started = true;
    for (const chunk of early.splice(0)) forwardStderr(chunk);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    recordUnlessFull(() => containers.records.update(id, { state: 'running', pid, monitorPid: process.pid, startedAt: Date.now(), finishedAt: null, exitCode: null, error: null }), containers);
    containers.event(record, 'start');
  }

  const finish = exited.then((code) => {
    log?.close();
    runtime.delete(id);
    network?.release();
    fs.rmSync(path.join(bundle, 'network.json'), { force: true });
    containers.snapshotterFor(record).unmount(id);
    const message = started ? null : runtimeMessage(Buffer.concat(early).toString());
    const exitCode = started ? code : startFailureExitCode(message ?? '');
    if (started) containers.event(record, 'die', { exitCode: String(exitCode) });
    if (settings.autoRemove) containers.forget(record);
    else recordUnlessFull(() => containers.records.update(id, { state: 'exited', pid: null, monitorPid: null, exitCode, finishedAt: Date.now(), error: message }), containers);
    return { exitCode, message };
  });

  if (!started) {
    const { exitCode, message } = await finish;
    throw new ExitStatusError(exitCode, `failed to create task for container: ${message}`);
  }
  return { exited: finish.then((result) => result.exitCode) };
}

/** /etc/hosts and /etc/resolv.conf for a container on its own network, bind-mounted from the bundle as Docker does. */
function bridgeFiles(bundle: string, hostname: string, network: Network): RuntimeMount[] {
  const hostResolv = (() => {
    try {
      return fs.readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return '';
    }
  })();
  const keep = hostResolv.split('\n').filter((line) => /^(search|options)\s/.test(line));
  fs.writeFileSync(path.join(bundle, 'resolv.conf'), [`nameserver ${network.dnsServer}`, ...keep, ''].join('\n'));
  fs.writeFileSync(path.join(bundle, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${network.ipAddress}\t${hostname}\n`);
  return ['resolv.conf', 'hosts'].map((file) => ({ source: path.join(bundle, file), destination: `/etc/${file}`, readonly: false, type: 'bind' as const }));
}

/**
 * A state change of a container this process runs in the foreground. When the disk is full (the container may
 * have filled it) SQLite cannot record it: the run goes on, its output and exit code still reach the caller, and
 * the next command reconciles the row.
 */
function recordUnlessFull(update: () => void, containers: Containers): void {
  try {
    containers.records.transaction(update);
  } catch (error) {
    if (!isDatabaseFull(error)) throw error;
  }
}
