import { humanDuration } from '../util/duration.js';
import type { HealthState } from './health.js';
import type { ContainerRecord } from './records.js';

const healthNote: Record<HealthState['Status'], string> = { starting: ' (health: starting)', healthy: ' (healthy)', unhealthy: ' (unhealthy)' };

/**
 * The STATUS column of `ps` (and the Engine API's Status): `Up 5 seconds (healthy)`, `Exited (0) 2 minutes ago`,
 * `Created`.
 */
export function containerStatus(record: ContainerRecord, health?: HealthState, now = Date.now()): string {
  if (record.state === 'running') return `Up ${humanDuration(now - (record.startedAt ?? now))}${health ? healthNote[health.Status] : ''}`;
  if (record.state === 'exited') return `Exited (${record.exitCode ?? 0}) ${humanDuration(now - (record.finishedAt ?? now))} ago`;
  return 'Created';
}
