/**
 * The registry client's HTTP transport (redirects, credentials, streamed bodies, cut responses) against real
 * servers on loopback, and the thread-pool writer that files and blobs go through.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { remoteTags } from '../src/distribution/client/pull.js';
import { RegistryClient } from '../src/distribution/client/registry.js';
import { isDataCorrupt, isPermissionDenied, isUnauthenticated, isUnavailable } from '../src/errors.js';
import { BodyTooLarge, send } from '../src/util/http.js';
import { bypassesProxy, proxyFor } from '../src/util/proxy.js';
import { BackgroundWrites } from '../src/util/background-writes.js';
import { rawServer } from './helpers.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: Buffer;
}

/** A loopback server that records each request and answers with `answer`. */
async function serve(answer: (request: Seen, response: http.ServerResponse) => void): Promise<{ origin: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const record = { method: request.method!, url: request.url!, authorization: request.headers.authorization, body: Buffer.concat(chunks) };
    seen.push(record);
    answer(record, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('redirects: followed for requests without a body; credentials only to the same origin', async () => {
  const storage = await serve((_, response) => response.end('blob bytes'));
  const registry = await serve((request, response) => {
    if (request.url === '/v2/same') response.writeHead(307, { location: '/v2/final' }).end();
    else if (request.url === '/v2/elsewhere') response.writeHead(302, { location: `${storage.origin}/signed?x=1` }).end();
    else if (request.url === '/v2/loop') response.writeHead(302, { location: '/v2/loop' }).end();
    else if (request.url === '/v2/upload') response.writeHead(307, { location: '/v2/other' }).end();
    else response.end('final');
  });
  try {
    const auth = { authorization: 'Bearer secret' };
    const same = await send(new URL(`${registry.origin}/v2/same`), { method: 'GET', headers: auth });
    assert.equal((await same.read()).toString(), 'final');
    assert.equal(registry.seen.at(-1)!.authorization, 'Bearer secret', 'same origin keeps the credentials');

    const elsewhere = await send(new URL(`${registry.origin}/v2/elsewhere`), { method: 'GET', headers: auth });
    assert.equal((await elsewhere.read()).toString(), 'blob bytes');
    assert.equal(storage.seen[0]!.url, '/signed?x=1');
    assert.equal(storage.seen[0]!.authorization, undefined, 'another origin never sees the registry token');

    const head = await send(new URL(`${registry.origin}/v2/elsewhere`), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(storage.seen[1]!.method, 'HEAD');

    await assert.rejects(send(new URL(`${registry.origin}/v2/loop`), { method: 'GET' }), /too many redirects/);

    // A body cannot be sent twice: the redirect comes back to the caller, which reports the status.
    const upload = await send(new URL(`${registry.origin}/v2/upload`), { method: 'PUT', body: Buffer.from('data') });
    assert.equal(upload.status, 307);
    assert.equal(upload.header('location'), '/v2/other');
  } finally {
    await registry.close();
    await storage.close();
  }
});

test('bodies: buffers, strings and streams arrive whole; responses read once or streamed', async () => {
  const echo = await serve((request, response) => response.writeHead(201, { 'x-length': String(request.body.length) }).end(request.body));
  try {
    const data = randomBytes(3 << 20);
    for (const body of [data, data.toString('base64'), Readable.from([data.subarray(0, 1000), data.subarray(1000)])]) {
      const response = await send(new URL(`${echo.origin}/put`), { method: 'PUT', body });
      const expected = typeof body === 'string' ? Buffer.from(body) : data;
      assert.equal(response.status, 201);
      assert.equal(response.header('x-length'), String(expected.length));
      assert.ok((await response.read()).equals(expected));
      assert.ok((await response.read()).equals(expected), 'a second read returns the same bytes');
    }
    const streamed = await send(new URL(`${echo.origin}/put`), { method: 'POST', body: Buffer.from('{"a":1}') });
    assert.deepEqual(await streamed.json(), { a: 1 });
    assert.equal(streamed.header('X-Length'), '7', 'header names are case-insensitive');
    assert.equal(streamed.header('missing'), null);
  } finally {
    await echo.close();
  }
});

test('a response cut short fails its body stream; an unreachable host fails the request', async () => {
  const cut = await serve((_, response) => {
    response.writeHead(200, { 'content-length': '1000000' });
    response.write(Buffer.alloc(1000));
    setTimeout(() => response.socket?.destroy(), 20);
  });
  try {
    const response = await send(new URL(`${cut.origin}/blob`), { method: 'GET' });
    await assert.rejects(response.read(), /aborted|ECONNRESET|closed/);
  } finally {
    await cut.close();
  }
  await assert.rejects(send(new URL(cut.origin), { method: 'GET' }), /ECONNREFUSED/);
  await assert.rejects(send(new URL('ftp://127.0.0.1/x'), { method: 'GET' }), /unsupported URL scheme/);
});

test('BackgroundWrites: chunks of any size reach the file in order; a failure is kept and thrown by flush', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bgw-'));
  try {
    for (const [name, sizes, limit] of [
      ['many small chunks under one batch', Array.from({ length: 300 }, (_, i) => 1 + (i % 97)), 16 << 20],
      ['chunks across several batches, tight limit', Array.from({ length: 40 }, (_, i) => 100_000 + i * 7919), 1 << 20],
      ['one chunk larger than the limit', [5 << 20], 1 << 20],
      ['nothing at all', [], 1 << 20],
    ] as const) {
      const file = path.join(dir, 'out');
      const fd = fs.openSync(file, 'w');
      const chunks = sizes.map((size) => randomBytes(size));
      const writes = new BackgroundWrites(fd, limit);
      for (const chunk of chunks) await writes.write(chunk);
      await writes.flush();
      fs.closeSync(fd);
      assert.ok(fs.readFileSync(file).equals(Buffer.concat(chunks)), name);
    }

    const readOnly = fs.openSync(path.join(dir, 'out'), 'r');
    const failing = new BackgroundWrites(readOnly);
    await failing.write(Buffer.from('x'));
    await failing.settled(); // never rejects: the descriptor can be closed after it
    await assert.rejects(failing.flush(), { code: 'EBADF' });
    fs.closeSync(readOnly);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('remoteTags follows the Link header page by page, as the distribution spec paginates tags', async () => {
  const pages: Record<string, { tags: string[] | null; next?: string }> = {
    '/v2/team/app/tags/list': { tags: ['v2', 'v1'], next: '</v2/team/app/tags/list?last=v2&n=2>; rel="next"' },
    '/v2/team/app/tags/list?last=v2&n=2': { tags: ['v3', 'latest'], next: '</v2/team/app/tags/list?last=v3&n=2>; rel=next' },
    '/v2/team/app/tags/list?last=v3&n=2': { tags: null },
  };
  const registry = await serve((request, response) => {
    const page = pages[request.url];
    if (!page) return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json', ...(page.next && { link: page.next }) }).end(JSON.stringify({ name: 'team/app', tags: page.tags }));
  });
  try {
    const host = new URL(registry.origin).host;
    assert.deepEqual(await remoteTags(`${host}/team/app`), ['latest', 'v1', 'v2', 'v3']);
    assert.deepEqual(
      registry.seen.map((r) => r.url),
      Object.keys(pages),
    );
  } finally {
    await registry.close();
  }
});

test('the registry client tells 401 (unauthenticated, once the challenge is answered) from 403 (permission denied)', async () => {
  const registry = await serve((request, response) => {
    if (request.url.startsWith('/v2/private/')) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
      return void response.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    response.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
  });
  try {
    const host = new URL(registry.origin).host;
    const credentials = { username: 'someone', password: 'wrong' };
    const denied = (await new RegistryClient(host, 'private', { credentials }).request('GET', '/private/manifests/v1', { what: 'manifest' }).catch((error: unknown) => error)) as Error;
    assert.match(denied.message, /^manifest: unauthorized: authentication required \(UNAUTHORIZED: authentication required\)$/);
    assert.ok(isUnauthenticated(denied) && !isPermissionDenied(denied));
    assert.equal(registry.seen.filter((r) => r.url === '/v2/private/manifests/v1').at(-1)!.authorization, `Basic ${Buffer.from('someone:wrong').toString('base64')}`);
    const forbidden = (await new RegistryClient(host, 'other', { credentials }).request('GET', '/other/manifests/v1', { what: 'manifest' }).catch((error: unknown) => error)) as Error;
    assert.match(forbidden.message, /^manifest: denied \(DENIED: requested access to the resource is denied\)$/);
    assert.ok(isPermissionDenied(forbidden) && !isUnauthenticated(forbidden));
  } finally {
    await registry.close();
  }
});

test('proxies from the environment as Go reads them: scheme, NO_PROXY forms, loopback never proxied', () => {
  const env = { HTTPS_PROXY: 'proxy.corp:3128', http_proxy: 'http://user:p%40ss@proxy.corp:8080', NO_PROXY: 'internal.corp,.svc,10.0.0.0/8,registry.io:5000' };
  for (const [url, expected] of [
    ['https://registry-1.docker.io/v2/', 'http://proxy.corp:3128/'],
    ['http://registry.example/v2/', 'http://user:p%40ss@proxy.corp:8080/'],
    ['https://internal.corp/v2/', undefined],
    ['https://eu.internal.corp/v2/', undefined], // subdomains of a listed host
    ['https://a.svc/v2/', undefined], // .domain: subdomains
    ['https://10.1.2.3/v2/', undefined], // CIDR
    ['https://11.1.2.3/v2/', 'http://proxy.corp:3128/'],
    ['https://registry.io:5000/v2/', undefined], // host:port, that port only
    ['https://registry.io/v2/', 'http://proxy.corp:3128/'],
    ['https://localhost:5000/v2/', undefined], // loopback never
    ['https://127.0.0.1:5000/v2/', undefined],
    ['https://[::1]:5000/v2/', undefined],
    ['https://127.example.com/v2/', 'http://proxy.corp:3128/'], // a name, not a loopback address
  ] as const) {
    assert.equal(proxyFor(new URL(url), env)?.href, expected, url);
  }
  assert.equal(proxyFor(new URL('https://registry.io/'), { HTTPS_PROXY: '', https_proxy: 'http://p:3128' })?.href, 'http://p:3128/', 'an empty variable hides nothing');
  assert.equal(bypassesProxy(new URL('https://a.example.com/'), '*.example.com'), true);
  assert.equal(bypassesProxy(new URL('https://example.com/'), '*.example.com'), false);
  assert.equal(bypassesProxy(new URL('https://10.1.1.1/'), '10.0.0.0/'), false, 'a CIDR without a prefix length matches nothing');
  assert.equal(bypassesProxy(new URL('https://10.1.1.1/'), '10.0.0.0/40'), false);
  assert.equal(bypassesProxy(new URL('https://[2001:db8::5]/'), '2001:db8::/32'), true);
  assert.equal(bypassesProxy(new URL('https://[2001:db9::5]/'), '2001:db8::/32'), false);
  assert.equal(proxyFor(new URL('https://registry.io/v2/'), {}), undefined, 'no proxy set');
  assert.equal(bypassesProxy(new URL('https://anything.example/'), '*'), true);
  assert.throws(() => proxyFor(new URL('https://registry.io/'), { HTTPS_PROXY: 'socks5://proxy:1080' }), /only http:\/\/ proxies/);
});

test('read(limit): a Content-Length over the limit is refused unread, a body past it cut off there', async () => {
  let sentPastLimit = 0;
  const server = await serve((request, response) => {
    if (request.method === 'HEAD') return void response.writeHead(200, { 'content-length': String(1e12) }).end();
    if (request.url === '/declared') return void response.writeHead(200, { 'content-length': String(1e12) }).write(Buffer.alloc(1 << 16));
    // No Content-Length (chunked), and no end: only the reader's limit stops it.
    const chunk = Buffer.alloc(1 << 16, 'x');
    const more = () => {
      while (!response.destroyed && response.write(chunk)) sentPastLimit += chunk.length;
      if (!response.destroyed) response.once('drain', more);
    };
    response.on('close', () => response.removeAllListeners('drain'));
    more();
  });
  try {
    const declared = await send(new URL(`${server.origin}/declared`), { method: 'GET' });
    await assert.rejects(declared.read(1 << 20), (error: unknown) => error instanceof BodyTooLarge && error.declared === 1e12 && error.limit === 1 << 20);
    const endless = await send(new URL(`${server.origin}/endless`), { method: 'GET' });
    await assert.rejects(endless.read(1 << 20), (error: unknown) => error instanceof BodyTooLarge && error.declared === undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(sentPastLimit < 32 << 20, `the server got ${sentPastLimit} bytes out before the connection closed`);
    // HEAD answers declare the length of a body that never comes: nothing to refuse.
    const head = await send(new URL(`${server.origin}/declared`), { method: 'HEAD' });
    assert.equal(head.contentLength, undefined);
    assert.equal((await head.read(10)).length, 0);
    // JSON that is not: one line naming the host, never the parser's message quoting the bytes.
    const garbage = await serve((_, response) => response.end(Buffer.from([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x1b])));
    try {
      const answer = await send(new URL(`${garbage.origin}/x`), { method: 'GET' });
      await assert.rejects(answer.json(), (error: Error) => isDataCorrupt(error) && /^the response from 127\.0\.0\.1:\d+ is not valid JSON$/.test(error.message));
    } finally {
      await garbage.close();
    }
  } finally {
    await server.close();
  }
});

test('timeouts: no TLS handshake, no answer, headers dripped, a silent body; a slow reader or a slow steady server is never cut', async () => {
  const timeouts = { connectMs: 200, idleMs: 200 };
  const started = (from: number) => Date.now() - from;

  // Accepts, then says nothing: HTTPS never gets its handshake (connect), HTTP never gets an answer (idle).
  const silent = await rawServer(() => undefined);
  // Headers a byte every 50 ms, never finished: the deadline for headers is not extended by them.
  const dripping = await rawServer((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nX-Drip: ');
    const timer = setInterval(() => socket.write('a'), 50);
    socket.on('close', () => clearInterval(timer));
  });
  // Headers and half the body, then silence.
  const stalls = await serve((_, response) => response.writeHead(200, { 'content-length': '1000' }).write(Buffer.alloc(500)));
  // 2 MiB sent at once (the reader is the slow one), or 10 pieces 80 ms apart (the server is slow, never silent).
  const big = randomBytes(2 << 20);
  const steady = await serve((request, response) => {
    if (request.url === '/big') return void response.end(big);
    let pieces = 0;
    const timer = setInterval(() => {
      if (++pieces === 10) {
        clearInterval(timer);
        response.end('piece\n');
      } else {
        response.write('piece\n');
      }
    }, 80);
  });
  try {
    let from = Date.now();
    await assert.rejects(send(new URL(`https://${silent.origin}/`), { method: 'GET', timeouts }), (error: Error) => isUnavailable(error) && /^cannot connect to 127\.0\.0\.1:\d+ in 0\.2 s$/.test(error.message));
    assert.ok(started(from) < 1000, `gave up after ${started(from)} ms`);
    from = Date.now();
    await assert.rejects(send(new URL(`http://${silent.origin}/`), { method: 'GET', timeouts }), /^Error: no answer from 127\.0\.0\.1:\d+ in 0\.2 s$|no answer from 127\.0\.0\.1:\d+ in 0\.2 s/);
    assert.ok(started(from) < 1000, `gave up after ${started(from)} ms`);
    await assert.rejects(send(new URL(`http://${dripping.origin}/`), { method: 'GET', timeouts }), /no answer from 127\.0\.0\.1:\d+ in 0\.2 s/);

    const stalled = await send(new URL(`${stalls.origin}/`), { method: 'GET', timeouts });
    await assert.rejects(stalled.read(), (error: Error) => isUnavailable(error) && /^no data from 127\.0\.0\.1:\d+ for 0\.2 s$/.test(error.message));

    const slowReader = await send(new URL(`${steady.origin}/big`), { method: 'GET', timeouts });
    const first = await new Promise<Buffer>((resolve) => slowReader.body.once('data', resolve));
    slowReader.body.pause();
    await new Promise((resolve) => setTimeout(resolve, 700)); // 3.5 times the idle timeout, with bytes waiting for us
    const rest: Buffer[] = [first];
    for await (const chunk of slowReader.body) rest.push(chunk as Buffer);
    assert.ok(Buffer.concat(rest).equals(big), 'a reader that is slow itself keeps its connection');

    from = Date.now();
    const slowServer = await send(new URL(`${steady.origin}/steady`), { method: 'GET', timeouts });
    assert.equal((await slowServer.read()).toString(), 'piece\n'.repeat(10));
    assert.ok(started(from) > 600, 'the transfer took longer than the idle timeout, and was not cut');
  } finally {
    await Promise.all([silent.close(), dripping.close(), stalls.close(), steady.close()]);
  }
});

test('timeouts: an upload the server takes slowly (kernel buffers full, then acknowledged bit by bit) is never cut', async () => {
  const server = http.createServer((request, response) => {
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // About 1 MB/s whatever the size of the reads: a steady server, slower than the client.
      request.pause();
      setTimeout(() => request.resume(), Math.ceil(chunk.length / 1000));
    });
    request.on('end', () => response.end(String(received)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const from = Date.now();
    // One write of 2 MiB: Node hands it down at once, so only the kernel's counts show the server taking it.
    const response = await send(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`), { method: 'PUT', body: Buffer.alloc(2 << 20), timeouts: { connectMs: 1000, idleMs: 1000 } });
    assert.equal((await response.read()).toString(), String(2 << 20));
    assert.ok(Date.now() - from > 1500, `the upload took ${Date.now() - from} ms, longer than the idle timeout`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
