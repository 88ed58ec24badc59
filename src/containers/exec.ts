import { type ChildProcess, type StdioOptions, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { conflict } from '../errors.js';
import { lastRuntimeError, startFailureExitCode } from './runtime.js';
import { mergeEnv } from './run-flags.js';
import type { RuntimeSpec } from './runtime-spec.js';
import { readContainerFile, resolveUser } from './user.js';
import type { Containers } from './service.js';

export interface ExecOptions {
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  workdir?: string;
  user?: string;
  detach?: boolean;
}

/** A process started in a container: its pipes (those asked for), and its exit code to come. */
export interface ExecProcess {
  child: ChildProcess;
  exited: Promise<number>;
  /** The size of the exec's terminal (one started with a TTY over pipes). */
  resize(rows: number, columns: number): void;
}

/**
 * `exec`: a new process in a running container, from the container's own process settings (env, user, caps)
 * with the overrides given, run by `runc exec`. Resolves with the process's exit code.
 */
export async function execInContainer(containers: Containers, name: string, command: string[], options: ExecOptions = {}): Promise<number> {
  return spawnExec(containers, name, command, options, [options.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit']).exited;
}

/**
 * Starts `runc exec` with the given stdio (pipes for the Engine API, this terminal for the CLI). With a TTY,
 * runc holds the pty and relays it to that stdio. The exit code is Docker's: 126/127 when the command
 * could not be run.
 */
export function spawnExec(containers: Containers, name: string, command: string[], options: ExecOptions, stdio: StdioOptions): ExecProcess {
  const record = containers.reconcileOne(containers.resolve(name));
  if (record.state !== 'running') throw conflict(`container ${record.id} is not running`);
  const bundle = containers.bundle(record.id);
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as RuntimeSpec;
  const rootfs = spec.root.path;
  const processSpec = {
    ...spec.process,
    args: command,
    terminal: options.tty ?? false,
    env: mergeEnv(spec.process.env, options.env ?? []),
    cwd: options.workdir ?? spec.process.cwd,
    ...(options.user !== undefined && {
      user: (({ uid, gid, additionalGids }) => ({ uid, gid, additionalGids }))(
        resolveUser(options.user, readContainerFile(rootfs, '/etc/passwd') ?? '', readContainerFile(rootfs, '/etc/group') ?? ''),
      ),
    }),
  };
  const base = path.join(bundle, `exec-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(processSpec));
  const cleanUp = () => {
    fs.rmSync(`${base}.json`, { force: true });
    fs.rmSync(`${base}.log`, { force: true });
  };
  const onPty = (options.tty ?? false) && Array.isArray(stdio) && stdio.includes('pipe');
  let child: ChildProcess;
  try {
    child = containers.runtime(record).exec(record.id, `${base}.json`, `${base}.log`, { tty: options.tty ?? false, onPty, ...(options.detach && { detach: true }) }, stdio);
  } catch (error) {
    cleanUp();
    throw error;
  }
  const exited = new Promise<number>((resolve) => child.on('close', (status, signal) => resolve(status ?? (signal === 'SIGKILL' ? 137 : 128)))).then((code) => {
    // runc exits 255 when the process could not be started; Docker says 126 or 127 then.
    const failure = code === 255 ? lastRuntimeError(`${base}.log`) : undefined;
    cleanUp();
    return failure?.startsWith('exec failed') ? startFailureExitCode(failure) : code;
  });
  return { child, exited, resize: (rows, columns) => onPty && resizeScriptPty(child.pid, rows, columns) };
}

/**
 * Sets the size of the pty script(1) made for runc: the kernel then sends SIGWINCH to runc, which resizes the
 * container process's own pty to match, as for a terminal of its own.
 */
function resizeScriptPty(scriptPid: number | undefined, rows: number, columns: number): void {
  if (!scriptPid) return;
  try {
    const [runcPid] = fs.readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/);
    if (runcPid) spawnSync('stty', ['-F', `/proc/${runcPid}/fd/0`, 'rows', String(rows), 'cols', String(columns)], { stdio: 'ignore' });
  } catch {
    // The exec has ended.
  }
}
