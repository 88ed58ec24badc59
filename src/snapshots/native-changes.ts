/**
 * The native driver's read-write layer, in overlay's upper-dir form, made on demand: the container's full copy
 * compared with its image's layers, as Docker's vfs driver does with archive.ChangesDirs. Added and changed
 * files are hardlinked (no data is copied), directories repeated with their metadata, deleted entries written
 * as whiteouts, and a directory that replaced a non-directory marked opaque. diff and commit then read it as
 * they read an overlay upper dir. Like Docker's, the comparison goes by type, mode, owner, device, size, mtime
 * and security.capability: an edit that keeps size and mtime is not seen.
 */
import fs from 'node:fs';
import { fsExtras, S_IFCHR } from '../layers/fsx.js';
import { setAttributes } from '../layers/merge.js';
import { deviceNumbers, differs, lowerEntry, lowerNames } from '../layers/overlay-entries.js';
import { overlayOpaqueXattr } from '../layers/whiteout.js';
import { joinRelative as join } from '../util/rootpath.js';

/** Writes into the empty dir `view` what `rootfs` changed relative to `lowers` (layer dirs, topmost first). */
export function writeUpperView(rootfs: string, lowers: string[], view: string): void {
  compareDir(rootfs, view, '', lowers, () => undefined);
}


/** Adds the changes below `rel`; `ensureParent` creates the view's copy of `rel` on first need. Returns whether any. */
function compareDir(rootfs: string, view: string, rel: string, below: string[], ensureParent: () => void): boolean {
  let changed = false;
  const present = new Set(fs.readdirSync(rel === '' ? rootfs : `${rootfs}/${rel}`));
  for (const name of [...present].sort()) {
    const child = join(rel, name);
    const file = `${rootfs}/${child}`;
    const stat = fs.lstatSync(file, { bigint: true });
    const before = lowerEntry(below, child);
    if (!before || before.stat.isDirectory() !== stat.isDirectory()) {
      ensureParent();
      copyTree(file, `${view}/${child}`);
      // A directory where the image had a file: nothing of the image shows through it.
      if (before && stat.isDirectory()) fsExtras().lsetxattr(`${view}/${child}`, overlayOpaqueXattr, Buffer.from('y'));
      changed = true;
    } else if (stat.isDirectory()) {
      let made = false;
      const ensureDir = () => {
        if (made) return;
        ensureParent();
        fs.mkdirSync(`${view}/${child}`);
        made = true;
      };
      if (differs(before, stat, file)) ensureDir();
      compareDir(rootfs, view, child, before.layers, ensureDir);
      if (made) {
        setAttributes(`${view}/${child}`, fs.lstatSync(file), file); // after its contents, which changed its mtime
        changed = true;
      }
    } else if (differs(before, stat, file)) {
      ensureParent();
      copyTree(file, `${view}/${child}`);
      changed = true;
    }
  }
  for (const name of lowerNames(below, rel)) {
    if (present.has(name)) continue;
    ensureParent();
    fsExtras().mknod(`${view}/${join(rel, name)}`, S_IFCHR, 0, 0);
    changed = true;
  }
  return changed;
}

/** Puts `file` (and, for a directory, all it holds) into the view: files as hardlinks, the rest recreated. */
function copyTree(file: string, target: string): void {
  const stat = fs.lstatSync(file);
  if (stat.isDirectory()) {
    fs.mkdirSync(target);
    for (const name of fs.readdirSync(file)) copyTree(`${file}/${name}`, `${target}/${name}`);
  } else if (stat.isFile()) {
    fs.linkSync(file, target);
    return;
  } else if (stat.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(file), target);
  } else if (stat.isSocket()) {
    return;
  } else {
    fsExtras().mknod(target, stat.mode, ...deviceNumbers(stat.rdev));
  }
  setAttributes(target, stat, file);
}
