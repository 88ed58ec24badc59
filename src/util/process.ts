import fs from 'node:fs';

/** True while `pid` runs; a zombie (dead, not yet reaped by whoever inherited it) counts as dead. */
export function processAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
