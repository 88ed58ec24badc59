import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../util/digest.js';
import { registryError } from './errors.js';
import { accepts, contentLength, hasBody, type Headers, parseContentRange, parseRange, readBody, sendEmpty, sendJson } from './http.js';
import { mediaTypes } from './manifest.js';
import { checkDigest, checkRepositoryName, isTag, parseReference } from './names.js';
import type { RegistryStorage, UploadStatus } from './storage.js';

/** The spec asks registries to accept manifests of at least 4 MB. */
const maxManifestBytes = 4 << 20;

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  name: string;
  /** What follows the resource keyword: an upload id, a digest, a reference. */
  param: string;
}

type Route = { pattern: RegExp; methods: Record<string, (storage: RegistryStorage, request: Request) => Promise<void> | void> };

// <name> may contain slashes, so each pattern anchors on what follows it.
const routes: Route[] = [
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: postUpload } },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, methods: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: deleteUpload } },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
  { pattern: /^\/v2\/(.+)\/tags\/list()$/, methods: { GET: listTags } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: listReferrers } },
];

/** Routes one request: the ping, the catalog, or a repository's resource. Errors become the spec's JSON errors. */
export async function route(storage: RegistryStorage, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://registry.invalid');
  const method = req.method ?? 'GET';
  if (url.pathname === '/v2/' || url.pathname === '/v2') {
    if (method !== 'GET' && method !== 'HEAD') throw registryError('UNSUPPORTED', `${method} is not supported on /v2/`);
    sendJson(res, 200, {});
    return;
  }
  if (url.pathname === '/v2/_catalog' && method === 'GET') {
    const { items, link } = paginate(storage.listRepositories(), url, '/v2/_catalog');
    sendJson(res, 200, { repositories: items }, link);
    return;
  }
  for (const { pattern, methods } of routes) {
    const match = pattern.exec(url.pathname);
    if (!match) continue;
    const handler = methods[method];
    if (!handler) throw registryError('UNSUPPORTED', `${method} is not supported on ${url.pathname}`);
    const name = checkRepositoryName(decode(match[1]!));
    await handler(storage, { req, res, url, name, param: decode(match[2]!) });
    return;
  }
  throw registryError('NAME_UNKNOWN', `no such endpoint: ${url.pathname}`, undefined, 404);
}

function decode(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw registryError('NAME_INVALID', `malformed percent-encoding in "${component}"`);
  }
}

// --- uploads ---------------------------------------------------------------------------------------------------

const uploadLocation = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
const blobLocation = (name: string, digest: Digest) => `/v2/${name}/blobs/${digest}`;

function uploadHeaders(name: string, status: UploadStatus): Headers {
  return {
    Location: uploadLocation(name, status.id),
    // The spec's inclusive range; an empty upload is "0-0" by convention (as distribution sends it).
    Range: `0-${Math.max(0, status.offset - 1)}`,
    'Docker-Upload-UUID': status.id,
  };
}

function blobCreated(res: ServerResponse, name: string, digest: Digest): void {
  sendEmpty(res, 201, { Location: blobLocation(name, digest), 'Docker-Content-Digest': digest });
}

async function postUpload(storage: RegistryStorage, { req, res, url, name }: Request): Promise<void> {
  const mount = url.searchParams.get('mount');
  const from = url.searchParams.get('from');
  if (mount !== null && from !== null) {
    const digest = checkDigest(mount);
    if (storage.mountBlob(name, checkRepositoryName(from), digest)) {
      req.resume();
      blobCreated(res, name, digest);
      return;
    }
    // Not mountable: the spec's fallback is an ordinary upload session.
  }
  const digestParam = url.searchParams.get('digest');
  if (digestParam !== null) {
    const digest = checkDigest(digestParam);
    await storage.putBlob(name, req as AsyncIterable<Buffer>, digest, contentLength(req));
    blobCreated(res, name, digest);
    return;
  }
  req.resume();
  const status = storage.startUpload(name);
  sendEmpty(res, 202, uploadHeaders(name, status));
}

function getUpload(storage: RegistryStorage, { res, name, param }: Request): void {
  sendEmpty(res, 204, uploadHeaders(name, storage.uploadStatus(name, param)));
}

/** Appends the request body as the next chunk, checking its Content-Range (out of order is a 416). */
function appendChunk(storage: RegistryStorage, { req, name, param }: Request): Promise<UploadStatus> {
  const range = parseContentRange(req.headers['content-range']);
  const length = contentLength(req);
  if (range && length !== undefined && length !== range.end - range.start + 1) {
    throw registryError('SIZE_INVALID', `Content-Range ${range.start}-${range.end} does not match Content-Length ${length}`);
  }
  const chunk = range ? { start: range.start, length: range.end - range.start + 1 } : { length };
  return storage.appendUpload(name, param, req as AsyncIterable<Buffer>, chunk);
}

async function patchUpload(storage: RegistryStorage, request: Request): Promise<void> {
  const status = await appendChunk(storage, request);
  sendEmpty(request.res, 202, uploadHeaders(request.name, status));
}

async function putUpload(storage: RegistryStorage, request: Request): Promise<void> {
  const { req, res, url, name, param } = request;
  const digestParam = url.searchParams.get('digest');
  if (digestParam === null) throw registryError('DIGEST_INVALID', 'closing an upload needs ?digest=<digest of the whole blob>');
  const digest = checkDigest(digestParam);
  storage.uploadStatus(name, param);
  if (hasBody(req)) await appendChunk(storage, request);
  else req.resume();
  await storage.finishUpload(name, param, digest);
  blobCreated(res, name, digest);
}

