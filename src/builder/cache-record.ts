/**
 * The build cache as it travels (`--cache-to` / `--cache-from type=registry|local`): an OCI artifact whose
 * config is a cache record (which step key made which image, and how each image stands on its parent) and whose
 * layers are the blobs it needs: the step images' configs, the layers the steps added, and (mode=max) tars of
 * cache mounts. Pure: what to export, the record's and the manifest's shape, and their validation.
 */
import type { Descriptor } from '../content/store.js';
import { dataCorrupt, invalidArgument } from '../errors.js';
import { MediaType } from '../images/model.js';
import { parseDescriptor, parseJsonObject, parseManifest } from '../images/validate.js';
import { type Digest, isDigest } from '../util/digest.js';

export const cacheArtifactType = 'application/vnd.strata.buildcache.v1';
export const cacheRecordMediaType = 'application/vnd.strata.buildcache.record.v1+json';
export const cacheMountMediaType = 'application/vnd.strata.buildcache.mount.v1.tar';

/** What a cache record may hold: far above real builds, low enough that a hostile one cannot exhaust memory. */
export const cacheRecordLimit = 16 << 20;
const maxEntries = 100_000;

/** One cached step: its cache key, the key without its sources' checksum (`step`), and the image it made. */
export interface CacheStep {
  key: string;
  step: string;
  image: Digest;
}

/** How a step image stands on its parent: the parent (null on scratch) and the layer the step added, if any. */
export interface CacheImage {
  parent: Digest | null;
  /** Its blob (as stored: an uncompressed tar, so its digest is the diffID). */
  layer?: Descriptor;
}

/** A cache mount's directory as a tar blob: `dir` is its name under the store's cache-mounts. */
export interface CacheMount {
  dir: string;
  blob: Descriptor;
}

export interface CacheRecord {
  schemaVersion: 1;
  steps: CacheStep[];
  images: Record<Digest, CacheImage>;
  mounts: CacheMount[];
}

/** What a build did, step by step, for the export to choose from. */
export interface BuiltStep extends CacheStep {
  /** The target's image chain has it (mode=min exports only these). */
  inTarget: boolean;
}

/** mode=min: the steps of the target image's chain; mode=max: every step of every stage. */
export function stepsToExport(steps: readonly BuiltStep[], mode: 'min' | 'max'): CacheStep[] {
  const seen = new Set<string>();
  const chosen: CacheStep[] = [];
  for (const { key, step, image, inTarget } of steps) {
    if ((mode === 'min' && !inTarget) || seen.has(key)) continue;
    seen.add(key);
    chosen.push({ key, step, image });
  }
  return chosen;
}

/** The blobs a record needs besides itself: configs (by image ID, `configSize` bytes), step layers and mount tars, each once. */
export function recordBlobs(record: CacheRecord, configSize: (id: Digest) => number): Descriptor[] {
  const blobs = new Map<Digest, Descriptor>();
  for (const [id, image] of Object.entries(record.images) as [Digest, CacheImage][]) {
    blobs.set(id, { mediaType: MediaType.ociConfig, digest: id, size: configSize(id) });
    if (image.layer) blobs.set(image.layer.digest, image.layer);
  }
  for (const mount of record.mounts) blobs.set(mount.blob.digest, mount.blob);
  return [...blobs.values()];
}

/** The artifact's manifest: the record as its config, every blob it needs as a layer (so registries keep them). */
export function cacheManifest(recordBlob: Descriptor, blobs: readonly Descriptor[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: cacheArtifactType,
      config: { ...recordBlob, mediaType: cacheRecordMediaType },
      layers: blobs,
    }),
  );
}

/** The record's descriptor from an artifact's manifest; anything else (an image, another tool's cache) is refused. */
export function parseCacheManifest(bytes: Buffer, what: string): { record: Descriptor; blobs: Map<Digest, Descriptor> } {
  const manifest = parseManifest(bytes, what) as ReturnType<typeof parseManifest> & { artifactType?: unknown };
  if (manifest.config.mediaType !== cacheRecordMediaType) {
    throw dataCorrupt(`${what} is not a Strata build cache (its config is ${JSON.stringify(String(manifest.config.mediaType)).slice(0, 100)})`);
  }
  if (manifest.config.size > cacheRecordLimit) throw dataCorrupt(`${what}: the cache record is ${manifest.config.size} bytes, more than the ${cacheRecordLimit} allowed`);
  return { record: manifest.config, blobs: new Map(manifest.layers.map((layer) => [layer.digest, layer])) };
}

const fail = (what: string, why: string) => dataCorrupt(`${what}: ${why}`);

