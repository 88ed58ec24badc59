import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Descriptor } from '../content/store.js';
import { invalidArgument } from '../errors.js';
import { decompress } from '../layers/compression.js';
import { canonicalJson, type Index, type Manifest, MediaType } from '../images/model.js';
import { familiarString, formatReference, parseReference, type Reference } from '../images/reference.js';
import type { ImageStore } from '../images/store.js';
import type { ImageRecord } from '../images/records.js';
import { type Digest, digestOf, hexOf } from '../util/digest.js';

export type SaveFormat = 'docker' | 'oci' | 'oci-dir';

export function parseSaveFormat(value: string): SaveFormat {
  const aliases: Record<string, SaveFormat> = { docker: 'docker', 'docker-archive': 'docker', oci: 'oci', 'oci-archive': 'oci', 'oci-dir': 'oci-dir' };
  const format = aliases[value];
  if (!format) throw invalidArgument(`unsupported save format "${value}": use docker, oci or oci-dir`);
  return format;
}

/** One file of the output: small bytes, or a blob streamed from the store (decompressed when `uncompress`). */
interface OutputFile {
  name: string;
  size: number;
  bytes?: Buffer;
  blob?: Digest;
  uncompress?: boolean;
}

interface SavedImage {
  record: ImageRecord;
  refs: Reference[];
}

function resolveImages(images: ImageStore, names: string[]): SavedImage[] {
  const byId = new Map<Digest, SavedImage>();
  for (const name of names) {
    const record = images.resolve(name);
    const saved = byId.get(record.id) ?? { record, refs: [] };
    // A name that is a reference keeps its tag in the archive; an ID saves the image unnamed, as Docker does.
    if (!/^(sha256:)?[a-f0-9]{1,64}$/.test(name) || images.records.byTag(formatReference(parseReference(name))) === record.id) {
      const ref = parseReference(name);
      if (ref.digest === undefined && !saved.refs.some((r) => formatReference(r) === formatReference(ref))) saved.refs.push(ref);
    }
    byId.set(record.id, saved);
  }
  return [...byId.values()];
}

const blobName = (digest: Digest) => `blobs/sha256/${hexOf(digest)}`;

/**
 * Lays out the files of an archive. `docker` writes what Docker 25+ `docker save` writes: an OCI layout with
 * uncompressed layers plus manifest.json, loadable by docker, podman and skopeo alike. `oci` keeps the stored
 * blobs and manifests byte for byte, so digests survive the round trip.
 */
