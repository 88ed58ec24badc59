import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobWriter, Descriptor } from '../../content/store.js';
import { dataCorrupt, isDataCorrupt, isNotFound, isUnsupported, notFound, unavailable, unsupported } from '../../errors.js';
import { isIndexMediaType, isLayerMediaType, MediaType } from '../../images/model.js';
import { bestForPlatform, formatPlatform, hostPlatform, type Platform, platformMatches } from '../../images/platform.js';
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from '../../images/reference.js';
import type { ImageStore, NewLayer } from '../../images/store.js';
import { parseConfig, parseIndex, parseManifest } from '../../images/validate.js';
import { chainIds, type Digest, digestOf, isDigest, shortId } from '../../util/digest.js';
import type { Progress } from './progress.js';
import { RegistryClient, type RegistryOptions } from './registry.js';
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

/** Fetches a manifest or index and checks it against its digest (the reference's, or the one the registry sent). */
async function fetchManifest(client: RegistryClient, reference: string, expected?: Digest): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
  // Named as Docker names it in errors: `manifest for host:5000/app:v1`, `manifest for busybox@sha256:...`.
  const shown = familiarString({ domain: client.domain, path: client.repository, ...(isDigest(reference) ? { digest: reference } : { tag: reference }) });
  const response = await client.request('GET', `/${client.repository}/manifests/${reference}`, { headers: { accept: manifestAccept }, what: `manifest for ${shown}` });
  const bytes = await response.read();
  const digest = digestOf(bytes);
  const claimed = expected ?? (response.header('docker-content-digest') as Digest | null) ?? digest;
  if (claimed !== digest) throw dataCorrupt(`manifest digest mismatch: expected ${claimed}, got ${digest}`);
  const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? response.header('content-type') ?? '';
  return { bytes, digest, mediaType };
}

/** A manifest list or index resolves to the manifest for the platform (this machine's unless asked otherwise). */
async function platformManifest(client: RegistryClient, index: Buffer, platform: Platform): Promise<{ bytes: Buffer; digest: Digest }> {
  const entry = bestForPlatform(parseIndex(index).manifests, platform);
  if (!entry) throw notFound(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
  return fetchManifest(client, entry.digest, entry.digest);
}

/**
 * Downloads one layer, verifying and unpacking it in the same pass: the response body goes to a blob writer
 * (compressed digest and size checked) and, decompressed, to the layer unpacker (diffID checked).
 */
async function downloadLayer(images: ImageStore, client: RegistryClient, layer: Descriptor, diffId: Digest, progress: Progress): Promise<NewLayer> {
  const id = shortId(layer.digest);
  const raw = await client.blob(`/${client.repository}/blobs/${layer.digest}`, `layer ${layer.digest}`);
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
  // A dropped connection reaches the unpacker through the tee; the tee itself needs no other listener.
  raw.on('error', (error) => tee.destroy(unavailable(`layer ${layer.digest}: connection closed after ${received} of ${layer.size} bytes (${error.message})`, { cause: error })));
  tee.on('error', () => undefined);
  try {
    const unpacked = await images.layers.unpack(tee, `layer ${layer.digest}`);
    progress.update(id, 'Verifying Checksum');
    await writer.stageSoon({ digest: layer.digest, size: layer.size });
    if (unpacked.diffId !== diffId) {
      images.layers.discard(unpacked.tempDir);
      throw dataCorrupt(`layer ${layer.digest}: content digest ${unpacked.diffId} does not match diff_id ${diffId} in the config`);
    }
    progress.update(id, 'Download complete');
    return { blob: layer, diffId, size: unpacked.size, tarSize: unpacked.tarSize, tempDir: unpacked.tempDir, stagedBlob: writer };
  } catch (error) {
    raw.destroy();
    writer.abort();
    throw error;
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
    return { client, top: await fetchManifest(client, tagOrDigest, reference.digest) };
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
    if (!isLayerMediaType(layer.mediaType)) throw unsupported(`unsupported layer media type "${layer.mediaType}"`);
  }

  const configResponse = await client.request('GET', `/${client.repository}/blobs/${manifest.config.digest}`, { what: `config ${manifest.config.digest}` });
  const configBytes = await configResponse.read();
  if (digestOf(configBytes) !== manifest.config.digest) throw dataCorrupt(`config digest mismatch: expected ${manifest.config.digest}, got ${digestOf(configBytes)}`);
  const config = parseConfig(configBytes);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) throw dataCorrupt(`the manifest lists ${manifest.layers.length} layers but the config ${config.rootfs.diff_ids.length}`);
  const actual = { os: config.os, architecture: config.architecture, ...(config.variant !== undefined && { variant: config.variant }) };
  if (options.platform && !platformMatches(actual, options.platform)) {
    throw notFound(`image with reference ${name} was found but does not match the specified platform: wanted ${formatPlatform(options.platform)}, actual: ${formatPlatform(actual)}`);
  }

  const existingImage = images.find(formatReference(reference));
  const chain = chainIds(config.rootfs.diff_ids);
  const tasks = manifest.layers.map((layer, i) => {
    const id = shortId(layer.digest);
    const existing = images.existingLayer(chain[i]!);
    if (existing) {
      progress.update(id, 'Already exists');
      return async (): Promise<NewLayer> => ({ blob: layer, diffId: existing.diffId, size: existing.size, tarSize: existing.tarSize });
    }
    progress.update(id, 'Pulling fs layer');
    return async (): Promise<NewLayer> => {
      const downloaded = await withRetries(
        () => downloadLayer(images, client, layer, config.rootfs.diff_ids[i]!, progress),
        (attempt, error) => progress.update(id, `Retrying in ${2 ** (attempt - 1)} second${attempt > 1 ? "s" : ""} (${error instanceof Error ? error.message : String(error)})`),
      );
      return downloaded;
    };
  });
  const settled = await inParallel(tasks, options.concurrency ?? 3);
  const layers = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = settled.find((result) => result.status === 'rejected');
  if (failure) {
    discardLayers(images, layers);
    throw failure.reason;
  }
  for (const layer of layers) if (layer.tempDir) progress.update(shortId(layer.blob.digest), 'Extracting');
  const { id } = images.add({
    config: configBytes,
    layers,
    manifest: manifestBytes,
    ...(reference.tag !== undefined && { tags: [reference] }),
    repoDigest: { repository: repositoryName(reference), digest: top.digest },
  });
  for (const layer of layers) if (layer.tempDir) progress.update(shortId(layer.blob.digest), 'Pull complete');
  return { id, digest: top.digest, reference, upToDate: existingImage?.id === id };
}

/** The tags of a repository on its registry, every page of them (the spec's `Link: <...>; rel="next"`), sorted. */
export async function remoteTags(repository: string, options: RegistryOptions = {}): Promise<string[]> {
  const reference = parseReference(repository);
  const client = new RegistryClient(reference.domain, reference.path, options);
  const tags: string[] = [];
  let next: string | undefined = `/${client.repository}/tags/list`;
  while (next !== undefined) {
    const response = await client.request('GET', next, { what: `tags of ${repositoryName(reference)}` });
    tags.push(...((await response.json<{ tags?: string[] | null }>()).tags ?? []));
    const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.header('link') ?? '')?.[1];
    next = link === undefined ? undefined : new URL(link, client.base).href;
  }
  return [...new Set(tags)].sort();
}
