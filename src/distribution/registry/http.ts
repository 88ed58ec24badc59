import type { IncomingMessage, ServerResponse } from 'node:http';
import { StrataError } from '../../errors.js';
import { RegistryError, registryError } from './errors.js';

export type Headers = Record<string, string | number | string[]>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}, contentType = 'application/json'): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': data.length });
  res.end(res.req.method === 'HEAD' ? undefined : data);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Headers = {}): void {
  res.writeHead(status, { ...headers, 'Content-Length': 0 });
  res.end();
}

/**
 * Any error as the spec's JSON error body; errors of the engine's vocabulary get the nearest spec code. This is
 * the registry's own mapping, apart from errors.ts's httpStatusFor: a registry answers in the distribution
 * spec's codes (BLOB_UNKNOWN, DIGEST_INVALID, ...), each with its status, which is what its clients act on.
 */
export function sendError(res: ServerResponse, error: unknown, headers: Headers = {}): void {
  const registry = toRegistryError(error);
  if (registry) {
    sendJson(res, registry.status, registry.toJSON(), headers);
    return;
  }
  const message = error instanceof Error ? error.message : String(error);
  sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: `internal error: ${message}` }] }, headers);
}

function toRegistryError(error: unknown): RegistryError | undefined {
  if (error instanceof RegistryError) return error;
  if (!(error instanceof StrataError)) return undefined;
  switch (error.code) {
    case 'data-corrupt':
      return registryError('DIGEST_INVALID', error.message);
    case 'not-found':
      return registryError('BLOB_UNKNOWN', error.message);
    case 'invalid-argument':
      return registryError('BLOB_UPLOAD_INVALID', error.message);
    case 'unsupported':
      return registryError('UNSUPPORTED', error.message);
    default:
      return undefined;
  }
}

/** A request body held in memory, for manifests only: more than `limit` bytes is a 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw registryError('SIZE_INVALID', `manifest is larger than ${limit} bytes`, undefined, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw registryError('SIZE_INVALID', `manifest is larger than ${limit} bytes`, undefined, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function contentLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw registryError('SIZE_INVALID', `invalid Content-Length "${value}"`);
  return Number(value);
}

/** Whether the request carries a body at all (a Content-Length above 0, or a chunked one). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * A `Range: bytes=...` header against a blob of `size` bytes (RFC 9110 section 14): one range, clamped to the
 * blob. `undefined` means serve the whole blob (no header, or one we do not handle, such as several ranges);
 * `'unsatisfiable'` means 416.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [, first, last] = match;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

/** A chunk's `Content-Range: <start>-<end>` (inclusive; the spec's form, with an optional `bytes ` prefix). */
export function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw registryError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}": expected <start>-<end>`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw registryError('BLOB_UPLOAD_INVALID', `invalid Content-Range "${header}": end before start`, undefined, 416);
  return { start, end };
}

/** Whether a client's Accept header admits `mediaType` (no header, or a wildcard, admits everything). */
export function accepts(acceptHeader: string | undefined, mediaType: string): boolean {
  if (!acceptHeader || acceptHeader.trim() === '') return true;
  const [major] = mediaType.split('/');
  return acceptHeader.split(',').some((part) => {
    const type = part.split(';')[0]!.trim().toLowerCase();
    return type === '*/*' || type === mediaType || type === `${major}/*`;
  });
}
