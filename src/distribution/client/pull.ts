import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobWriter, Descriptor } from '../../content/store.js';
import { dataCorrupt, isDataCorrupt, isNotFound, isUnsupported, notFound, unsupported } from '../../errors.js';
import { isIndexMediaType, isLayerMediaType, MediaType } from '../../images/model.js';
import { bestForPlatform, formatPlatform, hostPlatform, type Platform, platformMatches } from '../../images/platform.js';
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from '../../images/reference.js';
import type { ImageStore, Lease, NewLayer } from '../../images/store.js';
import { parseConfig, parseIndex, parseJsonObject, parseManifest } from '../../images/validate.js';
import { chainIds, type Digest, digestOf, isDigest, shortId } from '../../util/digest.js';
import { printable } from '../../util/text.js';
import type { Progress } from './progress.js';
import { type Bound, documentLimit, RegistryClient, type RegistryOptions } from './registry.js';
import { registryMirrors } from './registry-config.js';

export const manifestAccept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');

export interface PullOptions extends RegistryOptions {
  /** Layers downloaded at once (Docker's default is 3). */
  concurrency?: number;
  /** The platform to take from a manifest list (default: this machine's). */
  platform?: Platform;
}

export interface PullResult {
  id: Digest;
  digest: Digest;
  reference: Reference;
  upToDate: boolean;
}

/**
 * Fetches a manifest or index and checks it against its digest (the reference's, or the one the registry sent):
 * at most 4 MiB of it, or exactly the size an index's entry declares.
 */
export async function fetchManifest(client: RegistryClient, reference: string, expected?: { digest: Digest; size?: number }): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
  // Named as Docker names it in errors: `manifest for host:5000/app:v1`, `manifest for busybox@sha256:...`.
  const shown = familiarString({ domain: client.domain, path: client.repository, ...(isDigest(reference) ? { digest: reference } : { tag: reference }) });
  const what = `manifest for ${shown}`;
  const size = expected?.size;
  if (size !== undefined && size > documentLimit) throw dataCorrupt(`${what}: the index declares ${size} bytes, over the 4 MiB limit for manifests`);
  const bound: Bound = size === undefined ? { cap: documentLimit, of: 'manifests' } : { size, declaredBy: 'index' };
  const response = await client.request('GET', `/${client.repository}/manifests/${reference}`, { headers: { accept: manifestAccept }, what, bound });
  const bytes = await response.read(documentLimit);
  const digest = digestOf(bytes);
  // The header is the registry's word for a tag's digest; one that is no digest at all is no word.
  const header = response.header('docker-content-digest');
  const claimed = expected?.digest ?? (header !== null && isDigest(header) ? header : digest);
  if (claimed !== digest) throw dataCorrupt(`${what}: digest mismatch: expected ${claimed}, got ${digest}`);
  const { mediaType } = parseJsonObject(bytes, what);
  return { bytes, digest, mediaType: typeof mediaType === 'string' ? mediaType : (response.header('content-type') ?? '') };
}

