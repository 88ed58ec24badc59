/**
 * The Engine API, request by request, as Podman's test/apiv2 tables check its compat API: method, path, body,
 * the status and the fields of the answer. The server runs in this process over a temp store, on a unix socket;
 * containers run for real (runc under conmon), so the container rows need root, runc and conmon.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApiServer } from '../src/api/server.js';
import { Engine } from '../src/engine.js';
import { busyboxTar, hasCommand, strataOk, tempDir } from './helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc') && hasCommand('conmon');
const needsContainers = { skip: canRun ? false : 'needs root, runc and conmon' };

let root: string;
let socketPath: string;
let engine: Engine;
let server: http.Server;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field, as the tables read them
  json: () => any;
}

function request(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({ socketPath, method, path: url, headers: { ...(payload && { 'Content-Type': 'application/json', 'Content-Length': payload.length }), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data, json: () => JSON.parse(data.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A hijacked request (Upgrade: tcp), as the docker CLI attaches: the raw socket after the 101, until it closes. */
function hijacked(url: string, body: unknown, stdin?: Buffer): Promise<{ head: string; stream: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const payload = Buffer.from(JSON.stringify(body));
    socket.on('connect', () => {
      socket.write(`POST ${url} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`);
      socket.write(payload);
      if (stdin) {
        socket.write(stdin);
        socket.end(); // stdin's end: the CLI half-closes as here
      }
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      resolve({ head: all.subarray(0, split).toString('latin1'), stream: all.subarray(split + 4) });
    });
  });
}

/** Splits a multiplexed stream into its frames: [stream, payload]. */
function demux(stream: Buffer): [number, string][] {
  const frames: [number, string][] = [];
  for (let at = 0; at + 8 <= stream.length; ) {
    const length = stream.readUInt32BE(at + 4);
    frames.push([stream[at]!, stream.subarray(at + 8, at + 8 + length).toString('utf8')]);
    at += 8 + length;
  }
  return frames;
}

