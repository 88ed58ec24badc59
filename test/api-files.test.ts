/**
 * The Engine API's container filesystem and process endpoints, against a real service in this process: archive
 * (HEAD, GET, PUT), export, changes, top, stats and commit, over raw HTTP and with the docker CLI where it is
 * installed. Needs root and runc (containers really run); skips otherwise.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { createApiServer } from '../src/api/server.js';
import { parsePsOutput } from '../src/containers/top.js';
import { Engine } from '../src/engine.js';
import { goFileMode } from '../src/util/file-mode.js';
import { rfc3339Nano } from '../src/util/time.js';
import { busyboxTar, hasCommand, strataOk, tempDir } from './helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const docker = '/usr/local/bin/docker';
const hasDocker = canRun && fs.existsSync(docker);
const skip = { skip: canRun ? false : 'needs root and runc' };
const skipDocker = { skip: hasDocker ? false : `needs root, runc and ${docker}` };

let root: string;
let socket: string;
let engine: Engine;
let server: http.Server;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request to the service; the reply read whole. */
function call(method: string, url: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: url, headers: body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (reply: Reply) => JSON.parse(reply.body.toString()) as unknown;
const message = (reply: Reply) => (json(reply) as { message: string }).message;
const pathStat = (reply: Reply) => JSON.parse(Buffer.from(String(reply.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; size: number; mode: number; mtime: string; linkTarget: string };

/** The parts of Docker's stats JSON the tests read. */
interface Stats {
  id: string;
  name: string;
  read: string;
  preread: string;
  pids_stats: { current?: number };
  memory_stats: { usage?: number; limit?: number };
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
}

interface Entry {
  name: string;
  type?: Header['type'];
  linkname?: string;
  content?: string;
  uid?: number;
  mode?: number;
}

/** A tar of the entries, in order (tar-stream's pack). */
async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    const { content, ...header } = entry;
    pack.entry({ type: 'file', mode: entry.type === 'directory' ? 0o755 : 0o644, ...header }, content ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The entries of a tar: name, type, owner, link target and a file's text. */
async function readTar(data: Buffer): Promise<(Entry & { type: string })[]> {
  const extract = tar.extract();
  const entries: (Entry & { type: string })[] = [];
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const { name, type, linkname, uid } = entry.header;
      entries.push({ name, type: type ?? 'file', ...(linkname && { linkname }), uid: uid ?? 0, content: Buffer.concat(chunks).toString() });
    }
  })();
  extract.end(data);
  await reading;
  return entries;
}

async function createContainer(command: string[], name?: string, config: Record<string, unknown> = {}): Promise<string> {
  const reply = await call('POST', `/v1.41/containers/create${name ? `?name=${name}` : ''}`, Buffer.from(JSON.stringify({ Image: 'busybox', Cmd: command, ...config })));
  assert.equal(reply.status, 201, reply.body.toString());
  return (json(reply) as { Id: string }).Id;
}

async function runContainer(command: string[]): Promise<string> {
  const id = await createContainer(command);
  const started = await call('POST', `/v1.41/containers/${id}/start`);
  assert.equal(started.status, 204, started.body.toString());
  return id;
}

const put = (id: string, dir: string, body: Buffer, extra = '') => call('PUT', `/v1.41/containers/${id}/archive?path=${encodeURIComponent(dir)}${extra}`, body);
const get = (id: string, file: string) => call('GET', `/v1.41/containers/${id}/archive?path=${encodeURIComponent(file)}`);

const dockerCli = promisify(execFile);
/** The docker CLI against the service: asynchronous, as the service runs in this very process. */
const dockerRun = (args: string[], input?: Buffer) => {
  const child = dockerCli(docker, args, { env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, encoding: 'buffer', maxBuffer: 1 << 28 });
  if (input) child.child.stdin?.end(input);
  return child;
};

test("a stat's mode as Go's os.FileMode: type bits above the permissions, setuid, setgid and sticky", () => {
  const { S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFBLK, S_IFCHR } = fs.constants;
  const cases: [number, number][] = [
    [S_IFREG | 0o644, 0o644],
    [S_IFDIR | 0o755, 2 ** 31 + 0o755],
    [S_IFDIR | 0o1777, 2 ** 31 + 2 ** 20 + 0o777],
    [S_IFLNK | 0o777, 2 ** 27 + 0o777],
    [S_IFIFO | 0o600, 2 ** 25 + 0o600],
    [S_IFSOCK | 0o755, 2 ** 24 + 0o755],
    [S_IFBLK | 0o660, 2 ** 26 + 0o660],
    [S_IFCHR | 0o666, 2 ** 26 + 2 ** 21 + 0o666],
    [S_IFREG | 0o4755, 2 ** 23 + 0o755],
    [S_IFREG | 0o2755, 2 ** 22 + 0o755],
  ];
  for (const [mode, want] of cases) assert.equal(goFileMode(mode), want, mode.toString(8));
});

test('times as Go marshals them: UTC, nanoseconds without trailing zeros', () => {
  assert.equal(rfc3339Nano(1_700_000_000_000_000_000n), '2023-11-14T22:13:20Z');
  assert.equal(rfc3339Nano(1_700_000_000_120_000_000n), '2023-11-14T22:13:20.12Z');
  assert.equal(rfc3339Nano(1_700_000_000_000_000_001n), '2023-11-14T22:13:20.000000001Z');
});

test("ps output is cut to the container's processes, their thread rows kept, the command's spaces in the last column", () => {
  const output = ['USER PID %CPU COMMAND', 'root 7 0.0 sleep 10', '- - 0.0 -', 'root 8 0.0 other thing', '- - 0.0 -', 'root 9 0.0 sh -c x y', ''].join('\n');
  assert.deepEqual(parsePsOutput(output, new Set([7, 9])), {
    Titles: ['USER', 'PID', '%CPU', 'COMMAND'],
    Processes: [
      ['root', '7', '0.0', 'sleep 10'],
      ['-', '-', '0.0', '-'],
      ['root', '9', '0.0', 'sh -c x y'],
    ],
  });
  assert.throws(() => parsePsOutput('USER COMMAND\nroot x\n', new Set()), /Couldn't find PID field/);
});

describe('container files and processes over the Engine API', skip, () => {
  before(async () => {
    root = tempDir('strata-api-files-');
    strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
    engine = new Engine(root);
    server = createApiServer(engine);
    socket = path.join(root, 'api.sock');
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  after(async () => {
    for (const record of engine.containers.list()) await engine.containers.remove(record.id, { force: true });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    engine.close();
  });

  test('HEAD and GET archive of a created container: the Path-Stat header with Go file modes, a tar named by the base name', async () => {
    const id = await createContainer(['true'], 'archive-get');
    const head = await call('HEAD', '/containers/archive-get/archive?path=/etc/passwd');
    assert.equal(head.status, 200);
    const stat = pathStat(head);
    assert.match(stat.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const file = await get(id, '/etc/passwd');
    assert.equal(file.headers['content-type'], 'application/x-tar');
    const [passwd, ...more] = await readTar(file.body);
    assert.deepEqual([passwd!.name, more.length], ['passwd', 0]);
    assert.deepEqual(stat, { name: 'passwd', size: Buffer.byteLength(passwd!.content!), mode: 0o644, mtime: stat.mtime, linkTarget: '' });
    assert.deepEqual(pathStat(file), stat);

    const dir = await get(id, '/etc');
    assert.equal(pathStat(dir).mode, 2 ** 31 + 0o755, 'a directory: os.ModeDir | 0755');
    assert.deepEqual((await readTar(dir.body)).map((entry) => entry.name), ['etc/', 'etc/group', 'etc/passwd']);
    assert.deepEqual((await readTar((await get(id, '/etc/.')).body)).map((entry) => entry.name), ['./', './group', './passwd']);
    const whole = await get(id, '/');
    assert.equal(pathStat(whole).name, '/');
    assert.deepEqual((await readTar(whole.body)).map((entry) => entry.name).slice(0, 2), ['/', '/bin/']);

    const missing = await get(id, '/no/such/file');
    assert.equal(missing.status, 404);
    assert.equal(message(missing), `Could not find the file /no/such/file in container ${id}`);
    const missingHead = await call('HEAD', '/containers/archive-get/archive?path=/nope');
    assert.equal(missingHead.status, 404);
    assert.equal((await call('GET', '/containers/archive-get/archive')).status, 400);
    assert.equal((await get('no-such-container', '/etc')).status, 404);
  });

  test('PUT archive into a created container: entries land in the directory with their owners; stat sees a symlink as a link', async () => {
    const id = await createContainer(['true']);
    const body = await makeTar([
      { name: 'app/', type: 'directory', uid: 1234 },
      { name: 'app/config.txt', content: 'setting=1\n', uid: 1234, mode: 0o600 },
      { name: 'app/current', type: 'symlink', linkname: '/app-data/v1' },
      { name: 'app/hard', type: 'link', linkname: 'app/config.txt' },
    ]);
    const reply = await put(id, '/tmp', body);
    assert.equal(reply.status, 200, reply.body.toString());
    const back = await readTar((await get(id, '/tmp/app')).body);
    assert.deepEqual(
      back.map(({ name, type, uid, linkname }) => ({ name, type, uid, linkname })),
      [
        { name: 'app/', type: 'directory', uid: 1234, linkname: undefined },
        { name: 'app/config.txt', type: 'file', uid: 1234, linkname: undefined },
        { name: 'app/current', type: 'symlink', uid: 0, linkname: '/app-data/v1' },
        { name: 'app/hard', type: 'link', uid: 1234, linkname: 'app/config.txt' },
      ],
    );
    const link = pathStat(await call('HEAD', `/containers/${id}/archive?path=/tmp/app/current`));
    assert.equal(link.mode, 2 ** 27 + 0o777, 'a symlink: os.ModeSymlink | 0777');
    assert.equal(link.linkTarget, '/app-data/v1');
    assert.equal(pathStat(await call('HEAD', `/containers/${id}/archive?path=/tmp/app/config.txt`)).mode, 0o600);

    const fifo = await put(id, '/tmp', await makeTar([{ name: 'pipe', type: 'fifo' }]));
    assert.equal(fifo.status, 200, fifo.body.toString());
    assert.equal(pathStat(await call('HEAD', `/containers/${id}/archive?path=/tmp/pipe`)).mode, 2 ** 25 + 0o644, 'a fifo: os.ModeNamedPipe | 0644');

    // A gzipped tar is unpacked as a plain one; a later entry replaces the file.
    const gz = await put(id, '/tmp/app', gzipSync(await makeTar([{ name: 'config.txt', content: 'setting=2\n' }])));
    assert.equal(gz.status, 200, gz.body.toString());
    assert.equal((await readTar((await get(id, '/tmp/app/config.txt')).body))[0]!.content, 'setting=2\n');
  });

  test("PUT archive with copyUIDGID gives every entry the container user's uid and gid", async () => {
    const id = await createContainer(['true'], undefined, { User: 'nobody' });
    const reply = await put(id, '/tmp', await makeTar([{ name: 'owned', content: 'x', uid: 1234 }]), '&copyUIDGID=1');
    assert.equal(reply.status, 200, reply.body.toString());
    const [entry] = await readTar((await get(id, '/tmp/owned')).body);
    assert.equal(entry!.uid, 65534);
  });

  test('PUT archive refuses a missing directory, a file as the directory, a bad tar and, when asked, a file over a directory', async () => {
    const id = await createContainer(['true'], 'archive-put-errors');
    const body = await makeTar([{ name: 'x', content: 'x' }]);
    const missing = await put('archive-put-errors', '/no/such/dir', body);
    assert.equal(missing.status, 404);
    assert.equal(message(missing), 'Could not find the file /no/such/dir in container archive-put-errors');
    const notDir = await put(id, '/etc/passwd', body);
    assert.equal(notDir.status, 400);
    assert.equal(message(notDir), 'extraction point is not a directory');
    const garbage = await put(id, '/tmp', Buffer.alloc(1024, 'not a tar at all '));
    assert.equal(garbage.status, 400);
    assert.match(message(garbage), /^invalid tar archive: corrupt or truncated data/);
    assert.doesNotMatch(message(garbage), /\n/);
    const overDir = await put(id, '/', await makeTar([{ name: 'tmp', content: 'a file where /tmp is' }]), '&noOverwriteDirNonDir=true');
    assert.equal(overDir.status, 400);
    assert.match(message(overDir), /cannot overwrite directory "\/tmp" with non-directory "tmp"/);
  });

  test('PUT archive of hostile tars: climbing names and escaping links are refused, an absolute symlink is followed inside the root', async () => {
    const id = await createContainer(['true']);
    const hostDir = tempDir('strata-host-target-');
    const climbing = await put(id, '/tmp', await makeTar([{ name: `../../../../../../../../../../..${hostDir}/climbed`, content: 'escaped' }]));
    assert.equal(climbing.status, 400);
    assert.match(message(climbing), /climbs out/);
    const relativeLink = await put(id, '/tmp', await makeTar([{ name: 'up', type: 'symlink', linkname: '../../../../../../../..' }]));
    assert.equal(relativeLink.status, 400);
    assert.match(message(relativeLink), /symlink to "[./]+" leads outside the extraction directory/);
    const hardlink = await put(id, '/tmp', await makeTar([{ name: 'shadow', type: 'link', linkname: '../etc/passwd' }]));
    assert.equal(hardlink.status, 400);

    // An absolute symlink to a directory the host has, then a file through it: the file lands in the container.
    const through = await put(id, '/tmp', await makeTar([
      { name: 'evil', type: 'symlink', linkname: hostDir },
      { name: 'evil/pwned', content: 'inside the container' },
    ]));
    assert.equal(through.status, 200, through.body.toString());
    assert.equal((await readTar((await get(id, `${hostDir}/pwned`)).body))[0]!.content, 'inside the container');
    assert.deepEqual(fs.readdirSync(hostDir), [], 'the host directory is untouched');
  });

  test('PUT archive to a path that is a symlink in the container follows it, as the container sees it', async () => {
    const id = await createContainer(['true']);
    assert.equal((await put(id, '/', await makeTar([{ name: 'data', type: 'symlink', linkname: '/tmp' }]))).status, 200);
    assert.equal((await put(id, '/data', await makeTar([{ name: 'through-link', content: 'ok' }]))).status, 200);
    assert.equal((await readTar((await get(id, '/tmp/through-link')).body))[0]!.content, 'ok');
  });

  test('export is the merged file system as a tar; changes are null for a fresh container, then Docker kinds 0, 1 and 2', async () => {
    const fresh = await createContainer(['true']);
    const none = await call('GET', `/containers/${fresh}/changes`);
    assert.equal(none.status, 200);
    assert.equal(none.body.toString(), 'null');

    const id = await runContainer(['sh', '-c', 'rm /etc/group; echo new > /tmp/new']);
    assert.equal((json(await call('POST', `/containers/${id}/wait`)) as { StatusCode: number }).StatusCode, 0);
    const changes = json(await call('GET', `/containers/${id}/changes`));
    assert.deepEqual(changes, [
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/group', Kind: 2 },
      { Path: '/tmp', Kind: 0 },
      { Path: '/tmp/new', Kind: 1 },
    ]);
    const exported = await call('GET', `/containers/${id}/export`);
    assert.equal(exported.status, 200);
    assert.equal(exported.headers['content-type'], 'application/x-tar');
    const names = (await readTar(exported.body)).map((entry) => entry.name);
    assert.ok(names.includes('bin/busybox') && names.includes('tmp/new') && names.includes('etc/passwd'), names.join(' '));
    assert.equal(names.includes('etc/group'), false);
    assert.equal((await call('GET', '/containers/nope/export')).status, 404);
  });

  test("top lists the processes of the container's cgroup with ps -ef's columns; a container that does not run is a 409", async () => {
    const id = await runContainer(['sh', '-c', 'sleep 1001 & exec sleep 1002']);
    // The child may not have been forked yet when the start returns: ask until both are there.
    let top: { Titles: string[]; Processes: string[][] };
    while ((top = json(await call('GET', `/containers/${id}/top`)) as typeof top).Processes.length < 2) await sleep(50);
    assert.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(top.Processes.map((row) => row.at(-1)).sort(), ['sleep 1001', 'sleep 1002']);
    const aux = json(await call('GET', `/containers/${id}/top?ps_args=aux`)) as typeof top;
    assert.equal(aux.Titles[0], 'USER');
    assert.equal(aux.Processes.length, 2);

    const created = await createContainer(['true']);
    const notRunning = await call('GET', `/containers/${created}/top`);
    assert.equal(notRunning.status, 409);
    assert.equal(message(notRunning), `Container ${created} is not running`);
  });

  test('stats: one-shot, stream=0 with its previous sample, a stream; a container that does not run has empty stats, not an error', async () => {
    const id = await runContainer(['sleep', '1000']);
    const oneShot = json(await call('GET', `/containers/${id}/stats?stream=0&one-shot=1`)) as Stats;
    assert.equal(oneShot.id, id);
    assert.match(oneShot.name, /^\//);
    assert.ok(oneShot.pids_stats.current! >= 1, 'tasks: runc init may still have its threads');
    assert.ok(oneShot.memory_stats.usage! > 0 && oneShot.memory_stats.limit! > 0, JSON.stringify(oneShot.memory_stats));
    assert.ok(oneShot.cpu_stats.cpu_usage.total_usage > 0 && oneShot.cpu_stats.system_cpu_usage! > 0 && oneShot.cpu_stats.online_cpus! > 0);
    assert.equal(oneShot.preread, '0001-01-01T00:00:00Z');
    assert.equal(oneShot.precpu_stats.cpu_usage.total_usage, 0);

    const twoSamples = json(await call('GET', `/containers/${id}/stats?stream=0`)) as Stats;
    assert.ok(Date.parse(twoSamples.preread) < Date.parse(twoSamples.read));
    assert.ok(twoSamples.precpu_stats.system_cpu_usage! < twoSamples.cpu_stats.system_cpu_usage!);

    const created = await createContainer(['true'], 'stats-created');
    const empty = json(await call('GET', `/containers/${created}/stats?stream=0`)) as Stats;
    assert.deepEqual([empty.read, empty.name, empty.id, empty.memory_stats, empty.pids_stats, empty.cpu_stats.cpu_usage.total_usage], ['0001-01-01T00:00:00Z', '/stats-created', created, {}, {}, 0]);

    // A stream: objects one per line until the container is removed.
    const lines = await new Promise<string[]>((resolve, reject) => {
      const received: string[] = [];
      let removing = false;
      http
        .get({ socketPath: socket, path: `/containers/${created}/stats` }, (res) => {
          assert.equal(res.statusCode, 200);
          let buffer = '';
          res.on('data', (chunk: Buffer) => {
            buffer += chunk.toString();
            const complete = buffer.split('\n');
            buffer = complete.pop()!;
            received.push(...complete);
            if (received.length >= 2 && !removing) {
              removing = true;
              call('DELETE', `/containers/${created}`).catch(reject);
            }
          });
          res.on('end', () => resolve(received));
        })
        .on('error', reject);
    });
    assert.ok(lines.length >= 2);
    for (const line of lines) assert.equal((JSON.parse(line) as { id: string }).id, created);
    assert.equal((await call('GET', '/containers/nope/stats?stream=0')).status, 404);
  });

  test('commit makes an image of the changes with the repo, tag, comment, author and changes given, and records a commit event', async () => {
    const id = await runContainer(['sh', '-c', 'echo committed > /greeting; sleep 1000']);
    // The file may not be written yet when the start returns.
    while ((await get(id, '/greeting')).status !== 200) await sleep(50);
    const query = new URLSearchParams({ container: id, repo: 'committed/app', tag: 'v2', comment: 'a message', author: 'Someone <someone@example.com>', changes: 'CMD ["cat", "/greeting"]' });
    const reply = await call('POST', `/v1.41/commit?${query}`);
    assert.equal(reply.status, 201, reply.body.toString());
    const { Id: imageId } = json(reply) as { Id: string };
    assert.match(imageId, /^sha256:[a-f0-9]{64}$/);
    const image = json(await call('GET', '/images/committed/app:v2/json')) as { Id: string; Author: string; Config: { Cmd: string[] } };
    assert.deepEqual([image.Id, image.Author, image.Config.Cmd], [imageId, 'Someone <someone@example.com>', ['cat', '/greeting']]);
    const event = engine.events.latest(id, 'commit');
    assert.deepEqual([event?.attributes.imageID, event?.attributes.imageRef, event?.attributes.comment], [imageId, 'committed/app:v2', 'a message']);
    const inspect = json(await call('GET', `/containers/${id}/json`)) as { State: { Running: boolean; Paused: boolean } };
    assert.deepEqual([inspect.State.Running, inspect.State.Paused], [true, false], 'paused for the commit, running again after it');
    assert.equal((await call('POST', '/commit?container=nope')).status, 404);
  });

  test('docker cp both ways, with a created container and a running one', skipDocker, async () => {
    const work = tempDir('strata-api-cp-');
    fs.mkdirSync(path.join(work, 'tree/sub'), { recursive: true });
    fs.writeFileSync(path.join(work, 'tree/sub/file.txt'), 'from the host\n');
    fs.symlinkSync('sub/file.txt', path.join(work, 'tree/link'));
    await dockerRun(['create', '--name', 'cp-target', 'busybox', 'cat', '/tmp/tree/sub/file.txt']);
    await dockerRun(['cp', path.join(work, 'tree'), 'cp-target:/tmp/']);
    const { stdout: started } = await dockerRun(['start', '-a', 'cp-target']);
    assert.equal(started.toString(), 'from the host\n');

    await dockerRun(['cp', 'cp-target:/tmp/tree', path.join(work, 'back')]);
    assert.equal(fs.readFileSync(path.join(work, 'back/sub/file.txt'), 'utf8'), 'from the host\n');
    assert.equal(fs.readlinkSync(path.join(work, 'back/link')), 'sub/file.txt');
    const { stdout: tarred } = await dockerRun(['cp', 'cp-target:/tmp/tree/sub/file.txt', '-']);
    assert.deepEqual((await readTar(tarred)).map((entry) => entry.name), ['file.txt']);
    await assert.rejects(dockerRun(['cp', 'cp-target:/nope', work]), (error: { stderr: Buffer }) => /Could not find the file \/nope in container cp-target/.test(error.stderr.toString()));

    // A tar on stdin goes into the directory as it is.
    await dockerRun(['run', '-d', '--name', 'cp-running', 'busybox', 'sleep', '1000']);
    await dockerRun(['cp', '-', 'cp-running:/tmp'], await makeTar([{ name: 'piped.txt', content: 'piped' }]));
    const { stdout: piped } = await dockerRun(['exec', 'cp-running', 'cat', '/tmp/piped.txt']);
    assert.equal(piped.toString(), 'piped');
  });

  test('docker diff, export, top, stats --no-stream and commit', skipDocker, async () => {
    await dockerRun(['run', '-d', '--name', 'cli-tools', 'busybox', 'sh', '-c', 'echo x > /tmp/made; exec sleep 1000']);
    let diff: string;
    while (!(diff = (await dockerRun(['diff', 'cli-tools'])).stdout.toString()).includes('/tmp/made')) await sleep(50);
    assert.equal(diff, 'C /tmp\nA /tmp/made\n');
    const { stdout: exported } = await dockerRun(['export', 'cli-tools']);
    assert.ok((await readTar(exported)).some((entry) => entry.name === 'tmp/made'));
    const { stdout: top } = await dockerRun(['top', 'cli-tools']);
    assert.match(top.toString(), /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/);
    assert.match(top.toString(), /sleep 1000/);
    const { stdout: stats } = await dockerRun(['stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'cli-tools']);
    assert.match(stats.toString(), /^cli-tools 1 [\d.]+[KMG]iB \/ [\d.]+[KMG]iB\n$/);
    const { stdout: committed } = await dockerRun(['commit', '-m', 'from the CLI', '-c', 'CMD ["cat", "/tmp/made"]', 'cli-tools', 'cli-committed:latest']);
    assert.match(committed.toString(), /^sha256:[a-f0-9]{64}\n$/);
    const { stdout: output } = await dockerRun(['run', '--rm', 'cli-committed']);
    assert.equal(output.toString(), 'x\n');
  });
});
