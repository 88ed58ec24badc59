import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { dataCorrupt, StrataError, unsupported } from '../errors.js';
import { isIndexMediaType, isLayerMediaType, isManifestMediaType, MediaType, type Manifest } from '../images/model.js';
import { formatPlatform, hostPlatform, platformMatches } from '../images/platform.js';
import { parseReference, type Reference } from '../images/reference.js';
import type { ImageStore, NewImage, NewLayer } from '../images/store.js';
import { parseConfig, parseIndex, parseManifest } from '../images/validate.js';
import { chainIds, type Digest } from '../util/digest.js';
import { type ArchiveSource, openArchive, type StagedFile } from './source.js';

export interface LoadedImage {
  id: Digest;
  tags: string[];
}

interface PlannedImage {
  config: StagedFile;
  layers: { file: StagedFile; mediaType?: string }[];
  manifest?: StagedFile;
  tags: Reference[];
  what: string;
}

const compressionMediaType = { none: MediaType.ociLayer, gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd } as const;

function tagsOf(names: unknown, what: string): Reference[] {
  if (names === undefined || names === null) return [];
  if (!Array.isArray(names)) throw dataCorrupt(`${what}: RepoTags must be a list`);
  return names.map((name) => parseReference(String(name)));
}

/** `docker save` format: manifest.json lists config and layer paths with the image's tags. */
async function planDockerArchive(source: ArchiveSource): Promise<PlannedImage[]> {
  let entries: unknown;
  try {
    entries = JSON.parse(source.json('manifest.json').toString('utf8'));
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw dataCorrupt('invalid archive: manifest.json is not valid JSON', { cause: error });
  }
  if (!Array.isArray(entries)) throw dataCorrupt('invalid archive: manifest.json must be a list');
  const plans: PlannedImage[] = [];
  for (const [i, entry] of entries.entries()) {
    const what = `image ${i + 1} of the archive`;
    const { Config, Layers, RepoTags } = (entry ?? {}) as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
    if (typeof Config !== 'string' || !Array.isArray(Layers) || !Layers.every((l) => typeof l === 'string')) {
      throw dataCorrupt(`invalid archive: ${what} needs Config and Layers paths`);
    }
    plans.push({
      config: await source.blob(Config),
      layers: await Promise.all((Layers as string[]).map(async (layer) => ({ file: await source.blob(layer) }))),
      tags: tagsOf(RepoTags, what),
      what,
    });
  }
  return plans;
}

/** Follows an index to the manifests for this platform (a multi-platform index yields the matching one). */
async function manifestsOf(source: ArchiveSource, indexFile: StagedFile | Buffer, depth = 0): Promise<{ file: StagedFile; annotations: Record<string, string> }[]> {
  if (depth > 4) throw dataCorrupt('invalid image layout: indexes nest too deeply');
  const bytes = Buffer.isBuffer(indexFile) ? indexFile : fs.readFileSync(indexFile.writer.currentPath);
  const index = parseIndex(bytes, depth === 0 ? 'index.json' : 'image index');
  const platform = hostPlatform();
  const found: { file: StagedFile; annotations: Record<string, string> }[] = [];
  const manifests = index.manifests.filter((m) => !m.platform || platformMatches(m.platform, platform));
  const candidates = depth > 0 ? manifests.slice(0, 1) : manifests;
  for (const descriptor of candidates) {
    const file = await source.blob(`blobs/sha256/${descriptor.digest.slice(7)}`);
    if (file.size !== descriptor.size) throw dataCorrupt(`size mismatch for ${descriptor.digest}: expected ${descriptor.size} bytes, got ${file.size}`);
    if (isManifestMediaType(descriptor.mediaType)) found.push({ file, annotations: descriptor.annotations ?? {} });
    else if (isIndexMediaType(descriptor.mediaType)) found.push(...(await manifestsOf(source, file, depth + 1)).map((m) => ({ ...m, annotations: { ...descriptor.annotations, ...m.annotations } })));
    else throw unsupported(`unsupported manifest media type "${descriptor.mediaType}"`);
  }
  if (depth > 0 && found.length === 0) throw unsupported(`no image for ${formatPlatform(platform)} in the index`);
  return found;
}

/** The name an OCI layout gives an image: containerd's full name, else a ref.name that is a whole reference. */
function layoutTags(annotations: Record<string, string>): Reference[] {
  const full = annotations['io.containerd.image.name'];
  if (full) return [parseReference(full)];
  const name = annotations['org.opencontainers.image.ref.name'];
  if (name && /[:/]/.test(name)) {
    try {
      return [parseReference(name)];
    } catch {
      return [];
    }
  }
  return [];
}

