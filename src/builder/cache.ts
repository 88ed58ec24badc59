import type { ImageStore } from '../images/store.js';
import type { MetadataDb } from '../metadata/database.js';
import type { Digest } from '../util/digest.js';
import type { StepInputs } from './explain.js';

/** One thing the build cache holds, for `system df` and `builder prune`: a cached step's image or a cache mount. */
export interface BuildCacheEntry {
  kind: 'step' | 'mount';
  /** The step's image ID, or the mount's directory name. */
  id: string;
  /** Bytes it alone holds: the layer the step added, the mount's files. */
  size: number;
  /** When a build last used it (ms since the epoch). */
  lastUsed: number;
  /** A tagged image or a container stands on it: pruning would not free it. */
  inUse: boolean;
}

/**
 * What `builder prune` removes (Docker's filters): entries last used before `olderThan` (`--filter until=`),
 * then, with `keepStorage`, the least recently used of the rest until the cache holds at most that many bytes.
 */
export function selectPrunable(entries: readonly BuildCacheEntry[], options: { olderThan?: number; keepStorage?: number }): BuildCacheEntry[] {
  const removable = entries.filter((entry) => !entry.inUse);
  const old = removable.filter((entry) => options.olderThan === undefined || entry.lastUsed < options.olderThan);
  if (options.keepStorage === undefined) return old;
  let total = entries.reduce((sum, entry) => sum + entry.size, 0);
  const chosen: BuildCacheEntry[] = [];
  for (const entry of [...old].sort((a, b) => a.lastUsed - b.lastUsed)) {
    if (total <= options.keepStorage) break;
    chosen.push(entry);
    total -= entry.size;
  }
  return chosen;
}

export interface BuildCachePruneResult {
  deleted: Digest[];
  /** Bytes of layers no image uses any more. */
  reclaimed: number;
}

/**
 * The build cache: which image each build step made (the build_cache table, by cache key), and the content
 * digests of context files by stat key (file_hashes), so a fully cached rebuild reads no file.
 */
export class BuildCache {
  constructor(private readonly db: MetadataDb) {}

  /** The image a build step with this cache key made, if it is still there. */
  cachedStep(key: string): Digest | undefined {
    return (this.db.sql('SELECT image_id FROM build_cache WHERE key = ?').get(key) as { image_id: Digest } | undefined)?.image_id;
  }

  /**
   * `step` identifies the step without its sources' checksum (parent, instruction): when no row has it, a
   * COPY is a miss without reading its sources first.
   */
  recordStep(key: string, step: string, imageId: Digest): void {
    this.db.transaction(() => this.db.sql('INSERT OR REPLACE INTO build_cache (key, step, image_id, created) VALUES (?, ?, ?, ?)').run(key, step, imageId, Date.now()));
  }

  hasStep(step: string): boolean {
    return this.db.sql('SELECT 1 FROM build_cache WHERE step = ? LIMIT 1').get(step) !== undefined;
  }

  /** Each cached step's image, with when a build last used it. */
  steps(): { image: Digest; lastUsed: number }[] {
    return (this.db.sql('SELECT image_id, MAX(created) AS last FROM build_cache GROUP BY image_id').all() as { image_id: Digest; last: number }[]).map((row) => ({ image: row.image_id, lastUsed: row.last }));
  }

  /** Images the build cache holds (each step's result). */
  images(): Set<Digest> {
    return new Set((this.db.sql('SELECT DISTINCT image_id FROM build_cache').all() as { image_id: Digest }[]).map((row) => row.image_id));
  }

  /** What each step of the last build of `scope` (a context, Dockerfile and target) saw, by step number: `--explain`'s baseline. */
  lastSteps(scope: string): Map<string, StepInputs> {
    const rows = this.db.sql('SELECT position, inputs FROM build_steps WHERE scope = ?').all(scope) as { position: string; inputs: string }[];
    return new Map(rows.map((row) => [row.position, JSON.parse(row.inputs) as StepInputs]));
  }

  /** Replaces the record of `scope`'s steps with this build's. */
  saveSteps(scope: string, steps: ReadonlyMap<string, StepInputs>): void {
    this.db.transaction(() => {
      this.db.sql('DELETE FROM build_steps WHERE scope = ?').run(scope);
      const insert = this.db.sql('INSERT INTO build_steps (scope, position, inputs) VALUES (?, ?, ?)');
      for (const [position, inputs] of steps) insert.run(scope, position, JSON.stringify(inputs));
    });
  }

  /** Content digests of files under the directory `dir`, with the stat key (dev, ino, size, mtime, ctime) each was hashed at. */
  fileDigests(dir: string): Map<string, { statKey: string; digest: Digest }> {
    // Every path below dir sorts between "dir/" and "dir0" ('0' follows '/').
    const rows = this.db.sql('SELECT path, stat_key, digest FROM file_hashes WHERE path > ? AND path < ?').all(`${dir}/`, `${dir}0`) as { path: string; stat_key: string; digest: Digest }[];
    return new Map(rows.map((row) => [row.path, { statKey: row.stat_key, digest: row.digest }]));
  }

  /** Remembers `[path, statKey, digest]` entries. */
  saveFileDigests(entries: Iterable<[string, string, Digest]>): void {
    this.db.transaction(() => {
      const insert = this.db.sql('INSERT OR REPLACE INTO file_hashes (path, stat_key, digest) VALUES (?, ?, ?)');
      for (const [file, statKey, digest] of entries) insert.run(file, statKey, digest);
    });
  }

  /**
   * `builder prune`: forgets every cached step and remembered digest, then removes the step images only the
   * cache kept (untagged, childless, no container made from them: `inUse`, none a running build holds: `keep`),
   * through the image store's removal.
   */
  prune(images: ImageStore, inUse: (id: Digest) => boolean, keep: (id: Digest) => boolean = () => false, only?: ReadonlySet<Digest>): BuildCachePruneResult {
    const cached = only ? new Set(only) : this.images();
    this.db.transaction(() => {
      if (only) {
        const forget = this.db.sql('DELETE FROM build_cache WHERE image_id = ?');
        for (const id of only) forget.run(id);
        return;
      }
      this.db.sql('DELETE FROM build_cache').run();
      this.db.sql('DELETE FROM file_hashes').run();
    });
    const deleted: Digest[] = [];
    let reclaimed = 0;
    // Removing a step's image can leave its parent step childless: repeat until nothing more goes.
    for (;;) {
      const victims = [...cached].filter((id) => {
        const record = images.records.get(id);
        return record && !inUse(id) && !keep(id) && images.records.tagsOf(id).length === 0 && images.records.children(id).length === 0;
      });
      if (victims.length === 0) break;
      for (const id of victims) cached.delete(id);
      const { results, reclaimed: freed } = images.removeMany(victims, { prune: false, keep });
      for (const result of results) {
        if ('error' in result) throw result.error;
        deleted.push(...result.deleted);
      }
      reclaimed += freed;
    }
    return { deleted, reclaimed };
  }
}
