import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';
import { dataCorrupt, invalidArgument, isNodeError } from '../errors.js';
import { resolveParentInRoot } from '../util/rootpath.js';
import { checkHeaderFields, entryPath, makeSpecialFile, symlinkStaysInside } from './apply.js';
import { ParallelFileWriter } from './file-writer.js';
import { applyXattrs, xattrsOf } from './pax.js';

export interface ExtractOptions {
  /** Docker's noOverwriteDirNonDir: an entry may not replace a directory by a non-directory, nor the reverse. */
  noOverwriteDirNonDir?: boolean;
  /** Every entry owned by this uid:gid instead of the tar's (copyUIDGID with a container user). */
  owner?: { uid: number; gid: number };
}

const what = 'archive';
const isRoot = process.getuid?.() === 0;

/**
 * Unpacks a tar into directory `dir` (a path inside `root`, already resolved) of an existing tree, as Docker
 * untars into a container's root: entries merge with what is there (a directory over a directory keeps its
 * contents and takes the entry's owner and mode; anything else is replaced). Each entry's parent is resolved in
 * `root` as the container sees it, so a symlink (the container's, or one an earlier entry made) is followed
 * inside `root`, never out of it; the entry itself is never followed. Names that climb out of `dir`, relative
 * symlinks pointing out of it and hardlinks to anything outside it are refused, as by the layer rules. Unlike a
 * layer, `.wh.` names are plain files. Owners are the tar's (or `options.owner`); an error stops the extraction
 * where it is, with what came before it in place, as in Docker.
 */
