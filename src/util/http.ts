import fs from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { dataCorrupt, StrataError, unavailable } from '../errors.js';
import { bareHost, proxyFor, proxyHeaders, tunnel } from './proxy.js';

/**
 * Strata's HTTP client (registries, ADD <url>), on node:http rather than fetch: a layer's bytes arrive as a Node
 * stream without passing through web streams, which costs a third less CPU per downloaded byte (measured on a
 * 100 MB pull) and sends uploads straight from the file stream.
 */

/** Connections are kept between the requests of one command, as fetch keeps them; idle ones don't hold the process. */
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

export interface Timeouts {
  /** Connecting: the name lookup, TCP's handshake and TLS's (or a proxy's CONNECT and TLS through it). */
  connectMs: number;
  /**
   * No progress: no byte of the request taken by the server for this long; no response headers this long after
   * the request went out (headers dripped a byte at a time do not extend it); no byte of the body for this long
   * while its reader waits for one. A reader that is slow itself (bytes waiting for it) never counts as a silent
   * server, and a transfer that keeps moving is never cut, however slow.
   */
  idleMs: number;
}

/**
 * Docker's and containerd's registry transports dial with a 30 s timeout; neither has a read timeout (containerd's
 * CRI gives up on a pull without progress after 5 minutes): 120 s without progress is what Strata has used.
 */
export const defaultTimeouts: Readonly<Timeouts> = { connectMs: 30_000, idleMs: 120_000 };

/** What `read` keeps in memory unless told otherwise: 4 MiB, the most Docker and containerd read of a manifest. */
export const defaultReadLimit = 4 << 20;

/** A body longer than a reader allows: said before a byte is read when Content-Length declares it, else once past the limit. */
export class BodyTooLarge extends StrataError {
  constructor(
    readonly limit: number,
    readonly declared?: number,
  ) {
    super('data-corrupt', declared === undefined ? `the response is longer than ${limit} bytes` : `the response declares ${declared} bytes, more than the ${limit} allowed`);
    this.name = 'BodyTooLarge';
  }
}

const seconds = (ms: number) => `${ms / 1000} s`;

export type RequestBody = Buffer | string | Readable;

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** For https URLs: an agent with other trust (extra CAs, a client certificate, no verification). */
  tlsAgent?: https.Agent;
  /** Defaults: `defaultTimeouts`. */
  timeouts?: Partial<Timeouts>;
}

export class HttpResponse {
  private bytes: Promise<Buffer> | undefined;

  constructor(
    private readonly message: IncomingMessage,
    /** The URL that answered (after redirects). */
    readonly url: URL,
    private readonly method: string,
  ) {}

  get status(): number {
    return this.message.statusCode ?? 0;
  }

  get statusText(): string {
    return this.message.statusMessage ?? '';
  }

