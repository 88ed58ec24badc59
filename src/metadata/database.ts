import Database from 'better-sqlite3';

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
  `CREATE TABLE leases (
     id      TEXT PRIMARY KEY,
     pid     INTEGER NOT NULL,
     created INTEGER NOT NULL
   );
   CREATE TABLE lease_images (
     lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
     image_id TEXT NOT NULL,
     PRIMARY KEY (lease_id, image_id)
   );`,
  `CREATE TABLE events (
     id         INTEGER PRIMARY KEY AUTOINCREMENT,
     time       INTEGER NOT NULL,
     type       TEXT NOT NULL,
     action     TEXT NOT NULL,
     actor      TEXT NOT NULL,
     attributes TEXT NOT NULL
   );
   CREATE INDEX events_time ON events(time);`,
  `CREATE TABLE lease_layers (
     lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
     chain_id TEXT NOT NULL,
     PRIMARY KEY (lease_id, chain_id)
   );`,
  `CREATE TABLE build_steps (
     scope    TEXT NOT NULL,
     position TEXT NOT NULL,
     inputs   TEXT NOT NULL,
     PRIMARY KEY (scope, position)
   );`,
];

/** SQLite's "database or disk is full": no room for the journal or the pages a write needs. */
export const isDatabaseFull = (error: unknown): boolean => (error as { code?: string } | null)?.code === 'SQLITE_FULL';

/**
 * The SQLite database of one store: schema, migrations, transactions and the statement cache. Each domain owns
 * the SQL for its own tables (layers/records.ts, images/records.ts, containers/records.ts, builder/cache.ts), as
 * containerd splits core/metadata per domain; this module owns only what they share. WAL mode: readers never
 * block the one writer; writers wait on a busy timeout.
 */
export class MetadataDb {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

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

  /** Prepared statements are compiled once per process: listing 50 images runs hundreds of lookups. */
  sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Runs fn in one IMMEDIATE transaction (takes the write lock up front, so no upgrade deadlocks). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
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
}