/** A cache record's bytes, checked: every step's image described, every parent and blob a digest the manifest lists. */
export function parseCacheRecord(bytes: Buffer, blobs: ReadonlyMap<Digest, Descriptor>, what: string): CacheRecord {
  const raw = parseJsonObject(bytes, what);
  if (raw.schemaVersion !== 1) throw fail(what, `unsupported schemaVersion ${JSON.stringify(raw.schemaVersion)}`);
  const { steps, images, mounts } = raw as { steps?: unknown; images?: unknown; mounts?: unknown };
  if (!Array.isArray(steps) || steps.length > maxEntries) throw fail(what, 'steps must be a list');
  if (typeof images !== 'object' || images === null || Array.isArray(images)) throw fail(what, 'images must be an object');
  if (mounts !== undefined && (!Array.isArray(mounts) || mounts.length > 1000)) throw fail(what, 'mounts must be a list');
  const listed = (descriptor: Descriptor, of: string) => {
    if (!blobs.has(descriptor.digest)) throw fail(what, `${of}'s blob ${descriptor.digest} is not in the artifact`);
    return descriptor;
  };
  const record: CacheRecord = { schemaVersion: 1, steps: [], images: {}, mounts: [] };
  const entries = Object.entries(images as Record<string, unknown>);
  if (entries.length > maxEntries) throw fail(what, 'too many images');
  for (const [id, value] of entries) {
    const image = value as { parent?: unknown; layer?: unknown } | null;
    if (!isDigest(id) || typeof image !== 'object' || image === null) throw fail(what, `invalid image entry ${JSON.stringify(id).slice(0, 80)}`);
    if (image.parent !== null && (typeof image.parent !== 'string' || !isDigest(image.parent))) throw fail(what, `image ${id}: invalid parent`);
    listed({ mediaType: MediaType.ociConfig, digest: id, size: 0 }, `image ${id}`);
    const layer = image.layer === undefined ? undefined : listed(parseDescriptor(image.layer, `${what} image ${id} layer`), `image ${id}`);
    if (layer && layer.mediaType !== MediaType.ociLayer) throw fail(what, `image ${id}: unsupported layer media type ${JSON.stringify(layer.mediaType).slice(0, 80)}`);
    record.images[id] = { parent: image.parent, ...(layer && { layer }) };
  }
  for (const value of steps) {
    const step = value as Partial<CacheStep> | null;
    if (!step || typeof step.key !== 'string' || typeof step.step !== 'string' || typeof step.image !== 'string' || !isDigest(step.image) || step.key.length > 200 || step.step.length > 200) {
      throw fail(what, `invalid step ${JSON.stringify(value)?.slice(0, 100)}`);
    }
    if (!record.images[step.image]) throw fail(what, `step ${step.key.slice(0, 16)} names image ${step.image}, which the record does not describe`);
    record.steps.push({ key: step.key, step: step.step, image: step.image });
  }
  for (const value of mounts ?? []) {
    const mount = value as { dir?: unknown; blob?: unknown } | null;
    if (!mount || typeof mount.dir !== 'string' || !/^[a-f0-9]{32}(-\d+)?$/.test(mount.dir)) throw fail(what, `invalid cache mount ${JSON.stringify(value)?.slice(0, 100)}`);
    record.mounts.push({ dir: mount.dir, blob: listed(parseDescriptor(mount.blob, `${what} mount ${mount.dir}`), `mount ${mount.dir}`) });
  }
  return record;
}

/** Where `--cache-from` reads: a travelling cache, or (a bare name) an image whose history the classic builder matches. */
export type CacheFromSpec = { type: 'registry'; ref: string } | { type: 'local'; dir: string; tag: string } | { type: 'image'; ref: string };
export type CacheToSpec = ({ type: 'registry'; ref: string } | { type: 'local'; dir: string; tag: string }) & { mode: 'min' | 'max'; ignoreError: boolean };

function specFields(text: string, allowed: readonly string[], flag: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalidArgument(`invalid ${flag} ${JSON.stringify(text)}: expected KEY=VALUE pairs, such as type=registry,ref=REF`);
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!allowed.includes(key)) throw invalidArgument(`invalid ${flag} ${JSON.stringify(text)}: unknown key '${key}'`);
    fields.set(key, part.slice(eq + 1).trim());
  }
  return fields;
}

/** `--cache-from`: `type=registry,ref=REF`, `type=local,src=DIR[,tag=T]`, or a bare image name (Docker's classic `--cache-from`). */
export function parseCacheFrom(text: string): CacheFromSpec {
  if (!text.includes('=')) return { type: 'image', ref: text };
  const fields = specFields(text, ['type', 'ref', 'src', 'tag'], '--cache-from');
  const type = fields.get('type') ?? 'registry';
  if (type === 'registry') {
    const ref = fields.get('ref');
    if (!ref) throw invalidArgument(`invalid --cache-from ${JSON.stringify(text)}: type=registry needs ref=`);
    return { type, ref };
  }
  if (type === 'local') {
    const dir = fields.get('src');
    if (!dir) throw invalidArgument(`invalid --cache-from ${JSON.stringify(text)}: type=local needs src=`);
    return { type, dir, tag: fields.get('tag') || 'latest' };
  }
  throw invalidArgument(`unsupported cache type "${type}" in --cache-from: use registry or local`);
}

/** `--cache-to`: `type=registry,ref=REF` or `type=local,dest=DIR[,tag=T]`, with `mode=min|max` and `ignore-error=true|false`; a bare name is a registry ref. */
export function parseCacheTo(text: string): CacheToSpec {
  const fields = text.includes('=') ? specFields(text, ['type', 'ref', 'dest', 'tag', 'mode', 'ignore-error'], '--cache-to') : new Map([['ref', text]]);
  const mode = fields.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw invalidArgument(`invalid --cache-to ${JSON.stringify(text)}: mode must be min or max`);
  const ignore = fields.get('ignore-error') ?? 'false';
  if (ignore !== 'true' && ignore !== 'false') throw invalidArgument(`invalid --cache-to ${JSON.stringify(text)}: ignore-error must be true or false`);
  const common = { mode, ignoreError: ignore === 'true' } as const;
  const type = fields.get('type') ?? 'registry';
  if (type === 'registry') {
    const ref = fields.get('ref');
    if (!ref) throw invalidArgument(`invalid --cache-to ${JSON.stringify(text)}: type=registry needs ref=`);
    return { type, ref, ...common };
  }
  if (type === 'local') {
    const dir = fields.get('dest');
    if (!dir) throw invalidArgument(`invalid --cache-to ${JSON.stringify(text)}: type=local needs dest=`);
    return { type, dir, tag: fields.get('tag') || 'latest', ...common };
  }
  throw invalidArgument(`unsupported cache type "${type}" in --cache-to: use registry or local`);
}