before(async () => {
  root = tempDir('strata-api-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', '-c', 'LABEL team=core', busyboxTar(), 'busybox:latest']);
  engine = new Engine(root);
  socketPath = path.join(root, 'api.sock');
  server = createApiServer(engine);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

after(async () => {
  for (const record of engine.containers.list()) await engine.containers.remove(record.id, { force: true });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  engine.close();
});

describe('negotiation and errors', () => {
  const rows: { method: string; path: string; status: number; check?: (answer: Answer) => void }[] = [
    { method: 'GET', path: '/_ping', status: 200, check: (a) => assert.equal(a.body.toString(), 'OK') },
    { method: 'HEAD', path: '/_ping', status: 200, check: (a) => assert.equal(a.body.length, 0) },
    { method: 'GET', path: '/v1.41/_ping', status: 200 },
    { method: 'GET', path: '/v1.24/version', status: 200, check: (a) => assert.equal(a.json().ApiVersion, '1.41') },
    { method: 'GET', path: '/version', status: 200, check: (a) => assert.equal(a.json().Os, 'linux') },
    { method: 'GET', path: '/info', status: 200, check: (a) => assert.equal(a.json().Swarm.LocalNodeState, 'inactive') },
    { method: 'GET', path: '/system/df', status: 200, check: (a) => assert.equal(a.json().Images[0].RepoTags[0], 'busybox:latest') },
    { method: 'GET', path: '/v1.41/nothing/here', status: 404, check: (a) => assert.match(a.json().message, /page not found/) },
    { method: 'GET', path: '/images/nosuch/json', status: 404, check: (a) => assert.equal(a.json().message, 'No such image: nosuch:latest') },
    { method: 'GET', path: '/containers/nosuch/json', status: 404, check: (a) => assert.equal(a.json().message, 'No such container: nosuch') },
    { method: 'POST', path: '/containers/nosuch/rename?name=other', status: 404, check: (a) => assert.equal(a.json().message, 'No such container: nosuch') },
    { method: 'POST', path: '/containers/nosuch/rename', status: 400, check: (a) => assert.match(a.json().message, /name cannot be empty/) },
    { method: 'GET', path: '/containers/json?filters=%7Bbad', status: 400, check: (a) => assert.match(a.json().message, /invalid filter/) },
    { method: 'GET', path: '/containers/json?filters=%7B%22nosuch%22%3A%5B%22x%22%5D%7D', status: 400, check: (a) => assert.equal(a.json().message, "invalid filter 'nosuch'") },
    { method: 'POST', path: '/build?version=2', status: 400, check: (a) => assert.match(a.json().message, /DOCKER_BUILDKIT=0/) },
    { method: 'POST', path: '/build?platform=linux%2F%2F', status: 400, check: (a) => assert.match(a.json().message, /invalid platform "linux\/\/"/) },
    { method: 'POST', path: '/build?cachefrom=%7B%7D', status: 400, check: (a) => assert.match(a.json().message, /invalid cachefrom: expected a JSON list/) },
    { method: 'POST', path: '/build/prune?filters=%7B%22label%22%3A%5B%22x%22%5D%7D', status: 400, check: (a) => assert.equal(a.json().message, "invalid filter 'label'") },
    { method: 'POST', path: '/networks/create', status: 501 },
  ];
  for (const row of rows) {
    test(`${row.method} ${row.path} -> ${row.status}`, async () => {
      const answer = await request(row.method, row.path);
      assert.equal(answer.status, row.status, answer.body.toString());
      for (const header of ['api-version', 'ostype', 'server']) assert.ok(answer.headers[header], `${header} on every response`);
      row.check?.(answer);
    });
  }

  test('_ping carries the negotiation headers', async () => {
    const answer = await request('HEAD', '/_ping');
    assert.equal(answer.headers['api-version'], '1.41');
    assert.equal(answer.headers['builder-version'], '1');
    assert.equal(answer.headers['docker-experimental'], 'false');
    assert.match(String(answer.headers['cache-control']), /no-cache/);
  });

  test('malformed JSON is a 400 and the service keeps serving', async () => {
    const answer = await request('POST', '/containers/create', '{"Image": ');
    assert.equal(answer.status, 400);
    assert.match(answer.json().message, /invalid JSON/);
    assert.equal((await request('GET', '/_ping')).status, 200);
  });

  test('an oversized header is refused without taking the service down', async () => {
    const answer = await request('GET', '/_ping', undefined, { 'X-Big': 'x'.repeat(100 * 1024) });
    assert.equal(answer.status, 431);
    assert.equal((await request('GET', '/_ping')).status, 200);
  });
});

describe('images', () => {
  test('list: one entry per image with its tags and labels, filters in both JSON forms', async () => {
    const [image] = (await request('GET', '/images/json')).json();
    assert.deepEqual(image.RepoTags, ['busybox:latest']);
    assert.equal(image.Labels.team, 'core');
    assert.match(image.Id, /^sha256:/);
    for (const filters of [{ label: { 'team=core': true } }, { label: ['team=core'] }]) {
      assert.equal((await request('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify(filters))}`)).json().length, 1);
    }
    assert.equal((await request('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ label: ['team=other'] }))}`)).json().length, 0);
  });

  test('inspect, history, tag and delete by the names clients send', async () => {
    assert.equal((await request('GET', '/images/busybox/json')).json().RepoTags[0], 'busybox:latest');
    const history = (await request('GET', '/images/busybox:latest/history')).json();
    assert.equal(history.length, 1);
    assert.equal((await request('POST', '/images/busybox/tag?repo=localhost:5000/team/app&tag=v1')).status, 201);
    assert.equal((await request('GET', '/images/localhost:5000/team/app:v1/json')).status, 200);
    const removed = await request('DELETE', '/images/localhost:5000/team/app:v1');
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.json(), [{ Untagged: 'localhost:5000/team/app:v1' }]);
  });

  test('save and load round trip: a docker-archive, then "Loaded image" lines', async () => {
    const archive = await request('GET', '/images/busybox/get');
    assert.equal(archive.status, 200);
    assert.equal(archive.headers['content-type'], 'application/x-tar');
    const loaded = await request('POST', '/images/load', archive.body, { 'Content-Type': 'application/x-tar' });
    assert.equal(loaded.status, 200);
    assert.match(loaded.body.toString(), /"stream":"Loaded image: busybox:latest\\n"/);
  });

  test('a hostile archive on load is an error line and the store is unchanged', async () => {
    const before = (await request('GET', '/images/json?all=1')).json().length;
    const answer = await request('POST', '/images/load', Buffer.alloc(4096, 7), { 'Content-Type': 'application/x-tar' });
    assert.ok(answer.status >= 400, `status ${answer.status}`);
    assert.equal((await request('GET', '/images/json?all=1')).json().length, before);
  });
});

describe('containers', needsContainers, () => {
  test('create, wait before start, start, output in the log, the exit code from wait', async () => {
    const created = await request('POST', '/containers/create?name=api-one', { Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], Labels: { app: 'one' } });
    assert.equal(created.status, 201, created.body.toString());
    const { Id } = created.json();
    const waiting = request('POST', `/containers/${Id}/wait?condition=next-exit`);
    assert.equal((await request('POST', `/containers/${Id}/start`)).status, 204);
    const waited = await waiting;
    assert.deepEqual(waited.json(), { Error: null, StatusCode: 3 });
    const logs = await request('GET', `/containers/${Id}/logs?stdout=1&stderr=1`);
    assert.deepEqual(demux(logs.body), [
      [1, 'out\n'],
      [2, 'err\n'],
    ]);
    const inspect = (await request('GET', '/containers/api-one/json')).json();
    assert.equal(inspect.State.Status, 'exited');
    assert.equal(inspect.State.ExitCode, 3);
    assert.equal(inspect.Name, '/api-one');
    assert.equal((await request('POST', `/containers/${Id}/stop`)).status, 304, 'stop of a stopped container');
    assert.equal((await request('POST', `/containers/${Id}/kill`)).status, 409, 'kill of a stopped container');
    assert.equal((await request('DELETE', `/containers/${Id}`)).status, 204);
  });

  test('a name in use is a 409, an unknown image a 404 in Docker words', async () => {
    assert.equal((await request('POST', '/containers/create?name=api-dup', { Image: 'busybox', Cmd: ['true'] })).status, 201);
    const again = await request('POST', '/containers/create?name=api-dup', { Image: 'busybox', Cmd: ['true'] });
    assert.equal(again.status, 409);
    assert.match(again.json().message, /is already in use/);
    const missing = await request('POST', '/containers/create', { Image: 'nosuch:1', Cmd: ['true'] });
    assert.equal(missing.status, 404);
    assert.equal(missing.json().message, 'No such image: nosuch:1');
    assert.equal((await request('DELETE', '/containers/api-dup')).status, 204);
  });

  test('attach before start gets all the output, framed, and stdin closes with the half-close (StdinOnce)', async () => {
    const { Id } = (await request('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'cat; echo done >&2'], OpenStdin: true, StdinOnce: true, AttachStdin: true })).json();
    const attached = hijacked(`/containers/${Id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, {}, Buffer.from('piped input\n'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await request('POST', `/containers/${Id}/start`)).status, 204);
    const { head, stream } = await attached;
    assert.match(head, /^HTTP\/1.1 101 UPGRADED/);
    assert.match(head, /Content-Type: application\/vnd.docker.raw-stream/);
    assert.deepEqual(demux(stream), [
      [1, 'piped input\n'],
      [2, 'done\n'],
    ]);
    assert.equal((await request('POST', `/containers/${Id}/wait`)).json().StatusCode, 0);
    await request('DELETE', `/containers/${Id}`);
  });

  test('list: running only by default, all with filters on label, status and name', async () => {
    const { Id } = (await request('POST', '/containers/create?name=api-list', { Image: 'busybox', Cmd: ['sleep', '30'], Labels: { tier: 'web' } })).json();
    await request('POST', `/containers/${Id}/start`);
    const running = (await request('GET', '/containers/json')).json();
    assert.ok(running.some((c: { Id: string; State: string; Names: string[] }) => c.Id === Id && c.State === 'running' && c.Names[0] === '/api-list'));
    for (const filters of [{ label: { 'tier=web': true } }, { label: ['tier=web'] }, { status: ['running'] }, { name: ['api-list'] }]) {
      const found = (await request('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(filters))}`)).json();
      assert.deepEqual(found.map((c: { Id: string }) => c.Id), [Id], JSON.stringify(filters));
    }
    assert.equal((await request('POST', `/containers/${Id}/start`)).status, 304, 'start of a running container');
    assert.equal((await request('DELETE', `/containers/${Id}`)).status, 409, 'remove of a running container');
    assert.equal((await request('POST', `/containers/${Id}/pause`)).status, 204);
    assert.equal((await request('GET', `/containers/${Id}/json`)).json().State.Status, 'paused');
    assert.equal((await request('POST', `/containers/${Id}/unpause`)).status, 204);
    assert.equal((await request('POST', `/containers/${Id}/stop?t=1`)).status, 204);
    assert.equal((await request('DELETE', `/containers/${Id}?force=1`)).status, 204);
  });

  test('exec: create, start hijacked with the exit code in inspect right after the stream ends', async () => {
    const { Id } = (await request('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '30'] })).json();
    await request('POST', `/containers/${Id}/start`);
    const exec = await request('POST', `/containers/${Id}/exec`, { Cmd: ['sh', '-c', 'echo in; exit 4'], AttachStdout: true, AttachStderr: true });
    assert.equal(exec.status, 201);
    const execId = exec.json().Id;
    const { stream } = await hijacked(`/exec/${execId}/start`, { Detach: false, Tty: false });
    assert.deepEqual(demux(stream), [[1, 'in\n']]);
    const inspect = (await request('GET', `/exec/${execId}/json`)).json();
    assert.equal(inspect.Running, false);
    assert.equal(inspect.ExitCode, 4);
    assert.equal((await request('GET', '/exec/nosuch/json')).status, 404);
    await request('DELETE', `/containers/${Id}?force=1`);
  });

  test('wait for removal of an --rm container gives its exit code', async () => {
    const { Id } = (await request('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'exit 7'], HostConfig: { AutoRemove: true } })).json();
    const removed = request('POST', `/containers/${Id}/wait?condition=removed`);
    await request('POST', `/containers/${Id}/start`);
    assert.deepEqual((await removed).json(), { Error: null, StatusCode: 7 });
    assert.equal((await request('GET', `/containers/${Id}/json`)).status, 404);
  });

  test('events: one JSON object per line for what happened, with the exit code on die', async () => {
    const since = Date.now() / 1000;
    const { Id } = (await request('POST', '/containers/create?name=api-events', { Image: 'busybox', Cmd: ['true'] })).json();
    await request('POST', `/containers/${Id}/start`);
    await request('POST', `/containers/${Id}/wait`);
    await request('DELETE', `/containers/${Id}`);
    const until = Date.now() / 1000 + 0.5;
    const answer = await request('GET', `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: ['api-events'] }))}`);
    const events = answer.body.toString().trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(events.map((e: { Action: string }) => e.Action), ['create', 'start', 'die', 'destroy']);
    const die = events[2];
    assert.equal(die.Actor.Attributes.exitCode, '0');
    assert.equal(die.status, 'die');
    assert.equal(die.from, 'busybox');
    assert.equal(typeof die.timeNano, 'number');
  });
});

describe('healthchecks and restart policies', needsContainers, () => {
  const until = async (check: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  test('a healthcheck runs while the API is served: starting, then healthy in inspect, ps and events', async () => {
    const since = Date.now() / 1000;
    const ms = 1e6;
    const created = await request('POST', '/containers/create?name=api-health', {
      Image: 'busybox',
      Cmd: ['sh', '-c', 'sleep 1; touch /tmp/ready; sleep 30'],
      Healthcheck: { Test: ['CMD-SHELL', 'test -f /tmp/ready'], Interval: 200 * ms, Retries: 2 },
    });
    const { Id } = created.json();
    await request('POST', `/containers/${Id}/start`);
    assert.equal((await request('GET', `/containers/${Id}/json`)).json().State.Health.Status, 'starting');
    await until(async () => (await request('GET', `/containers/${Id}/json`)).json().State.Health.Status === 'healthy', 'healthy');
    const inspect = (await request('GET', `/containers/${Id}/json`)).json();
    assert.equal(inspect.Config.Healthcheck.Test[1], 'test -f /tmp/ready');
    assert.ok(inspect.State.Health.Log.some((entry: { ExitCode: number }) => entry.ExitCode === 0));
    const [listed] = (await request('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ name: ['api-health'] }))}`)).json();
    assert.match(listed.Status, /^Up .* \(healthy\)$/);
    const events = (await request('GET', `/events?since=${since}&until=${Date.now() / 1000}&filters=${encodeURIComponent(JSON.stringify({ event: ['health_status'] }))}`)).body.toString();
    assert.match(events, /"Action":"health_status: healthy"/);
    await request('DELETE', `/containers/${Id}?force=1`);
  });

  test('on-failure:2 restarts a failing container twice (conmon\'s exit command), then leaves it exited; a stop is final', async () => {
    const { Id } = (await request('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'exit 3'], HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } })).json();
    await request('POST', `/containers/${Id}/start`);
    await until(async () => {
      const state = (await request('GET', `/containers/${Id}/json`)).json();
      return state.RestartCount === 2 && state.State.Status === 'exited';
    }, 'two restarts');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const final = (await request('GET', `/containers/${Id}/json`)).json();
    assert.deepEqual([final.RestartCount, final.State.Status, final.State.ExitCode, final.HostConfig.RestartPolicy], [2, 'exited', 3, { Name: 'on-failure', MaximumRetryCount: 2 }]);
    await request('DELETE', `/containers/${Id}`);

    const always = (await request('POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '30'], HostConfig: { RestartPolicy: { Name: 'always' } } })).json().Id;
    await request('POST', `/containers/${always}/start`);
    assert.equal((await request('POST', `/containers/${always}/stop?t=1`)).status, 204);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await request('GET', `/containers/${always}/json`)).json().State.Status, 'exited', 'a stopped container is not restarted');
    await request('DELETE', `/containers/${always}`);
  });
});

describe('volumes and networks', () => {
  test('volumes: create with labels, list, inspect, remove', async () => {
    const created = await request('POST', '/volumes/create', { Name: 'api-data', Labels: { 'com.docker.compose.project': 'demo' } });
    assert.equal(created.status, 201);
    assert.equal(created.json().Labels['com.docker.compose.project'], 'demo');
    const listed = (await request('GET', '/volumes')).json();
    assert.ok(listed.Volumes.some((v: { Name: string }) => v.Name === 'api-data'));
    assert.equal(listed.Warnings, null);
    assert.equal((await request('GET', '/volumes/api-data')).json().Driver, 'local');
    assert.equal((await request('DELETE', '/volumes/api-data')).status, 204);
    assert.equal((await request('GET', '/volumes/api-data')).status, 404);
  });

  test('networks: bridge, host and none, bridge with its IPAM', async () => {
    const names = (await request('GET', '/networks')).json().map((n: { Name: string }) => n.Name);
    assert.deepEqual(names, ['bridge', 'host', 'none']);
    const bridge = (await request('GET', '/networks/bridge')).json();
    assert.equal(bridge.IPAM.Config[0].Subnet, '10.0.2.0/24');
    assert.equal((await request('GET', '/networks/nosuch')).status, 404);
  });
});
