/**
 * The embedded registry with real peers and real transports: skopeo pushing and pulling an image Strata saved
 * (chunked uploads, cross-repository mounts), htpasswd auth, TLS, an upload that outlives a restart, and the
 * CLI entry points. Everything listens on 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import { parseListenAddress, registryGcCommand } from '../src/cli/commands/registry.js';
import { createRegistryServer } from '../src/distribution/registry/index.js';
import { digestOf } from '../src/util/digest.js';
import { busyboxTar, hasCommand, strataOk, tempDir } from './helpers.js';
import { startRegistry } from './registry-fixture.js';

const execFileAsync = promisify(execFile);
const haveSkopeo = hasCommand('skopeo');
const haveOpenssl = hasCommand('openssl');

function tmp(t: TestContext, prefix: string): string {
  const dir = tempDir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs skopeo without blocking: the registry answering it lives in this same process. */
async function skopeo(...args: string[]): Promise<string> {
  try {
    // Bounded: a hung transfer fails the test instead of stalling the suite.
    const { stdout } = await execFileAsync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 26 });
    return stdout;
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: unknown };
    throw new Error(`skopeo ${args.join(' ')} exited ${String(code)}: ${stderr}`);
  }
}

/** An OCI layout directory made by Strata itself from a busybox rootfs; returns it and its manifest digest. */
function strataOciDir(t: TestContext): { dir: string; digest: string } {
  const root = tmp(t, 'strata-reg-store-');
  const dir = path.join(tmp(t, 'strata-reg-oci-'), 'layout');
  strataOk(root, ['import', busyboxTar(), 'busybox:v1']);
  strataOk(root, ['save', '--format', 'oci-dir', '-o', dir, 'busybox:v1']);
  return { dir, digest: layoutDigest(dir) };
}

const layoutDigest = (dir: string): string => JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests[0].digest;
const hostOf = (url: string) => url.replace(/^https?:\/\//, '');

test('skopeo pushes a Strata OCI dir to the registry and pulls it back with equal digests', { skip: !haveSkopeo && 'skopeo not installed' }, async (t) => {
  const lines: string[] = [];
  const reg = await startRegistry(t, { log: (line) => lines.push(line) });
  const source = strataOciDir(t);
  const host = hostOf(reg.url);
  await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${source.dir}:v1`, `docker://${host}/strata/busybox:v1`);
  const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/strata/busybox:v1`));
  assert.equal(inspected.Digest, source.digest);
  const back = path.join(tmp(t, 'strata-reg-back-'), 'layout');
  await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/strata/busybox:v1`, `oci:${back}:v1`);
  assert.equal(layoutDigest(back), source.digest);
  for (const blob of fs.readdirSync(path.join(source.dir, 'blobs', 'sha256'))) {
    assert.ok(fs.existsSync(path.join(back, 'blobs', 'sha256', blob)), `blob ${blob} came back`);
  }
  // skopeo uploads with POST, a streamed PATCH and a closing PUT: the chunked flow.
  assert.ok(lines.some((line) => line.startsWith('PATCH /v2/strata/busybox/blobs/uploads/') && line.endsWith(' 202')), lines.join('\n'));
  assert.deepEqual(fs.readdirSync(path.join(reg.root, 'uploads')), [], 'no upload session is left behind');

  // Registry to registry: the layers are mounted from the first repository, not uploaded again.
  lines.length = 0;
  await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host}/strata/busybox:v1`, `docker://${host}/copies/busybox:latest`);
  assert.ok(lines.some((line) => /^POST \/v2\/copies\/busybox\/blobs\/uploads\/\?.*mount=.* 201$/.test(line)), lines.join('\n'));
  assert.equal(JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/copies/busybox:latest`)).Digest, source.digest);

  // Without --preserve-digests skopeo compresses the layer: a new manifest, and still a faithful round trip.
  await skopeo('copy', '--dest-tls-verify=false', `oci:${source.dir}:v1`, `docker://${host}/strata/busybox:gzip`);
  const gzipDigest = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host}/strata/busybox:gzip`)).Digest;
  const gzipBack = path.join(tmp(t, 'strata-reg-gz-'), 'layout');
  await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/strata/busybox:gzip`, `oci:${gzipBack}:v1`);
  assert.equal(layoutDigest(gzipBack), gzipDigest);
  const tags = (await (await fetch(`${reg.url}/v2/strata/busybox/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['gzip', 'v1']);
});

test('htpasswd auth: 401 with a Basic challenge, bcrypt credentials accepted, skopeo logs in', async (t) => {
  const dir = tmp(t, 'strata-reg-auth-');
  const htpasswd = path.join(dir, 'htpasswd');
  // htpasswd -B writes $2y$ hashes; bcryptjs writes $2b$: both must verify.
  fs.writeFileSync(htpasswd, `# users\nalice:${bcrypt.hashSync('wonderland', 4).replace(/^\$2b\$/, '$2y$')}\nbob:${bcrypt.hashSync('builder', 4)}\n`);
  const reg = await startRegistry(t, { auth: { htpasswd } });
  const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
  for (const headers of [{}, basic('alice', 'wrong'), basic('mallory', 'wonderland'), { Authorization: 'Bearer token' }]) {
    const res = await fetch(`${reg.url}/v2/`, { headers });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="[^"]+"$/);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
  }
  assert.equal((await fetch(`${reg.url}/v2/some/repo/tags/list`)).status, 401, 'every endpoint needs credentials');
  assert.equal((await fetch(`${reg.url}/v2/`, { headers: basic('alice', 'wonderland') })).status, 200);
  assert.equal((await fetch(`${reg.url}/v2/`, { headers: basic('bob', 'builder') })).status, 200);
  const blob = Buffer.from('authorized');
  const put = await fetch(`${reg.url}/v2/r/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', headers: basic('bob', 'builder'), body: new Uint8Array(blob) });
  assert.equal(put.status, 201);
  // The file is read again when it changes: a removed user is refused at once.
  fs.writeFileSync(htpasswd, `bob:${bcrypt.hashSync('builder', 4)}\n`);
  fs.utimesSync(htpasswd, new Date(), new Date(Date.now() + 5000));
  assert.equal((await fetch(`${reg.url}/v2/`, { headers: basic('alice', 'wonderland') })).status, 401);
  if (haveSkopeo) {
    const source = strataOciDir(t);
    const target = `docker://${hostOf(reg.url)}/private/busybox:v1`;
    await assert.rejects(skopeo('copy', '--dest-tls-verify=false', `oci:${source.dir}:v1`, target), /401|unauthorized|authentication/i);
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', 'bob:builder', `oci:${source.dir}:v1`, target);
    assert.equal(JSON.parse(await skopeo('inspect', '--tls-verify=false', '--creds', 'bob:builder', target)).Digest, source.digest);
  }
});

