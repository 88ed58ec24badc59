import type fs from 'node:fs';
import { unsupported } from '../errors.js';
import { fsExtras } from './native.js';
import { overlayOpaqueXattr } from './whiteout.js';

// How overlayfs represents entries in an upper or lower dir. Kept apart from the tar code so that the snapshotters
// (loaded by every container command) do not pull tar-stream in at start-up.

/** An overlay whiteout: a character device with device number 0:0. */
export function isWhiteout(stat: fs.Stats | fs.BigIntStats): boolean {
  return stat.isCharacterDevice() && Number(stat.rdev) === 0;
}

export function isOpaque(dir: string): boolean {
  return fsExtras().lgetxattr(dir, overlayOpaqueXattr)?.toString() === 'y';
}

/** Overlay entries a plain copy cannot reproduce: metadata-only copy-ups and renamed directories. */
const overlayOnlyXattrs = ['trusted.overlay.metacopy', 'trusted.overlay.redirect'];

/**
 * A file's xattrs minus overlayfs' own (trusted.overlay.*, and user.overlay.* of rootless overlay), which describe
 * the upper dir rather than the content; sorted by name.
 */
export function contentXattrs(file: string): [string, Buffer][] {
  const names = fsExtras().llistxattr(file).sort();
  const overlayOnly = names.find((name) => overlayOnlyXattrs.includes(name));
  if (overlayOnly) throw unsupported(`${file}: overlay ${overlayOnly.slice('trusted.overlay.'.length)} entries cannot be copied; mount overlay with metacopy=off,redirect_dir=off`);
  const result: [string, Buffer][] = [];
  for (const name of names) {
    if (/^(trusted|user)\.overlay\./.test(name)) continue;
    const value = fsExtras().lgetxattr(file, name);
    if (value) result.push([name, value]);
  }
  return result;
}

/** Major and minor of a Linux dev_t (glibc's gnu_dev_major/gnu_dev_minor). */
export function deviceNumbers(rdev: number): [number, number] {
  const dev = BigInt(rdev);
  return [Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)), Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))];
}
