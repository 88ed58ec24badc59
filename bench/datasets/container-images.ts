import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeRootfs } from './rootfs.js';

export const busyboxBinary = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));

/** The applets the container workloads call, as hardlinks to bin/busybox (one inode, as in the busybox image). */
const applets = ['sh', 'true', 'sleep', 'head', 'mkdir', 'echo', 'cat', 'ls'];

/**
 * A minimal busybox root: bin/busybox from Debian's busybox-static, applet hardlinks, passwd and group for
 * user resolution, a sticky /tmp. No dev, proc or sys: the runtime (or Strata's init layer) makes those.
 */
export function writeBusyboxRootfs(dir: string): void {
  if (!busyboxBinary) throw new Error('busybox is not installed (apt-get install busybox-static)');
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.copyFileSync(busyboxBinary, path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const applet of applets) fs.linkSync(path.join(dir, 'bin/busybox'), path.join(dir, 'bin', applet));
  fs.mkdirSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\n');
  fs.mkdirSync(path.join(dir, 'root'), { mode: 0o700 });
  fs.mkdirSync(path.join(dir, 'tmp'));
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
}

export interface ImageTarball {
  tarball: string;
  bytes: number;
  files: number;
  /** "5MB", "497MB": the image's size, for result lines. */
  label: string;
}

/** GNU tar, reproducible: sorted, fixed owner and mtime; hardlinks stay hardlinks. */
function tarDir(dir: string, tarball: string): void {
  execFileSync('tar', ['-C', dir, '--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-cf', tarball, '.']);
}

/**
 * A busybox image plus `extra.bytes` of deterministic PRNG files under /opt/data (the same bytes on every run
 * and machine, file sizes shaped as in rootfs.ts); with `extra.bytes` 0, the plain busybox image. The tree is
 * written under `dir` (the caller removes it, or keeps it: the runc floor copies the busybox one) and tarred
 * to `tarball`.
 */
export function makeImageTarball(dir: string, tarball: string, extra: { bytes: number; files: number; seed: number }): ImageTarball {
  writeBusyboxRootfs(dir);
  let bytes = fs.statSync(path.join(dir, 'bin/busybox')).size;
  let files = 1;
  if (extra.bytes > 0) {
    const data = path.join(dir, 'opt/data');
    fs.mkdirSync(data, { recursive: true });
    const written = writeRootfs(data, { totalBytes: extra.bytes, files: extra.files, symlinks: 0, seed: extra.seed });
    bytes += written.bytes;
    files += written.files;
  }
  tarDir(dir, tarball);
  return { tarball, bytes, files, label: `${Math.round(bytes / 1e6)}MB` };
}
