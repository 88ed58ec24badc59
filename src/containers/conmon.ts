import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { failedPrecondition, StrataError } from '../errors.js';
import { findCommand } from '../util/process.js';
import { type Runtime, runtimeMessage } from './runtime.js';

/** What conmon needs to run one container's bundle, and where it reports. */
export interface ConmonLaunch {
  id: string;
  name: string;
  bundle: string;
  runtime: Runtime;
  /** conmon's log of the container's output (CRI's k8s-file format). */
  logPath: string;
  /** conmon writes the exit status into `<exitDir>/<id>` when the container ends. */
  exitDir: string;
  /** Where conmon makes the container's attach socket and control fifo. */
  socketDir: string;
  terminal: boolean;
  /** Keep stdin open (a pipe conmon holds), as `docker run -di` does. */
  stdin: boolean;
  /** Close the container's stdin when an attach that writes to it ends (Docker's StdinOnce). */
  stdinOnce?: boolean;
  /** Run when the container has ended and conmon has written the exit file: program and arguments. */
  exitCommand: string[];
}

/** conmon's own pid file, beside the container's in the bundle. */
export const conmonPidFile = (bundle: string) => path.join(bundle, 'conmon.pid');

/**
 * Starts conmon (Podman's and CRI-O's container monitor, a small C program) for a prepared bundle: it runs
 * `runc create` with the container's stdio on pipes (or a pty), detaches, and stays as the container's parent
 * for its whole life, logging its output and writing its exit status. Resolves with the container's pid once
 * created (the process waits for `runc start`) and conmon's pid; a container that could not be created is an
 * error with the runtime's message. The sync pipe (fd 3, `_OCI_SYNCPIPE`) is how conmon answers, as for Podman.
 */
export async function conmonCreate(launch: ConmonLaunch): Promise<{ pid: number }> {
  const binary = findCommand('conmon');
  if (!binary) throw failedPrecondition('conmon not found: detached containers run under it (apt-get install conmon)');
  const runtimePath = findCommand(launch.runtime.binary) ?? launch.runtime.binary;
  const runtimeArgs = [...launch.runtime.logArgs(path.join(launch.bundle, 'runtime.log')), ...launch.runtime.args()];
  const args = [
    '--api-version', '1',
    '--cid', launch.id,
    // The socket dir is <socketDir>/<cuuid>: a short cuuid keeps the attach socket's path under the 108 bytes unix sockets allow.
    '--cuuid', launch.id.slice(0, 12),
    '--name', launch.name,
    '--runtime', runtimePath,
    '--bundle', launch.bundle,
    '--container-pidfile', path.join(launch.bundle, 'container.pid'),
    '--conmon-pidfile', conmonPidFile(launch.bundle),
    '--log-path', `k8s-file:${launch.logPath}`,
    '--exit-dir', launch.exitDir,
    '--socket-dir-path', launch.socketDir,
    '--log-level', 'error',
    ...runtimeArgs.flatMap((arg) => ['--runtime-arg', arg]),
    ...(launch.terminal ? ['--terminal'] : []),
    ...(launch.stdin ? ['--stdin', ...(launch.stdinOnce ? [] : ['--leave-stdin-open'])] : []),
    '--exit-command', launch.exitCommand[0]!,
    ...launch.exitCommand.slice(1).flatMap((arg) => ['--exit-command-arg', arg]),
  ];
  fs.mkdirSync(launch.socketDir, { recursive: true });
  const child = spawn(binary, args, {
    cwd: launch.bundle,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const sync = child.stdio[3] as Readable;
  const answer = await new Promise<{ data?: number; pid?: number; message?: string }>((resolve, reject) => {
    let text = '';
    child.once('error', (error) => reject(new StrataError('internal', `conmon: ${error.message}`, { cause: error })));
    sync.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n').find((candidate) => candidate.trim().startsWith('{'));
      if (!line) return;
      try {
        resolve(JSON.parse(line) as { data?: number; message?: string });
      } catch {
        // A line still arriving.
      }
    });
    sync.on('close', () => reject(new StrataError('internal', `conmon exited before the container was created${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`)));
  }).finally(() => {
    sync.destroy();
    child.stderr?.destroy();
    child.unref();
  });
  const pid = answer.data ?? answer.pid ?? -1;
  if (pid <= 0) throw new ConmonCreateError(runtimeMessage(answer.message ?? ''));
  return { pid };
}

/** The runtime could not create the container; the message is the runtime's. */
export class ConmonCreateError extends StrataError {
  constructor(message: string) {
    super('failed-precondition', message);
  }
}
