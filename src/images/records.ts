import type { MetadataDb } from '../metadata/database.js';
import type { Digest } from '../util/digest.js';

export interface ImageRecord {
  id: Digest;
  manifest: Digest;
  topLayer: Digest | null;
  /** The local image this one was built or committed from (Docker's parent chain), for `history`. */
  parent: Digest | null;
  created: string;
  /** Virtual size: all layers of the image. */
  size: number;
  /** When the image arrived in this store (ms since epoch). */
  added: number;
}

interface ImageRow {
  id: string;
  manifest: string;
  top_layer: string | null;
  parent: string | null;
  created: string;
  size: number;
  added: number;
}

const toImage = (row: ImageRow): ImageRecord => ({
  id: row.id as Digest,
  manifest: row.manifest as Digest,
  topLayer: row.top_layer as Digest | null,
  parent: row.parent as Digest | null,
  created: row.created,
  size: row.size,
  added: row.added,
});

/** The images, image_blobs, tags and repo_digests tables: what an image is, which blobs it holds, its names. */
export class ImageRecords {
  constructor(private readonly db: MetadataDb) {}

  /** One IMMEDIATE transaction over the whole store's database. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  get(id: Digest): ImageRecord | undefined {
    const row = this.db.sql('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && toImage(row);
  }

  byIdPrefix(hexPrefix: string): ImageRecord[] {
    return (this.db.sql("SELECT * FROM images WHERE id >= ? AND id < ? || 'g' LIMIT 2").all(`sha256:${hexPrefix}`, `sha256:${hexPrefix}`) as ImageRow[]).map(toImage);
  }

  /** Newest first. */
  all(): ImageRecord[] {
    return (this.db.sql('SELECT * FROM images ORDER BY added DESC, id').all() as ImageRow[]).map(toImage);
  }

  insert(image: ImageRecord, blobs: readonly Digest[]): void {
    this.db
      .sql('INSERT OR IGNORE INTO images (id, manifest, top_layer, parent, created, size, added) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(image.id, image.manifest, image.topLayer, image.parent, image.created, image.size, image.added);
    const insertBlob = this.db.sql('INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)');
    for (const digest of blobs) insertBlob.run(image.id, digest);
  }

  delete(id: Digest): void {
    this.db.sql('DELETE FROM images WHERE id = ?').run(id);
  }

  children(id: Digest): Digest[] {
    return (this.db.sql('SELECT id FROM images WHERE parent = ?').all(id) as { id: Digest }[]).map((row) => row.id);
  }

  blobs(id: Digest): Digest[] {
    return (this.db.sql('SELECT digest FROM image_blobs WHERE image_id = ?').all(id) as { digest: Digest }[]).map((row) => row.digest);
  }

  isBlobReferenced(digest: Digest): boolean {
    return this.db.sql('SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1').get(digest) !== undefined;
  }

  /** Records that `repository@digest` (a manifest or index as a registry serves it) is this image. */
  addRepoDigest(repository: string, digest: Digest, imageId: Digest): void {
    this.db.sql('INSERT OR REPLACE INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?)').run(repository, digest, imageId);
  }

  byRepoDigest(repository: string, digest: Digest): Digest | undefined {
    return (this.db.sql('SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?').get(repository, digest) as { image_id: Digest } | undefined)?.image_id;
  }

  /** Repositories (`domain/path`) known to hold a blob: those an image using it was pulled from or pushed to. */
  repositoriesWithBlob(digest: Digest): string[] {
    const rows = this.db.sql('SELECT DISTINCT r.repository FROM repo_digests r JOIN image_blobs b ON b.image_id = r.image_id WHERE b.digest = ? ORDER BY r.repository').all(digest) as { repository: string }[];
    return rows.map((row) => row.repository);
  }

  repoDigestsOf(imageId: Digest): { repository: string; digest: Digest }[] {
    return this.db.sql('SELECT repository, digest FROM repo_digests WHERE image_id = ? ORDER BY repository').all(imageId) as { repository: string; digest: Digest }[];
  }

  /** Points `name` at the image; returns the image it named before. */
  tag(name: string, id: Digest): Digest | undefined {
    const previous = this.byTag(name);
    this.db.sql('INSERT INTO tags (name, image_id, added) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added').run(name, id, Date.now());
    return previous;
  }

  untag(name: string): void {
    this.db.sql('DELETE FROM tags WHERE name = ?').run(name);
  }

  byTag(name: string): Digest | undefined {
    return (this.db.sql('SELECT image_id FROM tags WHERE name = ?').get(name) as { image_id: Digest } | undefined)?.image_id;
  }

  tagsOf(id: Digest): string[] {
    return (this.db.sql('SELECT name FROM tags WHERE image_id = ? ORDER BY name').all(id) as { name: string }[]).map((row) => row.name);
  }

  /** A lease for in-flight work of process `pid` (a build): the images it holds are not pruned from under it. */
  createLease(id: string, pid: number): void {
    this.db.sql('INSERT INTO leases (id, pid, created) VALUES (?, ?, ?)').run(id, pid, Date.now());
  }

  hold(leaseId: string, imageId: Digest): void {
    this.db.sql('INSERT OR IGNORE INTO lease_images (lease_id, image_id) VALUES (?, ?)').run(leaseId, imageId);
  }

  holdLayer(leaseId: string, chainId: Digest): void {
    this.db.sql('INSERT OR IGNORE INTO lease_layers (lease_id, chain_id) VALUES (?, ?)').run(leaseId, chainId);
  }

  /** The layers leases hold, with the pid of each lease (a pull reusing layers before its image exists). */
  heldLayers(): { chainId: Digest; pid: number }[] {
    return (this.db.sql('SELECT ll.chain_id, l.pid FROM lease_layers ll JOIN leases l ON l.id = ll.lease_id').all() as { chain_id: Digest; pid: number }[]).map((row) => ({ chainId: row.chain_id, pid: row.pid }));
  }

  /** The pids of the leases that hold an image. */
  holders(imageId: Digest): number[] {
    return (this.db.sql('SELECT l.pid FROM lease_images i JOIN leases l ON l.id = i.lease_id WHERE i.image_id = ?').all(imageId) as { pid: number }[]).map((row) => row.pid);
  }

  deleteLease(id: string): void {
    this.db.sql('DELETE FROM leases WHERE id = ?').run(id);
  }

  /** Every lease with the images it holds. */
  leases(): { id: string; pid: number; images: Digest[] }[] {
    const rows = this.db.sql('SELECT l.id, l.pid, i.image_id FROM leases l LEFT JOIN lease_images i ON i.lease_id = l.id').all() as { id: string; pid: number; image_id: Digest | null }[];
    const byId = new Map<string, { id: string; pid: number; images: Digest[] }>();
    for (const row of rows) {
      const lease = byId.get(row.id) ?? { id: row.id, pid: row.pid, images: [] };
      if (row.image_id) lease.images.push(row.image_id);
      byId.set(row.id, lease);
    }
    return [...byId.values()];
  }

  allTags(): Map<Digest, string[]> {
    const byImage = new Map<Digest, string[]>();
    for (const row of this.db.sql('SELECT name, image_id FROM tags ORDER BY name').all() as { name: string; image_id: Digest }[]) {
      const list = byImage.get(row.image_id) ?? [];
      list.push(row.name);
      byImage.set(row.image_id, list);
    }
    return byImage;
  }
}