function planFiles(images: ImageStore, saved: SavedImage[], format: SaveFormat): OutputFile[] {
  const files = new Map<string, OutputFile>();
  /** `source` is the stored blob to read, when it differs from the digest the file is named by (a compressed layer written out uncompressed). */
  const addBlob = (digest: Digest, size: number, source?: Digest) =>
    files.set(blobName(digest), { name: blobName(digest), size, blob: source ?? digest, uncompress: source !== undefined && source !== digest });
  const addBytes = (name: string, bytes: Buffer) => files.set(name, { name, size: bytes.length, bytes });
  const indexEntries: Descriptor[] = [];
  const dockerManifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];

  for (const { record, refs } of saved) {
    const manifest = images.manifest(record);
    const chain = images.layerChain(record);
    let manifestDescriptor: Descriptor = { mediaType: manifest.mediaType ?? MediaType.ociManifest, digest: record.manifest, size: images.content.size(record.manifest) };
    addBlob(manifest.config.digest, manifest.config.size);
    if (format === 'docker') {
      const layers = chain.map((layer) => ({ mediaType: MediaType.ociLayer, digest: layer.diffId, size: layer.tarSize }));
      manifest.layers.forEach((descriptor, i) => {
        addBlob(layers[i]!.digest, layers[i]!.size, descriptor.digest);
      });
      const rewritten: Manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { ...manifest.config, mediaType: MediaType.ociConfig }, layers };
      const bytes = canonicalJson(rewritten);
      const uncompressedSame = manifest.layers.every((l, i) => l.digest === chain[i]!.diffId && l.mediaType === MediaType.ociLayer);
      if (uncompressedSame) addBlob(record.manifest, manifestDescriptor.size);
      else {
        manifestDescriptor = { mediaType: MediaType.ociManifest, digest: digestOf(bytes), size: bytes.length };
        addBytes(blobName(manifestDescriptor.digest), bytes);
      }
      dockerManifest.push({ Config: blobName(manifest.config.digest), RepoTags: refs.map(familiarString), Layers: layers.map((l) => blobName(l.digest)) });
    } else {
      for (const layer of manifest.layers) addBlob(layer.digest, layer.size);
      addBlob(record.manifest, manifestDescriptor.size);
    }
    const named = refs.length > 0 ? refs : [undefined];
    for (const ref of named) {
      indexEntries.push({
        ...manifestDescriptor,
        ...(ref && { annotations: { 'io.containerd.image.name': formatReference(ref), 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' } }),
      });
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: indexEntries };
  addBytes('oci-layout', canonicalJson({ imageLayoutVersion: '1.0.0' }));
  addBytes('index.json', canonicalJson(index));
  if (format === 'docker') addBytes('manifest.json', canonicalJson(dockerManifest));
  return [...files.values()];
}

async function openFile(images: ImageStore, file: OutputFile): Promise<Readable> {
  const stream = images.content.openRead(file.blob!);
  return file.uncompress ? (await decompress(stream)).stream : stream;
}

// Fixed times and owners make the archive a function of the images alone.
const epoch = new Date(0);

async function writeTar(images: ImageStore, files: OutputFile[], out: Writable): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, out);
  const dirs = new Set<string>();
  for (const file of files) {
    for (let dir = path.posix.dirname(file.name); dir !== '.' && !dirs.has(dir); dir = path.posix.dirname(dir)) dirs.add(dir);
  }
  for (const dir of [...dirs].sort()) pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o755, mtime: epoch, uid: 0, gid: 0 });
  for (const file of files) {
    const header = { name: file.name, size: file.size, mode: 0o644, mtime: epoch, uid: 0, gid: 0 };
    if (file.bytes) {
      pack.entry(header, file.bytes);
      continue;
    }
    const entry = pack.entry(header);
    await pipeline(await openFile(images, file), entry);
  }
  pack.finalize();
  await done;
}

async function writeDirectory(images: ImageStore, files: OutputFile[], dir: string): Promise<void> {
  for (const file of files) {
    const target = path.join(dir, file.name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (file.bytes) fs.writeFileSync(target, file.bytes);
    else await pipeline(await openFile(images, file), fs.createWriteStream(target));
  }
}

/** `save`: writes the named images to `output`, a path (written to a temp name, then renamed) or a stream. */
export async function saveImages(images: ImageStore, names: string[], format: SaveFormat, output: string | Writable): Promise<void> {
  if (names.length === 0) throw invalidArgument('"save" requires at least 1 argument');
  const files = planFiles(images, resolveImages(images, names), format);
  if (format === 'oci-dir') {
    if (typeof output !== 'string') throw invalidArgument('oci-dir needs an output directory (-o DIR)');
    const temp = `${output}.tmp-${process.pid}`;
    try {
      await writeDirectory(images, files, temp);
      fs.rmSync(output, { recursive: true, force: true });
      fs.renameSync(temp, output);
    } finally {
      fs.rmSync(temp, { recursive: true, force: true });
    }
    return;
  }
  if (typeof output !== 'string') return writeTar(images, files, output);
  const temp = path.join(path.dirname(output), `.${path.basename(output)}.tmp-${process.pid}`);
  try {
    await writeTar(images, files, fs.createWriteStream(temp));
    fs.renameSync(temp, output);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
