/**
 * Where a travelling build cache lives (cache-record.ts has its shape): a registry repository (`type=registry`,
 * the artifact under a tag) or an OCI layout directory (`type=local`); the export that writes one, and the import
 * that reads one back, materializing a cached step's image in the store only when the build needs its files.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../content/store.js';
import { dataCorrupt, notFound } from '../errors.js';
import { MediaType } from '../images/model.js';
import { parseReference } from '../images/reference.js';
import type { ImageRecord } from '../images/records.js';
import type { ImageStore, NewLayer } from '../images/store.js';
import { parseConfig, parseIndex } from '../images/validate.js';
import { chainIds, type Digest, digestOf, hexOf } from '../util/digest.js';
import { Tap } from '../util/streams.js';
import type { Progress } from '../distribution/client/progress.js';
import { fetchManifest, receiveLayer } from '../distribution/client/pull.js';
import { uploadBlob } from '../distribution/client/push.js';
import { RegistryClient, type RegistryOptions } from '../distribution/client/registry.js';
import { type CacheRecord, cacheManifest, cacheMountMediaType, cacheRecordLimit, type CacheStep, parseCacheManifest, parseCacheRecord, recordBlobs } from './cache-record.js';

/** `--cache-to` / `--cache-from`: a registry reference or an OCI layout directory, and (export) how much to carry. */
export type CacheLocationSpec = { type: 'registry'; ref: string } | { type: 'local'; dir: string; tag: string };

/** What holds the images a build makes against prunes (BuildBackend's lease). */
type BuildLease = { readonly id: string; hold(imageId: Digest): boolean };

/** A place holding one cache artifact: blobs by digest, and the manifest naming them. */
interface CacheLocation {
  readonly name: string;
  hasBlob(blob: Descriptor): Promise<boolean>;
  putBlob(blob: Descriptor, file: string): Promise<void>;
  putManifest(bytes: Buffer): Promise<void>;
  manifest(): Promise<Buffer>;
  /** The blob's bytes, bounded by its descriptor's size; the reader checks the digest. */
  blob(blob: Descriptor): Promise<Readable>;
}

const quiet: Progress = { update: () => undefined, line: () => undefined };

function registryLocation(ref: string, options: RegistryOptions): CacheLocation {
  const reference = parseReference(ref);
  const client = new RegistryClient(reference.domain, reference.path, options);
  const tag = reference.digest ?? reference.tag ?? 'latest';
  return {
    name: ref,
    hasBlob: async (blob) => (await client.request('HEAD', `/${client.repository}/blobs/${blob.digest}`, { scope: `repository:${client.repository}:pull`, what: `blob ${blob.digest}`, ok: [200, 404] })).status === 200,
    putBlob: async (blob, file) => void (await uploadBlob(file, client, blob, {}, undefined, () => undefined)),
    putManifest: async (bytes) =>
      void (await client.request('PUT', `/${client.repository}/manifests/${tag}`, {
        scope: `repository:${client.repository}:pull,push`,
        what: `cache manifest ${ref}`,
        headers: { 'content-type': MediaType.ociManifest },
        body: () => bytes,
        ok: [201],
      })),
    manifest: async () => (await fetchManifest(client, tag)).bytes,
    blob: (blob) => client.blob(`/${client.repository}/blobs/${blob.digest}`, blob, `blob ${blob.digest}`),
  };
}

