/** The Engine API's pure rules, table-driven: filters, create bodies, service URIs, health and restart policies, bodies of upgrade requests. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { parseFilters, readUpgradeBody } from '../src/api/http.js';
import { runOptionsFromBody } from '../src/api/routes/containers.js';
import { parseServiceUri } from '../src/api/service.js';
import { nextHealth, resolveHealth } from '../src/containers/health.js';
import { parseRestartPolicy, restartDelayMs, shouldRestart } from '../src/containers/restart.js';

test('filters: both JSON forms clients send, and Docker errors for the rest', () => {
  const rows: [string | null, Record<string, string[]> | RegExp][] = [
    [null, {}],
    ['', {}],
    ['{"label":{"a=b":true,"c":true,"off":false}}', { label: ['a=b', 'c'] }],
    ['{"label":["a=b","c"],"status":["running"]}', { label: ['a=b', 'c'], status: ['running'] }],
    ['{bad', /invalid filter/],
    ['["label"]', /invalid filter/],
    ['{"label":"a=b"}', /invalid filter 'label'/],
  ];
  for (const [raw, expected] of rows) {
    if (expected instanceof RegExp) assert.throws(() => parseFilters(raw), expected, String(raw));
    else assert.deepEqual(Object.fromEntries(parseFilters(raw)), expected, String(raw));
  }
});

test('create bodies become run options with Docker meanings', () => {
  const rows: [Parameters<typeof runOptionsFromBody>[0], Partial<ReturnType<typeof runOptionsFromBody>>][] = [
    [{ Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '0' }] } } }, { publish: ['80/tcp'] }],
    [{ Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '53/udp': null } } }, { publish: ['127.0.0.1:8080:80/tcp', '53/udp'] }],
    [{ Image: 'x', ExposedPorts: { '9000/tcp': {} }, HostConfig: { PublishAllPorts: true } }, { publish: ['9000/tcp'] }],
    [{ Image: 'x', HostConfig: { Binds: ['/h:/c:ro'], Mounts: [{ Type: 'volume', Source: 'data', Target: '/d' }, { Type: 'bind', Source: '/s', Target: '/t', ReadOnly: true }] } }, { volume: ['/h:/c:ro', 'data:/d', '/s:/t:ro'] }],
    [{ Image: 'x', Entrypoint: 'sh' }, { entrypoint: ['sh'] }],
    [{ Image: 'x', Entrypoint: [] }, { entrypoint: [] }],
    [{ Image: 'x', Env: ['A=1', 'BARE'] }, { env: ['A=1'] }],
    [{ Image: 'x', HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } } }, { restart: 'on-failure:3' }],
    [{ Image: 'x', HostConfig: { NetworkMode: 'default' } }, {}],
    [{ Image: 'x', HostConfig: { NetworkMode: 'none', Memory: 1048576, NanoCpus: 1.5e9 } }, { network: 'none', memory: '1048576b', cpus: '1.5' }],
  ];
  for (const [body, expected] of rows) {
    const options = runOptionsFromBody(body, undefined);
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(options[key as keyof typeof options], value, `${JSON.stringify(body)} ${key}`);
    if (Object.keys(expected).length === 0) assert.equal(options.network, undefined);
  }
  assert.throws(() => runOptionsFromBody({ Image: 'x', HostConfig: { NetworkMode: 'compose_default' } }, undefined), /network compose_default not found/);
  assert.throws(() => runOptionsFromBody({ Image: 'x', HostConfig: { Mounts: [{ Type: 'tmpfs', Target: '/t' }] } }, undefined), /mount type "tmpfs" is not supported/);
});

test('service URIs: unix paths and tcp addresses as Podman writes them', () => {
  assert.deepEqual(parseServiceUri('unix:///run/strata/strata.sock'), { kind: 'unix', path: '/run/strata/strata.sock' });
  assert.deepEqual(parseServiceUri('tcp://127.0.0.1:2375'), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
  assert.deepEqual(parseServiceUri('tcp://[::1]:2375'), { kind: 'tcp', host: '::1', port: 2375 });
  assert.deepEqual(parseServiceUri('tcp://:2375'), { kind: 'tcp', host: '0.0.0.0', port: 2375 });
  for (const bad of ['unix://relative.sock', 'http://x:1', 'tcp://host', 'tcp://h:99999']) assert.throws(() => parseServiceUri(bad), /invalid service URI/, bad);
});

test('healthchecks: the run fields over the image, Docker defaults, NONE disables', () => {
  const s = 1e9;
  assert.deepEqual(resolveHealth({ Test: ['CMD-SHELL', 'true'], Interval: 5 * s }, undefined), { test: ['CMD-SHELL', 'true'], intervalMs: 5000, timeoutMs: 30000, startPeriodMs: 0, retries: 3 });
  assert.deepEqual(resolveHealth({ Test: ['CMD', 'a'], Retries: 5 }, { Test: ['CMD', 'b'], Timeout: 2 * s }), { test: ['CMD', 'b'], intervalMs: 30000, timeoutMs: 2000, startPeriodMs: 0, retries: 5 });
  assert.equal(resolveHealth({ Test: ['CMD', 'a'] }, { Test: ['NONE'] }), undefined);
  assert.equal(resolveHealth(undefined, undefined), undefined);
  assert.throws(() => resolveHealth({ Test: ['WHAT', 'a'] }, undefined), /unknown healthcheck type/);
});

test('health transitions: failures count after the start period, retries make it unhealthy, one success heals', () => {
  const settings = { retries: 2, startPeriodMs: 10_000 };
  const started = Date.parse('2026-01-01T00:00:00Z');
  const at = (seconds: number, exitCode: number) => ({ Start: new Date(started + seconds * 1000).toISOString(), End: '', ExitCode: exitCode, Output: '' });
  let state = nextHealth({ Status: 'starting', FailingStreak: 0, Log: [] }, at(1, 1), settings, started);
  assert.equal(state.Status, 'starting');
  assert.equal(state.FailingStreak, 0, 'a failure in the start period does not count');
  state = nextHealth(state, at(11, 1), settings, started);
  assert.deepEqual([state.Status, state.FailingStreak], ['starting', 1]);
  state = nextHealth(state, at(12, 1), settings, started);
  assert.deepEqual([state.Status, state.FailingStreak], ['unhealthy', 2]);
  state = nextHealth(state, at(13, 0), settings, started);
  assert.deepEqual([state.Status, state.FailingStreak], ['healthy', 0]);
  for (let i = 0; i < 10; i++) state = nextHealth(state, at(20 + i, 0), settings, started);
  assert.equal(state.Log.length, 5, 'the last five results are kept');
});

test('restart policies: parse, decide, back off', () => {
  assert.deepEqual(parseRestartPolicy('on-failure:3'), { name: 'on-failure', maxRetries: 3 });
  assert.deepEqual(parseRestartPolicy('always'), { name: 'always', maxRetries: 0 });
  for (const [bad, message] of [
    ['sometimes', /invalid restart policy 'sometimes'/],
    ['always:2', /maximum retry count cannot be used/],
    ['on-failure:x', /must be an integer/],
  ] as const) {
    assert.throws(() => parseRestartPolicy(bad), message, bad);
  }
  const onFailure = parseRestartPolicy('on-failure:2');
  const rows: [Parameters<typeof shouldRestart>, boolean][] = [
    [[undefined, 1, 0, false], false],
    [[parseRestartPolicy('no'), 1, 0, false], false],
    [[onFailure, 1, 0, false], true],
    [[onFailure, 1, 2, false], false],
    [[onFailure, 0, 0, false], false],
    [[parseRestartPolicy('always'), 0, 10, false], true],
    [[parseRestartPolicy('unless-stopped'), 0, 0, true], false],
  ];
  for (const [args, expected] of rows) assert.equal(shouldRestart(...args), expected, JSON.stringify(args));
  assert.deepEqual([0, 1, 2, 20].map(restartDelayMs), [100, 200, 400, 60_000]);
});

test('upgrade request bodies: Content-Length or chunked, what follows put back for the stream', async () => {
  const cases: { headers: Record<string, string>; wire: string[]; body: string; rest: string }[] = [
    { headers: { 'content-length': '13' }, wire: ['{"Detach":fal', 'se}stdin bytes'], body: '{"Detach":fal', rest: 'se}stdin bytes' },
    { headers: { 'content-length': '16' }, wire: ['{"Detach":false}', 'stdin'], body: '{"Detach":false}', rest: 'stdin' },
    { headers: { 'transfer-encoding': 'chunked' }, wire: ['5\r\n{"a":\r\n', '2\r\n1}\r\n0\r\n\r\nafter'], body: '{"a":1}', rest: 'after' },
    { headers: {}, wire: ['stdin only'], body: '', rest: '' },
  ];
  for (const { headers, wire, body, rest } of cases) {
    const socket = new PassThrough();
    const [head, ...later] = wire.map((part) => Buffer.from(part));
    const reading = readUpgradeBody({ headers } as unknown as IncomingMessage, socket, head!);
    for (const part of later) socket.write(part);
    assert.equal((await reading).toString(), body, JSON.stringify(headers));
    if (rest) {
      const next = socket.read() as Buffer | null;
      assert.equal(next?.toString(), rest);
    }
  }
});
