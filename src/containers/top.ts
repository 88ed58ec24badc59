import { spawnSync } from 'node:child_process';
import { conflict, invalidArgument, StrataError } from '../errors.js';
import { cgroupProcesses, cgroupsOf } from './cgroups.js';
import type { Containers } from './service.js';

/** Docker's ContainerTopOKBody: ps's column titles and, for each of the container's processes, its columns. */
export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/**
 * `top`: `ps` over the processes of the container's cgroup, as Docker's ContainerTop runs it: the arguments
 * (`-ef` by default) with `-q PIDS`, or without it when ps refuses the mix (`f`), then only the rows of the
 * container's processes (and the thread rows under them that `m` adds). The last column takes what is left of
 * a row (CMD's spaces).
 */
export function containerTop(containers: Containers, nameOrId: string, psArgs = ''): TopResult {
  const record = containers.reconcileOne(containers.resolve(nameOrId));
  const notRunning = () => conflict(`Container ${record.id} is not running`);
  if (record.state !== 'running' || record.pid === null) throw notRunning();
  const args = (psArgs || '-ef').split(' ');
  // ps's -o could rename the PID column, and then no row could be matched to a process.
  for (const [, key, title] of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (key !== 'pid') throw invalidArgument(`specifying "${key}=${title}" is not allowed`);
  }
  const cgroups = cgroupsOf(record.pid);
  if (!cgroups) throw notRunning();
  const pids = new Set(cgroupProcesses(cgroups));
  let ps = spawnSync('ps', [...args, `-q${[...pids].join(',')}`], { encoding: 'utf8' });
  if (ps.status !== 0) ps = spawnSync('ps', args, { encoding: 'utf8' });
  if (ps.error) throw new StrataError('internal', `ps: ${ps.error.message}`, { cause: ps.error });
  if (ps.status !== 0) throw new StrataError('internal', `ps: ${ps.stderr.split('\n')[0] || `exit status ${ps.status}`}`);
  const top = parsePsOutput(ps.stdout, pids);
  containers.event(record, 'top');
  return top;
}

/** moby's parsePSOutput: the rows whose PID is the container's, and `-` rows (threads) right after one of them. */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): TopResult {
  const fields = (line: string) => line.split(/[ \t\n\v\f\r]+/).filter(Boolean);
  const [header = '', ...rows] = output.split('\n');
  const titles = fields(header);
  const pidColumn = titles.indexOf('PID');
  if (pidColumn < 0) throw new StrataError('internal', "Couldn't find PID field in ps output");
  const processes: string[][] = [];
  let afterOurs = false;
  for (const row of rows) {
    if (row === '') continue;
    const columns = fields(row);
    const pid = columns[pidColumn];
    if (pid === '-') {
      if (afterOurs) processes.push(joinOverhang(columns, titles.length));
      continue;
    }
    if (pid === undefined || !/^\d+$/.test(pid)) throw new StrataError('internal', `Unexpected pid '${pid}'`);
    afterOurs = pids.has(Number(pid));
    if (afterOurs) processes.push(joinOverhang(columns, titles.length));
  }
  return { Titles: titles, Processes: processes };
}

/** A row cut to the titles' count, its overhanging fields (a command's arguments) joined into the last column. */
function joinOverhang(columns: string[], count: number): string[] {
  return [...columns.slice(0, count - 1), columns.slice(count - 1).join(' ')];
}
