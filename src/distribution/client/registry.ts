import type https from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { failedPrecondition, notFound, permissionDenied, type StrataError, unauthenticated, unavailable } from '../../errors.js';
import { type HttpResponse, type RequestBody, send } from '../../util/http.js';
import { type Credentials, findCredentials, parseChallenge, storeCredentials } from './auth.js';
import { configuredInsecureRegistries, isInsecure, registryAgent, tlsProblem } from './registry-config.js';

export interface RegistryOptions {
  /**
   * Registries that may go unverified: HTTPS without checking the certificate, or plain HTTP when the registry
   * does not speak TLS, as Docker does. Loopback always may; config files and the environment add to these.
   */
  insecureRegistries?: string[];
  credentials?: Credentials;
}

/** Docker Hub's API host: references say docker.io, the registry answers at registry-1.docker.io. */
function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

const retryableStatus = new Set([429, 500, 502, 503, 504]);

/** A registry error in the distribution spec's JSON form, turned into one line. */
async function registryError(response: HttpResponse, what: string): Promise<StrataError> {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json<{ errors?: { code?: string; message?: string }[] }>();
    const first = body.errors?.[0];
    if (first) detail = `${first.code ?? response.status}: ${first.message ?? ''}`.trim();
  } catch {
    // Not JSON: the status line says enough.
  }
  if (response.status === 401) return unauthenticated(`${what}: unauthorized: authentication required (${detail})`);
  if (response.status === 404) return notFound(`${what}: not found (${detail})`);
  if (response.status === 403) return permissionDenied(`${what}: denied (${detail})`);
  return unavailable(`${what}: ${detail}`);
}

/**
 * One repository on one registry, speaking the OCI distribution protocol: anonymous, basic, or the bearer
 * token flow from WWW-Authenticate, with retries and backoff for transient failures.
 */
export class RegistryClient {
  /** The API's root URL: https, or http once an insecure registry turned out to have no TLS. */
  base: string;
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
  }

  /**
   * Sends a request; on 401 answers the challenge once and retries; retries transient failures with backoff.
   * The response's body is read whole unless `stream` is set, when the caller reads (or discards) it.
   */
  async request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: () => RequestBody; scope?: string; what: string; ok?: number[]; stream?: boolean },
  ): Promise<HttpResponse> {
    let challenged = false;
    for (let attempt = 0; ; attempt++) {
      const url = new URL(path.startsWith('http') ? path : `${this.base}${path}`);
      let response: HttpResponse;
      try {
        const body = init.body?.();
        const headers = { ...init.headers, ...(this.authorization && { authorization: this.authorization }) };
        response = await send(url, { method, headers, ...(body !== undefined && { body }), ...(this.tlsAgent && { tlsAgent: this.tlsAgent }) });
      } catch (error) {
        // Docker's order for an insecure registry: HTTPS (unverified) first, plain HTTP when that fails.
        if (this.insecure && url.protocol === 'https:' && !this.httpsAnswered && !path.startsWith('http')) {
          this.base = this.base.replace(/^https:/, 'http:');
          attempt--;
          continue;
        }
        const problem = tlsProblem(error, this.domain);
        if (problem) throw failedPrecondition(`${init.what}: ${this.domain}: ${problem}`, { cause: error });
        if (attempt < 3 && !init.body) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
        throw unavailable(`${init.what}: cannot reach ${this.domain}: ${(error as Error).message}`, { cause: error });
      }
      if (url.protocol === 'https:') this.httpsAnswered = true;
      if (response.status === 401 && !challenged) {
        challenged = true;
        await response.read();
        await this.authenticate(response.header('www-authenticate'), init.scope ?? `repository:${this.repository}:pull`);
        continue;
      }
      if (retryableStatus.has(response.status) && attempt < 3 && !init.body) {
        response.discard();
        await sleep(200 * 2 ** attempt);
        continue;
      }
      if (!(init.ok ?? [200]).includes(response.status)) throw await registryError(response, init.what);
      if (!init.stream) await response.read();
      return response;
    }
  }

  /**
   * A blob's bytes as one stream, however many connections it takes: when a connection drops mid-blob, the rest
   * is asked for with a Range request, as Docker and containerd resume, up to 3 times. A registry that does not
   * answer 206 fails the stream with the original error, and the caller retries the whole blob.
   */
  async blob(path: string, what: string): Promise<Readable> {
    const first = await this.request('GET', path, { what, stream: true });
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
    const follow = (body: Readable) => {
      current = body;
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!out.push(chunk)) body.pause();
      });
      body.on('end', () => out.push(null));
      body.on('error', (error) => void resume(error));
    };
    const resume = async (error: Error) => {
      if (resumes++ >= 3 || out.destroyed) return out.destroy(error);
      try {
        await sleep(100 * 2 ** (resumes - 1));
        const next = await this.request('GET', path, { what, stream: true, headers: { range: `bytes=${received}-` }, ok: [200, 206] });
        if (out.destroyed || next.status !== 206 || !next.header('content-range')?.startsWith(`bytes ${received}-`)) {
          next.discard();
          return out.destroy(error);
        }
        follow(next.body);
      } catch {
        out.destroy(error);
      }
    };
    follow(first.body);
    return out;
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
    // The registry's trust applies to its token service too (often the same host, and its CA in certs.d).
    const response = await send(url, { method: 'GET', headers: basic ? { authorization: basic } : {}, ...(this.tlsAgent && { tlsAgent: this.tlsAgent }) });
    if (response.status !== 200) throw await registryError(response, `token from ${url.host}`);
    const token = await response.json<{ token?: string; access_token?: string }>();
    const value = token.token ?? token.access_token;
    if (value) this.authorization = `Bearer ${value}`;
  }
}

/** `login`: checks the credentials against the registry (its /v2/ answers 200 once authorized), then stores them. */
export async function login(host: string, credentials: Credentials, options: RegistryOptions = {}): Promise<void> {
  const client = new RegistryClient(host, '', { ...options, credentials });
  await client.request('GET', '/', { what: `login to ${host}`, scope: 'registry:catalog:*' });
  storeCredentials(host, credentials);
}
