import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar, { type Header } from 'tar-stream';
import { dataCorrupt, unsupported } from '../errors.js';
import { ParallelFileWriter } from './file-writer.js';
import { fsExtras, S_IFBLK, S_IFCHR, S_IFIFO } from './fsx.js';
import { applyXattrs, xattrsOf } from './pax.js';
import { opaqueMarker, overlayOpaqueXattr, whiteoutMetaPrefix, whiteoutPrefix } from './whiteout.js';

export interface ApplyResult {
  /** Sum of regular file sizes: what Docker reports as a layer's size. */
  size: number;
  entries: number;
}

const isRoot = process.getuid?.() === 0;

/**
 * Normalizes a tar entry name to a relative POSIX path, refusing anything that could land outside the layer root.
 * Returns '' for the root itself. `what` names the tar in errors (a layer, an archive copied into a container).
 */
export function entryPath(name: string, what = 'layer'): string {
  if (name.startsWith('/')) throw dataCorrupt(`${what} entry "${name}": absolute paths are not allowed`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw dataCorrupt(`${what} entry "${name}": path climbs out of the ${what} root`);
    parts.push(part);
  }
  return parts.join('/');
}

/** True when a relative symlink target, resolved from the link's directory, stays inside the layer root. */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith('/')) return true; // resolved against the container's root, never the host's
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkPath), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

/**
 * A garbled numeric field decodes as NaN or a huge base-256 number, and an xattr name may be no xattr name at all;
 * refused here with the entry's name rather than by the fs call (whose error names a host temp path).
 */
export function checkHeaderFields(header: Header, what = 'layer'): void {
  const id = (value: number | undefined) => value === undefined || (Number.isInteger(value) && value >= 0 && value < 0xffffffff);
  const bad = (field: string) => dataCorrupt(`${what} entry "${header.name}": invalid ${field} in the tar header`);
  if (!id(header.uid)) throw bad('uid');
  if (!id(header.gid)) throw bad('gid');
  if (!id(header.mode)) throw bad('mode');
  if (!id(header.devmajor) || !id(header.devminor)) throw bad('device number');
  if (header.mtime && Number.isNaN(header.mtime.getTime())) throw bad('mtime');
  for (const [name, value] of xattrsOf(header.pax as Record<string, string> | null)) {
    if (!/^(security|system|trusted|user)\.[^\0]+$/.test(name) || Buffer.byteLength(name) > 254 || value.length > 65536) throw bad(`extended attribute "${name.slice(0, 64)}"`);
  }
}

type Kind = 'dir' | 'implicit-dir' | 'file' | 'symlink' | 'other';

/**
 * Unpacks an uncompressed layer tar into an empty directory, in overlayfs' lower-dir format: a whiteout becomes a
 * 0:0 character device, an opaque marker the trusted.overlay.opaque xattr. Each entry's path is checked against
 * what this layer already put down, so no entry can write through a symlink or escape the root; duplicates are refused.
 */
