/**
 * One error vocabulary for the whole engine (after containerd's errdefs). Every edge maps a code once: the CLI
 * to an exit code (`exitCodeFor`), an HTTP API to a status (`httpStatusFor`). Callers ask with the predicates
 * (`isNotFound(error)`), which see through wrapping: a plain Error whose `cause` is a StrataError keeps its kind.
 */
export type ErrorCode =
  | 'invalid-argument'
  /** No credentials, or wrong ones (HTTP 401: the client may retry with others). */
  | 'unauthenticated'
  /** Credentials that are known but not allowed this (HTTP 403). */
  | 'permission-denied'
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
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'StrataError';
  }
}

/**
 * A command in a container that could not run or ended badly, with the code the CLI exits with: 125, 126 or 127
 * for a container that could not start (Docker's rules, see containers/runtime.ts), a RUN step's own non-zero
 * code. docker/cli carries the same in its StatusError; Go's os/exec calls it ExitError.
 */
export class ExitStatusError extends StrataError {
  constructor(
    readonly exitCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super('failed-precondition', message, options);
    this.name = 'ExitStatusError';
  }
}

export const invalidArgument = (message: string, options?: ErrorOptions) => new StrataError('invalid-argument', message, options);
export const unauthenticated = (message: string, options?: ErrorOptions) => new StrataError('unauthenticated', message, options);
export const permissionDenied = (message: string, options?: ErrorOptions) => new StrataError('permission-denied', message, options);
export const notFound = (message: string, options?: ErrorOptions) => new StrataError('not-found', message, options);
export const alreadyExists = (message: string, options?: ErrorOptions) => new StrataError('already-exists', message, options);
export const conflict = (message: string, options?: ErrorOptions) => new StrataError('conflict', message, options);
export const dataCorrupt = (message: string, options?: ErrorOptions) => new StrataError('data-corrupt', message, options);
export const unsupported = (message: string, options?: ErrorOptions) => new StrataError('unsupported', message, options);
export const failedPrecondition = (message: string, options?: ErrorOptions) => new StrataError('failed-precondition', message, options);
export const unavailable = (message: string, options?: ErrorOptions) => new StrataError('unavailable', message, options);

/**
 * Visits `error` and the errors it wraps (its `cause` chain, an AggregateError's `errors`), depth first, each
 * once (a cycle ends); below an error for which `visit` returns false nothing is visited.
 */
function walk(error: unknown, visit: (error: Error) => boolean, seen = new Set<Error>()): void {
  if (!(error instanceof Error) || seen.has(error)) return;
  seen.add(error);
  if (!visit(error)) return;
  if (error instanceof AggregateError) for (const inner of error.errors) walk(inner, visit, seen);
  walk(error.cause, visit, seen);
}

/**
 * The codes an error carries: on each chain, the nearest StrataError's. A plain Error that wraps one
 * (`new Error('context', { cause })`) keeps its kind, as Go's `%w` does; a StrataError that wraps another says
 * a kind of its own (a failed precondition because something was not found is a failed precondition). An
 * AggregateError carries the codes of all its errors, as errdefs' predicates see every error of errors.Join.
 */
function errorCodes(error: unknown): ErrorCode[] {
  const codes: ErrorCode[] = [];
  walk(error, (current) => {
    if (!(current instanceof StrataError)) return true;
    codes.push(current.code);
    return false;
  });
  return codes;
}

/** The code an edge answers with (the first of several in an AggregateError); undefined for an error of no kind. */
export function errorCode(error: unknown): ErrorCode | undefined {
  return errorCodes(error)[0];
}

const is = (code: ErrorCode) => (error: unknown) => errorCodes(error).includes(code);
export const isInvalidArgument = is('invalid-argument');
export const isUnauthenticated = is('unauthenticated');
export const isPermissionDenied = is('permission-denied');
export const isNotFound = is('not-found');
export const isAlreadyExists = is('already-exists');
export const isFailedPrecondition = is('failed-precondition');
export const isConflict = is('conflict');
export const isDataCorrupt = is('data-corrupt');
export const isUnsupported = is('unsupported');
export const isUnavailable = is('unavailable');
export const isInternal = is('internal');

/**
 * The exit status an error carries: the first ExitStatusError anywhere in its chain. Unlike the code, a
 * wrapping StrataError does not hide it: the status is what the container's command did, whatever the wrapper
 * makes of it.
 */
export function exitStatusOf(error: unknown): number | undefined {
  let status: number | undefined;
  walk(error, (current) => {
    if (current instanceof ExitStatusError) status ??= current.exitCode;
    return status === undefined;
  });
  return status;
}

/** Docker's CLI exits 1 for every daemon-side error; `run` gives its own failures 125 (`failure` below, from cli/main.ts). */
const exitCodes: Record<ErrorCode, number> = {
  'invalid-argument': 1,
  unauthenticated: 1,
  'permission-denied': 1,
  'not-found': 1,
  'already-exists': 1,
  'failed-precondition': 1,
  conflict: 1,
  'data-corrupt': 1,
  unsupported: 1,
  unavailable: 1,
  internal: 1,
};

/**
 * What the CLI exits with after an error: the exit status it carries (a container's, a RUN's), else `failure`
 * when the command gives Strata's own errors one (`run`: 125, as docker/cli's run does, so that 126, 127 and
 * the container's codes stay the command's), else the code's.
 */
export function exitCodeFor(error: unknown, failure?: number): number {
  return exitStatusOf(error) ?? failure ?? exitCodes[errorCode(error) ?? 'internal'];
}

/**
 * The Engine API's status for each code, as containerd's errdefs/errhttp ToHTTP and moby's errdefs
 * (http_helpers.go) map them: both kinds of 409 (Docker's API answers "already in use" and "is running" with
 * 409), 412 for a failed precondition (moby's mapping of containerd's; moby has no such kind of its own), 500
 * for corrupt data (errdefs' DataLoss; a route whose upload was corrupt may wrap it as invalid-argument), 501
 * for unsupported (NotImplemented). There is no not-modified (Docker's 304 for starting a running container):
 * here that is no error but the engine's answer, and a route can tell it from the record.
 * The embedded registry answers in the distribution spec's own codes instead (distribution/registry/errors.ts).
 */
const httpStatuses: Record<ErrorCode, number> = {
  'invalid-argument': 400,
  unauthenticated: 401,
  'permission-denied': 403,
  'not-found': 404,
  'already-exists': 409,
  conflict: 409,
  'failed-precondition': 412,
  'data-corrupt': 500,
  unsupported: 501,
  unavailable: 503,
  internal: 500,
};

export function httpStatusFor(error: unknown): number {
  return httpStatuses[errorCode(error) ?? 'internal'];
}

export function isNodeError(error: unknown, code?: string): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error && (code === undefined || (error as NodeJS.ErrnoException).code === code);
}
