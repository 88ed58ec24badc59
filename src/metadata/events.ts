import { isDatabaseFull, type MetadataDb } from './database.js';

export type EventType = 'container' | 'image' | 'network' | 'volume' | 'builder';

/** One thing that happened to an object, as Docker's events report it. */
export interface EngineEvent {
  /** Increasing: a reader resumes after the last one it saw. */
  id: number;
  /** Milliseconds since the epoch. */
  time: number;
  type: EventType;
  action: string;
  /** The object's ID (a container ID, an image ID or reference, a volume name). */
  actor: string;
  attributes: Record<string, string>;
}

interface EventRow {
  id: number;
  time: number;
  type: string;
  action: string;
  actor: string;
  attributes: string;
}

const toEvent = (row: EventRow): EngineEvent => ({ ...row, type: row.type as EventType, attributes: JSON.parse(row.attributes) as Record<string, string> });

/** How many events the log keeps: Docker's daemon keeps the last 1,000 in memory; a store keeps more, on disk. */
const kept = 10_000;

/**
 * The append-only event log every writer shares (the CLI, the API service, conmon's exit command), so a
 * reader in any process sees what all of them did: `docker events` through the service sees `strata run`.
 */
export class EventLog {
  constructor(private readonly db: MetadataDb) {}

  /** Records an event; a full disk loses the event, never the operation it reports. */
  record(type: EventType, action: string, actor: string, attributes: Record<string, string> = {}): void {
    try {
      const { lastInsertRowid } = this.db.sql('INSERT INTO events (time, type, action, actor, attributes) VALUES (?, ?, ?, ?, ?)').run(Date.now(), type, action, actor, JSON.stringify(attributes));
      if (Number(lastInsertRowid) % 1000 === 0) this.db.sql('DELETE FROM events WHERE id <= ?').run(Number(lastInsertRowid) - kept);
    } catch (error) {
      if (!isDatabaseFull(error)) throw error;
    }
  }

  /** Events after the one with ID `afterId`, oldest first. */
  after(afterId: number, limit = 1000): EngineEvent[] {
    return (this.db.sql('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as EventRow[]).map(toEvent);
  }

  /** Events from `since` (ms since the epoch) on, oldest first. */
  since(since: number, limit = kept): EngineEvent[] {
    return (this.db.sql('SELECT * FROM events WHERE time >= ? ORDER BY id LIMIT ?').all(since, limit) as EventRow[]).map(toEvent);
  }

  /** The newest `action` event of `actor` after `afterId`, if there is one (`wait` finds a container's exit code so). */
  latest(actor: string, action: string, afterId = 0): EngineEvent | undefined {
    const row = this.db.sql('SELECT * FROM events WHERE actor = ? AND action = ? AND id > ? ORDER BY id DESC LIMIT 1').get(actor, action, afterId) as EventRow | undefined;
    return row && toEvent(row);
  }

  /** The newest event's ID (0 when there is none): where a reader that wants only new events starts. */
  lastId(): number {
    return (this.db.sql('SELECT MAX(id) AS id FROM events').get() as { id: number | null }).id ?? 0;
  }
}
