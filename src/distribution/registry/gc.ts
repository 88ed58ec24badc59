import fs from 'node:fs';
import path from 'node:path';
import { type Digest, isDigest } from '../../util/digest.js';
import { FsRegistryStorage, listDir } from './fs-storage.js';
import { parseManifest } from './manifest.js';

export interface GcOptions {
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
  /**
   * Keep blobs younger than this. A push uploads its blobs before its manifest, so a collection running beside
   * pushes should be given a grace period longer than a push takes; 0 (the default) suits a quiet registry.
   */
  minAgeMs?: number;
  /** Upload sessions untouched for this long are abandoned and removed (a week by default). */
  uploadMaxAgeMs?: number;
}

export interface GcReport {
  /** Blobs no manifest references (deleted unless dryRun). */
  deleted: Digest[];
  bytesFreed: number;
  /** Blobs kept: manifests and what they reference. */
  kept: number;
  uploadsRemoved: number;
}

/**
 * Mark and sweep over the filesystem storage: every manifest of every repository (tagged or not: a manifest
 * stays pullable by digest until it is deleted) marks itself, its config and its layers; every other blob is
 * deleted, with the repository links that pointed at it.
 */
export function collectGarbage(root: string, options: GcOptions = {}): GcReport {
  const storage = new FsRegistryStorage(root);
  const marked = new Set<Digest>();
  const repositories = storage.listRepositories();
  for (const name of repositories) {
    for (const hex of listDir(path.join(storage.repositoryDir(name), '_manifests', 'revisions', 'sha256'))) {
      const digest = `sha256:${hex}`;
      if (!isDigest(digest) || !storage.content.has(digest)) continue;
      marked.add(digest);
      const mediaType = fs.readFileSync(storage.revisionPath(name, digest), 'utf8');
      try {
        for (const blob of parseManifest(storage.content.read(digest), mediaType).blobs) marked.add(blob);
      } catch {
        // A manifest that no longer parses references nothing we can know of; it is kept itself.
      }
    }
  }
  const now = Date.now();
  const minAge = options.minAgeMs ?? 0;
  const report: GcReport = { deleted: [], bytesFreed: 0, kept: 0, uploadsRemoved: 0 };
  for (const digest of storage.content.list()) {
    if (marked.has(digest)) {
      report.kept++;
      continue;
    }
    const stat = fs.statSync(storage.content.path(digest));
    if (now - stat.mtimeMs < minAge) {
      report.kept++;
      continue;
    }
    report.deleted.push(digest);
    report.bytesFreed += stat.size;
  }
  if (options.dryRun) return report;
  const deleted = new Set(report.deleted);
  for (const digest of deleted) storage.content.delete(digest);
  for (const name of repositories) {
    const linkDir = path.join(storage.repositoryDir(name), '_layers', 'sha256');
    for (const hex of listDir(linkDir)) {
      const digest = `sha256:${hex}`;
      if (isDigest(digest) && deleted.has(digest)) fs.rmSync(path.join(linkDir, hex), { force: true });
    }
  }
  const uploadMaxAge = options.uploadMaxAgeMs ?? 7 * 24 * 3600 * 1000;
  for (const id of storage.uploads.stale(uploadMaxAge, now)) {
    storage.uploads.remove(id);
    report.uploadsRemoved++;
  }
  // Monolithic uploads write through the content store's ingest area; a crash mid-request leaves a temp file.
  for (const file of storage.content.leftoverIngests()) {
    if (now - fs.statSync(file).mtimeMs > uploadMaxAge) fs.rmSync(file, { force: true });
  }
  return report;
}