export async function applyLayer(source: AsyncIterable<Buffer> | Readable, root: string): Promise<ApplyResult> {
  const seen = new Map<string, Kind>([['', 'dir']]);
  const setgidDirs = new Set<string>();
  const dirTimes: [string, Date][] = [];
  let size = 0;
  let entries = 0;

  const target = (rel: string) => (rel === '' ? root : `${root}/${rel}`);

  const ensureParents = (rel: string, name: string) => {
    const slash = rel.lastIndexOf('/');
    if (slash === -1) return;
    const parent = rel.slice(0, slash);
    const kind = seen.get(parent);
    if (kind === 'dir' || kind === 'implicit-dir') return;
    if (kind === 'symlink') throw dataCorrupt(`layer entry "${name}": path goes through the symlink "${parent}"`);
    if (kind !== undefined) throw dataCorrupt(`layer entry "${name}": "${parent}" is not a directory`);
    ensureParents(parent, name);
    fs.mkdirSync(target(parent), 0o755);
    seen.set(parent, 'implicit-dir');
  };

  const claim = (rel: string, name: string, kind: Kind) => {
    const previous = seen.get(rel);
    if (previous !== undefined && !(previous === 'implicit-dir' && kind === 'dir')) {
      throw dataCorrupt(`layer entry "${name}": duplicate entry for "${rel}"`);
    }
    seen.set(rel, kind);
  };

  /** Owner, mode and xattrs of a non-regular entry (regular files get theirs from the file writer). */
  const setAttributes = (file: string, header: Header, link = false) => {
    if (isRoot) (link ? fs.lchownSync : fs.chownSync)(file, header.uid ?? 0, header.gid ?? 0);
    if (!link) fs.chmodSync(file, (header.mode ?? 0o644) & 0o7777);
    applyXattrs(file, xattrsOf(header.pax as Record<string, string> | null), header.name);
  };

  // Bytes fed to the parser and where the last entry's data ended: to tell a tar that merely lacks its final
  // padding and end-of-archive blocks (umoci writes those; Go's reader accepts them) from a truncated one.
  let fed = 0;
  let lastDataEnd = 0;
  async function* counted(input: AsyncIterable<Buffer>) {
    for await (const chunk of input) {
      fed += chunk.length;
      yield chunk;
    }
  }
  const endsAfterLastEntry = (error: unknown) =>
    error instanceof Error && error.message === 'Unexpected end of data' && fed >= lastDataEnd && fed <= Math.ceil(lastDataEnd / 512) * 512;

  const extract = tar.extract();
  const feeding = pipeline(counted(source as AsyncIterable<Buffer>), extract);
  // A source that fails mid-file (a dropped download) must also fail the entry being read, or reading it waits
  // forever; the error itself is reported through the entry loop below.
  let current: { destroy(error?: Error): void } | undefined;
  feeding.catch((error: Error) => current?.destroy(error));
  const files = new ParallelFileWriter();
  try {
    for await (const entry of extract) {
      current = entry;
      await applyEntry(entry);
    }
    await feeding;
  } catch (error) {
    if (!endsAfterLastEntry(error)) {
      await files.drain().catch(() => undefined); // the caller removes the directory: let writes finish first
      throw error;
    }
  }
  await files.drain();
  // Zero bytes are no tar at all (GNU tar and busybox refuse them too): most likely a failed `tar ... | strata import -`.
  if (fed === 0) throw dataCorrupt('empty input: not a tar archive');
  // Directory times last: creating their children changed them.
  for (const [dir, time] of dirTimes.reverse()) fs.utimesSync(dir, time, time);
  return { size, entries };

  async function applyEntry(entry: AsyncIterable<unknown> & { header: Header; resume(): unknown }): Promise<void> {
    const header = entry.header;
    lastDataEnd = (header as Header & { byteOffset?: number }).byteOffset ?? 0;
    lastDataEnd += header.type === 'file' || header.type === 'contiguous-file' ? (header.size ?? 0) : 0;
    const rel = entryPath(header.name);
    checkHeaderFields(header);
    entries++;
    if (rel === '') {
      // The layer's own root: its mode and time belong to the directory overlay will merge at /.
      if (header.type === 'directory') {
        setAttributes(root, header);
        if (header.mtime) dirTimes.push([root, header.mtime]);
      }
      entry.resume();
      return;
    }
    ensureParents(rel, header.name);
    const base = path.posix.basename(rel);
    const file = target(rel);

    if (base.startsWith(whiteoutPrefix)) {
      entry.resume();
      const dir = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
      if (base === opaqueMarker) {
        fsExtras().lsetxattr(target(dir), overlayOpaqueXattr, Buffer.from('y'));
      } else if (!base.startsWith(whiteoutMetaPrefix)) {
        const name = base.slice(whiteoutPrefix.length);
        // ".wh.", ".wh.." and ".wh..." would hide the directory itself or its parent: never mknod those.
        if (name === '' || name === '.' || name === '..') throw dataCorrupt(`layer entry "${header.name}": invalid whiteout name`);
        const hidden = (dir === '' ? '' : `${dir}/`) + name;
        claim(hidden, header.name, 'other');
        fsExtras().mknod(target(hidden), S_IFCHR | 0o000, 0, 0);
      }
      return;
    }

    switch (header.type) {
      case 'file':
      case 'contiguous-file': {
        claim(rel, header.name, 'file');
        await files.write(file, entry as AsyncIterable<Buffer>, header.size ?? 0, {
          mode: (header.mode ?? 0o644) & 0o7777,
          ...(header.uid !== undefined && { uid: header.uid }),
          ...(header.gid !== undefined && { gid: header.gid }),
          ...(header.mtime && { mtime: header.mtime }),
          xattrs: xattrsOf(header.pax as Record<string, string> | null),
          entry: header.name,
          inheritsGroup: setgidDirs.has(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel)),
        });
        size += header.size ?? 0;
        return;
      }
      case 'directory':
        claim(rel, header.name, 'dir');
        if ((header.mode ?? 0) & 0o2000) setgidDirs.add(rel);
        if (!fs.existsSync(file)) fs.mkdirSync(file, 0o755);
        setAttributes(file, header);
        if (header.mtime) dirTimes.push([file, header.mtime]);
        break;
      case 'symlink': {
        const linkname = header.linkname ?? '';
        if (!symlinkStaysInside(rel, linkname)) throw dataCorrupt(`layer entry "${header.name}": symlink to "${linkname}" leads outside the layer root`);
        claim(rel, header.name, 'symlink');
        fs.symlinkSync(linkname, file);
        setAttributes(file, header, true);
        if (header.mtime) fs.lutimesSync(file, header.mtime, header.mtime);
        break;
      }
      case 'link': {
        const linkname = header.linkname ?? '';
        // Checked here so that the error names this entry (entryPath's would name the target as the entry).
        if (linkname.startsWith('/') || linkname.split('/').includes('..')) {
          throw dataCorrupt(`layer entry "${header.name}": hardlink to "${linkname}" leads outside the layer root`);
        }
        const linkTarget = entryPath(linkname);
        if (seen.get(linkTarget) !== 'file' && seen.get(linkTarget) !== 'other') {
          throw dataCorrupt(`layer entry "${header.name}": hardlink to "${header.linkname}" does not point to a file in this layer`);
        }
        claim(rel, header.name, 'file');
        await files.settled(target(linkTarget));
        fs.linkSync(target(linkTarget), file);
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        claim(rel, header.name, 'other');
        if (makeSpecialFile(file, header, isRoot)) {
          setAttributes(file, header);
          if (header.mtime) fs.utimesSync(file, header.mtime, header.mtime);
        }
        break;
      }
      default:
        throw unsupported(`layer entry "${header.name}": unsupported tar entry type "${header.type}"`);
    }
    entry.resume();
  }
}

/** A fifo, or (as root) a device, for a tar entry; false when none is made (a device entry without root). */
export function makeSpecialFile(file: string, header: Header, isRoot: boolean): boolean {
  if (header.type !== 'fifo' && !isRoot) return false;
  const type = header.type === 'fifo' ? S_IFIFO : header.type === 'block-device' ? S_IFBLK : S_IFCHR;
  fsExtras().mknod(file, type | ((header.mode ?? 0o644) & 0o7777), header.devmajor ?? 0, header.devminor ?? 0);
  return true;
}
