import fs from 'node:fs';
import path from 'node:path';
import type { Usage } from './types.js';

/** Bytes of regular files (each inode once) and inode count under a directory, without following symlinks. */
export function dirUsage(dir: string): Usage {
  const seen = new Set<number>();
  let size = 0;
  let inodes = 0;
  const walk = (current: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      inodes++;
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const stat = fs.lstatSync(full);
        if (stat.nlink > 1) {
          if (seen.has(stat.ino)) continue;
          seen.add(stat.ino);
        }
        size += stat.size;
      }
    }
  };
  walk(dir);
  return { size, inodes };
}

/** True when `dir` is a mount point (its device differs from its parent's, or /proc says so for bind mounts). */
export function isMountPoint(dir: string): boolean {
  try {
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const escaped = dir.replace(/ /g, '\\040');
    return mounts.split('\n').some((line) => line.split(' ')[4] === escaped);
  } catch {
    return false;
  }
}
