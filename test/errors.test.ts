import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conflict,
  dataCorrupt,
  type ErrorCode,
  errorCode,
  ExitStatusError,
  exitCodeFor,
  exitStatusOf,
  failedPrecondition,
  httpStatusFor,
  invalidArgument,
  isAlreadyExists,
  isConflict,
  isDataCorrupt,
  isFailedPrecondition,
  isInternal,
  isInvalidArgument,
  isNotFound,
  isPermissionDenied,
  isUnauthenticated,
  isUnavailable,
  isUnsupported,
  notFound,
  permissionDenied,
  StrataError,
  unauthenticated,
  unavailable,
} from '../src/errors.js';

const predicates: [ErrorCode, (error: unknown) => boolean][] = [
  ['invalid-argument', isInvalidArgument],
  ['unauthenticated', isUnauthenticated],
  ['permission-denied', isPermissionDenied],
  ['not-found', isNotFound],
  ['already-exists', isAlreadyExists],
  ['failed-precondition', isFailedPrecondition],
  ['conflict', isConflict],
  ['data-corrupt', isDataCorrupt],
  ['unsupported', isUnsupported],
  ['unavailable', isUnavailable],
  ['internal', isInternal],
];

test('each predicate answers for its own code only', () => {
  for (const [code, predicate] of predicates) {
    for (const [other] of predicates) assert.equal(predicate(new StrataError(other, 'x')), other === code, `${code} of ${other}`);
  }
});

test('predicates see through wrapping: the nearest StrataError on the cause chain decides', () => {
  const missing = notFound('blob sha256:abc not found');
  const looped = new Error('loop');
  looped.cause = looped;
  const cases: [string, unknown, ErrorCode[]][] = [
    ['the error itself', missing, ['not-found']],
    ['a plain Error wrapping it', new Error('reading the layer', { cause: missing }), ['not-found']],
    ['two plain Errors deep', new Error('outer', { cause: new TypeError('middle', { cause: missing }) }), ['not-found']],
    ['a StrataError wrapping it says its own kind', failedPrecondition('cannot commit', { cause: missing }), ['failed-precondition']],
    ['a StrataError wrapping a Node error', unavailable('cannot reach host', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), ['unavailable']],
    ['an AggregateError carries every kind', new AggregateError([missing, new Error('x', { cause: conflict('busy') })], 'both failed'), ['not-found', 'conflict']],
    ['a wrapped AggregateError too', new Error('outer', { cause: new AggregateError([dataCorrupt('bad')]) }), ['data-corrupt']],
    ['a plain Error has no kind', new Error('boom'), []],
    ['a cycle ends', looped, []],
    ['not an Error at all', 'a string', []],
    ['nothing', undefined, []],
  ];
  for (const [name, error, codes] of cases) {
    for (const [code, predicate] of predicates) assert.equal(predicate(error), codes.includes(code), `${name}: ${code}`);
    assert.equal(errorCode(error), codes[0], name);
  }
});

test('every factory keeps the cause it is given', () => {
  const cause = new SyntaxError('Unexpected token');
  for (const error of [invalidArgument('x', { cause }), notFound('x', { cause }), unauthenticated('x', { cause }), permissionDenied('x', { cause }), dataCorrupt('x', { cause })]) {
    assert.equal(error.cause, cause);
  }
  assert.equal(invalidArgument('x').cause, undefined);
});

test('ExitStatusError carries the exit code through wrapping; it is a failed precondition', () => {
  const start = new ExitStatusError(127, 'failed to create task for container: exec: "nope": executable file not found in $PATH');
  assert.ok(start instanceof StrataError);
  assert.equal(start.exitCode, 127);
  assert.equal(start.name, 'ExitStatusError');
  assert.ok(isFailedPrecondition(start));
  const cases: [unknown, number | undefined][] = [
    [start, 127],
    [new Error('run', { cause: start }), 127],
    [failedPrecondition('build failed', { cause: new ExitStatusError(3, 'RUN exit 3') }), 3],
    [new AggregateError([notFound('x'), new ExitStatusError(0, 'zero is a status too')]), 0],
    [notFound('x'), undefined],
    [Object.assign(new Error('no longer read'), { exitCode: 9 }), undefined],
  ];
  for (const [error, status] of cases) assert.equal(exitStatusOf(error), status, String(error));
});

test('exit codes: the carried status first, then the command\'s own failure code, then the table (1 for all, as docker/cli)', () => {
  const cases: [unknown, number | undefined, number][] = [
    [notFound('No such image: x'), undefined, 1],
    [unauthenticated('unauthorized'), undefined, 1],
    [new Error('plain'), undefined, 1],
    ['thrown string', undefined, 1],
    // `run`: Strata's own errors are 125, a container that could not start keeps 126/127, a container's code is its own.
    [notFound('No such image: x'), 125, 125],
    [new Error('plain'), 125, 125],
    [new ExitStatusError(127, 'not found'), 125, 127],
    [new ExitStatusError(126, 'permission denied'), 125, 126],
    [new ExitStatusError(125, 'runc failed'), undefined, 125],
    // docker build exits with the failed RUN's code.
    [new ExitStatusError(3, "The command '/bin/sh -c exit 3' returned a non-zero code: 3"), undefined, 3],
  ];
  for (const [error, failure, want] of cases) assert.equal(exitCodeFor(error, failure), want, `${String(error)} (${failure})`);
});

test('HTTP statuses follow containerd errhttp and moby errdefs', () => {
  const cases: [ErrorCode | undefined, number][] = [
    ['invalid-argument', 400],
    ['unauthenticated', 401],
    ['permission-denied', 403],
    ['not-found', 404],
    ['already-exists', 409],
    ['conflict', 409],
    ['failed-precondition', 412],
    ['data-corrupt', 500],
    ['unsupported', 501],
    ['unavailable', 503],
    ['internal', 500],
    [undefined, 500],
  ];
  for (const [code, status] of cases) {
    assert.equal(httpStatusFor(code === undefined ? new Error('plain') : new StrataError(code, 'x')), status, code);
    if (code) assert.equal(httpStatusFor(new Error('wrapped', { cause: new StrataError(code, 'x') })), status, `wrapped ${code}`);
  }
  assert.equal(httpStatusFor(new ExitStatusError(127, 'x')), 412);
});
