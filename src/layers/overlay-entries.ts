import fs from 'node:fs';
import { unsupported } from '../errors.js';
import { fsExtras } from './fsx.js';
import { overlayOpaqueXattr } from './whiteout.js';
import { joinRelative as join } from '../util/rootpath.js';

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

/** An entry of the image's merged view: the topmost lower's, with the lowers a directory merges (topmost first). */
export interface LowerEntry {
  file: string;
  stat: fs.BigIntStats;
  layers: string[];
}

/** Looks `rel` up in `layers`, the lowers that merge its parent directory, as overlay does. */
export function lowerEntry(layers: string[], rel: string): LowerEntry | undefined {
  let top: LowerEntry | undefined;
  for (const layer of layers) {
    const file = `${layer}/${rel}`;
    // Every layer passed in holds the parent as a real directory: absent is ENOENT, never ENOTDIR.
    const stat = fs.lstatSync(file, { bigint: true, throwIfNoEntry: false });
    if (!stat) continue;
    // A whiteout hides what is below it; so does a non-directory under a directory.
    if (isWhiteout(stat) || (top && !stat.isDirectory())) break;
    top ??= { file, stat, layers: [] };
    if (!stat.isDirectory()) break;
    top.layers.push(layer);
    if (isOpaque(file)) break;
  }
  return top;
}

/** Names visible in the merged directory `rel` of `layers`. */
export function lowerNames(layers: string[], rel: string): string[] {
  const visible = new Map<string, boolean>();
  for (const layer of layers) {
    for (const name of fs.readdirSync(`${layer}/${rel}`)) {
      if (!visible.has(name)) visible.set(name, !isWhiteout(fs.lstatSync(`${layer}/${join(rel, name)}`)));
    }
  }
  return [...visible].filter(([, shown]) => shown).map(([name]) => name);
}

/** Docker's statDifferent plus its security.capability comparison (go-archive changes_unix.go, changes.go). */
export function differs(before: LowerEntry, stat: fs.BigIntStats, file: string): boolean {
  const old = before.stat;
  if (old.mode !== stat.mode || old.uid !== stat.uid || old.gid !== stat.gid || old.rdev !== stat.rdev) return true;
  if (!stat.isDirectory() && (old.size !== stat.size || !sameFsTime(old.mtimeNs, stat.mtimeNs))) return true;
  const capability = (target: string) => fsExtras().lgetxattr(target, 'security.capability') ?? Buffer.alloc(0);
  return !capability(before.file).equals(capability(file));
}

/** Tar keeps whole seconds: times are the same when equal, or in the same second with one of them on it. */
function sameFsTime(a: bigint, b: bigint): boolean {
  const second = 1_000_000_000n;
  return a === b || (a / second === b / second && (a % second === 0n || b % second === 0n));
}

