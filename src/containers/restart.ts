import { invalidArgument } from '../errors.js';

/** Docker's `--restart` policy. */
export interface RestartPolicy {
  name: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  /** on-failure's limit; 0 is none. */
  maxRetries: number;
}

/** `no`, `always`, `unless-stopped`, `on-failure[:N]`, in Docker's words when wrong. */
export function parseRestartPolicy(spec: string): RestartPolicy {
  const [name = '', count, ...rest] = spec.split(':');
  if (rest.length > 0) throw invalidArgument(`invalid restart policy format: ${spec}`);
  if (name === 'no' || name === 'always' || name === 'unless-stopped') {
    if (count !== undefined) throw invalidArgument(`maximum retry count cannot be used with restart policy '${name}'`);
    return { name, maxRetries: 0 };
  }
  if (name === 'on-failure') {
    const maxRetries = count === undefined ? 0 : Number(count);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw invalidArgument(`invalid restart policy format: maximum retry count must be an integer: ${count}`);
    return { name, maxRetries };
  }
  throw invalidArgument(`invalid restart policy '${name}'`);
}

/** Whether a container that exited with `exitCode` is started again (moby's restartmanager.ShouldRestart). */
export function shouldRestart(policy: RestartPolicy | undefined, exitCode: number, restartCount: number, stoppedByUser: boolean): boolean {
  if (!policy || policy.name === 'no' || stoppedByUser) return false;
  if (policy.name === 'on-failure') return exitCode !== 0 && (policy.maxRetries === 0 || restartCount < policy.maxRetries);
  return true;
}

/** The wait before a restart: 100 ms doubling per restart in a row, at most a minute, as Docker backs off. */
export function restartDelayMs(restartCount: number): number {
  return Math.min(100 * 2 ** restartCount, 60_000);
}
