import type https from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { dataCorrupt, failedPrecondition, isDataCorrupt, notFound, permissionDenied, StrataError, unauthenticated, unavailable } from '../../errors.js';
import { type Digest, digestOf } from '../../util/digest.js';
import { BodyTooLarge, defaultTimeouts, type HttpResponse, type RequestBody, send, type Timeouts } from '../../util/http.js';
import { printable } from '../../util/text.js';
import { type Credentials, findCredentials, parseChallenge, storeCredentials } from './auth.js';
import { configuredInsecureRegistries, configuredTimeouts, isInsecure, registryAgent, tlsProblem } from './registry-config.js';

export interface RegistryOptions {
  /**
   * Registries that may go unverified: HTTPS without checking the certificate, or plain HTTP when the registry
   * does not speak TLS, as Docker does. Loopback always may; config files and the environment add to these.
   */
  insecureRegistries?: string[];
  credentials?: Credentials;
  /**
   * Connect and no-progress timeouts of every request (`util/http.ts` says what each covers). Defaults:
   * `$STRATA_REGISTRY_TIMEOUT_MS` for both when it is set, else 30 s to connect and 120 s without progress.
   */
  timeouts?: Partial<Timeouts>;
}

/**
 * Manifests, indexes and configs are read up to 4 MiB, as Docker and containerd read them (both refuse larger
 * manifests): whatever a registry sends, a pull holds no more than that of any of them.
 */
export const documentLimit = 4 << 20;

/**
 * How much of a body may come: exactly a descriptor's size (`declaredBy` names what declared it: the manifest,
 * the index), or at most a cap for a document of unknown size (`of` names what the cap is for).
 */
export type Bound = { size: number; declaredBy: string } | { cap: number; of: string };

const sizeText = (bytes: number) => (bytes % (1 << 20) === 0 ? `${bytes >> 20} MiB` : `${bytes} bytes`);

/** The error for a body that went past its bound (the connection has been closed at that point). */
function overflow(bound: Bound, what: string): StrataError {
  return 'size' in bound
    ? dataCorrupt(`${what}: the registry sent more than the ${bound.size} bytes the ${bound.declaredBy} declares`)
    : dataCorrupt(`${what}: the registry sent more than ${sizeText(bound.cap)}, the limit for ${bound.of}`);
}

/**
 * Refuses a response whose Content-Length disagrees with its bound before a byte of its body is read: a
 * descriptor's size must be the length (`expected` bytes: the rest of it when resuming), a cap must not be passed.
 */
function checkContentLength(response: HttpResponse, bound: Bound, what: string, expected = 'size' in bound ? bound.size : bound.cap): void {
  const length = response.contentLength;
  if (length === undefined) return;
  if ('size' in bound && length !== expected) {
    response.discard();
    const part = expected === bound.size ? '' : ` for its last ${expected}`;
    throw dataCorrupt(`${what}: the registry's Content-Length of ${length} bytes${part} disagrees with the ${bound.size} bytes the ${bound.declaredBy} declares`);
  }
  if ('cap' in bound && length > bound.cap) {
    response.discard();
    throw dataCorrupt(`${what}: the registry declares ${length} bytes, over the ${sizeText(bound.cap)} limit for ${bound.of}`);
  }
}

/** Bodies read whole that no caller bounds (upload answers, errors): a registry says what it has to in far less. */
const responseBound: Bound = { cap: documentLimit, of: 'a registry response' };

/** Docker Hub's API host: references say docker.io, the registry answers at registry-1.docker.io. */
function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

const retryableStatus = new Set([429, 500, 502, 503, 504]);

/** A registry error in the distribution spec's JSON form, turned into one line. */
async function registryError(response: HttpResponse, what: string): Promise<StrataError> {
  let detail = printable(`${response.status} ${response.statusText}`);
  try {
    const body = await response.json<{ errors?: { code?: unknown; message?: unknown }[] }>(64 << 10);
    const first = body.errors?.[0];
    if (first) detail = printable(`${String(first.code ?? response.status)}: ${String(first.message ?? '')}`);
  } catch {
    // Not JSON, or too long for an error: the status line says enough.
  }
  if (response.status === 401) return unauthenticated(`${what}: unauthorized: authentication required (${detail})`);
  if (response.status === 404) return notFound(`${what}: not found (${detail})`);
  if (response.status === 403) return permissionDenied(`${what}: denied (${detail})`);
  return unavailable(`${what}: ${detail}`);
}

/**
 * One repository on one registry, speaking the OCI distribution protocol: anonymous, basic, or the bearer
 * token flow from WWW-Authenticate, with retries and backoff for transient failures (refused or dropped
 * connections, timeouts, 429 and 5xx answers), and every body bounded (`Bound`).
 */
export class RegistryClient {
  /** The API's root URL: https, or http once an insecure registry turned out to have no TLS. */
  base: string;
  readonly timeouts: Timeouts;
  private authorization: string | undefined;
  private readonly credentials: Credentials | undefined;
  private readonly insecure: boolean;
  private readonly tlsAgent: https.Agent | undefined;
  /** HTTPS has answered here once: later failures are failures, not a sign the registry speaks only HTTP. */
  private httpsAnswered = false;

