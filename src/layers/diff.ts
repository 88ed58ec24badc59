import type { Hash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import tar, { type Header, type Pack } from 'tar-stream';
import { conflict } from '../errors.js';
import { contentXattrs, deviceNumbers, differs, isOpaque, isWhiteout, lowerEntry, lowerNames } from './overlay-entries.js';
import { opaqueMarker, whiteoutPrefix } from './whiteout.js';
import { joinRelative as join } from '../util/rootpath.js';

const xattrPrefix = 'SCHILY.xattr.';

/**
 * tar-stream's pack writes PAX records as UTF-8 text, which would mangle binary xattr values (security.capability).
 * pax.ts makes the decoder read SCHILY.xattr.* values as latin1 (one char per byte); this is the encoder's half:
 * those values, given as latin1 strings, go out as the exact bytes. Pack looks encodePax up on its headers module
 * at each call, so replacing it there (once) is enough.
 */
function installBinaryXattrEncoding(): void {
  const require = createRequire(import.meta.url);
  const headers = require(require.resolve('tar-stream').replace(/index\.js$/, 'headers.js')) as {
    encodePax: (opts: { name?: string; linkname?: string; pax?: Record<string, string> }) => Buffer;
  };
  headers.encodePax = ({ name, linkname, pax }) => {
    const records: Buffer[] = [];
    if (name) records.push(paxRecord('path', Buffer.from(name)));
    if (linkname) records.push(paxRecord('linkpath', Buffer.from(linkname)));
    for (const [key, value] of Object.entries(pax ?? {})) {
      records.push(paxRecord(key, Buffer.from(value, key.startsWith(xattrPrefix) ? 'latin1' : 'utf8')));
    }
    return Buffer.concat(records);
  };
}

/** One "<length> <key>=<value>\n" record; the length counts its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

installBinaryXattrEncoding();

/** Names in byte order, as Go's filepath.Walk and GNU tar --sort=name list them. */
function sortedNames(dir: string): string[] {
  return fs.readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}


/** Every entry under `root`, depth first, a directory before its contents. */
function* walk(root: string, dir = ''): Generator<[string, fs.Stats]> {
  for (const name of sortedNames(dir === '' ? root : `${root}/${dir}`)) {
    const rel = join(dir, name);
    const stat = fs.lstatSync(`${root}/${rel}`);
    yield [rel, stat];
    if (stat.isDirectory()) yield* walk(root, rel);
  }
}

export interface LayerTarOptions {
  /** Replaces every entry's modification time (reproducible builds: SOURCE_DATE_EPOCH). */
  mtime?: Date;
}

/**
 * Writes the changes an overlay upper dir holds as an OCI layer tar, streamed to `sink` (awaited, so a slow sink
 * slows the walk): entries depth first with names in byte order (deterministic, as Docker and GNU tar
 * --sort=name order them), whiteouts as empty `.wh.<name>` files in their name's place, an opaque dir followed
 * by its `.wh..wh..opq` marker, hardlinks within the dir as link entries, xattrs (but overlay's) as PAX
 * SCHILY.xattr records. The dir itself gets no entry, as in Docker's layers. Returns the layer's size: the sum
 * of its regular files' sizes. Works on any directory, a merged root included (`export`).
 */
export async function writeLayerTar(upperDir: string, sink: (chunk: Buffer) => void | Promise<void>, options: LayerTarOptions = {}): Promise<{ size: number }> {
  const out = new TarOutput(sink);
  const firstPaths = new Map<string, string>();
  let size = 0;
  try {
    for (const [rel, stat] of walk(upperDir)) size += await addEntry(out, `${upperDir}/${rel}`, rel, stat, firstPaths, options.mtime);
    await out.finish();
  } catch (error) {
    throw await out.abort(error);
  }
  return { size };
}

/**
 * A tar of one path, as Docker's archive of a container path (`docker cp CONTAINER:PATH -`): the path's own entry
 * named `name`, then for a directory everything below it under `name/`, in writeLayerTar's order and form. A
 * symlink is archived as the link. `name` is the base name the client asked for: `/` for the root (entries `/`,
 * `/bin/` ... as Docker names them), `.` for a directory's contents.
 */
export async function writePathTar(file: string, name: string, sink: (chunk: Buffer) => void | Promise<void>): Promise<{ size: number }> {
  const out = new TarOutput(sink);
  const firstPaths = new Map<string, string>();
  const below = name.endsWith('/') ? name : `${name}/`;
  try {
    const stat = fs.lstatSync(file);
    let size = await addEntry(out, file, name, stat, firstPaths, undefined);
    if (stat.isDirectory()) for (const [rel, childStat] of walk(file)) size += await addEntry(out, `${file}/${rel}`, below + rel, childStat, firstPaths, undefined);
    await out.finish();
    return { size };
  } catch (error) {
    throw await out.abort(error);
  }
}

/** Adds one upper-dir entry (two for an opaque dir); returns the bytes of file data it wrote. */
async function addEntry(out: TarOutput, file: string, rel: string, stat: fs.Stats, firstPaths: Map<string, string>, mtime: Date | undefined): Promise<number> {
  // The full st_mode, type bits included: pack replaces a falsy mode (a 0000 file) by 0644 and keeps only 07777.
  const base = { uid: stat.uid, gid: stat.gid, mode: stat.mode, mtime: mtime ?? stat.mtime };
  if (isWhiteout(stat)) {
    const dir = path.posix.dirname(rel);
    return out.add({ ...base, name: join(dir === '.' ? '' : dir, whiteoutPrefix + path.posix.basename(rel)), type: 'file', mode: fs.constants.S_IFREG | 0o600 });
  }
  const pax = paxOf(file, stat);
  if (stat.isDirectory()) {
    await out.add({ ...base, name: rel.endsWith('/') ? rel : `${rel}/`, type: 'directory', pax });
    if (isOpaque(file)) await out.add({ ...base, name: `${rel}/${opaqueMarker}`, type: 'file', mode: fs.constants.S_IFREG | (stat.mode & 0o777) });
    return 0;
  }
  if (stat.isSymbolicLink()) return out.add({ ...base, name: rel, type: 'symlink', linkname: fs.readlinkSync(file), pax });
  if (stat.isSocket()) return 0; // tar has no socket entries (GNU tar skips them too)

  const first = firstPathOf(firstPaths, rel, stat);
  if (first !== undefined) return out.add({ ...base, name: rel, type: 'link', linkname: first });
  if (stat.isFile()) return out.addFile({ ...base, name: rel, type: 'file', size: stat.size, pax }, file);
  const [devmajor, devminor] = deviceNumbers(stat.rdev);
  return out.add({ ...base, name: rel, type: stat.isFIFO() ? 'fifo' : stat.isBlockDevice() ? 'block-device' : 'character-device', devmajor, devminor, pax });
}

/** The path that already carries this inode, or undefined after remembering `rel` as its first path. */
function firstPathOf(firstPaths: Map<string, string>, rel: string, stat: fs.Stats): string | undefined {
  if (stat.nlink < 2) return undefined;
  const key = `${stat.dev}:${stat.ino}`;
  const first = firstPaths.get(key);
  if (first === undefined) firstPaths.set(key, rel);
  return first;
}

function paxOf(file: string, stat: fs.Stats): Record<string, string> | undefined {
  const pax: Record<string, string> = {};
  for (const [name, value] of contentXattrs(file)) pax[xattrPrefix + name] = value.toString('latin1');
  // ustar's 7 octal digits end at 2097151; readers such as GNU tar and Go take larger ids from PAX records.
  if (stat.uid > 0o7777777) pax.uid = String(stat.uid);
  if (stat.gid > 0o7777777) pax.gid = String(stat.gid);
  return Object.keys(pax).length > 0 ? pax : undefined;
}

export type EntryHeader = Partial<Header> & { name: string; pax?: Record<string, string> | undefined };

/** tar-stream's pack, read into the sink as it fills (awaited, so a slow sink slows the writer). */
export class TarOutput {
  private readonly pack: Pack = tar.pack();
  private readonly draining: Promise<void>;
  private progressed = () => {};

  constructor(sink: (chunk: Buffer) => void | Promise<void>) {
    this.draining = (async () => {
      for await (const chunk of this.pack) {
        await sink(chunk as Buffer);
        this.progressed();
      }
    })();
    // Failures are reported by finish() or abort(); until then the rejection must not count as unhandled.
    this.draining.catch(() => undefined).finally(() => this.progressed());
  }

  /** Adds an entry without data (an empty file's too, hence the empty buffer); resolves to 0 bytes of file data. */
  async add(header: EntryHeader): Promise<number> {
    await this.room();
    await new Promise<void>((resolve, reject) => this.pack.entry(header, Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));
    return 0;
  }

  /** Adds a regular file with `header.size` bytes read from `file` (fed to `hash` too); resolves to that size. */
  async addFile(header: EntryHeader & { size: number }, file: string, hash?: Hash): Promise<number> {
    // Opened only when the entry is written: an aborted tar must not leave a stream opening a file behind.
    // Small files are read in one synchronous call: for thousands of them, a trip through the thread pool per
    // open, read and close costs more than the reads themselves.
    const content = async function* () {
      if (header.size === 0) return;
      if (header.size <= smallFile) yield readSmallFile(file, header.size);
      else yield* fs.createReadStream(file, { end: header.size - 1 }) as AsyncIterable<Buffer>;
    };
    return this.addContent(header, content(), hash);
  }

  /** Adds a regular file whose `header.size` bytes come from `content`; resolves to that size. */
  async addContent(header: EntryHeader & { size: number }, content: AsyncIterable<Buffer> | Iterable<Buffer>, hash?: Hash): Promise<number> {
    await this.room();
    await new Promise<void>((resolve, reject) => {
      const entry = this.pack.entry(header, (error) => (error ? reject(error) : resolve()));
      writeContent(entry, content, header.size, header.name, hash).catch((error: unknown) => {
        entry.destroy(error as Error);
        reject(error);
      });
    });
    return header.size;
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.draining;
  }

  /** Stops packing; returns the error to throw: the sink's own if it failed first. */
  async abort(error: unknown): Promise<unknown> {
    this.pack.destroy(error as Error);
    return this.draining.then(
      () => error,
      (drainError: unknown) => drainError,
    );
  }

  /**
   * Entries without data take no notice of backpressure in tar-stream; its streamx base class says when the
   * reader is behind, and then the walk waits for the sink instead of buffering the layer's headers.
   */
  private async room(): Promise<void> {
    const isBackpressured = (this.pack.constructor as unknown as { isBackpressured(stream: Pack): boolean }).isBackpressured;
    while (isBackpressured(this.pack) && !this.pack.destroyed) await new Promise<void>((resolve) => (this.progressed = resolve));
  }
}

const smallFile = 1 << 20;

/** Up to `size` bytes of a file (fewer if it shrank, which the caller reports). */
function readSmallFile(file: string, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  const fd = fs.openSync(file, 'r');
  try {
    let filled = 0;
    for (let n; filled < size && (n = fs.readSync(fd, buffer, filled, size - filled, null)) > 0; ) filled += n;
    return buffer.subarray(0, filled);
  } finally {
    fs.closeSync(fd);
  }
}

/** Streams `size` bytes into a pack entry, waiting whenever the entry is full. */
async function writeContent(entry: ReturnType<Pack['entry']>, content: AsyncIterable<Buffer> | Iterable<Buffer>, size: number, name: string, hash?: Hash): Promise<void> {
  let written = 0;
  for await (const chunk of content) {
    written += chunk.length;
    hash?.update(chunk);
    if (!entry.write(chunk)) await once(entry, 'drain');
  }
  // The header already promised the size: a file that shrank since its lstat cannot be written any more.
  if (written !== size) throw conflict(`${name} changed while the layer was being written`);
  entry.end(null); // streamx types end() with a required argument
}

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/**
 * What `docker diff` prints for a container: its merged root compared with its image's. Docker (on overlay2 since
 * 2018, moby ac5d363e67, as its upper-dir walk got opaque dirs wrong; and with the containerd store) computes it
 * with archive.ChangesDirs over both mounted trees. The same answer comes from the upper dir alone, each entry
 * looked up in the lower dirs (topmost first) as overlay would, so the cost follows the size of the change:
 *
 * - A: in the container, not in the image (and everything below an added directory);
 * - D: in the image, gone from the container: a whiteout, or a lower entry an opaque dir hides (not what is
 *   below a deleted directory);
 * - C: in both, with a different type, mode, owner, device number or security.capability, or for non-directories
 *   a different size or mtime (at whole seconds when either side has none), or a directory holding changes.
 *
 * A file copied up but left as it was (a hardlink made to it, an xattr other than the capability set) is no
 * change, as in Docker. Paths are absolute, in byte order (Docker's own order depends on Go map iteration).
 */
export async function changes(upperDir: string, lowerDirs: string[]): Promise<Change[]> {
  const found: Change[] = [];
  compareDir(upperDir, '', lowerDirs, found);
  return found.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

/** Adds the changes below upper directory `rel`, whose image counterpart the lowers `below` merge; returns how many. */
function compareDir(upperDir: string, rel: string, below: string[], found: Change[]): number {
  const start = found.length;
  const dir = rel === '' ? upperDir : `${upperDir}/${rel}`;
  const opaque = rel !== '' && isOpaque(dir); // overlay ignores the root's opaque mark
  const present = new Set<string>();
  for (const name of fs.readdirSync(dir)) {
    const child = join(rel, name);
    const stat = fs.lstatSync(`${upperDir}/${child}`, { bigint: true });
    if (isWhiteout(stat)) {
      if (!opaque && lowerEntry(below, child)) found.push({ kind: 'D', path: `/${child}` });
      continue;
    }
    present.add(name);
    const before = lowerEntry(below, child);
    if (!before) {
      addTree(upperDir, child, stat, found);
      continue;
    }
    const modified = differs(before, stat, `${upperDir}/${child}`);
    if (modified) found.push({ kind: 'C', path: `/${child}` });
    if (stat.isDirectory() && compareDir(upperDir, child, before.layers, found) > 0 && !modified) found.push({ kind: 'C', path: `/${child}` });
  }
  if (opaque) {
    for (const name of lowerNames(below, rel)) if (!present.has(name)) found.push({ kind: 'D', path: `/${join(rel, name)}` });
  }
  return found.length - start;
}

/** Reports `rel` and, for a directory, everything in it as added. */
function addTree(upperDir: string, rel: string, stat: fs.BigIntStats, found: Change[]): void {
  found.push({ kind: 'A', path: `/${rel}` });
  if (!stat.isDirectory()) return;
  for (const name of fs.readdirSync(`${upperDir}/${rel}`)) {
    const child = join(rel, name);
    const childStat = fs.lstatSync(`${upperDir}/${child}`, { bigint: true });
    if (!isWhiteout(childStat)) addTree(upperDir, child, childStat, found);
  }
}