/** A manifest list or index resolves to the manifest for the platform (this machine's unless asked otherwise). */
async function platformManifest(client: RegistryClient, index: Buffer, platform: Platform): Promise<{ bytes: Buffer; digest: Digest }> {
  const entry = bestForPlatform(parseIndex(index).manifests, platform);
  if (!entry) throw notFound(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
  return fetchManifest(client, entry.digest, entry);
}

/**
 * Downloads one layer, verifying and unpacking it in the same pass: the response body (bounded by the
 * descriptor's size) goes to a blob writer (digest and size checked) and, decompressed, to the layer unpacker
 * (diffID checked). A failure leaves nothing: the blob writer's ingest file and the unpacked temp dir go.
 */
async function downloadLayer(images: ImageStore, client: RegistryClient, layer: Descriptor, diffId: Digest, progress: Progress): Promise<NewLayer> {
  return receiveLayer(images, await client.blob(`/${client.repository}/blobs/${layer.digest}`, layer, `layer ${layer.digest}`), layer, diffId, progress);
}

/**
 * A layer blob arriving on `raw` (a registry's response, a file), verified and unpacked in one pass: its bytes
 * go to a blob writer (digest and size checked) and, decompressed, to the layer unpacker (diffID checked).
 */
export async function receiveLayer(images: ImageStore, raw: Readable, layer: Descriptor, diffId: Digest, progress: Progress): Promise<NewLayer> {
  const id = shortId(layer.digest);
  const what = `layer ${layer.digest}`;
  const writer: BlobWriter = images.content.writer();
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  let received = 0;
  // Network reads are ~64 KiB; gathered into 1 MiB pieces, gunzip makes 16 times fewer trips to the thread pool.
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  const pass = () => {
    if (gatheredBytes === 0) return;
    if (!tee.write(gathered.length === 1 ? gathered[0] : Buffer.concat(gathered, gatheredBytes))) raw.pause();
    gathered = [];
    gatheredBytes = 0;
  };
  tee.on('drain', () => raw.resume());
  raw.on('data', (chunk: Buffer) => {
    // On the thread pool: the main thread unpacks. The pause above bounds what can pile up here. Once the
    // unpack has failed the writer is aborted and refuses more: that failure is the one reported.
    writer.writeSoon(chunk).catch(() => undefined);
    received += chunk.length;
    progress.update(id, 'Downloading', { current: received, total: layer.size });
    gathered.push(chunk);
    gatheredBytes += chunk.length;
    if (gatheredBytes >= 1 << 20) pass();
  });
  raw.on('end', () => {
    pass();
    tee.end();
  });
  // The download's own failure (dropped, silent, more than declared) is the one reported, not what the unpacker
  // makes of the data that stopped: it reaches the unpacker through the tee, which needs no other listener.
  let failure: Error | undefined;
  raw.on('error', (error) => {
    failure = error;
    tee.destroy(error);
  });
  tee.on('error', () => undefined);
  let unpacked: Awaited<ReturnType<ImageStore['layers']['unpack']>> | undefined;
  try {
    unpacked = await images.layers.unpack(tee, what);
    progress.update(id, 'Verifying Checksum');
    await writer.stageSoon({ digest: layer.digest, size: layer.size });
    if (unpacked.diffId !== diffId) throw dataCorrupt(`${what}: content digest ${unpacked.diffId} does not match diff_id ${diffId} in the config`);
    progress.update(id, 'Download complete');
    return { blob: layer, diffId, size: unpacked.size, tarSize: unpacked.tarSize, tempDir: unpacked.tempDir, stagedBlob: writer };
  } catch (error) {
    raw.destroy();
    writer.abort();
    if (unpacked) images.layers.discard(unpacked.tempDir);
    throw failure ?? error;
  }
}

async function withRetries<T>(what: () => Promise<T>, onRetry: (attempt: number, error: unknown) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await what();
    } catch (error) {
      const transient = !(isDataCorrupt(error) || isNotFound(error) || isUnsupported(error));
      if (!transient || attempt >= 3) throw error;
      onRetry(attempt, error);
      await sleep(500 * 2 ** (attempt - 1));
    }
  }
}