test('TLS: the registry serves HTTPS with the given certificate', { skip: !haveOpenssl && 'openssl not installed' }, async (t) => {
  const dir = tmp(t, 'strata-reg-tls-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const reg = await startRegistry(t, { tls: { cert, key } });
  assert.match(reg.url, /^https:/);
  const status = await new Promise<number>((resolve, reject) => {
    https.get(`${reg.url}/v2/`, { ca: fs.readFileSync(cert) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
  assert.equal(status, 200);
  if (haveSkopeo) {
    const source = strataOciDir(t);
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${source.dir}:v1`, `docker://${hostOf(reg.url)}/secure/busybox:v1`);
    assert.equal(JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${hostOf(reg.url)}/secure/busybox:v1`)).Digest, source.digest);
  }
});

test('a chunked upload outlives a registry restart and is verified in full', async (t) => {
  const root = tmp(t, 'strata-reg-restart-');
  const data = randomBytes(3 << 20);
  const listen = async () => {
    const server = createRegistryServer({ root });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  };
  const stop = async (server: ReturnType<typeof createRegistryServer>) => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  const patch = (url: string, location: string, start: number, end: number) =>
    fetch(`${url}${location}`, { method: 'PATCH', headers: { 'Content-Range': `${start}-${end - 1}` }, body: new Uint8Array(data.subarray(start, end)) });
  const first = await listen();
  let location = (await fetch(`${first.url}/v2/big/blobs/uploads/`, { method: 'POST' })).headers.get('location')!;
  location = (await patch(first.url, location, 0, 1 << 20)).headers.get('location')!;
  await stop(first.server);
  const second = await listen();
  t.after(() => stop(second.server));
  assert.equal((await fetch(`${second.url}${location}`)).headers.get('range'), `0-${(1 << 20) - 1}`);
  assert.equal((await patch(second.url, location, 1 << 20, data.length)).status, 202);
  const put = await fetch(`${second.url}${location}?digest=${digestOf(data)}`, { method: 'PUT' });
  assert.equal(put.status, 201);
  const got = Buffer.from(await (await fetch(`${second.url}/v2/big/blobs/${digestOf(data)}`)).arrayBuffer());
  assert.ok(got.equals(data));
});

test('CLI: registry serve listens on --addr and stops on SIGTERM; registry gc reports', async (t) => {
  assert.deepEqual(parseListenAddress('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseListenAddress(':5000'), { host: undefined, port: 5000 });
  assert.deepEqual(parseListenAddress('[::1]:5000'), { host: '::1', port: 5000 });
  for (const bad of ['5000', 'host:', 'h:99999', '[::1]']) assert.throws(() => parseListenAddress(bad), /invalid --addr/);

  const root = tmp(t, 'strata-reg-cli-');
  const module = fileURLToPath(new URL('../src/cli/commands/registry.js', import.meta.url));
  const script = `const m = await import(${JSON.stringify(module)}); await m.registryServeCommand({ addr: '127.0.0.1:0', root: ${JSON.stringify(root)} });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`registry serve did not start: ${out}`)), 15_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  assert.equal((await fetch(`${url}/v2/`)).status, 200);
  const blob = Buffer.from('to be collected');
  await fetch(`${url}/v2/r/blobs/uploads/?digest=${digestOf(blob)}`, { method: 'POST', body: new Uint8Array(blob) });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const printed: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => printed.push(chunk) > 0) as typeof process.stdout.write;
  try {
    registryGcCommand({ root });
  } finally {
    process.stdout.write = write;
  }
  assert.match(printed.join(''), new RegExp(`deleted ${digestOf(blob)}\\n1 blobs deleted \\(15B\\), 0 kept`));
  assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')), []);
});
