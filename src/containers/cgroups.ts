import fs from 'node:fs';
import path from 'node:path';
import { isNodeError } from '../errors.js';

/**
 * A process's cgroups, where this machine mounts them: with cgroup v1 (or hybrid, v1 controllers beside an
 * empty unified hierarchy) a directory per controller; with v2 the one unified directory.
 */
export interface Cgroups {
  /** v1 controllers: `memory` -> /sys/fs/cgroup/memory/strata/<id>, `cpu` and `cpuacct` (separate or co-mounted) ... */
  v1: Map<string, string>;
  /** The unified hierarchy's directory; the controllers' files are there when `v1` is empty. */
  v2?: string;
}

interface CgroupMount {
  root: string;
  mountPoint: string;
  /** v1: the hierarchy's controllers (`name=systemd` included); v2: none. */
  controllers: string[];
  version: 1 | 2;
}

/** The cgroup file systems this process sees (/proc/self/mountinfo): each hierarchy, its mount point and the part of it mounted. */
function cgroupMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left = '', right = ''] = line.split(' - ');
    const [, , , root = '', mountPoint = ''] = left.split(' ');
    const [type, , options = ''] = right.split(' ');
    if (type === 'cgroup2') mounts.push({ root, mountPoint, controllers: [], version: 2 });
    else if (type === 'cgroup') mounts.push({ root, mountPoint, controllers: options.split(',').filter((option) => option !== 'rw' && option !== 'ro'), version: 1 });
  }
  return mounts;
}

/**
 * The cgroups of process `pid`, from /proc/PID/cgroup (`ID:controllers:path`, the paths as this process's
 * cgroup namespace sees them) and the mounts; undefined when the process is gone.
 */
export function cgroupsOf(pid: number): Cgroups | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ESRCH')) return undefined;
    throw error;
  }
  const mounts = cgroupMounts();
  const where = (mount: CgroupMount | undefined, cgroupPath: string) => {
    if (!mount) return undefined;
    const inside = path.posix.relative(mount.root, cgroupPath);
    return inside.startsWith('..') ? undefined : path.join(mount.mountPoint, inside);
  };
  const cgroups: Cgroups = { v1: new Map() };
  for (const line of text.trim().split('\n')) {
    const [, list = '', ...rest] = line.split(':');
    const cgroupPath = rest.join(':');
    if (list === '') {
      const dir = where(mounts.find((mount) => mount.version === 2), cgroupPath);
      if (dir) cgroups.v2 = dir;
      continue;
    }
    const controllers = list.split(',');
    const dir = where(mounts.find((mount) => mount.version === 1 && controllers.every((name) => mount.controllers.includes(name))), cgroupPath);
    if (dir) for (const name of controllers) if (!name.startsWith('name=')) cgroups.v1.set(name, dir);
  }
  return cgroups;
}

/** Every process in the cgroup and the cgroups below it (a container may make its own). */
export function cgroupProcesses(cgroups: Cgroups): number[] {
  const top = cgroups.v1.get('pids') ?? cgroups.v1.get('memory') ?? cgroups.v1.values().next().value ?? cgroups.v2;
  if (top === undefined) return [];
  const pids: number[] = [];
  const visit = (dir: string) => {
    const procs = readCgroupFile(path.join(dir, 'cgroup.procs'));
    if (procs === undefined) return;
    for (const pid of procs.split('\n')) if (pid !== '') pids.push(Number(pid));
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) visit(path.join(dir, entry.name));
  };
  visit(top);
  return pids;
}

/** A cgroup file's text; undefined when the file (or the cgroup, now gone) is missing. */
export function readCgroupFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENODEV') || isNodeError(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** A flat-keyed cgroup file (`memory.stat`, `cpu.stat`, `cpuacct.stat`): each line's key and number. */
export function readKeyedFile(file: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of (readCgroupFile(file) ?? '').split('\n')) {
    const [key, value] = line.split(' ');
    if (key && value !== undefined && /^\d+$/.test(value)) values[key] = Number(value);
  }
  return values;
}

/** A single-number cgroup file; `max` (no limit) and a missing file are undefined. */
export function readNumberFile(file: string): number | undefined {
  const text = readCgroupFile(file)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}