async function planOciLayout(source: ArchiveSource): Promise<PlannedImage[]> {
  const layout = (() => {
    try {
      return JSON.parse(source.json('oci-layout').toString('utf8')) as { imageLayoutVersion?: string };
    } catch (error) {
      throw dataCorrupt('invalid image layout: oci-layout is not valid JSON', { cause: error });
    }
  })();
  if (layout.imageLayoutVersion !== '1.0.0') throw unsupported(`unsupported image layout version "${layout.imageLayoutVersion}"`);
  const plans: PlannedImage[] = [];
  for (const { file, annotations } of await manifestsOf(source, source.json('index.json'))) {
    const what = `manifest ${file.digest}`;
    const manifest: Manifest = parseManifest(fs.readFileSync(file.writer.currentPath), what);
    const blobOf = async (descriptor: Manifest['config']) => {
      const blob = await source.blob(`blobs/sha256/${descriptor.digest.slice(7)}`);
      if (blob.size !== descriptor.size) throw dataCorrupt(`size mismatch for ${descriptor.digest}: expected ${descriptor.size} bytes, got ${blob.size}`);
      return blob;
    };
    const layers = [];
    for (const layer of manifest.layers) {
      if (!isLayerMediaType(layer.mediaType)) throw unsupported(`unsupported layer media type "${layer.mediaType}" in ${what}`);
      layers.push({ file: await blobOf(layer), mediaType: layer.mediaType });
    }
    plans.push({ config: await blobOf(manifest.config), layers, manifest: file, tags: layoutTags(annotations), what });
  }
  return plans;
}

/**
 * `load`: docker-archive (docker save) or OCI layout, as a tar, a directory or a stream. Every blob is staged
 * and verified and every new layer unpacked before anything is published; any error leaves the store as it was.
 */
export async function loadImages(images: ImageStore, input: string | Readable): Promise<LoadedImage[]> {
  const source = await openArchive(images.content, input);
  const unpackedDirs: string[] = [];
  try {
    const plans = source.has('manifest.json') ? await planDockerArchive(source) : source.has('index.json') ? await planOciLayout(source) : undefined;
    if (!plans) throw dataCorrupt('invalid archive: neither manifest.json (docker-archive) nor index.json (OCI layout) found');
    const prepared: NewImage[] = [];
    const unpackedByChain = new Map<Digest, NewLayer>();
    for (const plan of plans) {
      const configBytes = fs.readFileSync(plan.config.writer.currentPath);
      const config = parseConfig(configBytes, `config of ${plan.what}`);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== plan.layers.length) {
        throw dataCorrupt(`${plan.what}: config lists ${diffIds.length} layers but the archive has ${plan.layers.length}`);
      }
      const chain = chainIds(diffIds);
      const layers: NewLayer[] = [];
      for (const [i, { file, mediaType }] of plan.layers.entries()) {
        const blob = { mediaType: mediaType ?? compressionMediaType.none, digest: file.digest, size: file.size };
        const existing = images.existingLayer(chain[i]!) ?? unpackedByChain.get(chain[i]!);
        if (existing) {
          // Not unpacked again, but the blob is still stored and named in the manifest: it must be the layer the
          // config says, or an archive could pass off any bytes as a layer the store already has.
          if (file.digest !== diffIds[i]) {
            const what = `layer ${i + 1} of ${plan.what}`;
            const diffId = await images.layers.diffIdOf(fs.createReadStream(file.writer.currentPath, { highWaterMark: 1 << 20 }), what);
            if (diffId !== diffIds[i]) throw dataCorrupt(`${what}: content digest ${diffId} does not match diff_id ${diffIds[i]} in the config`);
          }
          layers.push({ blob, diffId: diffIds[i]!, size: existing.size, tarSize: existing.tarSize, stagedBlob: file.writer });
          continue;
        }
        const unpacked = await images.layers.unpack(fs.createReadStream(file.writer.currentPath, { highWaterMark: 1 << 20 }), `layer ${i + 1} of ${plan.what}`);
        unpackedDirs.push(unpacked.tempDir);
        if (unpacked.diffId !== diffIds[i]) {
          throw dataCorrupt(`layer ${i + 1} of ${plan.what}: content digest ${unpacked.diffId} does not match diff_id ${diffIds[i]} in the config`);
        }
        if (!mediaType) {
          if (unpacked.compression === 'xz' || unpacked.compression === 'bzip2') throw unsupported(`layer ${i + 1} of ${plan.what}: ${unpacked.compression} layers cannot be described in an OCI manifest`);
          blob.mediaType = compressionMediaType[unpacked.compression];
        }
        const layer: NewLayer = { blob, diffId: unpacked.diffId, size: unpacked.size, tarSize: unpacked.tarSize, tempDir: unpacked.tempDir, stagedBlob: file.writer };
        unpackedByChain.set(chain[i]!, layer);
        layers.push(layer);
      }
      prepared.push({
        config: configBytes,
        layers,
        ...(plan.manifest && { manifest: fs.readFileSync(plan.manifest.writer.currentPath) }),
        tags: plan.tags,
      });
    }
    const loaded: LoadedImage[] = [];
    for (const image of prepared) {
      // A layer shared by two images of the archive is published by the first; the second finds it in place.
      const layers = image.layers.map((layer) => (layer.tempDir && !fs.existsSync(layer.tempDir) ? { ...layer, tempDir: undefined } : layer));
      loaded.push(images.add({ ...image, layers }));
    }
    return loaded;
  } finally {
    source.discard();
    for (const dir of unpackedDirs) if (fs.existsSync(dir)) images.layers.discard(dir);
  }
}
