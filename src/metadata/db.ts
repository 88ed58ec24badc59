import Database from 'better-sqlite3';
import type { Digest } from '../util/digest.js';

export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  parent: Digest | null;
  /** Sum of the file sizes in the layer, as Docker reports a layer's size. */
  size: number;
  /** Bytes of the uncompressed layer tar (its diffID's content), needed to write it into an archive. */
  tarSize: number;
  /** Directory name under layers/ holding the unpacked layer (overlay's future lower dir). */
  dir: string;
  created: number;
}

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

/** Schema migrations, applied in order; PRAGMA user_version records how many ran. */
const migrations: string[] = [
  `CREATE TABLE layers (
     chain_id TEXT PRIMARY KEY,
     diff_id  TEXT NOT NULL,
     parent   TEXT REFERENCES layers(chain_id),
     size     INTEGER NOT NULL,
     tar_size INTEGER NOT NULL,
     dir      TEXT NOT NULL UNIQUE,
     created  INTEGER NOT NULL
   );
   CREATE INDEX layers_parent ON layers(parent);
   CREATE TABLE images (
     id        TEXT PRIMARY KEY,
     manifest  TEXT NOT NULL,
     top_layer TEXT REFERENCES layers(chain_id),
     parent    TEXT,
     created   TEXT NOT NULL,
     size      INTEGER NOT NULL,
     added     INTEGER NOT NULL
   );
   CREATE INDEX images_parent ON images(parent);
   CREATE TABLE image_blobs (
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     digest   TEXT NOT NULL,
     PRIMARY KEY (image_id, digest)
   );
   CREATE INDEX image_blobs_digest ON image_blobs(digest);
   CREATE TABLE tags (
     name     TEXT PRIMARY KEY,
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     added    INTEGER NOT NULL
   );
   CREATE INDEX tags_image ON tags(image_id);`,
  `CREATE TABLE containers (
     id          TEXT PRIMARY KEY,
     name        TEXT NOT NULL UNIQUE,
     image_id    TEXT NOT NULL REFERENCES images(id),
     image_name  TEXT NOT NULL,
     created     INTEGER NOT NULL,
     settings    TEXT NOT NULL,
     state       TEXT NOT NULL,
     pid         INTEGER,
     monitor_pid INTEGER,
     exit_code   INTEGER,
     started_at  INTEGER,
     finished_at INTEGER,
     snapshotter TEXT NOT NULL,
     error       TEXT
   );
   CREATE INDEX containers_image ON containers(image_id);`,
  `CREATE TABLE repo_digests (
     repository TEXT NOT NULL,
     digest     TEXT NOT NULL,
     image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     PRIMARY KEY (repository, digest)
   );
   CREATE INDEX repo_digests_image ON repo_digests(image_id);`,
  `CREATE TABLE build_cache (
     key      TEXT PRIMARY KEY,
     step     TEXT NOT NULL,
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     created  INTEGER NOT NULL
   );
   CREATE INDEX build_cache_step ON build_cache(step);
   CREATE INDEX build_cache_image ON build_cache(image_id);
   CREATE TABLE file_hashes (
     path     TEXT PRIMARY KEY,
     stat_key TEXT NOT NULL,
     digest   TEXT NOT NULL
   );`,
];

export type ContainerState = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  imageId: Digest;
  /** The image as the user named it, shown by `ps`. */
  imageName: string;
  created: number;
  /** The container's settings (command, env, mounts, flags) as JSON, owned by the containers module. */
  settings: string;
  state: ContainerState;
  pid: number | null;
  monitorPid: number | null;
  exitCode: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  snapshotter: string;
  error: string | null;
}

interface ContainerRow {
  id: string;
  name: string;
  image_id: string;
  image_name: string;
  created: number;
  settings: string;
  state: string;
  pid: number | null;
  monitor_pid: number | null;
  exit_code: number | null;
  started_at: number | null;
  finished_at: number | null;
  snapshotter: string;
  error: string | null;
}

const toContainer = (row: ContainerRow): ContainerRecord => ({
  id: row.id,
  name: row.name,
  imageId: row.image_id as Digest,
  imageName: row.image_name,
  created: row.created,
  settings: row.settings,
  state: row.state as ContainerState,
  pid: row.pid,
  monitorPid: row.monitor_pid,
  exitCode: row.exit_code,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  snapshotter: row.snapshotter,
  error: row.error,
});

/** The container fields that change over its life; column names follow from them. */
export type ContainerUpdate = Partial<Pick<ContainerRecord, 'state' | 'pid' | 'monitorPid' | 'exitCode' | 'startedAt' | 'finishedAt' | 'error'>>;
const containerColumns: Record<keyof ContainerUpdate, string> = {
  state: 'state',
  pid: 'pid',
  monitorPid: 'monitor_pid',
  exitCode: 'exit_code',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  error: 'error',
};

interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  tar_size: number;
  dir: string;
  created: number;
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

