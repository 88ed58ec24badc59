/**
 * One error vocabulary for the whole engine (after containerd's errdefs). Every edge maps a code once:
 * the CLI to an exit code, a future HTTP API to a status.
 */
export type ErrorCode =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'conflict'
  | 'data-corrupt'
  | 'unsupported'
  | 'unavailable'
  | 'internal';

export class StrataError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StrataError';
  }
}

export const invalidArgument = (message: string) => new StrataError('invalid-argument', message);
export const notFound = (message: string) => new StrataError('not-found', message);
export const conflict = (message: string) => new StrataError('conflict', message);
export const dataCorrupt = (message: string) => new StrataError('data-corrupt', message);
export const unsupported = (message: string) => new StrataError('unsupported', message);
export const failedPrecondition = (message: string) => new StrataError('failed-precondition', message);
export const unavailable = (message: string) => new StrataError('unavailable', message);

/** Docker's CLI exits 1 for every daemon-side error; `run` maps its own failures to 125 (see cli/commands/container.ts). */
const exitCodes: Record<ErrorCode, number> = {
  'invalid-argument': 1,
  'not-found': 1,
  'already-exists': 1,
  'failed-precondition': 1,
  conflict: 1,
  'data-corrupt': 1,
  unsupported: 1,
  unavailable: 1,
  internal: 1,
};

export function exitCodeFor(error: unknown): number {
  return error instanceof StrataError ? exitCodes[error.code] : 1;
}

export function isNodeError(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error && (code === undefined || (error as NodeJS.ErrnoException).code === code);
}
