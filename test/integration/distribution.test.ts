/**
 * pull and push against Debian's docker-registry (the CNCF distribution registry) and skopeo, and against a
 * hostile registry on loopback that lies about digests, truncates or drops blobs, or demands credentials.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { writeDockerArchive, layerTar } from '../fixtures.js';
import { busyboxTar, cliPath, hasCommand, strataAsync, strataOk, tempDir } from '../helpers.js';
import { startDockerRegistry, startRegistry as startEmbeddedRegistry } from '../registry-fixture.js';

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const haveRegistry = hasCommand('docker-registry');
const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

function tmp(prefix: string): string {
  const dir = tempDir(prefix);
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let registry: { host: string } | undefined;

before(async () => {
  if (haveRegistry) registry = { host: await startDockerRegistry(tmp('strata-registry-'), cleanups) };
});

/** A two-layer image (busybox + an app layer) in a fresh store, tagged for the registry. */
async function storeWithApp(name: string): Promise<string> {
  const root = tmp('strata-dist-root-');
  const archive = await writeDockerArchive(path.join(tmp('strata-dist-'), 'app.tar'), [
    { layers: [fs.readFileSync(busyboxTar()), layerTar({ 'app/hello.txt': 'hello\n'.repeat(1000) })], tags: [name], config: { Cmd: ['sh'] } },
  ]);
  strataOk(root, ['load', '-i', archive]);
  return root;
}

const inspect = (root: string, name: string) => JSON.parse(strataOk(root, ['inspect', name]))[0];

test('push to docker-registry and pull back: same image ID and layers; present layers are skipped both ways', { skip: haveRegistry ? false : 'docker-registry is not installed' }, async () => {
  const name = `${registry!.host}/strata/app:v1`;
  const source = await storeWithApp(name);
  const pushed = strataOk(source, ['push', name]);
  assert.match(pushed, new RegExp(`^The push refers to repository \\[${registry!.host}/strata/app\\]`));
  assert.equal(pushed.match(/: Pushed$/gm)?.length, 2);
  const digest = /^v1: digest: (sha256:[a-f0-9]{64}) size: \d+$/m.exec(pushed)![1]!;
  assert.equal(strataOk(source, ['push', name]).match(/: Layer already exists$/gm)?.length, 2);
  // The same layers under another repository of the registry: mounted from the one they were pushed to.
  const copy = `${registry!.host}/strata/copy:v1`;
  strataOk(source, ['tag', name, copy]);
  assert.equal(strataOk(source, ['push', copy]).match(/: Mounted from strata\/app$/gm)?.length, 2);

  const target = tmp('strata-dist-root-');
  const pulled = strataOk(target, ['pull', name]);
  assert.match(pulled, /^v1: Pulling from strata\/app$/m);
  assert.equal(pulled.match(/: Pull complete$/gm)?.length, 2);
  assert.match(pulled, new RegExp(`^Digest: ${digest}$`, 'm'));
  assert.match(pulled, /^Status: Downloaded newer image for .*strata\/app:v1$/m);
  assert.equal(inspect(target, name).Id, inspect(source, name).Id);
  assert.deepEqual(inspect(target, name).RootFS.Layers, inspect(source, name).RootFS.Layers);
  assert.deepEqual(inspect(target, name).RepoDigests, [`${registry!.host}/strata/app@${digest}`]);
  assert.match(strataOk(target, ['pull', name]), /Status: Image is up to date/);
  // By digest, too.
  assert.equal(inspect(target, `${registry!.host}/strata/app@${digest}`).Id, inspect(source, name).Id);

  // A second image on the same base: its base layer is already here.
  const other = `${registry!.host}/strata/other:v1`;
  strataOk(target, ['import', busyboxTar(), 'scratchpad']);
  const otherRoot = await storeWithApp(other);
  strataOk(otherRoot, ['push', other]);
  assert.match(strataOk(target, ['pull', other]), /: Already exists$/m);
});

