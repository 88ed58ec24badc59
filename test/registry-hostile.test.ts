/**
 * `pull` and `push` against hostile registries served on 127.0.0.1 by this test process: bodies longer than their
 * descriptors or than the 4 MiB document limit, Content-Lengths that lie, garbage manifests, servers that never
 * answer or drip bytes slower than the timeout. Each must fail with one `Error: ...` line, soon, with the CLI's
 * memory bounded, and leave the store as it was (no blob, no ingest file, no layers/.tmp-*; `system check` clean).
 * A server that is slow but keeps sending must not be cut.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { layerTar, sha256 } from './fixtures.js';
import { busyboxTar, cliPath, rawServer, strataOk, tempDir } from './helpers.js';

/** GNU time, to read the CLI's peak RSS (README's setup installs it); without it memory goes unmeasured. */
const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const rssLimitKb = 200 * 1024;
/** Short timeouts for the failing cases: a registry that stalls costs a fraction of a second per attempt. */
const shortTimeout = '300';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set size of the CLI in KiB, when GNU time is there. */
  maxRssKb: number | undefined;
}

/** Runs the CLI asynchronously (the registry lives in this process's event loop), under GNU time when present. */
function cli(root: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const rssFile = path.join(tempDir('strata-rss-'), 'rss');
  const command = [process.execPath, cliPath, '--root', root, ...args];
  const argv = timeBin ? [timeBin, '-f', '%M', '-o', rssFile, ...command] : command;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const rss = timeBin && fs.existsSync(rssFile) ? Number(/(\d+)\s*$/.exec(fs.readFileSync(rssFile, 'utf8'))?.[1]) : Number.NaN;
      resolve({ status: code ?? -1, stdout, stderr, ms: Date.now() - started, maxRssKb: Number.isFinite(rss) ? rss : undefined });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The image a registry serves (one gzip layer), and the store pulls start from (busybox imported), copied per case.

// About 1 MiB of gzip that does not compress: a layer big enough to arrive in many reads.
const layerTarBytes = layerTar({ 'etc/motd': 'served by a hostile registry\n', 'data/file': randomBytes(768 << 10).toString('base64') });
const layer = gzipSync(layerTarBytes);
const layerDigest = sha256(layer);
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layerTarBytes)] }, config: {} }));
const configDigest = sha256(config);

function manifestFor(overrides: { configSize?: number } = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: overrides.configSize ?? config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
}

let template: string | undefined;
async function freshRoot(): Promise<string> {
  if (!template) {
    template = path.join(tempDir('strata-hostile-template-'), 'root');
    strataOk(template, ['import', busyboxTar(), 'base']);
  }
  const root = path.join(tempDir('strata-hostile-'), 'root');
  await promisify(execFile)('cp', ['-a', template, root]);
  return root;
}

/** Blobs, layer dirs (temp ones included) and ingest files of a store. */
function storeFiles(root: string): string[] {
  const list = (dir: string) => (fs.existsSync(path.join(root, dir)) ? fs.readdirSync(path.join(root, dir)).map((name) => `${dir}/${name}`) : []);
  return [...list('blobs/sha256'), ...list('layers'), ...list('ingest')].sort();
}

const leftovers = (root: string) => storeFiles(root).filter((entry) => entry.startsWith('ingest/') || entry.startsWith('layers/.tmp-'));

// ---------------------------------------------------------------------------------------------------------------
// Hostile registries

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

interface Served {
  host: string;
  /** Requests seen, as `METHOD path [range]`. */
  seen: string[];
}