/** Runs `tasks` with at most `limit` at once, in order of start, and waits for all of them, failed or not. */
async function inParallel<T>(tasks: (() => Promise<T>)[], limit: number): Promise<PromiseSettledResult<T>[]> {
  const results: PromiseSettledResult<T>[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await tasks[index]!() };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** A failed pull leaves nothing: the layers that did arrive are dropped with it. */
function discardLayers(images: ImageStore, layers: NewLayer[]): void {
  for (const layer of layers) {
    layer.stagedBlob?.abort();
    if (layer.tempDir) images.layers.discard(layer.tempDir);
  }
}

/**
 * The registry to pull from and the manifest it has: Docker Hub pulls try the configured mirrors first, in order,
 * as Docker does; a mirror that fails or lacks the image passes to the next, Docker Hub itself coming last.
 */
async function locateManifest(reference: Reference, tagOrDigest: string, options: PullOptions): Promise<{ client: RegistryClient; top: Awaited<ReturnType<typeof fetchManifest>> }> {
  const fetchFrom = async (host: string, plainHttp = false) => {
    const client = new RegistryClient(host, reference.path, plainHttp ? { ...options, insecureRegistries: [...(options.insecureRegistries ?? []), host] } : options);
    return { client, top: await fetchManifest(client, tagOrDigest, reference.digest && { digest: reference.digest }) };
  };
  for (const mirror of reference.domain === 'docker.io' ? registryMirrors() : []) {
    try {
      return await fetchFrom(mirror.host, mirror.plainHttp);
    } catch {
      // This mirror can't serve it: the next one, or Docker Hub, will.
    }
  }
  return fetchFrom(reference.domain);
}

/** `pull`: manifest (resolved to this platform), config, then the layers not already in the store, in parallel. */
export async function pullImage(images: ImageStore, name: string, progress: Progress, options: PullOptions = {}): Promise<PullResult> {
  const reference = parseReference(name);
  const tagOrDigest = reference.digest ?? reference.tag!;
  progress.line(`${reference.digest ? reference.digest : reference.tag}: Pulling from ${reference.path}`);
  const { client, top } = await locateManifest(reference, tagOrDigest, options);
  const { bytes: manifestBytes } = isIndexMediaType(top.mediaType) ? await platformManifest(client, top.bytes, options.platform ?? hostPlatform()) : top;
  const manifest = parseManifest(manifestBytes);
  for (const layer of manifest.layers) {
    if (!isLayerMediaType(layer.mediaType)) throw unsupported(`unsupported layer media type ${JSON.stringify(printable(layer.mediaType, 100))}`);
  }

  const configWhat = `config ${manifest.config.digest}`;
  const configBytes = await withRetries(
    () => client.smallBlob(`/${client.repository}/blobs/${manifest.config.digest}`, manifest.config, configWhat),
    () => undefined,
  );
  const config = parseConfig(configBytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) throw dataCorrupt(`the manifest lists ${manifest.layers.length} layers but the config ${config.rootfs.diff_ids.length}`);
  const actual = { os: config.os, architecture: config.architecture, ...(config.variant !== undefined && { variant: config.variant }) };
  if (options.platform && !platformMatches(actual, options.platform)) {
    throw notFound(`image with reference ${name} was found but does not match the specified platform: wanted ${formatPlatform(options.platform)}, actual: ${formatPlatform(actual)}`);
  }

  const existingImage = images.find(formatReference(reference));
  // The layers this pull reuses are held until its image exists: a prune meanwhile cannot take them away.
  const lease = images.lease();
  try {
    const layers = await pullLayers(images, client, manifest.layers, config.rootfs.diff_ids, lease, progress, options.concurrency ?? 3);
    for (const layer of layers) if (layer.tempDir) progress.update(shortId(layer.blob.digest), 'Extracting');
    const { id } = images.add({
      config: configBytes,
      layers,
      lease: lease.id,
      manifest: manifestBytes,
      ...(reference.tag !== undefined && { tags: [reference] }),
      repoDigest: { repository: repositoryName(reference), digest: top.digest },
    });
    for (const layer of layers) if (layer.tempDir) progress.update(shortId(layer.blob.digest), 'Pull complete');
    return { id, digest: top.digest, reference, upToDate: existingImage?.id === id };
  } finally {
    lease.release();
  }
}

/**
 * The image's layers: those the store has (held by the lease, `Already exists`) and the others downloaded,
 * `concurrency` at a time. When one fails, the downloaded ones are discarded and the failure thrown.
 */
async function pullLayers(images: ImageStore, client: RegistryClient, descriptors: Descriptor[], diffIds: Digest[], lease: Lease, progress: Progress, concurrency: number): Promise<NewLayer[]> {
  const chain = chainIds(diffIds);
  const tasks = descriptors.map((layer, i) => {
    const id = shortId(layer.digest);
    const existing = images.existingLayer(chain[i]!);
    if (existing && lease.holdLayer(chain[i]!)) {
      progress.update(id, 'Already exists');
      return async (): Promise<NewLayer> => ({ blob: layer, diffId: existing.diffId, size: existing.size, tarSize: existing.tarSize });
    }
    progress.update(id, 'Pulling fs layer');
    return async (): Promise<NewLayer> =>
      withRetries(
        () => downloadLayer(images, client, layer, diffIds[i]!, progress),
        (attempt, error) => progress.update(id, `Retrying in ${2 ** (attempt - 1)} second${attempt > 1 ? 's' : ''} (${error instanceof Error ? error.message : String(error)})`),
      );
  });
  const settled = await inParallel(tasks, concurrency);
  const layers = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) {
    discardLayers(images, layers);
    throw failure.reason;
  }
  return layers;
}

/** A page of tags is read up to 16 MiB: registries that do not paginate send a big repository's all at once. */
const tagsLimit = 16 << 20;

/** The tags of a repository on its registry, every page of them (the spec's `Link: <...>; rel="next"`), sorted. */
export async function remoteTags(repository: string, options: RegistryOptions = {}): Promise<string[]> {
  const reference = parseReference(repository);
  const client = new RegistryClient(reference.domain, reference.path, options);
  const tags: string[] = [];
  let next: string | undefined = `/${client.repository}/tags/list`;
  while (next !== undefined) {
    const what = `tags of ${repositoryName(reference)}`;
    const response = await client.request('GET', next, { what, bound: { cap: tagsLimit, of: 'a page of tags' } });
    const page = await response.json<{ tags?: unknown }>(tagsLimit).catch((error: unknown) => {
      throw dataCorrupt(`${what}: ${(error as Error).message}`, { cause: error });
    });
    if (page.tags !== undefined && page.tags !== null && !(Array.isArray(page.tags) && page.tags.every((tag) => typeof tag === 'string'))) {
      throw dataCorrupt(`${what}: the registry's tags are not a list of names`);
    }
    tags.push(...((page.tags as string[] | null | undefined) ?? []));
    const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.header('link') ?? '')?.[1];
    next = link === undefined ? undefined : new URL(link, client.base).href;
  }
  return [...new Set(tags)].sort();
}
