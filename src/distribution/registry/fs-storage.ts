import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { ContentStore } from '../../content/store.js';
import { isNodeError } from '../../errors.js';
import { type Digest, digestOf, hexOf, isDigest } from '../../util/digest.js';
import { registryError } from './errors.js';
import { type ManifestDescriptor, parseManifest } from './manifest.js';
import type { ManifestReference } from './names.js';
import type { RegistryStorage, StoredManifest, UploadStatus } from './storage.js';
import { UploadArea } from './uploads.js';

/**
 * The registry on a filesystem, laid out as the CNCF distribution registry does:
 *
 *   blobs/sha256/<hex>                                   every blob and manifest, once (the shared content store)
 *   ingest/                                              monolithic uploads being written
 *   uploads/<id>/                                        upload sessions
 *   repositories/<name>/_layers/sha256/<hex>             the blobs a repository may serve (empty link files)
 *   repositories/<name>/_manifests/revisions/sha256/<hex> its manifests; the file holds the media type
 *   repositories/<name>/_manifests/tags/<tag>            the digest a tag points at
 *   repositories/<name>/_referrers/sha256/<subject hex>/<hex>  manifests whose subject is <subject>
 *
 * Repository path components cannot start with "_", so the link directories never clash with a name.
 */
export class FsRegistryStorage implements RegistryStorage {
  readonly content: ContentStore;
  readonly uploads: UploadArea;
  readonly repositoriesDir: string;

  constructor(readonly root: string) {
    this.content = new ContentStore(root);
    this.uploads = new UploadArea(root);
    this.repositoriesDir = path.join(root, 'repositories');
    fs.mkdirSync(this.repositoriesDir, { recursive: true });
  }

  // --- blobs -------------------------------------------------------------------------------------------------

  statBlob(name: string, digest: Digest): { size: number } | undefined {
    if (!fs.existsSync(this.layerLink(name, digest))) return undefined;
    try {
      return { size: fs.statSync(this.content.path(digest)).size };
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  readBlob(name: string, digest: Digest, range?: { start: number; end: number }): Readable {
    if (!this.statBlob(name, digest)) throw blobUnknown(name, digest);
    return fs.createReadStream(this.content.path(digest), { highWaterMark: 1 << 20, ...range });
  }

  deleteBlob(name: string, digest: Digest): void {
    try {
      fs.unlinkSync(this.layerLink(name, digest));
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) throw blobUnknown(name, digest);
      throw error;
    }
  }

  mountBlob(name: string, from: string, digest: Digest): boolean {
    if (!this.statBlob(from, digest)) return false;
    this.linkBlob(name, digest);
    return true;
  }

  async putBlob(name: string, body: AsyncIterable<Buffer>, digest: Digest, length?: number): Promise<{ size: number }> {
    const writer = this.content.writer();
    try {
      for await (const chunk of body) writer.write(chunk);
      const staged = writer.stage();
      if (length !== undefined && staged.size !== length) {
        throw registryError('SIZE_INVALID', `blob has ${staged.size} bytes, but Content-Length says ${length}`);
      }
      if (staged.digest !== digest) {
        throw registryError('DIGEST_INVALID', `digest mismatch: the upload's content is ${staged.digest}, not ${digest}`, { digest });
      }
      writer.commit();
      this.linkBlob(name, digest);
      return { size: staged.size };
    } finally {
      writer.abort();
    }
  }

  // --- upload sessions ---------------------------------------------------------------------------------------

  startUpload(name: string): UploadStatus {
    return this.uploads.start(name);
  }

  uploadStatus(name: string, id: string): UploadStatus {
    return this.uploads.status(name, id);
  }

  appendUpload(name: string, id: string, body: AsyncIterable<Buffer>, chunk?: { start?: number; length?: number }): Promise<UploadStatus> {
    return this.uploads.append(name, id, body, chunk);
  }

  async finishUpload(name: string, id: string, digest: Digest): Promise<{ size: number }> {
    return this.uploads.finish(name, id, digest, (dataPath) => {
      // Identical content may already be stored (pushed to another repository): the rename just replaces it.
      fs.renameSync(dataPath, this.content.path(digest));
      this.linkBlob(name, digest);
    });
  }

  cancelUpload(name: string, id: string): void {
    this.uploads.cancel(name, id);
  }

  // --- manifests and tags ------------------------------------------------------------------------------------

  putManifest(name: string, reference: ManifestReference, bytes: Buffer, contentType: string | undefined, extraTags: string[] = []): { digest: Digest; subject?: Digest } {
    const digest = digestOf(bytes);
    if (reference.kind === 'digest' && reference.digest !== digest) {
      throw registryError('DIGEST_INVALID', `manifest digest is ${digest}, not ${reference.digest}`, { digest: reference.digest });
    }
    const manifest = parseManifest(bytes, contentType);
    const missing = [
      ...manifest.blobs.filter((blob) => !this.statBlob(name, blob)).map((blob) => ({ kind: 'blob', digest: blob })),
      ...manifest.manifests.filter((child) => !this.hasManifest(name, child)).map((child) => ({ kind: 'manifest', digest: child })),
    ];
    if (missing.length > 0) {
      const list = missing.map((m) => `${m.kind} ${m.digest}`).join(', ');
      throw registryError('MANIFEST_BLOB_UNKNOWN', `manifest references what repository ${name} does not have: ${list}`, { missing });
    }
    if (!this.content.has(digest)) this.content.putBytes(bytes, { digest });
    writeAtomic(this.revisionPath(name, digest), manifest.mediaType);
    if (manifest.subject) writeAtomic(path.join(this.referrersDir(name, manifest.subject), hexOf(digest)), '');
    const tags = reference.kind === 'tag' ? [reference.tag, ...extraTags] : extraTags;
    for (const tag of tags) writeAtomic(this.tagPath(name, tag), digest);
    return { digest, subject: manifest.subject };
  }

  getManifest(name: string, reference: ManifestReference): StoredManifest {
    const digest = this.resolve(name, reference);
    let mediaType: string;
    try {
      mediaType = fs.readFileSync(this.revisionPath(name, digest), 'utf8');
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) throw manifestUnknown(name, reference);
      throw error;
    }
    return { digest, mediaType, bytes: this.content.read(digest) };
  }