/** An OCI image layout: `oci-layout`, `index.json` naming the artifact by tag, `blobs/sha256/<hex>`. */
function localLocation(dir: string, tag: string): CacheLocation {
  const blobPath = (digest: Digest) => path.join(dir, 'blobs', 'sha256', hexOf(digest));
  const indexPath = path.join(dir, 'index.json');
  return {
    name: dir,
    hasBlob: async (blob) => fs.statSync(blobPath(blob.digest), { throwIfNoEntry: false })?.size === blob.size,
    putBlob: async (blob, file) => {
      fs.mkdirSync(path.dirname(blobPath(blob.digest)), { recursive: true });
      const temp = `${blobPath(blob.digest)}.tmp-${randomBytes(4).toString('hex')}`;
      fs.copyFileSync(file, temp, fs.constants.COPYFILE_FICLONE);
      fs.renameSync(temp, blobPath(blob.digest));
    },
    putManifest: async (bytes) => {
      const digest = digestOf(bytes);
      fs.mkdirSync(path.dirname(blobPath(digest)), { recursive: true });
      fs.writeFileSync(blobPath(digest), bytes);
      fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      // Other tags of the layout stay; this tag now names the new artifact.
      const kept = fs.existsSync(indexPath) ? parseIndex(fs.readFileSync(indexPath), indexPath).manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== tag) : [];
      const entry = { mediaType: MediaType.ociManifest, digest, size: bytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } };
      fs.writeFileSync(`${indexPath}.tmp`, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...kept, entry] }));
      fs.renameSync(`${indexPath}.tmp`, indexPath);
    },
    manifest: async () => {
      if (!fs.existsSync(indexPath)) throw notFound(`${dir} has no index.json: not an OCI layout`);
      const index = parseIndex(fs.readFileSync(indexPath), indexPath);
      const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? (index.manifests.length === 1 ? index.manifests[0] : undefined);
      if (!entry) throw notFound(`${dir}: no cache tagged ${JSON.stringify(tag)}`);
      const bytes = readBounded(blobPath(entry.digest), entry.size, `manifest ${entry.digest}`);
      if (digestOf(bytes) !== entry.digest) throw dataCorrupt(`${dir}: manifest ${entry.digest} does not match its digest`);
      return bytes;
    },
    blob: async (blob) => {
      const file = blobPath(blob.digest);
      const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
      if (size === undefined) throw notFound(`${dir}: blob ${blob.digest} is missing`);
      if (size !== blob.size) throw dataCorrupt(`${dir}: blob ${blob.digest} has ${size} bytes, the manifest says ${blob.size}`);
      return fs.createReadStream(file, { highWaterMark: 1 << 20 });
    },
  };
}

function readBounded(file: string, size: number, what: string): Buffer {
  const actual = fs.statSync(file, { throwIfNoEntry: false })?.size;
  if (actual === undefined) throw notFound(`${what} is missing`);
  if (actual !== size || size > cacheRecordLimit) throw dataCorrupt(`${what}: ${actual} bytes, ${size} declared`);
  return fs.readFileSync(file);
}

export function openLocation(spec: CacheLocationSpec, options: RegistryOptions = {}): CacheLocation {
  return spec.type === 'registry' ? registryLocation(spec.ref, options) : localLocation(spec.dir, spec.tag);
}

/** A blob read whole and checked against its digest. */
async function readBlob(location: CacheLocation, blob: Descriptor, limit: number): Promise<Buffer> {
  if (blob.size > limit) throw dataCorrupt(`${location.name}: blob ${blob.digest} is ${blob.size} bytes, over the ${limit} allowed`);
  const chunks: Buffer[] = [];
  for await (const chunk of await location.blob(blob)) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== blob.size || digestOf(bytes) !== blob.digest) throw dataCorrupt(`${location.name}: blob ${blob.digest} does not match its digest`);
  return bytes;
}

/** A cache mount to carry: its directory name under cache-mounts and a tar of it (written by the caller). */
export interface MountExport {
  dir: string;
  tar: string;
  digest: Digest;
  size: number;
}

/**
 * Writes the cache of `steps` to the location: each step image's config and added layer (blobs already there
 * are not sent again), the mounts' tars, the record, then the manifest, last, so a reader never sees a
 * manifest whose blobs are missing.
 */