function deleteUpload(storage: RegistryStorage, { req, res, name, param }: Request): void {
  req.resume();
  storage.cancelUpload(name, param);
  sendEmpty(res, 204);
}

// --- blobs -----------------------------------------------------------------------------------------------------

async function getBlob(storage: RegistryStorage, { req, res, name, param }: Request): Promise<void> {
  const digest = checkDigest(param);
  const stat = storage.statBlob(name, digest);
  if (!stat) throw registryError('BLOB_UNKNOWN', `blob ${digest} is unknown to repository ${name}`, { digest });
  const headers: Headers = {
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    'Content-Type': 'application/octet-stream',
    ETag: `"${digest}"`,
    // Content-addressed: the bytes behind a digest never change.
    'Cache-Control': 'max-age=31536000',
  };
  const range = req.method === 'GET' ? parseRange(req.headers.range, stat.size) : undefined;
  if (range === 'unsatisfiable') {
    const error = registryError('BLOB_UNKNOWN', `range ${req.headers.range} is outside blob ${digest} of ${stat.size} bytes`, { size: stat.size }, 416);
    sendJson(res, 416, error.toJSON(), { 'Content-Range': `bytes */${stat.size}` });
    return;
  }
  if (req.method === 'HEAD') {
    res.writeHead(200, { ...headers, 'Content-Length': stat.size });
    res.end();
    return;
  }
  if (range) {
    res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${stat.size}` });
  } else {
    res.writeHead(200, { ...headers, 'Content-Length': stat.size });
  }
  await pipeline(storage.readBlob(name, digest, range), res);
}

function deleteBlob(storage: RegistryStorage, { res, name, param }: Request): void {
  storage.deleteBlob(name, checkDigest(param));
  sendEmpty(res, 202);
}

// --- manifests -------------------------------------------------------------------------------------------------

function getManifest(storage: RegistryStorage, { req, res, name, param }: Request): void {
  const manifest = storage.getManifest(name, parseReference(param));
  // Content negotiation: a manifest is served only as the type it was pushed as; a client that cannot read
  // that type gets a 404, as from the distribution registry, rather than bytes it would misparse.
  if (!accepts(req.headers.accept, manifest.mediaType)) {
    throw registryError('MANIFEST_UNKNOWN', `manifest ${name}:${param} is ${manifest.mediaType}, which the request's Accept header does not list`);
  }
  res.writeHead(200, {
    'Content-Type': manifest.mediaType,
    'Content-Length': manifest.bytes.length,
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  });
  res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
}

async function putManifest(storage: RegistryStorage, { req, res, url, name, param }: Request): Promise<void> {
  const reference = parseReference(param);
  const extraTags = url.searchParams.getAll('tag');
  if (extraTags.length > 0 && reference.kind === 'tag') throw registryError('MANIFEST_INVALID', '?tag= is only allowed when pushing by digest');
  for (const tag of extraTags) if (!isTag(tag)) throw registryError('MANIFEST_INVALID', `invalid tag "${tag}"`, { tag });
  const bytes = await readBody(req, maxManifestBytes);
  const { digest, subject } = storage.putManifest(name, reference, bytes, req.headers['content-type'], extraTags);
  const headers: Headers = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest };
  if (subject) headers['OCI-Subject'] = subject;
  if (extraTags.length > 0) headers['OCI-Tag'] = extraTags.join(', ');
  sendEmpty(res, 201, headers);
}

function deleteManifest(storage: RegistryStorage, { res, name, param }: Request): void {
  storage.deleteManifest(name, parseReference(param));
  sendEmpty(res, 202);
}

// --- discovery -------------------------------------------------------------------------------------------------

/** `n` and `last` pagination over a sorted list, with a Link header when more follow. */
function paginate(all: string[], url: URL, path: string): { items: string[]; link: Headers } {
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  if (nParam !== null && !/^\d+$/.test(nParam)) throw registryError('UNSUPPORTED', `n must be a non-negative integer, not "${nParam}"`, undefined, 400);
  const after = last === null ? all : all.filter((item) => item > last);
  if (nParam === null) return { items: after, link: {} };
  const n = Number(nParam);
  const items = after.slice(0, n);
  if (n === 0 || after.length <= n) return { items, link: {} };
  const next = `${path}?n=${n}&last=${encodeURIComponent(items.at(-1)!)}`;
  return { items, link: { Link: `<${next}>; rel="next"` } };
}

function listTags(storage: RegistryStorage, { res, url, name }: Request): void {
  const tags = storage.listTags(name);
  if (tags === undefined) throw registryError('NAME_UNKNOWN', `repository ${name} is not known to the registry`, { name });
  const { items, link } = paginate(tags, url, `/v2/${name}/tags/list`);
  sendJson(res, 200, { name, tags: items }, link);
}

function listReferrers(storage: RegistryStorage, { res, url, name, param }: Request): void {
  const subject = checkDigest(param);
  const artifactType = url.searchParams.get('artifactType');
  let manifests = storage.referrers(name, subject);
  const headers: Headers = {};
  if (artifactType !== null) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  sendJson(res, 200, { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests }, headers, mediaTypes.ociIndex);
}
