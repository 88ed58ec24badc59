import fs from 'node:fs';
import { contentXattrs, deviceNumbers, isOpaque, isWhiteout } from './overlay-entries.js';
import { fsExtras } from './fsx.js';
import { applyXattrs } from './pax.js';
import { overlayOpaqueXattr } from './whiteout.js';

/**
 * Applies one layer dir in overlay's lower-dir format on top of `targetDir`, a plain directory holding the layers
 * below it already merged: the copying fallback where overlay is not available. Copying the layers bottom to top
 * gives the tree an overlay mount of them shows: a whiteout deletes its path, an opaque directory starts empty,
 * an entry of another type replaces what was there, a directory keeps what it does not replace and takes this
 * layer's owner, mode, times and xattrs (overlay shows the topmost layer's). Stale xattrs of a directory the
 * layer also has stay, as with Docker's and containerd's copying drivers: Node cannot remove an xattr.
 *
 * Nothing is written through a symlink in `targetDir`: every parent was made a real directory first, as overlay
 * shows a layer's directory over a lower symlink of the same name.
 */
export async function copyLayerInto(layerDir: string, targetDir: string): Promise<void> {
  await mergeDir(layerDir, targetDir, new Map());
  setAttributes(targetDir, fs.lstatSync(layerDir), layerDir);
}

/** `links` maps the layer's inodes with several names to the first of them copied. */
async function mergeDir(source: string, target: string, links: Map<string, string>): Promise<void> {
  for (const name of fs.readdirSync(source)) {
    const from = `${source}/${name}`;
    const to = `${target}/${name}`;
    const stat = fs.lstatSync(from);
    if (isWhiteout(stat)) {
      fs.rmSync(to, { recursive: true, force: true });
    } else if (stat.isDirectory()) {
      makeDir(to, isOpaque(from));
      await mergeDir(from, to, links);
      setAttributes(to, stat, from); // after the contents, which changed its mtime
    } else {
      fs.rmSync(to, { recursive: true, force: true });
      await copyEntry(from, to, stat, links);
    }
  }
}

/** Makes `to` a real directory, replacing a file or symlink there; empties it for an opaque layer directory. */
function makeDir(to: string, opaque: boolean): void {
  const existing = fs.lstatSync(to, { throwIfNoEntry: false });
  if (!existing?.isDirectory()) {
    if (existing) fs.unlinkSync(to);
    fs.mkdirSync(to);
  } else if (opaque) {
    for (const name of fs.readdirSync(to)) fs.rmSync(`${to}/${name}`, { recursive: true, force: true });
  }
}

/** Copies a non-directory to `to`, which does not exist; a second name of an inode becomes a hardlink. */
async function copyEntry(from: string, to: string, stat: fs.Stats, links: Map<string, string>): Promise<void> {
  const key = `${stat.dev}:${stat.ino}`;
  const first = stat.nlink > 1 ? links.get(key) : undefined;
  if (first !== undefined) {
    fs.linkSync(first, to);
    return;
  }
  if (stat.isFile()) {
    // EXCL: never through a symlink someone put there; FICLONE: shares extents where the filesystem can.
    await fs.promises.copyFile(from, to, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
  } else if (stat.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else {
    // Devices, fifos and sockets: the mode carries the type.
    fsExtras().mknod(to, stat.mode, ...deviceNumbers(stat.rdev));
  }
  setAttributes(to, stat, from);
  if (stat.nlink > 1) links.set(key, to);
}

/** Owner, mode, xattrs and times of `from` on `to`; in that order, as chown clears setuid bits and capabilities. */
export function setAttributes(to: string, stat: fs.Stats, from: string): void {
  fs.lchownSync(to, stat.uid, stat.gid);
  if (!stat.isSymbolicLink()) fs.chmodSync(to, stat.mode & 0o7777);
  applyXattrs(to, contentXattrs(from), from);
  fs.lutimesSync(to, stat.atimeMs / 1000, stat.mtimeMs / 1000);
}

/**
 * A second layer dir with the same contents as `layerDir`, at `target` (which does not exist): directories made
 * anew with their owner, mode, xattrs (the opaque mark too) and times, everything else hardlinked, so no file data
 * is copied. Layer dirs are never written once published, so sharing their inodes is safe: COPY --link puts one
 * layer on several bases this way.
 */
export function linkLayerDir(layerDir: string, target: string): void {
  const stat = fs.lstatSync(layerDir);
  fs.mkdirSync(target);
  for (const name of fs.readdirSync(layerDir)) {
    const from = `${layerDir}/${name}`;
    if (fs.lstatSync(from).isDirectory()) linkLayerDir(from, `${target}/${name}`);
    else fs.linkSync(from, `${target}/${name}`);
  }
  if (isOpaque(layerDir)) fsExtras().lsetxattr(target, overlayOpaqueXattr, Buffer.from('y'));
  setAttributes(target, stat, layerDir);
}