export async function extractTar(source: AsyncIterable<Buffer> | Readable, root: string, dir: string, options: ExtractOptions = {}): Promise<{ entries: number }> {
  const dirTimes: [string, Date][] = [];
  const files = new ParallelFileWriter();
  let entries = 0;

  const owner = (header: Header) => options.owner ?? { uid: header.uid ?? 0, gid: header.gid ?? 0 };
  const setAttributes = (file: string, header: Header, link = false) => {
    const { uid, gid } = owner(header);
    if (isRoot) (link ? fs.lchownSync : fs.chownSync)(file, uid, gid);
    if (!link) fs.chmodSync(file, (header.mode ?? 0o644) & 0o7777);
    applyXattrs(file, xattrsOf(header.pax as Record<string, string> | null), header.name);
  };

  /**
   * The entry's host path, its parent made (0755, as Docker's MkdirAll) when missing; what was there is removed
   * unless both are directories.
   */
  const prepare = (rel: string, header: Header): { file: string; existingDir: boolean; parentSetgid: boolean } => {
    const notADirectory = (cause?: unknown) => invalidArgument(`${what} entry "${header.name}": a parent of it is not a directory`, { cause });
    const file = resolveParentInRoot(root, path.posix.join(dir, rel));
    const parent = path.dirname(file);
    let parentStat = lstatIfAny(parent, notADirectory);
    if (!parentStat) {
      try {
        fs.mkdirSync(parent, { recursive: true, mode: 0o755 });
      } catch (error) {
        throw isNodeError(error, 'ENOTDIR') || isNodeError(error, 'EEXIST') ? notADirectory(error) : error;
      }
      parentStat = fs.lstatSync(parent);
    }
    if (!parentStat.isDirectory()) throw notADirectory();
    const existing = lstatIfAny(file, notADirectory);
    const isDir = header.type === 'directory';
    if (existing && options.noOverwriteDirNonDir) {
      const target = path.posix.join(dir, rel);
      if (existing.isDirectory() && !isDir) throw invalidArgument(`cannot overwrite directory "${target}" with non-directory "${header.name}"`);
      if (!existing.isDirectory() && isDir) throw invalidArgument(`cannot overwrite non-directory "${target}" with directory "${header.name}"`);
    }
    const existingDir = existing?.isDirectory() === true && isDir;
    if (existing && !existingDir) fs.rmSync(file, { recursive: true, force: true });
    return { file, existingDir, parentSetgid: (parentStat.mode & 0o2000) !== 0 };
  };

  const extract = tar.extract();
  const feeding = pipeline(source as AsyncIterable<Buffer>, extract);
  // A source that fails mid-file must fail the entry being read too, or reading it waits forever.
  let current: { destroy(error?: Error): void } | undefined;
  feeding.catch((error: Error) => current?.destroy(error));
  try {
    for await (const entry of extract) {
      current = entry;
      await extractEntry(entry);
    }
    await feeding;
  } finally {
    await files.drain().catch(() => undefined);
  }
  await files.drain();
  for (const [file, time] of dirTimes.reverse()) fs.utimesSync(file, time, time);
  return { entries };

  async function extractEntry(entry: AsyncIterable<unknown> & { header: Header; resume(): unknown }): Promise<void> {
    const header = entry.header;
    const rel = entryPath(header.name, what);
    checkHeaderFields(header, what);
    entries++;
    // The extraction point itself is the container's directory: it keeps its own owner and mode, as in Docker.
    if (rel === '') {
      entry.resume();
      return;
    }
    if (header.type === 'symlink' && !symlinkStaysInside(rel, header.linkname ?? '')) {
      throw dataCorrupt(`${what} entry "${header.name}": symlink to "${header.linkname}" leads outside the extraction directory`);
    }
    const linkSource = header.type === 'link' ? hardlinkSource(header) : undefined;
    const { file, existingDir, parentSetgid } = prepare(rel, header);
    switch (header.type) {
      case 'file':
      case 'contiguous-file': {
        const { uid, gid } = owner(header);
        await files.write(file, entry as AsyncIterable<Buffer>, header.size ?? 0, {
          mode: (header.mode ?? 0o644) & 0o7777,
          uid,
          gid,
          ...(header.mtime && { mtime: header.mtime }),
          xattrs: xattrsOf(header.pax as Record<string, string> | null),
          entry: header.name,
          inheritsGroup: parentSetgid,
        });
        // Later entries resolve their paths through what is on disk: this one must be there first.
        await files.settled(file);
        return;
      }
      case 'directory':
        if (!existingDir) fs.mkdirSync(file, 0o755);
        setAttributes(file, header);
        if (header.mtime) dirTimes.push([file, header.mtime]);
        break;
      case 'symlink':
        fs.symlinkSync(header.linkname ?? '', file);
        setAttributes(file, header, true);
        if (header.mtime) fs.lutimesSync(file, header.mtime, header.mtime);
        break;
      case 'link':
        fs.linkSync(linkSource!, file);
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (makeSpecialFile(file, header, isRoot)) {
          setAttributes(file, header);
          if (header.mtime) fs.utimesSync(file, header.mtime, header.mtime);
        }
        break;
      }
      default:
        throw dataCorrupt(`${what} entry "${header.name}": unsupported tar entry type "${header.type}"`);
    }
    entry.resume();
  }

  /** A hardlink's target: a name below `dir` (the layer rules), resolved in `root`, an existing non-directory. */
  function hardlinkSource(header: Header): string {
    const linkname = header.linkname ?? '';
    if (linkname.startsWith('/') || linkname.split('/').includes('..')) {
      throw dataCorrupt(`${what} entry "${header.name}": hardlink to "${linkname}" leads outside the extraction directory`);
    }
    const source = resolveParentInRoot(root, path.posix.join(dir, entryPath(linkname, what)));
    const stat = lstatIfAny(source, () => dataCorrupt(`${what} entry "${header.name}": hardlink to "${linkname}", which is not a file`));
    if (!stat || stat.isDirectory()) throw dataCorrupt(`${what} entry "${header.name}": hardlink to "${linkname}", which is not a file`);
    return source;
  }
}

/** The entry at `file`, undefined when there is none; `notADirectory` when a component of its path is a file. */
function lstatIfAny(file: string, notADirectory: (cause: unknown) => Error): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return undefined;
    if (isNodeError(error, 'ENOTDIR')) throw notADirectory(error);
    throw error;
  }
}
