import type { MetadataDb } from '../metadata/database.js';
import type { Digest } from '../util/digest.js';

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
export type ContainerUpdate = Partial<Pick<ContainerRecord, 'name' | 'state' | 'pid' | 'monitorPid' | 'exitCode' | 'startedAt' | 'finishedAt' | 'error'>>;
const containerColumns: Record<keyof ContainerUpdate, string> = {
  name: 'name',
  state: 'state',
  pid: 'pid',
  monitorPid: 'monitor_pid',
  exitCode: 'exit_code',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  error: 'error',
};

/** The label a build's RUN containers carry, with the building process's pid: those a killed build left can be found. */
export const buildStepLabel = 'strata.build.step';

/** The containers table: one row per container, its settings as JSON, its state as the monitor records it. */
export class ContainerRecords {
  constructor(private readonly db: MetadataDb) {}

  /** One IMMEDIATE transaction over the whole store's database. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  insert(container: ContainerRecord): void {
    this.db.sql(
      `INSERT INTO containers (id, name, image_id, image_name, created, settings, state, pid, monitor_pid, exit_code, started_at, finished_at, snapshotter, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(container.id, container.name, container.imageId, container.imageName, container.created, container.settings, container.state, container.pid, container.monitorPid, container.exitCode, container.startedAt, container.finishedAt, container.snapshotter, container.error);
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.db.sql('SELECT * FROM containers WHERE id = ?').get(id) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  byName(name: string): ContainerRecord | undefined {
    const row = this.db.sql('SELECT * FROM containers WHERE name = ?').get(name) as ContainerRow | undefined;
    return row && toContainer(row);
  }

  byIdPrefix(prefix: string): ContainerRecord[] {
    return (this.db.sql("SELECT * FROM containers WHERE id >= ? AND id < ? || 'g' LIMIT 2").all(prefix, prefix) as ContainerRow[]).map(toContainer);
  }

  /** Newest first. */
  all(): ContainerRecord[] {
    return (this.db.sql('SELECT * FROM containers ORDER BY created DESC').all() as ContainerRow[]).map(toContainer);
  }

  update(id: string, update: ContainerUpdate): void {
    const keys = Object.keys(update) as (keyof ContainerUpdate)[];
    if (keys.length === 0) return;
    this.db.sql(`UPDATE containers SET ${keys.map((key) => `${containerColumns[key]} = ?`).join(', ')} WHERE id = ?`).run(...keys.map((key) => update[key] ?? null), id);
  }

  delete(id: string): void {
    this.db.sql('DELETE FROM containers WHERE id = ?').run(id);
  }

  /** Containers whose settings carry the label `key` (any value). */
  withLabel(key: string): ContainerRecord[] {
    return (this.db.sql('SELECT * FROM containers WHERE json_extract(settings, ?) IS NOT NULL ORDER BY created DESC').all(`$.labels."${key}"`) as ContainerRow[]).map(toContainer);
  }

  /** Whether any container (running or not) is made from the image: Docker keeps such an image. */
  usesImage(imageId: string): boolean {
    return this.db.sql('SELECT 1 FROM containers WHERE image_id = ? LIMIT 1').get(imageId) !== undefined;
  }
}
