import fs from 'node:fs';
import type { Descriptor } from '../../content/store.js';
import { invalidArgument, notFound } from '../../errors.js';
import { MediaType } from '../../images/model.js';
import type { ImageStore } from '../../images/store.js';
import { formatReference, parseReference, repositoryName } from '../../images/reference.js';
import { type Digest, shortId } from '../../util/digest.js';
import type { Progress } from './progress.js';
import { RegistryClient, type RegistryOptions } from './registry.js';

export interface PushOptions extends RegistryOptions {
  /** Blobs larger than this go up in chunks of this size (PATCH); smaller ones in one PUT. */
  chunkSize?: number;
  /** A repository on the same registry that has the blobs; by default, one this store knows holds each blob. */
  mountFrom?: string;
}

const defaultChunkSize = 32 << 20;

/** Upload URLs come back relative or absolute; the digest goes in the query, after any state the registry keeps there. */
function uploadUrl(client: RegistryClient, location: string, params: Record<string, string> = {}): string {
  const url = new URL(location, client.base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/**
 * Uploads a blob the registry lacks; with `from`, first asks the registry to mount it from that repository (a
 * registry that cannot answers with an ordinary upload session, which is then used).
 */
export async function uploadBlob(file: string, client: RegistryClient, blob: Descriptor, options: PushOptions, from: string | undefined, onBytes: (sent: number) => void): Promise<'exists' | 'mounted' | 'pushed'> {
  const scope = `repository:${client.repository}:pull,push${from ? ` repository:${from}:pull` : ''}`;
  const what = `blob ${blob.digest}`;
  const head = await client.request('HEAD', `/${client.repository}/blobs/${blob.digest}`, { scope, what, ok: [200, 404] });
  if (head.status === 200) return 'exists';
  const mount = from ? `?mount=${blob.digest}&from=${encodeURIComponent(from)}` : '';
  const start = await client.request('POST', `/${client.repository}/blobs/uploads/${mount}`, { scope, what, ok: [201, 202] });
  if (start.status === 201) return 'mounted';
  let location = start.header('location');
  if (!location) throw invalidArgument(`${what}: the registry gave no upload location`);
  const chunkSize = options.chunkSize ?? defaultChunkSize;
  if (blob.size <= chunkSize) {
    await client.request('PUT', uploadUrl(client, location, { digest: blob.digest }), {
      scope,
      what,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
      body: () => fs.createReadStream(file, { highWaterMark: 1 << 20 }),
      ok: [201],
    });
    onBytes(blob.size);
    return 'pushed';
  }
  for (let offset = 0; offset < blob.size; offset += chunkSize) {
    const end = Math.min(offset + chunkSize, blob.size) - 1;
    const response = await client.request('PATCH', uploadUrl(client, location), {
      scope,
      what,
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(end - offset + 1) },
      body: () => fs.createReadStream(file, { start: offset, end, highWaterMark: 1 << 20 }),
      ok: [202],
    });
    location = response.header('location') ?? location;
    onBytes(end + 1);
  }
  await client.request('PUT', uploadUrl(client, location, { digest: blob.digest }), { scope, what, headers: { 'content-length': '0' }, ok: [201] });
  return 'pushed';
}

/** `push`: layers (skipped when the registry has them, mounted when it can), config, then the manifest under the tag. */
export async function pushImage(images: ImageStore, name: string, progress: Progress, options: PushOptions = {}): Promise<{ digest: Digest; size: number }> {
  const reference = parseReference(name);
  if (!images.find(formatReference(reference))) throw notFound(`An image does not exist locally with the tag: ${name}`);
  const record = images.resolve(formatReference(reference));
  const client = new RegistryClient(reference.domain, reference.path, options);
  progress.line(`The push refers to repository [${repositoryName(reference)}]`);
  const manifestBytes = images.content.read(record.manifest);
  const manifest = images.manifest(record);
  for (const layer of [...manifest.layers].reverse()) progress.update(shortId(layer.digest), 'Preparing');
  // A layer this store pulled from, or pushed to, another repository of the same registry is mounted from there.
  const mountSource = (digest: Digest) =>
    options.mountFrom ??
    images.records
      .repositoriesWithBlob(digest)
      .filter((repository) => repository.startsWith(`${reference.domain}/`) && repository !== repositoryName(reference))
      .map((repository) => repository.slice(reference.domain.length + 1))[0];
  // Docker pushes up to 5 layers at once.
  const queue = [...manifest.layers];
  const push = async () => {
    for (let layer = queue.shift(); layer; layer = queue.shift()) {
      const id = shortId(layer.digest);
      const from = mountSource(layer.digest);
      const outcome = await uploadBlob(images.content.path(layer.digest), client, layer, options, from, (sent) => progress.update(id, 'Pushing', { current: sent, total: layer!.size }));
      progress.update(id, outcome === 'exists' ? 'Layer already exists' : outcome === 'mounted' ? `Mounted from ${from}` : 'Pushed');
    }
  };
  await Promise.all(Array.from({ length: Math.min(5, queue.length) }, push));
  await uploadBlob(images.content.path(manifest.config.digest), client, manifest.config, options, mountSource(manifest.config.digest), () => undefined);
  const tagOrDigest = reference.tag ?? record.manifest;
  const response = await client.request('PUT', `/${client.repository}/manifests/${tagOrDigest}`, {
    scope: `repository:${client.repository}:pull,push`,
    what: `manifest for ${name}`,
    headers: { 'content-type': manifest.mediaType ?? MediaType.ociManifest },
    body: () => manifestBytes,
    ok: [201],
  });
  const digest = (response.header('docker-content-digest') as Digest | null) ?? record.manifest;
  images.records.transaction(() => images.records.addRepoDigest(repositoryName(reference), digest, record.id));
  progress.line(`${reference.tag ?? 'latest'}: digest: ${digest} size: ${manifestBytes.length}`);
  return { digest, size: manifestBytes.length };
}