  header(name: string): string | null {
    const value = this.message.headers[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  /** The body's length as Content-Length declares it; undefined without one, or when there is no body (HEAD, 204, 304). */
  get contentLength(): number | undefined {
    if (this.method === 'HEAD' || this.status === 204 || this.status === 304) return undefined;
    const value = this.message.headers['content-length'];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  }

  /** The body as it arrives; read it once, either this way or with `read`. */
  get body(): Readable {
    return this.message;
  }

  /**
   * The whole body (remembered: reading twice returns the same bytes), at most `limit` bytes of it: a longer
   * Content-Length is refused before a byte is read, and a body that goes past the limit is cut off there (the
   * connection closed), so no more than the limit and one network read are ever held.
   */
  read(limit = defaultReadLimit): Promise<Buffer> {
    this.bytes ??= (async () => {
      const declared = this.contentLength;
      if (declared !== undefined && declared > limit) {
        this.discard();
        throw new BodyTooLarge(limit, declared);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of this.message) {
        total += (chunk as Buffer).length;
        if (total > limit) {
          this.discard();
          throw new BodyTooLarge(limit);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks, total);
    })();
    return this.bytes;
  }

  /** The body as JSON (at most `limit` bytes of it); a body that is no JSON is a one-line error, never the parser's message. */
  async json<T>(limit = defaultReadLimit): Promise<T> {
    const bytes = await this.read(limit);
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (error) {
      throw dataCorrupt(`the response from ${this.url.host} is not valid JSON`, { cause: error });
    }
  }

  /** Drops the body unread: the connection closes rather than carrying on with what may be a large blob. */
  discard(): void {
    this.message.destroy();
  }
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/**
 * Sends one request and resolves with the response once its headers are in. Redirects of requests without a
 * body are followed (blob downloads are often sent to storage elsewhere); credentials go only to the same origin.
 */
export async function send(url: URL, request: HttpRequest, redirects = 0): Promise<HttpResponse> {
  const message = await exchange(url, request);
  const location = message.headers.location;
  if (redirectStatuses.has(message.statusCode ?? 0) && location && request.body === undefined) {
    message.resume();
    if (redirects >= 10) throw new Error(`too many redirects from ${url.host}`);
    const next = new URL(location, url);
    const headers = { ...request.headers };
    if (next.origin !== url.origin) delete headers.authorization;
    const method = request.method === 'HEAD' ? 'HEAD' : 'GET';
    return send(next, { method, headers, ...(request.tlsAgent && { tlsAgent: request.tlsAgent }), ...(request.timeouts && { timeouts: request.timeouts }) }, redirects + 1);
  }
  return new HttpResponse(message, url, request.method);
}

async function exchange(url: URL, { method, headers = {}, body, tlsAgent, timeouts: asked }: HttpRequest): Promise<IncomingMessage> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported URL scheme in ${url.href}`);
  const timeouts = { ...defaultTimeouts, ...asked };
  const allHeaders: Record<string, string> = { ...headers };
  if (typeof body === 'string' || Buffer.isBuffer(body)) allHeaders['content-length'] ??= String(Buffer.byteLength(body));
  const proxy = proxyFor(url);
  if (url.protocol === 'http:' && !proxy) return issue(http.request(url, { method, headers: allHeaders, agent: agents['http:'] }), url, body, timeouts, 'tcp');
  if (url.protocol === 'http:' && proxy) {
    // Through a proxy, plain HTTP asks it for the absolute URL.
    const headers = { ...allHeaders, host: url.host, ...proxyHeaders(proxy) };
    return issue(http.request({ host: proxy.hostname, port: proxy.port || 80, path: url.href, method, headers, agent: agents['http:'] }), url, body, timeouts, 'tcp');
  }
  const agent = tlsAgent ?? agents['https:'];
  if (!proxy) return issue(https.request(url, { method, headers: allHeaders, agent }), url, body, timeouts, 'tls');
  // HTTPS through a proxy: TLS, with this request's trust, over a CONNECT tunnel (one per request).
  const socket = await tunnel(proxy, url, timeouts.connectMs);
  const trust = agent.options;
  const host = bareHost(url);
  // The handshake completes (or fails, as a rejection) before the request takes the socket; a silent one times out.
  socket.setTimeout(timeouts.connectMs, () => socket.destroy(unavailable(`cannot connect to ${url.host} through proxy ${proxy.host}: no TLS handshake in ${seconds(timeouts.connectMs)}`)));
  const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const connection = tls.connect(
      {
        socket,
        host,
        ...(!net.isIP(host) && { servername: host }),
        ...(trust.ca !== undefined && { ca: trust.ca }),
        ...(trust.cert !== undefined && { cert: trust.cert, key: trust.key }),
        rejectUnauthorized: trust.rejectUnauthorized ?? true,
      },
      () => {
        socket.setTimeout(0);
        resolve(connection);
      },
    );
    connection.once('error', (error) => {
      socket.destroy();
      reject(error);
    });
  });
  // No agent: with createConnection and no agent, the request runs on this socket (agent: false would make a new one).
  return issue(https.request(url, { method, headers: allHeaders, createConnection: () => secure }), url, body, timeouts, 'connected');
}

/**
 * Bytes of a socket's writes still queued below Node's stream (libuv's write queue, for TLS the TLS layer's):
 * `bytesWritten` counts a write when it is handed down, so a large one the server takes slowly shows its
 * progress only here. Node has no public property for it (`writeQueueSize` is what its own stream code reads).
 */
function unsent(socket: net.Socket): number {
  return (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0;
}

/**
 * Bytes a TCP connection has written and its peer not yet acknowledged (Linux's tx_queue in /proc/net/tcp and
 * tcp6), or undefined where that cannot be told. Once a request is in the kernel's buffers (megabytes, on a fast
 * link), this is the only sign of a server still taking it: Node sees nothing until the buffers have room.
 */
function unacknowledged(socket: net.Socket): number | undefined {
  const { localPort, remotePort } = socket;
  if (!localPort || !remotePort) return undefined;
  const port = (n: number) => `:${n.toString(16).toUpperCase().padStart(4, '0')}`;
  const [local, remote] = [port(localPort), port(remotePort)];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      // sl local_address rem_address st tx_queue:rx_queue ...
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(local) && fields[2]?.endsWith(remote)) return Number.parseInt(fields[4]?.split(':')[0] ?? '', 16);
    }
  }
  return undefined;
}

/**
 * Sends a prepared request's body and resolves with the response once its headers are in, watching each phase
 * of the exchange for `timeouts`: connecting (`how`: a new TCP connection, TCP then TLS, or a socket already
 * connected), sending (bytes taken by the server), waiting for the headers, then reading the body.
 */
function issue(request: http.ClientRequest, url: URL, body: RequestBody | undefined, timeouts: Timeouts, how: 'tcp' | 'tls' | 'connected'): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let phase: 'connect' | 'send' | 'wait' | 'body' = 'connect';
    let since = Date.now();
    let moved = -1;
    let unacked: number | undefined;
    let sent = false;
    /**
     * Once the request is written, the kernel may still hold megabytes of it that the server reads slowly, unseen
     * from here (on loopback or a LAN they wait in the server's receive buffer): the wait for an answer gets
     * the time that much would take at 1 MB/s on top of the idle timeout.
     */
    let drainMs = 0;
    let socket: net.Socket | undefined;
    let response: IncomingMessage | undefined;
    const enter = (next: typeof phase) => {
      phase = next;
      since = Date.now();
      moved = -1;
    };
    const fail = (message: string) => {
      clearInterval(watch);
      const error = unavailable(message);
      if (response) response.destroy(error);
      else request.destroy(error);
    };
    /** The server acknowledged more of the request since the last look (asked of the kernel only when Node saw nothing). */
    const acknowledging = () => {
      const now = unacknowledged(socket!);
      const changed = now !== undefined && unacked !== undefined && now !== unacked;
      unacked = now;
      return changed;
    };
    // One look every fifth of the timeout (at most a second apart): a phase fails within 1.2 times its timeout.
    const watch = setInterval(
      () => {
        const quiet = Date.now() - since;
        if (phase === 'connect') {
          if (quiet >= timeouts.connectMs) fail(`cannot connect to ${url.host} in ${seconds(timeouts.connectMs)}`);
          return;
        }
        if (phase === 'body') {
          // Progress is bytes arriving, or bytes waiting for a reader that is busy elsewhere.
          const bytes = socket!.bytesRead;
          if (bytes !== moved || response!.readableLength > 0) {
            moved = bytes;
            since = Date.now();
          } else if (quiet >= timeouts.idleMs) {
            fail(`no data from ${url.host} for ${seconds(timeouts.idleMs)}`);
          }
          return;
        }
        // Sending, or waiting for the answer: the server taking the request is progress (header bytes are not).
        const bytes = phase === 'send' ? socket!.bytesWritten - unsent(socket!) : moved;
        if (bytes !== moved || (quiet >= timeouts.idleMs / 5 && acknowledging())) {
          moved = bytes;
          since = Date.now();
        } else if (quiet >= timeouts.idleMs + (phase === 'wait' ? drainMs : 0)) {
          fail(phase === 'send' ? `${url.host} took none of the request for ${seconds(timeouts.idleMs)}` : `no answer from ${url.host} in ${seconds(timeouts.idleMs)}`);
        }
      },
      Math.max(5, Math.min(1000, Math.floor(Math.min(timeouts.connectMs, timeouts.idleMs) / 5))),
    );
    // Never what keeps the process alive: the socket does that while the exchange lasts.
    watch.unref();
    const connected = () => {
      if (phase === 'connect') enter(sent ? 'wait' : 'send');
    };
    request.on('socket', (assigned: net.Socket) => {
      socket = assigned;
      if (how === 'connected' || request.reusedSocket) return connected();
      assigned.once(how === 'tls' ? 'secureConnect' : 'connect', connected);
    });
    request.on('finish', () => {
      sent = true;
      drainMs = (socket?.bytesWritten ?? 0) / 1048.576;
      if (phase === 'send') enter('wait');
    });
    request.on('response', (message: IncomingMessage) => {
      response = message;
      enter('body');
      message.once('end', () => clearInterval(watch));
      message.once('close', () => clearInterval(watch));
      resolve(message);
    });
    request.on('error', (error) => {
      clearInterval(watch);
      reject(error);
    });
    request.on('close', () => {
      if (!response) clearInterval(watch);
    });
    if (body instanceof Readable) {
      body.on('error', (error) => request.destroy(error));
      body.pipe(request);
    } else {
      request.end(body);
    }
  });
}
