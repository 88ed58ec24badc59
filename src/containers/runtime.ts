import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError, unavailable } from '../errors.js';

/** The last error runc logged (json log format), if any. */
export function lastRuntimeError(logFile: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.trim().split('\n').reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' && entry.msg) return entry.msg;
    } catch {
      // Not a JSON line.
    }
  }
  return undefined;
}

/** The reason in runc's last log line (`level=error msg="..."`), unquoted. */
export function runtimeMessage(stderr: string): string {
  const line = stderr.trim().split('\n').at(-1) ?? '';
  const quoted = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  const message = quoted === undefined ? line : (JSON.parse(`"${quoted}"`) as string);
  return message.replace(/^runc (?:run|create) failed: /, '') || 'the container failed to start';
}

/** Docker's exit codes for a container that could not be started: 127 not found, 126 not executable. */
export function startFailureExitCode(message: string): number {
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|exec format error/i.test(message)) return 126;
  return 125;
}

/**
 * Drives an OCI runtime binary (runc by default, anything with runc's CLI such as crun). State lives under
 * <root>/runtime so Strata's containers never mix with another tool's.
 */
export class Runtime {
  readonly stateDir: string;

  constructor(
    root: string,
    readonly binary = 'runc',
  ) {
    this.stateDir = path.join(root, 'runtime');
    fs.mkdirSync(this.stateDir, { recursive: true });
  }

  /** Fails early, with what to do, when the runtime is not installed. */
  check(): void {
    const result = spawnSync(this.binary, ['--version'], { stdio: 'ignore' });
    if (result.error) {
      throw unavailable(`OCI runtime "${this.binary}" not found: install it (apt-get install ${this.binary === 'runc' ? 'runc' : this.binary}) or choose one with --runtime`);
    }
  }

  /** The global flags every runc command of this store takes (conmon passes them to runc too). */
  args(...rest: string[]): string[] {
    return ['--root', this.stateDir, ...rest];
  }

  /**
   * The runtime's own log goes to a file, so its stderr carries only the container's output and, if the
   * process could not start, one plain line saying why.
   */
  logArgs(logFile: string): string[] {
    return ['--log', logFile, '--log-format', 'json'];
  }

  /** `runc run` in the foreground: it stays the parent of the container's process and exits with its status. */
  run(id: string, bundle: string, pidFile: string, stdio: StdioOptions): ChildProcess {
    return spawn(this.binary, [...this.logArgs(path.join(bundle, 'runtime.log')), ...this.args('run', '--bundle', bundle, '--pid-file', pidFile, id)], { stdio, cwd: bundle });
  }

  /**
   * `runc exec`. With a TTY runc relays the process's pty to its own stdin and stdout, which must be a
   * terminal: `onPty` runs it under script(1), whose pty stands in for one when the caller has pipes (the Engine
   * API). The caller resizes through that pty (`resizeExec`).
   */
  exec(id: string, processJson: string, logFile: string, options: { tty: boolean; detach?: boolean; onPty?: boolean }, stdio: StdioOptions): ChildProcess {
    const flags = [...(options.tty ? ['--tty'] : []), ...(options.detach ? ['--detach'] : [])];
    const args = [...this.logArgs(logFile), ...this.args('exec', '--process', processJson, ...flags, id)];
    if (!options.onPty) return spawn(this.binary, args, { stdio });
    // script's pty is made raw before runc starts: runc would make it raw too, but output that came before would
    // pass its line discipline once more (\n becoming \r\r\n).
    const command = `stty raw -echo && exec ${[this.binary, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ')}`;
    return spawn('script', ['--quiet', '--flush', '--return', '--echo', 'never', '--command', command, '/dev/null'], { stdio });
  }

  kill(id: string, signal: string, all = false): void {
    const result = spawnSync(this.binary, this.args('kill', ...(all ? ['--all'] : []), id, signal), { encoding: 'utf8' });
    if (result.status !== 0 && !/not running|does not exist|container not running/i.test(result.stderr)) {
      throw new StrataError('internal', `${this.binary} kill: ${result.stderr.trim()}`);
    }
  }

  /** Removes the runtime's state of a container; when it has none (the usual case: `runc run` cleans up after itself), no process is spawned. */
  delete(id: string): void {
    if (!fs.existsSync(path.join(this.stateDir, id))) return;
    spawnSync(this.binary, this.args('delete', '--force', id), { stdio: 'ignore' });
  }

  /** `runc start`: runs the process of a created container (conmon made it with `runc create`). */
  start(id: string): void {
    const result = spawnSync(this.binary, this.args('start', id), { encoding: 'utf8' });
    if (result.status !== 0) throw new StrataError('internal', `${this.binary} start: ${result.stderr.trim() || `exit status ${result.status}`}`);
  }

  /** `runc pause` / `runc resume`: freezes or thaws every process of the container (the cgroup freezer). */
  freeze(id: string, frozen: boolean): void {
    const command = frozen ? 'pause' : 'resume';
    const result = spawnSync(this.binary, this.args(command, id), { encoding: 'utf8' });
    if (result.status !== 0) throw new StrataError('internal', `${this.binary} ${command}: ${result.stderr.trim() || `exit status ${result.status}`}`);
  }

  state(id: string): { status: string; pid: number } | undefined {
    const result = spawnSync(this.binary, this.args('state', id), { encoding: 'utf8' });
    if (result.status !== 0) return undefined;
    return JSON.parse(result.stdout) as { status: string; pid: number };
  }
}
