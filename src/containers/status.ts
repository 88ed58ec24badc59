import { humanDuration } from '../util/duration.js';
import type { ContainerRecord } from './records.js';

/** The STATUS column of `ps` (and the Engine API's Status): `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`. */
export function containerStatus(record: ContainerRecord, now = Date.now()): string {
  if (record.state === 'running') return `Up ${humanDuration(now - (record.startedAt ?? now))}`;
  if (record.state === 'exited') return `Exited (${record.exitCode ?? 0}) ${humanDuration(now - (record.finishedAt ?? now))} ago`;
  return 'Created';
}