export async function exportCache(images: ImageStore, location: CacheLocation, steps: readonly CacheStep[], mounts: readonly MountExport[]): Promise<{ blobs: number; sent: number }> {
  const record: CacheRecord = { schemaVersion: 1, steps: [...steps], images: {}, mounts: [] };
  const files = new Map<Digest, string>();
  const describe = (record_: ImageRecord) => {
    if (record.images[record_.id]) return;
    const parent = record_.parent === null ? undefined : images.records.get(record_.parent);
    const layers = images.manifest(record_).layers;
    const parentCount = parent ? images.manifest(parent).layers.length : 0;
    const layer = layers.length > parentCount ? layers.at(-1) : undefined;
    record.images[record_.id] = { parent: record_.parent, ...(layer && { layer }) };
    files.set(record_.id, images.content.path(record_.id));
    if (layer) files.set(layer.digest, images.content.path(layer.digest));
  };
  for (const step of steps) {
    const image = images.records.get(step.image);
    if (!image) throw notFound(`cache export: image ${step.image} of a step is no longer in the store`);
    describe(image);
  }
  for (const mount of mounts) {
    const blob = { mediaType: cacheMountMediaType, digest: mount.digest, size: mount.size };
    record.mounts.push({ dir: mount.dir, blob });
    files.set(mount.digest, mount.tar);
  }
  const blobs = recordBlobs(record, (id) => fs.statSync(images.content.path(id)).size);
  let sent = 0;
  const queue = [...blobs];
  const upload = async () => {
    for (let blob = queue.shift(); blob; blob = queue.shift()) {
      if (await location.hasBlob(blob)) continue;
      await location.putBlob(blob, files.get(blob.digest)!);
      sent++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, upload));
  const recordBytes = Buffer.from(JSON.stringify(record));
  const recordBlob = { mediaType: 'application/json', digest: digestOf(recordBytes), size: recordBytes.length };
  const recordFile = path.join(images.content.ingestDir, `cache-record-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(recordFile, recordBytes);
  try {
    if (!(await location.hasBlob(recordBlob))) await location.putBlob(recordBlob, recordFile);
  } finally {
    fs.rmSync(recordFile, { force: true });
  }
  await location.putManifest(cacheManifest(recordBlob, blobs));
  return { blobs: blobs.length, sent };
}

/**
 * A cache read from a location: which step keys it has, each step image's config on demand, and the image
 * itself made in the store (`materialize`) with only the layers it lacks downloaded. Everything is checked
 * against its digest before the store takes it, so a corrupt cache is refused and never recorded.
 */
export class ImportedCache {
  private readonly byKey = new Map<string, Digest>();
  private readonly steps = new Set<string>();
  private readonly configs = new Map<Digest, Promise<Buffer>>();
  private readonly made = new Map<Digest, Promise<ImageRecord>>();

  private constructor(
    private readonly location: CacheLocation,
    readonly record: CacheRecord,
    /** The artifact's blobs by digest, from its manifest: their sizes bound every read. */
    private readonly blobs: ReadonlyMap<Digest, Descriptor>,
  ) {
    for (const step of record.steps) {
      this.byKey.set(step.key, step.image);
      this.steps.add(step.step);
    }
  }

  get name(): string {
    return this.location.name;
  }

  static async open(location: CacheLocation): Promise<ImportedCache> {
    const what = `cache ${location.name}`;
    const { record, blobs } = parseCacheManifest(await location.manifest(), what);
    const bytes = await readBlob(location, record, cacheRecordLimit);
    return new ImportedCache(location, parseCacheRecord(bytes, blobs, what), blobs);
  }

  /** Starts fetching every step image's config, a few at a time, so a step that hits finds its config there. */
  prefetchConfigs(): void {
    const queue = Object.keys(this.record.images) as Digest[];
    const next = async (): Promise<void> => {
      for (let id = queue.shift(); id; id = queue.shift()) await this.config(id).catch(() => undefined);
    };
    for (let i = 0; i < 4; i++) void next();
  }

  imageFor(key: string): Digest | undefined {
    return this.byKey.get(key);
  }

  hasStep(step: string): boolean {
    return this.steps.has(step);
  }

  /** The image's config bytes, fetched once and checked against the image ID. */
  config(id: Digest): Promise<Buffer> {
    let config = this.configs.get(id);
    if (!config) {
      config = readBlob(this.location, { mediaType: MediaType.ociConfig, digest: id, size: this.blobs.get(id)?.size ?? 0 }, 4 << 20);
      config.catch(() => this.configs.delete(id));
      this.configs.set(id, config);
    }
    return config;
  }

  /**
   * The image in the store: made, parent first, from its config and the layer its step added (downloaded,
   * verified and unpacked), unless the store has it already. `lease` holds what it makes.
   */
  materialize(images: ImageStore, id: Digest, lease?: BuildLease): Promise<ImageRecord> {
    let made = this.made.get(id);
    if (!made) {
      made = this.make(images, id, lease);
      made.catch(() => this.made.delete(id));
      this.made.set(id, made);
    }
    return made;
  }

  private async make(images: ImageStore, id: Digest, lease?: BuildLease): Promise<ImageRecord> {
    const existing = images.records.get(id);
    if (existing && (lease?.hold(id) ?? true)) return existing;
    const entry = this.record.images[id];
    if (!entry) throw notFound(`cache ${this.name}: image ${id} is neither in the store nor in the cache`);
    const parent = entry.parent === null ? undefined : await this.materialize(images, entry.parent, lease);
    const configBytes = await this.config(id);
    const config = parseConfig(configBytes, `cache ${this.name} config ${id}`);
    const parentLayers = parent ? images.parentLayers(parent) : [];
    const expected = parentLayers.length + (entry.layer ? 1 : 0);
    if (config.rootfs.diff_ids.length !== expected) throw dataCorrupt(`cache ${this.name}: image ${id} has ${config.rootfs.diff_ids.length} layers, its parent and step ${expected}`);
    let layer: NewLayer | undefined;
    if (entry.layer) {
      const diffId = config.rootfs.diff_ids.at(-1)!;
      const chain = images.existingLayer(chainIds([...parentLayers.map((l) => l.diffId), diffId]).at(-1)!);
      layer = chain ? { blob: entry.layer, diffId, size: chain.size, tarSize: chain.tarSize } : await receiveLayer(images, await this.location.blob(entry.layer), entry.layer, diffId, quiet);
    }
    const { id: added } = images.add({ config: configBytes, layers: [...parentLayers, ...(layer ? [layer] : [])], ...(parent && { parent: parent.id }), ...(lease && { lease: lease.id }) });
    return images.records.get(added)!;
  }

  /** Cache mounts the store lacks, unpacked from their tars (checked against their digests). */
  async restoreMounts(cacheMountsDir: string): Promise<number> {
    const { applyLayer } = await import('../layers/apply.js');
    let restored = 0;
    for (const mount of this.record.mounts) {
      const dir = path.join(cacheMountsDir, mount.dir);
      if (fs.existsSync(dir)) continue;
      fs.mkdirSync(cacheMountsDir, { recursive: true, mode: 0o700 });
      const temp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(temp, { recursive: true, force: true });
      fs.mkdirSync(temp, { mode: 0o755 });
      try {
        const tap = new Tap();
        await applyLayer(tap.through(await this.location.blob(mount.blob)), temp);
        if (tap.digest() !== mount.blob.digest) throw dataCorrupt(`cache ${this.name}: mount ${mount.dir} does not match its digest`);
        fs.renameSync(temp, dir);
        restored++;
      } catch (error) {
        fs.rmSync(temp, { recursive: true, force: true });
        throw error;
      }
    }
    return restored;
  }
}

/**
 * Tars of the cache mounts `dirs` (names under `cacheMountsDir`) in `tempDir`, for mode=max; a mount over
 * `limit` bytes stays behind with a warning, so one huge cache does not ride along with every export.
 */
export async function tarMounts(cacheMountsDir: string, dirs: Iterable<string>, tempDir: string, limit: number, warn: (text: string) => void): Promise<MountExport[]> {
  const [{ writeLayerTar }, { cacheMountsSize }] = await Promise.all([import('../layers/diff.js'), import('./run-mounts.js')]);
  const tars: MountExport[] = [];
  for (const dir of dirs) {
    const source = path.join(cacheMountsDir, dir);
    if (!fs.existsSync(source)) continue;
    const bytes = cacheMountsSize(source);
    if (bytes > limit) {
      warn(`[Warning] cache mount ${dir} (${bytes} bytes) is over the ${limit}-byte limit of --cache-to mode=max: not exported`);
      continue;
    }
    const tar = path.join(tempDir, `cache-mount-${process.pid}-${randomBytes(4).toString('hex')}`);
    const out = fs.openSync(tar, 'w');
    const hash = createHash('sha256');
    let size = 0;
    try {
      await writeLayerTar(source, (chunk) => {
        hash.update(chunk);
        size += chunk.length;
        fs.writeSync(out, chunk);
      });
    } finally {
      fs.closeSync(out);
    }
    tars.push({ dir, tar, digest: `sha256:${hash.digest('hex')}`, size });
  }
  return tars;
}