  deleteManifest(name: string, reference: ManifestReference): void {
    if (reference.kind === 'tag') {
      if (!removeFile(this.tagPath(name, reference.tag))) throw manifestUnknown(name, reference);
      return;
    }
    const { digest, bytes, mediaType } = this.getManifest(name, reference);
    for (const tag of this.listTags(name) ?? []) {
      if (readText(this.tagPath(name, tag)) === digest) removeFile(this.tagPath(name, tag));
    }
    const { subject } = safeParse(bytes, mediaType);
    if (subject) removeFile(path.join(this.referrersDir(name, subject), hexOf(digest)));
    removeFile(this.revisionPath(name, digest));
  }

  listTags(name: string): string[] | undefined {
    if (!fs.existsSync(this.repositoryDir(name))) return undefined;
    return listDir(path.join(this.repositoryDir(name), '_manifests', 'tags')).sort();
  }

  referrers(name: string, subject: Digest): ManifestDescriptor[] {
    const descriptors: ManifestDescriptor[] = [];
    for (const hex of listDir(this.referrersDir(name, subject)).sort()) {
      const digest = `sha256:${hex}`;
      if (!isDigest(digest)) continue;
      let stored: StoredManifest;
      try {
        stored = this.getManifest(name, { kind: 'digest', digest });
      } catch {
        continue;
      }
      const parsed = safeParse(stored.bytes, stored.mediaType);
      descriptors.push({
        mediaType: stored.mediaType,
        digest,
        size: stored.bytes.length,
        ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      });
    }
    return descriptors;
  }

  listRepositories(): string[] {
    const names: string[] = [];
    // Bounded by the tree's depth: the name grammar keeps each component non-empty, and "_" dirs are links.
    const walk = (dir: string, prefix: string, depth: number) => {
      if (depth > 64) return;
      for (const entry of listDir(dir)) {
        if (entry.startsWith('_')) continue;
        const full = path.join(dir, entry);
        const name = prefix === '' ? entry : `${prefix}/${entry}`;
        if (fs.existsSync(path.join(full, '_layers')) || fs.existsSync(path.join(full, '_manifests'))) names.push(name);
        walk(full, name, depth + 1);
      }
    };
    walk(this.repositoriesDir, '', 0);
    return names.sort();
  }

  // --- paths and links ---------------------------------------------------------------------------------------

  hasManifest(name: string, digest: Digest): boolean {
    return fs.existsSync(this.revisionPath(name, digest));
  }

  linkBlob(name: string, digest: Digest): void {
    const link = this.layerLink(name, digest);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.closeSync(fs.openSync(link, 'a'));
  }

  repositoryDir(name: string): string {
    return path.join(this.repositoriesDir, ...name.split('/'));
  }

  layerLink(name: string, digest: Digest): string {
    return path.join(this.repositoryDir(name), '_layers', 'sha256', hexOf(digest));
  }

  revisionPath(name: string, digest: Digest): string {
    return path.join(this.repositoryDir(name), '_manifests', 'revisions', 'sha256', hexOf(digest));
  }

  tagPath(name: string, tag: string): string {
    return path.join(this.repositoryDir(name), '_manifests', 'tags', tag);
  }

  referrersDir(name: string, subject: Digest): string {
    return path.join(this.repositoryDir(name), '_referrers', 'sha256', hexOf(subject));
  }

  private resolve(name: string, reference: ManifestReference): Digest {
    if (reference.kind === 'digest') return reference.digest;
    const digest = readText(this.tagPath(name, reference.tag));
    if (digest === undefined || !isDigest(digest)) throw manifestUnknown(name, reference);
    return digest;
  }
}

const blobUnknown = (name: string, digest: Digest) => registryError('BLOB_UNKNOWN', `blob ${digest} is unknown to repository ${name}`, { digest });
const manifestUnknown = (name: string, reference: ManifestReference) => {
  const ref = reference.kind === 'tag' ? reference.tag : reference.digest;
  return registryError('MANIFEST_UNKNOWN', `manifest ${name}:${ref} is unknown`, { name, reference: ref });
};

/** A stored manifest was valid when pushed; parsing it again only fails if the store was damaged. */
function safeParse(bytes: Buffer, mediaType: string): { subject?: Digest; artifactType?: string; annotations?: Record<string, string> } {
  try {
    return parseManifest(bytes, mediaType);
  } catch {
    return {};
  }
}

/** Small metadata files: temp name, then rename, so a reader never sees half a digest. */
export function writeAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  fs.writeFileSync(temp, data);
  fs.renameSync(temp, file);
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function removeFile(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return false;
    throw error;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((entry) => !entry.includes('.tmp-'));
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) return [];
    throw error;
  }
}