/** A registry that serves one image and misbehaves as told. */
async function hostileRegistry(behaviour: { layer?: 'mismatch' | 'truncated' | 'missing' | 'drop-once' | 'drop-resumable' | 'stall-once' | 'garbage'; auth?: string; ranges?: string[] }) {
  // 'garbage': 8 MB that are no tar at all (but match their digest), sent slowly, so bytes still arrive after
  // the unpack has failed.
  const garbage = behaviour.layer === 'garbage';
  const layer = garbage ? Buffer.alloc(8 << 20, 'A') : gzipSync(layerTar({ 'data.txt': 'x'.repeat(200_000) }));
  const diffId = sha256(garbage ? layer : layerTar({ 'data.txt': 'x'.repeat(200_000) }));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: `application/vnd.oci.image.layer.v1.tar${garbage ? '' : '+gzip'}`, digest: sha256(layer), size: layer.length }],
    }),
  );
  let drops = 0;
  const server = http.createServer((req, res) => {
    if (behaviour.auth && req.headers.authorization !== `Basic ${Buffer.from(behaviour.auth).toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const url = req.url ?? '';
    if (url === '/v2/') {
      res.end('{}');
    } else if (url.endsWith('/manifests/v1')) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha256(manifest) });
      res.end(manifest);
    } else if (url.endsWith(`/blobs/${sha256(config)}`)) {
      res.end(config);
    } else if (url.endsWith(`/blobs/${sha256(layer)}`)) {
      if (behaviour.layer === 'missing') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
      } else if (behaviour.layer === 'mismatch') {
        const evil = Buffer.from(layer);
        evil[evil.length - 20] ^= 0xff;
        res.end(evil);
      } else if (garbage) {
        res.writeHead(200, { 'content-length': String(layer.length) });
        let offset = 0;
        const next = () => {
          if (res.destroyed) return;
          if (offset >= layer.length) return void res.end();
          res.write(layer.subarray(offset, (offset += 256 << 10)));
          setTimeout(next, 5);
        };
        next();
      } else if (behaviour.layer === 'stall-once' && drops++ === 0) {
        // Half the layer, then nothing: the client is left mid-layer (for as long as the test wants).
        res.writeHead(200, { 'content-length': String(layer.length) });
        res.write(layer.subarray(0, layer.length >> 1));
      } else if (behaviour.layer === 'drop-resumable' && req.headers.range) {
        // Honours `Range: bytes=N-` as a registry with resumable downloads does.
        behaviour.ranges?.push(req.headers.range);
        const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range)?.[1]);
        res.writeHead(206, { 'content-range': `bytes ${start}-${layer.length - 1}/${layer.length}`, 'content-length': String(layer.length - start) });
        res.end(layer.subarray(start));
      } else if (behaviour.layer === 'truncated' || ((behaviour.layer === 'drop-once' || behaviour.layer === 'drop-resumable') && drops++ === 0)) {
        res.writeHead(200, { 'content-length': String(layer.length) });
        res.write(layer.subarray(0, layer.length >> 1));
        setTimeout(() => res.destroy(), 10);
      } else {
        res.end(layer);
      }
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function storeSnapshot(root: string): string[] {
  const list = (dir: string) => (fs.existsSync(path.join(root, dir)) ? fs.readdirSync(path.join(root, dir)).map((name) => `${dir}/${name}`) : []);
  return [...list('blobs/sha256'), ...list('layers'), ...list('ingest')].filter((entry) => entry !== 'layers/l').sort();
}

for (const [layer, message] of [
  ['mismatch', /digest|corrupt/],
  ['truncated', /truncated|terminated|closed|premature|size mismatch|corrupt/i],
  ['missing', /not found|BLOB_UNKNOWN/],
  ['garbage', /corrupt or truncated data/],
] as const) {
  test(`a ${layer} layer is a one-line error and leaves the store as it was`, async () => {
    const host = await hostileRegistry({ layer });
    const root = tmp('strata-dist-root-');
    strataOk(root, ['import', busyboxTar(), 'base']);
    const before = storeSnapshot(root);
    const result = await strataAsync(root, ['pull', `${host}/evil/image:v1`]);
    assert.equal(result.status, 1, result.stdout);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, message);
    assert.deepEqual(storeSnapshot(root), before);
    assert.match(strataOk(root, ['system', 'check']), / 0 problems, 0 unreferenced/);
  });
}

test('a connection dropped mid-layer is retried', async () => {
  const host = await hostileRegistry({ layer: 'drop-once' });
  const root = tmp('strata-dist-root-');
  const { stdout: out } = await strataAsync(root, ['pull', `${host}/flaky/image:v1`]);
  assert.match(out, /Retrying in 1 second/);
  assert.match(out, /Pull complete/);
});

test('a connection dropped mid-layer resumes where it stopped when the registry takes Range requests', async () => {
  const ranges: string[] = [];
  const host = await hostileRegistry({ layer: 'drop-resumable', ranges });
  const root = tmp('strata-dist-root-');
  const pulled = await strataAsync(root, ['pull', `${host}/flaky/image:v1`]);
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.match(pulled.stdout, /Pull complete/);
  assert.doesNotMatch(pulled.stdout, /Retrying/, 'the layer is resumed, not downloaded again');
  assert.equal(ranges.length, 1);
  assert.ok(Number(/^bytes=(\d+)-$/.exec(ranges[0]!)?.[1]) > 0, ranges[0]);
  strataOk(root, ['system', 'check']);
});

test('a pull killed mid-layer leaves a store that verifies; check --repair removes its leftovers; pull then works', async () => {
  const host = await hostileRegistry({ layer: 'stall-once' });
  const root = tmp('strata-dist-root-');
  strataOk(root, ['images']);
  const child = spawn(process.execPath, [cliPath, '--root', root, 'pull', `${host}/flaky/image:v1`], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const underWay = () =>
    fs.readdirSync(path.join(root, 'layers')).some((name) => name.startsWith('.tmp-')) &&
    fs.readdirSync(path.join(root, 'ingest')).length > 0;
  for (let i = 0; i < 200 && !underWay(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(underWay(), 'the pull should be mid-layer before it is killed');
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  const check = await strataAsync(root, ['system', 'check']);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /: 0 problems, [1-9]\d* unreferenced items\n$/);
  assert.equal(strataOk(root, ['images', '-a', '-q']), '');
  assert.match((await strataAsync(root, ['system', 'check', '--repair'])).stdout, /unreferenced items removed\n$/);
  assert.match((await strataAsync(root, ['pull', `${host}/flaky/image:v1`])).stdout, /Pull complete/);
  assert.match((await strataAsync(root, ['system', 'check'])).stdout, /: 0 problems, 0 unreferenced items\n$/);
});

test('a 401 without credentials is refused; login stores them and pull then works', async () => {
  const host = await hostileRegistry({ auth: 'alice:secret' });
  const root = tmp('strata-dist-root-');
  const config = path.join(tmp('strata-dist-config-'), 'config.json');
  const env = { STRATA_CONFIG: config, DOCKER_CONFIG: path.dirname(config) };
  const refused = await strataAsync(root, ['pull', `${host}/private/image:v1`], { env });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /unauthorized/);
  const wrong = await strataAsync(root, ['login', '-u', 'alice', '-p', 'wrong', host], { env });
  assert.equal(wrong.status, 1);
  const login = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', host], { env, input: 'secret\n' });
  assert.equal(login.stdout, 'Login Succeeded\n', login.stderr);
  assert.equal((fs.statSync(config).mode & 0o777).toString(8), '600');
  assert.match((await strataAsync(root, ['pull', `${host}/private/image:v1`], { env })).stdout, /Pull complete/);
  assert.match((await strataAsync(root, ['logout', host], { env })).stdout, /Removing login credentials/);
});

/** An address of this machine that is not loopback: a registry there is verified unless named insecure. */
const externalAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i?.family === 'IPv4' && !i.internal)?.address;

test('TLS trust as Docker has it: certs.d CAs, insecure registries (flag, config file) unverified, HTTP fallback', { skip: !externalAddress || !hasCommand('openssl') ? 'needs openssl and a non-loopback IPv4 address' : false }, async (t) => {
  const dir = tmp('strata-dist-tls-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const subject = ['-subj', `/CN=${externalAddress}`, '-addext', `subjectAltName=IP:${externalAddress}`];
  const made = spawn('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', ...subject], { stdio: 'ignore' });
  assert.equal(await new Promise((resolve) => made.on('close', resolve)), 0);
  const secure = new URL((await startEmbeddedRegistry(t, { tls: { cert, key } }, externalAddress)).url).host;
  const plain = new URL((await startEmbeddedRegistry(t, {}, externalAddress)).url).host;
  const config = path.join(tmp('strata-dist-config-'), 'config.json');
  const env = { STRATA_CONFIG: config };

  const source = await storeWithApp('app:v1');
  for (const host of [secure, plain]) {
    strataOk(source, ['tag', 'app:v1', `${host}/team/app:v1`]);
    const pushed = await strataAsync(source, ['push', '-q', '--insecure-registry', host, `${host}/team/app:v1`], { env });
    assert.equal(pushed.status, 0, pushed.stderr);
  }

  const root = tmp('strata-dist-root-');
  const refused = await strataAsync(root, ['pull', `${secure}/team/app:v1`], { env });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /TLS certificate not trusted \(self[- ]signed certificate\).*certs\.d/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  const noTls = await strataAsync(root, ['pull', `${plain}/team/app:v1`], { env });
  assert.equal(noTls.status, 1, 'a registry without TLS is not used over plain HTTP unless named insecure');
  assert.match(noTls.stderr, /answered HTTPS in plain HTTP: name it with --insecure-registry/);
  assert.equal(noTls.stderr.trim().split('\n').length, 1, noTls.stderr);
  assert.equal(strataOk(root, ['images', '-q']), '', 'failed pulls leave nothing');

  // Docker's certs.d layout, under Strata's config directory: the CA makes the registry trusted.
  const certsDir = path.join(path.dirname(config), 'certs.d', secure);
  fs.mkdirSync(certsDir, { recursive: true });
  fs.copyFileSync(cert, path.join(certsDir, 'ca.crt'));
  assert.match((await strataAsync(root, ['pull', `${secure}/team/app:v1`], { env })).stdout, /Pull complete/);
  fs.rmSync(certsDir, { recursive: true });
  strataOk(root, ['rmi', `${secure}/team/app:v1`]);

  // Insecure: HTTPS without verification, or plain HTTP when the registry has no TLS; by flag or by config file.
  assert.match((await strataAsync(root, ['pull', '--insecure-registry', secure, `${secure}/team/app:v1`], { env })).stdout, /Pull complete/);
  fs.writeFileSync(config, JSON.stringify({ 'insecure-registries': [plain] }));
  const fallback = await strataAsync(root, ['pull', `${plain}/team/app:v1`], { env });
  assert.match(fallback.stdout, /Already exists/, fallback.stderr);
  assert.equal(strataOk(root, ['images', '--format', '{{.Repository}}']).trim().split('\n').sort().join(' '), [`${plain}/team/app`, `${secure}/team/app`].sort().join(' '));
});

test('pull --platform takes that platform from a multi-platform image; a platform the image lacks is a one-line error', async (t) => {
  const registry = new URL((await startEmbeddedRegistry(t)).url).host;
  const source = tmp('strata-dist-root-');
  const archive = await writeDockerArchive(path.join(tmp('strata-dist-'), 'multi.tar'), [
    { layers: [layerTar({ 'arch.txt': 'amd64\n' })], tags: ['multi:amd64'] },
    { layers: [layerTar({ 'arch.txt': 'arm64\n' })], tags: ['multi:arm64'], platform: { architecture: 'arm64', variant: 'v8' } },
    { layers: [layerTar({ 'arch.txt': 'arm v7\n' })], tags: ['multi:armv7'], platform: { architecture: 'arm', variant: 'v7' } },
  ]);
  strataOk(source, ['load', '-i', archive]);
  const entries = [];
  for (const [tag, platform] of [
    ['amd64', { os: 'linux', architecture: 'amd64' }],
    ['arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['armv7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
  ] as const) {
    strataOk(source, ['tag', `multi:${tag}`, `${registry}/team/multi:${tag}`]);
    const pushed = await strataAsync(source, ['push', '-q', `${registry}/team/multi:${tag}`]);
    assert.equal(pushed.status, 0, pushed.stderr);
    const manifest = await fetch(`http://${registry}/v2/team/multi/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const bytes = Buffer.from(await manifest.arrayBuffer());
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), size: bytes.length, platform });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries });
  const put = await fetch(`http://${registry}/v2/team/multi/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
  assert.equal(put.status, 201);

  const root = tmp('strata-dist-root-');
  const architectureOf = (name: string) => {
    const image = inspect(root, name);
    return [image.Os, image.Architecture, image.Variant].filter(Boolean).join('/');
  };
  for (const [platform, expected] of [
    [undefined, 'linux/amd64'], // this machine's by default
    ['linux/arm64', 'linux/arm64/v8'], // arm64 means v8
    ['aarch64', 'linux/arm64/v8'], // containerd's aliases, the os taken from this machine
    ['linux/arm/v7', 'linux/arm/v7'],
    ['linux/arm', 'linux/arm/v7'], // arm means v7
  ] as const) {
    const pulled = await strataAsync(root, ['pull', '-q', ...(platform ? ['--platform', platform] : []), `${registry}/team/multi`]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.equal(architectureOf(`${registry}/team/multi`), expected, String(platform));
  }
  const before = strataOk(root, ['images', '-a', '-q', '--no-trunc']);
  for (const [platform, message] of [
    ['linux/s390x', /no matching manifest for linux\/s390x in the manifest list entries/],
    ['linux/arm/v6', /no matching manifest for linux\/arm\/v6 in the manifest list entries/],
    ['linux//', /invalid platform "linux\/\/"/],
  ] as const) {
    const refused = await strataAsync(root, ['pull', '--platform', platform, `${registry}/team/multi`]);
    assert.equal(refused.status, 1, platform);
    assert.match(refused.stderr, message);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  }
  // A single-platform image names its own platform: asking for another is refused, as recent Docker does.
  const single = await strataAsync(root, ['pull', '--platform', 'linux/arm64', `${registry}/team/multi:amd64`]);
  assert.equal(single.status, 1);
  assert.match(single.stderr, /does not match the specified platform: wanted linux\/arm64\/v8, actual: linux\/amd64/);
  assert.equal(strataOk(root, ['images', '-a', '-q', '--no-trunc']), before, 'refused pulls change nothing');
});

test('build --platform pulls bases of that platform, sets TARGETPLATFORM and the image platform; FROM --platform per stage', async (t) => {
  const registry = new URL((await startEmbeddedRegistry(t)).url).host;
  const source = tmp('strata-dist-root-');
  const archive = await writeDockerArchive(path.join(tmp('strata-dist-'), 'multi.tar'), [
    { layers: [layerTar({ 'arch.txt': 'amd64\n' })], tags: ['multi:amd64'] },
    { layers: [layerTar({ 'arch.txt': 'arm64\n' })], tags: ['multi:arm64'], platform: { architecture: 'arm64' } },
  ]);
  strataOk(source, ['load', '-i', archive]);
  const entries = [];
  for (const [tag, platform] of [
    ['amd64', { os: 'linux', architecture: 'amd64' }],
    ['arm64', { os: 'linux', architecture: 'arm64' }],
  ] as const) {
    strataOk(source, ['tag', `multi:${tag}`, `${registry}/team/multi:${tag}`]);
    assert.equal((await strataAsync(source, ['push', '-q', `${registry}/team/multi:${tag}`])).status, 0);
    const bytes = Buffer.from(await (await fetch(`http://${registry}/v2/team/multi/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer());
    entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), size: bytes.length, platform });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: entries });
  assert.equal((await fetch(`http://${registry}/v2/team/multi/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index })).status, 201);

  const root = tmp('strata-dist-root-');
  const dir = tmp('strata-dist-ctx-');
  fs.writeFileSync(
    path.join(dir, 'Dockerfile'),
    [`FROM --platform=$BUILDPLATFORM ${registry}/team/multi AS tools`, `FROM ${registry}/team/multi`, 'ARG TARGETPLATFORM', 'ARG TARGETARCH', 'ARG BUILDARCH', 'LABEL target=$TARGETPLATFORM arch=$TARGETARCH build=$BUILDARCH', 'COPY --from=tools /arch.txt /tools-arch.txt', ''].join('\n'),
  );
  const platformOf = (name: string) => {
    const image = inspect(root, name);
    return [image.Os, image.Architecture, image.Variant].filter(Boolean).join('/');
  };
  const built = await strataAsync(root, ['build', '--platform', 'linux/arm64', '-t', 'app:arm', dir]);
  assert.equal(built.status, 0, built.stderr);
  assert.equal(platformOf('app:arm'), 'linux/arm64');
  assert.deepEqual(inspect(root, 'app:arm').Config.Labels, { target: 'linux/arm64', arch: 'arm64', build: 'amd64' });
  // The stage pinned to the build platform took this machine's variant of the same name.
  const out = tmp('strata-dist-out-');
  assert.equal((await strataAsync(root, ['build', '--platform', 'linux/arm64', '-o', out, dir])).status, 0);
  assert.equal(fs.readFileSync(path.join(out, 'arch.txt'), 'utf8'), 'arm64\n');
  assert.equal(fs.readFileSync(path.join(out, 'tools-arch.txt'), 'utf8'), 'amd64\n');
  // Without --platform: this machine's; the name now points at the arm64 image, so amd64 is pulled again.
  const native = await strataAsync(root, ['build', '-t', 'app:native', dir]);
  assert.equal(native.status, 0, native.stderr);
  assert.equal(platformOf('app:native'), 'linux/amd64');

  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM --platform=linux/arm/v7 scratch\nCOPY Dockerfile /\n');
  assert.equal((await strataAsync(root, ['build', '-t', 'app:scratch', dir])).status, 0);
  assert.equal(platformOf('app:scratch'), 'linux/arm/v7');
  const bad = await strataAsync(root, ['build', '--platform', 'linux//', dir]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^Error: invalid platform "linux\/\/"/);
});

test('push -a sends every local tag of the repository, pull -a fetches every tag the registry has', async (t) => {
  const registry = new URL((await startEmbeddedRegistry(t)).url).host;
  const source = await storeWithApp('app:v1');
  for (const tag of ['v1', 'v2', 'latest']) strataOk(source, ['tag', 'app:v1', `${registry}/team/app:${tag}`]);
  strataOk(source, ['tag', 'app:v1', `${registry}/team/other:v1`]);
  const refused = await strataAsync(source, ['push', '-a', `${registry}/team/app:v1`]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /tag can't be used with --all-tags\/-a/);
  const pushed = await strataAsync(source, ['push', '-a', `${registry}/team/app`]);
  assert.equal(pushed.status, 0, pushed.stderr);
  assert.equal(pushed.stdout.match(/digest: sha256:/g)?.length, 3, pushed.stdout);
  const listed = (await (await fetch(`http://${registry}/v2/team/app/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(listed.tags.sort(), ['latest', 'v1', 'v2']);
  assert.equal((await fetch(`http://${registry}/v2/team/other/tags/list`)).status, 404, 'another repository is not pushed');

  const root = tmp('strata-dist-root-');
  const pulled = await strataAsync(root, ['pull', '-a', `${registry}/team/app`]);
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.equal(pulled.stdout.trim().split('\n').at(-1), `${registry}/team/app`);
  assert.deepEqual(strataOk(root, ['images', '--format', '{{.Tag}}']).trim().split('\n').sort(), ['latest', 'v1', 'v2']);
  assert.equal((await strataAsync(root, ['pull', '-a', `${registry}/team/app:v2`])).status, 1);
});

test("Docker's credential helpers: credsStore and credHelpers are asked first; login and logout go through them", async () => {
  const host = await hostileRegistry({ auth: 'alice:secret' });
  // A real helper speaking Docker's protocol (get/store/erase on stdin and stdout), keeping secrets in files.
  const bin = tmp('strata-dist-helper-');
  const helper = path.join(bin, 'docker-credential-strata-test');
  fs.writeFileSync(
    helper,
    `#!/bin/sh
store="${bin}/store"
key() { printf %s "$1" | tr '/:' '__'; }
case "$1" in
  get) read -r server; if [ -f "$store/$(key "$server")" ]; then cat "$store/$(key "$server")"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) mkdir -p "$store"; input=$(cat); server=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p'); printf %s "$input" > "$store/$(key "$server")" ;;
  erase) read -r server; rm -f "$store/$(key "$server")" ;;
esac
`,
    { mode: 0o755 },
  );
  const configDir = tmp('strata-dist-config-');
  const dockerDir = tmp('strata-dist-docker-');
  const env = { PATH: `${bin}:${process.env.PATH}`, STRATA_CONFIG: path.join(configDir, 'config.json'), DOCKER_CONFIG: dockerDir };
  fs.writeFileSync(env.STRATA_CONFIG, JSON.stringify({ credsStore: 'strata-test' }));
  const root = tmp('strata-dist-root-');
  const image = `${host}/private/image:v1`;

  assert.match((await strataAsync(root, ['pull', image], { env })).stderr, /unauthorized/);
  const login = await strataAsync(root, ['login', '-u', 'alice', '--password-stdin', host], { env, input: 'secret\n' });
  assert.equal(login.stdout, 'Login Succeeded\n', login.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(env.STRATA_CONFIG, 'utf8')), { credsStore: 'strata-test' }, 'no secret in the config file');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(bin, 'store', host.replace(/:/g, '_')), 'utf8')), { ServerURL: host, Username: 'alice', Secret: 'secret' });
  assert.match((await strataAsync(root, ['pull', image], { env })).stdout, /Pull complete/);

  // Docker's own config naming a helper for this registry serves as well.
  fs.writeFileSync(env.STRATA_CONFIG, '{}');
  fs.writeFileSync(path.join(dockerDir, 'config.json'), JSON.stringify({ credHelpers: { [host]: 'strata-test' } }));
  strataOk(root, ['rmi', image]);
  assert.match((await strataAsync(root, ['pull', image], { env })).stdout, /Pull complete/);

  fs.writeFileSync(env.STRATA_CONFIG, JSON.stringify({ credsStore: 'strata-test' }));
  assert.match((await strataAsync(root, ['logout', host], { env })).stdout, /Removing login credentials/);
  assert.equal(fs.existsSync(path.join(bin, 'store', host.replace(/:/g, '_'))), false);

  fs.writeFileSync(env.STRATA_CONFIG, JSON.stringify({ credsStore: 'absent' }));
  const missing = await strataAsync(root, ['pull', image], { env });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /credential helper docker-credential-absent: not found in PATH/);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
});