  constructor(
    readonly domain: string,
    readonly repository: string,
    options: RegistryOptions = {},
  ) {
    this.insecure = isInsecure(domain, [...(options.insecureRegistries ?? []), ...configuredInsecureRegistries()]);
    this.base = `https://${apiHost(domain)}/v2`;
    this.tlsAgent = registryAgent(domain, this.insecure);
    this.credentials = options.credentials ?? findCredentials(domain);
    this.timeouts = { ...defaultTimeouts, ...configuredTimeouts(), ...options.timeouts };
  }

  /**
   * Sends a request; on 401 answers the challenge once and retries; retries transient failures with backoff.
   * The response's body is read whole, within `bound` (by default 4 MiB), unless `stream` is set, when the
   * caller reads (or discards) it.
   */
  async request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: () => RequestBody; scope?: string; what: string; ok?: number[]; stream?: boolean; bound?: Bound },
  ): Promise<HttpResponse> {
    let challenged = false;
    const retry = async (attempt: number) => {
      if (attempt >= 3 || init.body) return false;
      await sleep(200 * 2 ** attempt);
      return true;
    };
    for (let attempt = 0; ; attempt++) {
      const url = new URL(path.startsWith('http') ? path : `${this.base}${path}`);
      let response: HttpResponse;
      try {
        const body = init.body?.();
        const headers = { ...init.headers, ...(this.authorization && { authorization: this.authorization }) };
        response = await send(url, { method, headers, ...(body !== undefined && { body }), ...(this.tlsAgent && { tlsAgent: this.tlsAgent }), timeouts: this.timeouts });
      } catch (error) {
        // Docker's order for an insecure registry: HTTPS (unverified) first, plain HTTP when that fails.
        if (this.insecure && url.protocol === 'https:' && !this.httpsAnswered && !path.startsWith('http')) {
          this.base = this.base.replace(/^https:/, 'http:');
          attempt--;
          continue;
        }
        const problem = tlsProblem(error, this.domain);
        if (problem) throw failedPrecondition(`${init.what}: ${this.domain}: ${problem}`, { cause: error });
        if (await retry(attempt)) continue;
        throw unavailable(`${init.what}: ${this.unreachable(error)}`, { cause: error });
      }
      if (url.protocol === 'https:') this.httpsAnswered = true;
      if (response.status === 401 && !challenged) {
        challenged = true;
        await response.read(64 << 10).catch(() => undefined);
        await this.authenticate(response.header('www-authenticate'), init.scope ?? `repository:${this.repository}:pull`);
        continue;
      }
      if (retryableStatus.has(response.status) && attempt < 3 && !init.body) {
        response.discard();
        await sleep(200 * 2 ** attempt);
        continue;
      }
      if (!(init.ok ?? [200]).includes(response.status)) throw await registryError(response, init.what);
      if (init.stream) return response;
      const bound = init.bound ?? responseBound;
      checkContentLength(response, bound, init.what);
      let bytes: Buffer;
      try {
        bytes = await response.read('size' in bound ? bound.size : bound.cap);
      } catch (error) {
        if (error instanceof BodyTooLarge) throw overflow(bound, init.what);
        // Dropped or silent mid-body: as transient as a refused connection.
        if (await retry(attempt)) continue;
        throw unavailable(`${init.what}: ${this.unreachable(error)}`, { cause: error });
      }
      if ('size' in bound && bytes.length !== bound.size) {
        throw dataCorrupt(`${init.what}: the registry sent ${bytes.length} of the ${bound.size} bytes the ${bound.declaredBy} declares`);
      }
      return response;
    }
  }

  /** A failure to reach the registry, in words: a timeout says itself, anything else is the system's error. */
  private unreachable(error: unknown): string {
    if (error instanceof StrataError) return error.message;
    return `cannot reach ${this.domain}: ${printable(error instanceof Error ? error.message : String(error))}`;
  }

  /**
   * A blob's bytes as one stream, bounded by its descriptor, however many connections it takes. A Content-Length
   * other than the descriptor's size is refused before the body is read; a registry that sends more than the
   * size is cut off the moment it does, and the stream fails (a data error, not retried). When a connection
   * drops or goes silent mid-blob, the rest is asked for with a Range request, as Docker and containerd
   * resume, up to 3 times; a registry that does not answer 206 fails the stream with the original error, and
   * the caller retries the whole blob. The stream fails also when it ends short of the size; its digest is the
   * reader's to check (the blob writer hashes what it writes).
   */
  async blob(path: string, descriptor: { size: number }, what: string, declaredBy = 'manifest'): Promise<Readable> {
    const bound = { size: descriptor.size, declaredBy };
    const { size } = bound;
    const first = await this.request('GET', path, { what, stream: true });
    checkContentLength(first, bound, what);
    let current = first.body;
    let received = 0;
    let resumes = 0;
    const out = new Readable({
      highWaterMark: 1 << 20,
      read: () => current.resume(),
      // A reader that stops early (a corrupt layer) closes the connection under it.
      destroy: (error, callback) => {
        if (!current.readableEnded) current.destroy();
        callback(error);
      },
    });
    const lost = (error: Error) =>
      isDataCorrupt(error)
        ? error
        : unavailable(`${what}: connection closed after ${received} of ${size} bytes (${printable(error.message)})`, { cause: error });
    const follow = (body: Readable) => {
      current = body;
      body.on('data', (chunk: Buffer) => {
        if (out.destroyed || body !== current) return;
        if (received + chunk.length > size) return void out.destroy(overflow(bound, what));
        received += chunk.length;
        if (!out.push(chunk)) body.pause();
      });
      body.on('end', () => {
        if (body !== current || out.destroyed) return;
        if (received === size) out.push(null);
        else void resume(new Error(`the body ended after ${received} of ${size} bytes`));
      });
      body.on('error', (error) => {
        if (body !== current || out.destroyed) return;
        // Every byte is in: whatever the connection does now, the digest decides.
        if (received === size) out.push(null);
        else void resume(error);
      });
    };
    const resume = async (error: Error) => {
      if (resumes++ >= 3 || out.destroyed) return out.destroy(lost(error));
      try {
        await sleep(100 * 2 ** (resumes - 1));
        const next = await this.request('GET', path, { what, stream: true, headers: { range: `bytes=${received}-` }, ok: [200, 206] });
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(next.header('content-range') ?? '');
        if (out.destroyed || next.status !== 206 || !range || Number(range[1]) !== received) {
          next.discard();
          return out.destroy(lost(error));
        }
        const end = Number(range[2]);
        if (end < received || end >= size || (range[3] !== '*' && Number(range[3]) !== size)) {
          next.discard();
          return out.destroy(dataCorrupt(`${what}: the registry's range ${range[0]} disagrees with the ${size} bytes the ${declaredBy} declares`));
        }
        checkContentLength(next, bound, what, end - received + 1);
        follow(next.body);
      } catch (failure) {
        out.destroy(isDataCorrupt(failure) ? (failure as Error) : lost(error));
      }
    };
    follow(first.body);
    return out;
  }

  /**
   * A small blob (a config) read whole: bounded by its descriptor as `blob` bounds it, refused before a byte is
   * read when the descriptor itself is over the 4 MiB limit, and checked against its digest.
   */
  async smallBlob(path: string, descriptor: { digest: Digest; size: number }, what: string, declaredBy = 'manifest'): Promise<Buffer> {
    if (descriptor.size > documentLimit) throw dataCorrupt(`${what}: the ${declaredBy} declares ${descriptor.size} bytes, over the ${sizeText(documentLimit)} limit`);
    const stream = await this.blob(path, descriptor, what, declaredBy);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const digest = digestOf(bytes);
    if (digest !== descriptor.digest) throw dataCorrupt(`${what}: digest mismatch: expected ${descriptor.digest}, got ${digest}`);
    return bytes;
  }

  private async authenticate(header: string | null, scope: string): Promise<void> {
    const challenge = parseChallenge(header);
    const basic = this.credentials && `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    if (challenge?.scheme === 'basic') {
      this.authorization = basic;
      return;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return;
    const url = new URL(challenge.params.realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    // Several scopes (push here, pull from a mount's source) go as repeated parameters, as Docker sends them.
    for (const part of scope.split(' ')) url.searchParams.append('scope', part);
    const what = `token from ${url.host}`;
    let token: { token?: unknown; access_token?: unknown };
    try {
      // The registry's trust applies to its token service too (often the same host, and its CA in certs.d).
      const response = await send(url, { method: 'GET', headers: basic ? { authorization: basic } : {}, ...(this.tlsAgent && { tlsAgent: this.tlsAgent }), timeouts: this.timeouts });
      if (response.status !== 200) throw await registryError(response, what);
      token = await response.json<{ token?: unknown; access_token?: unknown }>(documentLimit);
    } catch (error) {
      if (error instanceof BodyTooLarge) throw dataCorrupt(`${what}: the token service sent more than ${sizeText(documentLimit)}`, { cause: error });
      if (error instanceof StrataError) throw error.message.startsWith(what) ? error : new StrataError(error.code, `${what}: ${error.message}`, { cause: error });
      throw unavailable(`${what}: cannot reach ${url.host}: ${printable((error as Error).message)}`, { cause: error });
    }
    const value = token.token ?? token.access_token;
    if (typeof value === 'string' && value) this.authorization = `Bearer ${value}`;
  }
}

/** `login`: checks the credentials against the registry (its /v2/ answers 200 once authorized), then stores them. */
export async function login(host: string, credentials: Credentials, options: RegistryOptions = {}): Promise<void> {
  const client = new RegistryClient(host, '', { ...options, credentials });
  await client.request('GET', '/', { what: `login to ${host}`, scope: 'registry:catalog:*' });
  storeCredentials(host, credentials);
}