const toLayer = (row: LayerRow): LayerRecord => ({
  chainId: row.chain_id as Digest,
  diffId: row.diff_id as Digest,
  parent: row.parent as Digest | null,
  size: row.size,
  tarSize: row.tar_size,
  dir: row.dir,
  created: row.created,
});
const toImage = (row: ImageRow): ImageRecord => ({
  id: row.id as Digest,
  manifest: row.manifest as Digest,
  topLayer: row.top_layer as Digest | null,
  parent: row.parent as Digest | null,
  created: row.created,
  size: row.size,
  added: row.added,
});

/** The only module that writes SQL. WAL mode: readers never block the one writer; writers wait on a busy timeout. */
export class MetadataStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  close(): void {
    this.db.close();
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared statements are compiled once per process: listing 50 images runs hundreds of lookups. */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version >= migrations.length) return;
    this.db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const current = this.db.pragma('user_version', { simple: true }) as number;
      for (const sql of migrations.slice(current)) this.db.exec(sql);
      this.db.pragma(`user_version = ${migrations.length}`);
    }).immediate();
  }

  /** Runs fn in one IMMEDIATE transaction (takes the write lock up front, so no upgrade deadlocks). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  layer(chainId: Digest): LayerRecord | undefined {
    const row = this.sql('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as LayerRow | undefined;
    return row && toLayer(row);
  }

  layers(): LayerRecord[] {
    return (this.sql('SELECT * FROM layers').all() as LayerRow[]).map(toLayer);
  }

  insertLayer(layer: LayerRecord): void {
    this
      .sql('INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, tar_size, dir, created) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(layer.chainId, layer.diffId, layer.parent, layer.size, layer.tarSize, layer.dir, layer.created);
  }

  deleteLayer(chainId: Digest): void {
    this.sql('DELETE FROM layers WHERE chain_id = ?').run(chainId);
  }

  image(id: Digest): ImageRecord | undefined {
    const row = this.sql('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
    return row && toImage(row);
  }

  imagesByIdPrefix(hexPrefix: string): ImageRecord[] {
    return (this.sql("SELECT * FROM images WHERE id >= ? AND id < ? || 'g' LIMIT 2").all(`sha256:${hexPrefix}`, `sha256:${hexPrefix}`) as ImageRow[]).map(toImage);
  }

  images(): ImageRecord[] {
    return (this.sql('SELECT * FROM images ORDER BY added DESC, id').all() as ImageRow[]).map(toImage);
  }

  insertImage(image: ImageRecord, blobs: readonly Digest[]): void {
    this
      .sql('INSERT OR IGNORE INTO images (id, manifest, top_layer, parent, created, size, added) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(image.id, image.manifest, image.topLayer, image.parent, image.created, image.size, image.added);
    const insertBlob = this.sql('INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)');
    for (const digest of blobs) insertBlob.run(image.id, digest);
  }

  deleteImage(id: Digest): void {
    this.sql('DELETE FROM images WHERE id = ?').run(id);
  }

  children(id: Digest): Digest[] {
    return (this.sql('SELECT id FROM images WHERE parent = ?').all(id) as { id: Digest }[]).map((row) => row.id);
  }

  imageBlobs(id: Digest): Digest[] {
    return (this.sql('SELECT digest FROM image_blobs WHERE image_id = ?').all(id) as { digest: Digest }[]).map((row) => row.digest);
  }

  isBlobReferenced(digest: Digest): boolean {
    return this.sql('SELECT 1 FROM image_blobs WHERE digest = ? LIMIT 1').get(digest) !== undefined;
  }

  insertContainer(container: ContainerRecord): void {
    this.sql(
      `INSERT INTO containers (id, name, image_id, image_name, created, settings, state, pid, monitor_pid, exit_code, started_at, finished_at, snapshotter, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(container.id, container.name, container.imageId, container.imageName, container.created, container.settings, container.state, container.pid, container.monitorPid, container.exitCode, container.startedAt, container.finishedAt, container.snapshotter, container.error);
  }

  container(id: string): ContainerRecord | undefined {
    const row = this.sql('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  containerByName(name: string): ContainerRecord | undefined {
    const row = this.sql('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  containersByIdPrefix(prefix: string): ContainerRecord[] {
    return (this.sql("SELECT * FROM containers WHERE id >= ? AND id < ? || 'g' LIMIT 2").all(prefix, prefix) as ContainerRow[]).map(toContainer);
  }

  containers(): ContainerRecord[] {
    return (this.sql('SELECT * FROM containers ORDER BY created DESC').all() as ContainerRow[]).map(toContainer);
  }

  updateContainer(id: string, update: ContainerUpdate): void {
    const keys = Object.keys(update) as (keyof ContainerUpdate)[];
    if (keys.length === 0) return;
    this.sql(`UPDATE containers SET ${keys.map((key) => `${containerColumns[key]} = ?`).join(', ')} WHERE id = ?`).run(...keys.map((key) => update[key] ?? null), id);
  }

  deleteContainer(id: string): void {
    this.sql('DELETE FROM containers WHERE id = ?').run(id);
  }

  containersOfImage(imageId: Digest): number {
    return (this.sql('SELECT COUNT(*) AS n FROM containers WHERE image_id = ?').get(imageId) as { n: number }).n;
  }

  /** Records that `repository@digest` (a manifest or index as a registry serves it) is this image. */
  addRepoDigest(repository: string, digest: Digest, imageId: Digest): void {
    this.sql('INSERT OR REPLACE INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?)').run(repository, digest, imageId);
  }

  imageByRepoDigest(repository: string, digest: Digest): Digest | undefined {
    return (this.sql('SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?').get(repository, digest) as { image_id: Digest } | undefined)?.image_id;
  }

  /** Repositories (`domain/path`) known to hold a blob: those an image using it was pulled from or pushed to. */
  repositoriesWithBlob(digest: Digest): string[] {
    const rows = this.sql('SELECT DISTINCT r.repository FROM repo_digests r JOIN image_blobs b ON b.image_id = r.image_id WHERE b.digest = ? ORDER BY r.repository').all(digest) as { repository: string }[];
    return rows.map((row) => row.repository);
  }

  repoDigestsOf(imageId: Digest): { repository: string; digest: Digest }[] {
    return this.sql('SELECT repository, digest FROM repo_digests WHERE image_id = ? ORDER BY repository').all(imageId) as { repository: string; digest: Digest }[];
  }

  tag(name: string, id: Digest): Digest | undefined {
    const previous = this.imageByTag(name);
    this.sql('INSERT INTO tags (name, image_id, added) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added').run(name, id, Date.now());
    return previous;
  }

  untag(name: string): void {
    this.sql('DELETE FROM tags WHERE name = ?').run(name);
  }

  imageByTag(name: string): Digest | undefined {
    return (this.sql('SELECT image_id FROM tags WHERE name = ?').get(name) as { image_id: Digest } | undefined)?.image_id;
  }

  tagsOf(id: Digest): string[] {
    return (this.sql('SELECT name FROM tags WHERE image_id = ? ORDER BY name').all(id) as { name: string }[]).map((row) => row.name);
  }

  allTags(): Map<Digest, string[]> {
    const byImage = new Map<Digest, string[]>();
    for (const row of this.sql('SELECT name, image_id FROM tags ORDER BY name').all() as { name: string; image_id: Digest }[]) {
      const list = byImage.get(row.image_id) ?? [];
      list.push(row.name);
      byImage.set(row.image_id, list);
    }
    return byImage;
  }

  /** The image a build step with this cache key made, if it is still there. */
  cachedStep(key: string): Digest | undefined {
    return (this.sql('SELECT image_id FROM build_cache WHERE key = ?').get(key) as { image_id: Digest } | undefined)?.image_id;
  }

  /**
   * `step` identifies the step without its sources' checksum (parent, instruction): when no row has it, a
   * COPY is a miss without reading its sources first.
   */
  recordStep(key: string, step: string, imageId: Digest): void {
    this.sql('INSERT OR REPLACE INTO build_cache (key, step, image_id, created) VALUES (?, ?, ?, ?)').run(key, step, imageId, Date.now());
  }

  hasStep(step: string): boolean {
    return this.sql('SELECT 1 FROM build_cache WHERE step = ? LIMIT 1').get(step) !== undefined;
  }

  /** Images the build cache holds (each step's result). */
  buildCacheImages(): Set<Digest> {
    return new Set((this.sql('SELECT DISTINCT image_id FROM build_cache').all() as { image_id: Digest }[]).map((row) => row.image_id));
  }

  clearBuildCache(): void {
    this.sql('DELETE FROM build_cache').run();
  }

  /** Content digests of files under the directory `dir`, with the stat key (dev, ino, size, mtime, ctime) each was hashed at. */
  fileHashes(dir: string): Map<string, { statKey: string; digest: Digest }> {
    // Every path below dir sorts between "dir/" and "dir0" ('0' follows '/').
    const rows = this.sql('SELECT path, stat_key, digest FROM file_hashes WHERE path > ? AND path < ?').all(`${dir}/`, `${dir}0`) as { path: string; stat_key: string; digest: Digest }[];
    return new Map(rows.map((row) => [row.path, { statKey: row.stat_key, digest: row.digest }]));
  }

  clearFileHashes(): void {
    this.sql('DELETE FROM file_hashes').run();
  }

  saveFileHashes(entries: Iterable<[string, string, Digest]>): void {
    const insert = this.sql('INSERT OR REPLACE INTO file_hashes (path, stat_key, digest) VALUES (?, ?, ?)');
    for (const [file, statKey, digest] of entries) insert.run(file, statKey, digest);
  }
}