/** A forward proxy on loopback: CONNECT tunnels for HTTPS, absolute-URL requests for HTTP; logs what it was asked. */
async function forwardProxy(options: { refuse?: boolean } = {}): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (options.refuse) return void res.writeHead(407, { 'proxy-authenticate': 'Basic' }).end();
    const target = new URL(req.url ?? '');
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client) => {
    seen.push(`CONNECT ${req.url}`);
    if (options.refuse) return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('HTTPS_PROXY and HTTP_PROXY are used (CONNECT for HTTPS, absolute URLs for HTTP), NO_PROXY and loopback bypass them', { skip: !externalAddress || !hasCommand('openssl') ? 'needs openssl and a non-loopback IPv4 address' : false }, async (t) => {
  const dir = tmp('strata-dist-proxy-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = spawn('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${externalAddress}`, '-addext', `subjectAltName=IP:${externalAddress}`], { stdio: 'ignore' });
  assert.equal(await new Promise((resolve) => made.on('close', resolve)), 0);
  const secure = new URL((await startEmbeddedRegistry(t, { tls: { cert, key } }, externalAddress)).url).host;
  const plain = new URL((await startEmbeddedRegistry(t, {}, externalAddress)).url).host;
  const config = path.join(tmp('strata-dist-config-'), 'config.json');
  fs.writeFileSync(config, JSON.stringify({ 'insecure-registries': [plain] }));
  fs.mkdirSync(path.join(path.dirname(config), 'certs.d', secure), { recursive: true });
  fs.copyFileSync(cert, path.join(path.dirname(config), 'certs.d', secure, 'ca.crt'));
  const source = await storeWithApp('app:v1');
  for (const host of [secure, plain]) {
    strataOk(source, ['tag', 'app:v1', `${host}/team/app:v1`]);
    const pushed = await strataAsync(source, ['push', '-q', `${host}/team/app:v1`], { env: { STRATA_CONFIG: config } });
    assert.equal(pushed.status, 0, pushed.stderr);
  }

  const proxy = await forwardProxy();
  const env = { STRATA_CONFIG: config, HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '' };
  const root = tmp('strata-dist-root-');
  const viaTunnel = await strataAsync(root, ['pull', `${secure}/team/app:v1`], { env });
  assert.match(viaTunnel.stdout, /Pull complete/, viaTunnel.stderr);
  assert.ok(proxy.seen.includes(`CONNECT ${secure}`), proxy.seen.join('\n'));
  // An insecure registry without TLS: the HTTPS attempt goes through the tunnel, then plain HTTP through the proxy.
  const viaProxy = await strataAsync(root, ['pull', `${plain}/team/app:v1`], { env });
  assert.match(viaProxy.stdout, /Already exists/, viaProxy.stderr);
  assert.ok(proxy.seen.some((line) => line.startsWith(`GET http://${plain}/v2/team/app/manifests/v1`)), proxy.seen.join('\n'));

  const count = proxy.seen.length;
  strataOk(root, ['rmi', `${secure}/team/app:v1`]);
  const bypassed = await strataAsync(root, ['pull', `${secure}/team/app:v1`], { env: { ...env, NO_PROXY: `localhost,${externalAddress}` } });
  assert.match(bypassed.stdout, /Status: Downloaded newer image/, bypassed.stderr);
  assert.equal(proxy.seen.length, count, 'NO_PROXY hosts are reached directly');

  const refusing = await forwardProxy({ refuse: true });
  const refused = await strataAsync(root, ['pull', `${secure}/team/app:v2`], { env: { ...env, HTTPS_PROXY: refusing.url } });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /proxy 127\.0\.0\.1:\d+ refused a tunnel to .*: 407/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
});

test('Docker Hub pulls go to registry-mirrors first, in order; a mirror without the image passes to the next', async (t) => {
  const empty = new URL((await startEmbeddedRegistry(t)).url).host;
  // Off loopback where this machine has an address: an http:// mirror is then reached without TLS only because
  // its URL says so.
  const mirror = new URL((await startEmbeddedRegistry(t, {}, externalAddress ?? '127.0.0.1')).url).host;
  const source = await storeWithApp('app:v1');
  for (const name of ['library/busybox:latest', 'team/app:v1']) {
    strataOk(source, ['tag', 'app:v1', `${mirror}/${name}`]);
    assert.equal((await strataAsync(source, ['push', '-q', '--insecure-registry', mirror, `${mirror}/${name}`])).status, 0);
  }
  const config = path.join(tmp('strata-dist-config-'), 'config.json');
  fs.writeFileSync(config, JSON.stringify({ 'registry-mirrors': [`http://${empty}`, `http://${mirror}`] }));
  const root = tmp('strata-dist-root-');
  const env = { STRATA_CONFIG: config };
  const pulled = await strataAsync(root, ['pull', 'busybox'], { env });
  assert.equal(pulled.status, 0, pulled.stderr);
  assert.match(pulled.stdout, /^Using default tag: latest\nlatest: Pulling from library\/busybox\n/);
  assert.match(pulled.stdout, /Status: Downloaded newer image for busybox:latest\ndocker\.io\/library\/busybox:latest\n$/);
  assert.match((await strataAsync(root, ['pull', 'team/app:v1'], { env })).stdout, /Already exists/);
  assert.deepEqual(strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}}']).trim().split('\n').sort(), ['busybox:latest', 'team/app:v1']);
  // Mirrors serve Docker Hub only: an image named with its registry goes there.
  assert.equal((await strataAsync(root, ['pull', `${empty}/team/app:v1`], { env })).status, 1);
});
