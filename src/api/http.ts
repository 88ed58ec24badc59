import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatusFor, invalidArgument } from '../errors.js';
import { parseTimestamp } from '../util/time.js';

/** The API version Strata speaks: the shapes of Docker Engine 20.10, as Podman's compat API also answers. */
export const apiVersion = '1.41';
export const minApiVersion = '1.24';

/** Headers on every response: clients read the version and OS from any of them, not only from /_ping. */
export const commonHeaders = { 'Api-Version': apiVersion, Ostype: 'linux', Server: 'Strata/0.1.0 (linux)', 'Docker-Experimental': 'false' };

/** One API call: the parsed URL, the path's parameters, and the raw socket when the client asked to hijack it. */
export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /**
   * Set for a request with `Upgrade: tcp` (attach, exec start): the connection the handler takes over, and the
   * request's body, read off it already (Node parses no body of an upgrade request).
   */
  upgrade?: { socket: Duplex; head: Buffer; body: Buffer };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

export function sendStatus(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

/** Docker's error body, `{"message": ...}`, with the status the error's code maps to. */
export function sendError(res: ServerResponse, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const status = httpStatusFor(error);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { message });
}

const jsonLimit = 4 * 1024 * 1024;

/** A JSON request body; none at all reads as `{}`. More than 4 MiB is refused. */
export async function readJson<T>(call: Pick<Call, 'req' | 'upgrade'>): Promise<T> {
  let body = call.upgrade?.body;
  if (!body) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of call.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > jsonLimit) throw invalidArgument(`request body is larger than ${jsonLimit} bytes`);
      chunks.push(chunk);
    }
    body = Buffer.concat(chunks);
  }
  const text = body.toString('utf8').trim();
  if (text === '' || text === 'null') return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw invalidArgument(`invalid JSON: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
}

/**
 * The body of an upgrade request, read off its connection: Content-Length bytes, or one chunked body. What
 * follows it (the client's stream: stdin) is put back for the handler. Bounded as JSON bodies are.
 */
export async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<Buffer> {
  const chunked = /chunked/i.test(String(req.headers['transfer-encoding'] ?? ''));
  const length = Number(req.headers['content-length'] ?? 0);
  if (!chunked && !(length > 0)) return Buffer.alloc(0);
  if (length > jsonLimit) throw invalidArgument(`request body is larger than ${jsonLimit} bytes`);
  let pending = head;
  const more = () =>
    new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        cleanup();
        pending = Buffer.concat([pending, chunk]);
        if (pending.length > jsonLimit + 64) reject(invalidArgument(`request body is larger than ${jsonLimit} bytes`));
        else resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(invalidArgument('the connection ended inside the request body'));
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
  if (!chunked) {
    while (pending.length < length) await more();
    if (pending.length > length) socket.unshift(pending.subarray(length));
    return pending.subarray(0, length);
  }
  const parts: Buffer[] = [];
  for (;;) {
    let lineEnd: number;
    while ((lineEnd = pending.indexOf('\r\n')) < 0) await more();
    const size = Number.parseInt(pending.subarray(0, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) throw invalidArgument('invalid chunked request body');
    while (pending.length < lineEnd + 2 + size + 2) await more();
    if (size === 0) {
      pending = pending.subarray(lineEnd + 4);
      break;
    }
    parts.push(pending.subarray(lineEnd + 2, lineEnd + 2 + size));
    pending = pending.subarray(lineEnd + 2 + size + 2);
  }
  if (pending.length > 0) socket.unshift(pending);
  return Buffer.concat(parts);
}

/** Docker's boolean query values: `1`, `true`, `True` are true; absent is `fallback`. */
export function boolParam(query: URLSearchParams, name: string, fallback = false): boolean {
  const value = query.get(name);
  if (value === null) return fallback;
  // Go's handlers: present and empty, 0, false, no or none (any case) are false.
  return !['', '0', 'false', 'no', 'none'].includes(value.toLowerCase());
}

export function intParam(query: URLSearchParams, name: string): number | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  const number = Number(value);
  if (!Number.isFinite(number)) throw invalidArgument(`invalid value for ${name}: ${value}`);
  return number;
}

/** A time in a query (`since`, `until`): Unix seconds with an optional fraction, as clients send it, or an RFC 3339 time. */
export function timeParam(value: string | null): number | undefined {
  if (value === null || value === '' || value === '0') return undefined;
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : parseTimestamp(value);
}

/**
 * Docker's `filters` parameter in both forms clients send: `{"label":{"k=v":true}}` (Go's client) and
 * `{"label":["k=v"]}` (dockerode, docker-py, compose v1). Returns each filter's values.
 */
export function parseFilters(raw: string | null): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  if (raw === null || raw.trim() === '') return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filter '${raw}'`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidArgument(`invalid filter '${raw}'`);
  for (const [name, values] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(values)) filters.set(name, values.map(String));
    else if (typeof values === 'object' && values !== null) filters.set(name, Object.entries(values).filter(([, on]) => on).map(([value]) => value));
    else throw invalidArgument(`invalid filter '${name}'`);
  }
  return filters;
}

/** Docker's check that every filter given is one the endpoint knows. */
export function checkFilters(filters: Map<string, string[]>, known: readonly string[]): void {
  for (const name of filters.keys()) if (!known.includes(name)) throw invalidArgument(`invalid filter '${name}'`);
}

/** Whether `labels` satisfy every `key` or `key=value` of a label filter. */
export function matchesLabels(labels: Record<string, string> | undefined, wanted: string[] | undefined): boolean {
  if (!wanted) return true;
  return wanted.every((filter) => {
    const at = filter.indexOf('=');
    if (at < 0) return labels?.[filter] !== undefined;
    return labels?.[filter.slice(0, at)] === filter.slice(at + 1);
  });
}

/**
 * A streamed answer: headers flushed at once (clients wait for them before reading, and Podman's late headers
 * hung them), then one JSON object per write. An error after the headers is Docker's errorDetail line.
 */
export class JsonStream {
  constructor(private readonly res: ServerResponse, status = 200) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  write(message: unknown): void {
    if (!this.closed) this.res.write(`${JSON.stringify(message)}\n`);
  }

  error(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.write({ errorDetail: { message }, error: message });
  }

  end(): void {
    if (!this.closed) this.res.end();
  }
}