/** A registry serving the image honestly except where a handler says otherwise. */
async function registry(t: TestContext, handlers: { manifest?: Handler; config?: Handler; layer?: Handler; manifestBytes?: Buffer } = {}): Promise<Served> {
  const manifest = handlers.manifestBytes ?? manifestFor();
  const seen: string[] = [];
  const server = http.createServer((request, response) => {
    const url = request.url ?? '';
    seen.push(`${request.method} ${url}${request.headers.range ? ` ${request.headers.range}` : ''}`);
    response.on('error', () => undefined);
    if (url === '/v2/') return void response.end('{}');
    if (url === '/v2/evil/image/manifests/v1') {
      if (handlers.manifest) return handlers.manifest(request, response);
      return void response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
    }
    if (url === `/v2/evil/image/blobs/${configDigest}`) return handlers.config ? handlers.config(request, response) : void response.end(config);
    if (url === `/v2/evil/image/blobs/${layerDigest}`) return handlers.layer ? handlers.layer(request, response) : void response.end(layer);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A TCP server that hands each connection to `handle`; its connections are destroyed when the test ends. */
async function rawRegistry(t: TestContext, handle: (socket: net.Socket) => void): Promise<string> {
  const server = await rawServer(handle);
  t.after(() => server.close());
  return server.origin;
}

/**
 * Writes `head`, then `filler` as fast as the client takes it, forever (until the connection goes), counting
 * what it managed to send into `sent.bytes`.
 */
function endless(response: http.ServerResponse, head: Buffer, filler: Buffer, sent: { bytes: number }): void {
  response.write(head);
  sent.bytes += head.length;
  const more = () => {
    while (!response.destroyed && response.write(filler)) sent.bytes += filler.length;
    if (!response.destroyed) response.once('drain', more);
  };
  response.on('close', () => response.removeAllListeners('drain'));
  more();
}

/**
 * Pulls from `host` and expects the refusal: a non-zero exit, stderr one printable `Error: ...` line matching
 * `error`, the store unchanged with nothing left behind, `system check` clean, and the CLI's peak RSS bounded.
 */
async function expectRefused(t: TestContext, host: string, error: RegExp, options: { args?: string[]; timeout?: string; root?: string } = {}): Promise<Run> {
  const root = options.root ?? (await freshRoot());
  const before = storeFiles(root);
  const run = await cli(root, options.args ?? ['pull', `${host}/evil/image:v1`], { STRATA_REGISTRY_TIMEOUT_MS: options.timeout ?? shortTimeout });
  t.diagnostic(`exit ${run.status} after ${run.ms} ms, peak RSS ${run.maxRssKb === undefined ? 'unmeasured' : `${Math.round(run.maxRssKb / 1024)} MB`}: ${run.stderr.trim()}`);
  assert.notEqual(run.status, 0, run.stdout);
  assert.match(run.stderr, /^Error: [^\n]+\n$/, `stderr must be one "Error: " line, got ${JSON.stringify(run.stderr)}`);
  assert.match(run.stderr, /^[\x20-\x7e]+\n$/, 'printable text only');
  assert.match(run.stderr, error);
  assert.deepEqual(storeFiles(root), before, 'the store must be as it was');
  assert.deepEqual(leftovers(root), []);
  const check = await cli(root, ['system', 'check']);
  assert.match(check.stdout, /: 0 problems, 0 unreferenced items\n$/, check.stdout + check.stderr);
  if (run.maxRssKb !== undefined) assert.ok(run.maxRssKb < rssLimitKb, `peak RSS ${run.maxRssKb} KiB`);
  return run;
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies longer than they may be

test('a layer whose Content-Length (10^12) disagrees with its descriptor is refused before its body is read', async (t) => {
  const sent = { bytes: 0 };
  const { host } = await registry(t, {
    layer: (_, response) => {
      response.writeHead(200, { 'content-length': String(1e12) });
      endless(response, layer, randomBytes(1 << 16), sent);
    },
  });
  await expectRefused(t, host, new RegExp(`^Error: layer ${layerDigest}: the registry's Content-Length of 1000000000000 bytes disagrees with the ${layer.length} bytes the manifest declares\\n$`));
  assert.ok(sent.bytes < 64 << 20, `the registry got ${sent.bytes} bytes out`);
});

test('a layer sent chunked that goes on past its descriptor is cut off the moment it does', async (t) => {
  const sent = { bytes: 0 };
  const { host } = await registry(t, { layer: (_, response) => endless(response, layer, randomBytes(1 << 16), sent) });
  await expectRefused(t, host, new RegExp(`^Error: layer ${layerDigest}: the registry sent more than the ${layer.length} bytes the manifest declares\\n$`));
  assert.ok(sent.bytes < 64 << 20, `the registry got ${sent.bytes} bytes out`);
});

test('a layer whose Content-Length is short of its descriptor is refused before its body is read', async (t) => {
  const { host, seen } = await registry(t, { layer: (_, response) => response.writeHead(200, { 'content-length': String(layer.length - 1) }).end(layer.subarray(1)) });
  await expectRefused(t, host, new RegExp(`^Error: layer ${layerDigest}: the registry's Content-Length of ${layer.length - 1} bytes disagrees with the ${layer.length} bytes the manifest declares\\n$`));
  assert.equal(seen.filter((line) => line.includes(layerDigest)).length, 1, 'a data error is not retried');
});

test('a resumed layer (Range) is bounded too: more than the rest is cut off, a Content-Range that disagrees refused', async (t) => {
  const half = layer.length >> 1;
  for (const [lie, error] of [
    ['overflow', new RegExp(`^Error: layer ${layerDigest}: the registry sent more than the ${layer.length} bytes the manifest declares\\n$`)],
    ['range', new RegExp(`^Error: layer ${layerDigest}: the registry's range bytes ${half}-${layer.length - 1}/${layer.length * 1000} disagrees with the ${layer.length} bytes the manifest declares\\n$`)],
    ['length', new RegExp(`^Error: layer ${layerDigest}: the registry's Content-Length of ${layer.length} bytes for its last ${layer.length - half} disagrees with the ${layer.length} bytes the manifest declares\\n$`)],
  ] as const) {
    const sent = { bytes: 0 };
    const { host, seen } = await registry(t, {
      layer: (request, response) => {
        if (!request.headers.range) {
          // Half the layer, then the connection drops: the client resumes from there.
          response.writeHead(200, { 'content-length': String(layer.length) }).write(layer.subarray(0, half));
          return void setTimeout(() => response.destroy(), 20);
        }
        const total = lie === 'range' ? layer.length * 1000 : layer.length;
        const headers: http.OutgoingHttpHeaders = { 'content-range': `bytes ${half}-${layer.length - 1}/${total}` };
        if (lie === 'length') headers['content-length'] = String(layer.length);
        response.writeHead(206, headers);
        if (lie === 'overflow') endless(response, layer.subarray(half), randomBytes(1 << 16), sent);
        else response.end(layer.subarray(half));
      },
    });
    await expectRefused(t, host, error);
    assert.ok(
      seen.some((line) => line.endsWith(`bytes=${half}-`)),
      `${lie}: resumed with a Range request (${seen.join(', ')})`,
    );
    assert.ok(sent.bytes < 64 << 20, `the registry got ${sent.bytes} bytes out`);
  }
});

test('a manifest over 4 MiB: read only to the limit (sent endlessly) or refused unread (Content-Length), with bounded memory', async (t) => {
  const sent = { bytes: 0 };
  const endlessManifest = await registry(t, {
    manifest: (_, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      endless(response, Buffer.from('{"schemaVersion":2,"padding":"'), Buffer.alloc(1 << 16, 'x'), sent);
    },
  });
  await expectRefused(t, endlessManifest.host, /^Error: manifest for 127\.0\.0\.1:\d+\/evil\/image:v1: the registry sent more than 4 MiB, the limit for manifests\n$/);
  assert.ok(sent.bytes < 64 << 20, `the registry got ${sent.bytes} bytes out`);
  assert.equal(endlessManifest.seen.filter((line) => line.includes('/manifests/')).length, 1, 'a data error is not retried');

  const declared = await registry(t, {
    manifest: (_, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(500 << 20) });
      endless(response, Buffer.from('{"schemaVersion":2,"padding":"'), Buffer.alloc(1 << 16, 'x'), { bytes: 0 });
    },
  });
  await expectRefused(t, declared.host, new RegExp(`^Error: manifest for 127\\.0\\.0\\.1:\\d+/evil/image:v1: the registry declares ${500 << 20} bytes, over the 4 MiB limit for manifests\\n$`));
});

test('a config longer than its descriptor is cut off; one declared over 4 MiB is never fetched', async (t) => {
  const sent = { bytes: 0 };
  const longer = await registry(t, { config: (_, response) => endless(response, config, Buffer.alloc(1 << 16, ' '), sent) });
  await expectRefused(t, longer.host, new RegExp(`^Error: config ${configDigest}: the registry sent more than the ${config.length} bytes the manifest declares\\n$`));
  assert.ok(sent.bytes < 64 << 20, `the registry got ${sent.bytes} bytes out`);

  const declared = await registry(t, { manifestBytes: manifestFor({ configSize: 100 << 20 }) });
  await expectRefused(t, declared.host, new RegExp(`^Error: config ${configDigest}: the manifest declares ${100 << 20} bytes, over the 4 MiB limit\\n$`));
  assert.deepEqual(
    declared.seen.filter((line) => line.includes('/blobs/')),
    [],
    'the config was not asked for',
  );
});

test('a garbage manifest is one clean line, without its bytes', async (t) => {
  // Binary with a JSON-ish start, line breaks, escapes and invalid UTF-8: what the JSON parser would quote.
  const garbage = Buffer.concat([Buffer.from('{"schemaVersion": 2, \n\x1b[31m'), randomBytes(4096), Buffer.from([0xff, 0xfe, 0x00, 0x0a])]);
  const { host } = await registry(t, { manifest: (_, response) => response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(garbage) });
  await expectRefused(t, host, /^Error: manifest for 127\.0\.0\.1:\d+\/evil\/image:v1 is not valid JSON\n$/);
});

// ---------------------------------------------------------------------------------------------------------------
// Registries that stall

test('a registry that accepts connections and never answers: pull and push give up (retried, then one line)', async (t) => {
  const host = await rawRegistry(t, () => undefined);
  const pulled = await expectRefused(t, host, /^Error: manifest for 127\.0\.0\.1:\d+\/evil\/image:v1: no answer from 127\.0\.0\.1:\d+ in 0\.3 s\n$/);
  assert.ok(pulled.ms < 20_000, `gave up after ${pulled.ms} ms`);

  const root = await freshRoot();
  strataOk(root, ['tag', 'base', `${host}/evil/image:v1`]);
  const pushed = await expectRefused(t, host, /^Error: blob sha256:[a-f0-9]{64}: no answer from 127\.0\.0\.1:\d+ in 0\.3 s\n$/, { root, args: ['push', `${host}/evil/image:v1`] });
  assert.ok(pushed.ms < 20_000, `gave up after ${pushed.ms} ms`);
});

test('a registry that takes a push and never answers it: one line, not a hang', async (t) => {
  const uploads: string[] = [];
  const server = http.createServer((request, response) => {
    response.on('error', () => undefined);
    const url = request.url ?? '';
    if (request.method === 'HEAD') return void response.writeHead(404).end();
    if (request.method === 'POST') return void response.writeHead(202, { location: `/v2/evil/image/blobs/uploads/${uploads.push(url)}` }).end();
    // The upload: read nothing (the client's bytes pile up, then stop), answer nothing.
    request.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = await freshRoot();
  strataOk(root, ['tag', 'base', `${host}/evil/image:v1`]);
  const run = await expectRefused(t, host, /^Error: blob sha256:[a-f0-9]{64}: (127\.0\.0\.1:\d+ took none of the request for|no answer from 127\.0\.0\.1:\d+ in) 0\.3 s\n$/, { root, args: ['push', `${host}/evil/image:v1`] });
  assert.ok(run.ms < 20_000, `gave up after ${run.ms} ms`);
  assert.ok(uploads.length >= 1);
});

test('a registry that drips bytes slower than the idle timeout is cut off (resumed, retried, then one line)', async (t) => {
  const drips: NodeJS.Timeout[] = [];
  t.after(() => {
    for (const timer of drips) clearInterval(timer);
  });
  const { host, seen } = await registry(t, {
    layer: (_, response) => {
      // Range or not, the same: a byte, then one more every 1.5 s (the timeout is 0.3 s).
      response.writeHead(200, { 'content-length': String(layer.length) });
      let offset = 0;
      response.write(layer.subarray(offset, ++offset));
      const timer = setInterval(() => response.write(layer.subarray(offset, ++offset)), 1500);
      drips.push(timer);
      response.on('close', () => clearInterval(timer));
    },
  });
  const run = await expectRefused(t, host, new RegExp(`^Error: layer ${layerDigest}: connection closed after 1 of ${layer.length} bytes \\(no data from 127\\.0\\.0\\.1:\\d+ for 0\\.3 s\\)\\n$`));
  assert.match(run.stdout, /Retrying in 1 second/);
  assert.ok(
    seen.some((line) => line.endsWith('bytes=1-')),
    'a stalled download is resumed first',
  );
  assert.ok(run.ms < 30_000, `gave up after ${run.ms} ms`);

  // Headers dripped a byte every 0.1 s, never finished: faster than the timeout, yet no answer.
  const dripping = await rawRegistry(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nX-Drip: ');
    const timer = setInterval(() => socket.write('a'), 100);
    drips.push(timer);
    socket.on('close', () => clearInterval(timer));
  });
  await expectRefused(t, dripping, /^Error: manifest for 127\.0\.0\.1:\d+\/evil\/image:v1: no answer from 127\.0\.0\.1:\d+ in 0\.3 s\n$/);
});

test('a registry that is slow but keeps sending is never cut: every body in pieces 150 ms apart, with a 1 s timeout', async (t) => {
  const timers: NodeJS.Timeout[] = [];
  t.after(() => {
    for (const timer of timers) clearInterval(timer);
  });
  /** `body` in 20 pieces, one every 150 ms: 3 s for each, three times the timeout. */
  const slowly = (body: Buffer, headers: http.OutgoingHttpHeaders = {}) => (_: http.IncomingMessage, response: http.ServerResponse) => {
    response.writeHead(200, { 'content-length': String(body.length), ...headers });
    const piece = Math.ceil(body.length / 20);
    let offset = 0;
    const timer = setInterval(() => {
      response.write(body.subarray(offset, (offset += piece)));
      if (offset >= body.length) {
        clearInterval(timer);
        response.end();
      }
    }, 150);
    timers.push(timer);
  };
  const manifest = manifestFor();
  const { host } = await registry(t, { manifest: slowly(manifest, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }), config: slowly(config), layer: slowly(layer) });
  const root = await freshRoot();
  const run = await cli(root, ['pull', `${host}/evil/image:v1`], { STRATA_REGISTRY_TIMEOUT_MS: '1000' });
  t.diagnostic(`exit ${run.status} after ${run.ms} ms, peak RSS ${run.maxRssKb === undefined ? 'unmeasured' : `${Math.round(run.maxRssKb / 1024)} MB`}`);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  assert.match(run.stdout, /Pull complete/);
  assert.doesNotMatch(run.stdout, /Retrying/);
  assert.ok(run.ms > 8000, `three bodies of 3 s each took ${run.ms} ms`);
  assert.deepEqual(leftovers(root), []);
  const check = await cli(root, ['system', 'check']);
  assert.match(check.stdout, /: 0 problems, 0 unreferenced items\n$/, check.stdout);
  assert.deepEqual(JSON.parse(strataOk(root, ['inspect', `${host}/evil/image:v1`]))[0].RootFS.Layers, [sha256(layerTarBytes)]);
});

test('STRATA_REGISTRY_TIMEOUT_MS must be a positive number', async () => {
  const root = await freshRoot();
  const run = await cli(root, ['pull', '127.0.0.1:1/evil/image:v1'], { STRATA_REGISTRY_TIMEOUT_MS: 'soon' });
  assert.equal(run.status, 1);
  assert.equal(run.stderr, 'Error: STRATA_REGISTRY_TIMEOUT_MS must be a positive number of milliseconds, not "soon"\n');
});
