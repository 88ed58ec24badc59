/**
 * COPY and ADD: the layer tar that puts the sources (sources.ts) at the destination. The tar is written straight from the sources, so each file is
 * read once and written once (by the layer unpack), and deterministically: entries in byte order, one mtime.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { conflict, invalidArgument, notFound } from '../errors.js';
import { decompress } from '../layers/compression.js';
import { type EntryHeader, TarOutput } from '../layers/diff.js';
import { deviceNumbers } from '../layers/overlay-entries.js';
import type { UnionView } from '../layers/union.js';
import { whiteoutPrefix } from '../layers/whiteout.js';
import type { Digest } from '../util/digest.js';
import { type HttpResponse, send } from '../util/http.js';
import { peek } from '../util/streams.js';
import { joinRelative as join } from '../util/rootpath.js';
import { typeBits } from '../util/file-mode.js';
import type { CopySource, SourceFile } from './sources.js';

export interface CopyPlan {
  sources: CopySource[];
  /** Absolute destination (WORKDIR applied); a trailing `/` says it is a directory. */
  dest: string;
  /** `--chown`, resolved. */
  owner?: { uid: number; gid: number };
  /** `--chmod`, for every file and directory copied. */
  chmod?: number;
  /** The mtime every entry gets (archives extracted by ADD keep their own). */
  mtime: Date;
  instruction: string;
}

/**
 * Writes the layer a COPY/ADD makes on top of `image` (the parent image's layers, as one view): the
 * destination is resolved inside it, its existing parent directories are repeated with their own metadata,
 * missing ones created 0755. `onDigest` learns the content digest of each file as it is streamed.
 */
export async function writeCopyLayer(plan: CopyPlan, image: UnionView, sink: (chunk: Buffer) => void | Promise<void>, onDigest?: (source: CopySource, file: SourceFile, digest: Digest) => void): Promise<{ size: number }> {
  const { sources, instruction } = plan;
  if (sources.length > 1 && !plan.dest.endsWith('/')) {
    throw invalidArgument(`When using ${instruction} with more than one source file, the destination must be a directory and end with a /`);
  }
  const destRel = image.resolve(plan.dest);
  const existing = (rel: string) => {
    const stat = image.entry(rel)?.stat;
    return stat && { mode: Number(stat.mode), uid: Number(stat.uid), gid: Number(stat.gid), isDirectory: () => stat.isDirectory() };
  };
  const destIsDir = plan.dest.endsWith('/') || destRel === '' || existing(destRel)?.isDirectory() === true;

  const entries = new Map<string, Entry>();
  const newDirOwner = plan.owner ?? { uid: 0, gid: 0 };
  const addDir = (rel: string, mode: number, owner: { uid: number; gid: number }) => {
    checkName(rel, instruction);
    const stat = existing(rel);
    if (stat && !stat.isDirectory()) throw conflict(`${instruction} failed: cannot copy to non-directory: /${rel}`);
    entries.set(rel, stat ? { kind: 'dir', mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid } : { kind: 'dir', mode, uid: owner.uid, gid: owner.gid });
  };
  const archives: { source: CopySource; base: string }[] = [];
  for (const source of sources) {
    if (source.archive) {
      archives.push({ source, base: destRel });
      continue;
    }
    const isDir = source.root.stat.isDirectory() && !source.content;
    if (!isDir) {
      const target = source.parentPath !== undefined ? join(destRel, source.parentPath) : destIsDir ? join(destRel, source.name) : destRel;
      checkName(target, instruction);
      entries.set(target, fileEntry(source, source.files[0] ?? source.root, plan));
      continue;
    }
    const base = source.parentPath !== undefined ? join(destRel, source.parentPath) : destRel;
    checkName(base, instruction);
    if (!entries.has(base) && !existing(base)) entries.set(base, { kind: 'dir', mode: plan.chmod ?? Number(source.root.stat.mode) & 0o7777, ...ownerOf(source, source.root.stat, plan) });
    for (const file of source.files) {
      const target = join(base, file.rel);
      checkName(target, instruction);
      entries.set(target, fileEntry(source, file, plan));
    }
  }
  // Every parent of what is written gets an entry: existing ones as they are, missing ones created.
  for (const rel of [...entries.keys(), ...archives.map((a) => a.base)]) {
    for (let parent = path.posix.dirname(rel); parent !== '.' && parent !== ''; parent = path.posix.dirname(parent)) {
      if (!entries.has(parent)) addDir(parent, 0o755, newDirOwner);
    }
  }
  for (const { base } of archives) if (base !== '' && !entries.has(base)) addDir(base, 0o755, newDirOwner);

  const out = new TarOutput(sink);
  let size = 0;
  try {
    const names = [...entries.keys()].filter((name) => name !== '').sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) size += await writeEntry(out, name, entries.get(name)!, plan.mtime, onDigest);
    for (const { source, base } of archives) size += await extractArchive(out, source.root.file, base, plan);
    await out.finish();
  } catch (error) {
    throw await out.abort(error);
  }
  return { size };
}

type Entry =
  | { kind: 'dir'; mode: number; uid: number; gid: number }
  | { kind: 'file'; mode: number; uid: number; gid: number; source: CopySource; file: SourceFile }
  | { kind: 'content'; mode: number; uid: number; gid: number; content: Buffer };

function fileEntry(source: CopySource, file: SourceFile, plan: CopyPlan): Entry {
  const owner = ownerOf(source, file.stat, plan);
  if (source.content) return { kind: 'content', mode: plan.chmod ?? 0o644, ...owner, content: source.content };
  const perm = Number(file.stat.mode) & 0o7777;
  if (file.stat.isDirectory()) return { kind: 'dir', mode: plan.chmod ?? perm, ...owner };
  return { kind: 'file', mode: file.stat.isSymbolicLink() ? perm : (plan.chmod ?? perm), ...owner, source, file };
}

function ownerOf(source: CopySource, stat: fs.BigIntStats, plan: CopyPlan): { uid: number; gid: number } {
  if (plan.owner) return plan.owner;
  return source.keepOwner ? { uid: Number(stat.uid), gid: Number(stat.gid) } : { uid: 0, gid: 0 };
}

async function writeEntry(out: TarOutput, name: string, entry: Entry, mtime: Date, onDigest: Parameters<typeof writeCopyLayer>[3]): Promise<number> {
  const base = { name, uid: entry.uid, gid: entry.gid, mtime };
  if (entry.kind === 'dir') return out.add({ ...base, name: `${name}/`, type: 'directory', mode: fs.constants.S_IFDIR | entry.mode });
  if (entry.kind === 'content') return out.addContent({ ...base, type: 'file', mode: fs.constants.S_IFREG | entry.mode, size: entry.content.length }, [entry.content]);
  const { stat, file } = entry.file;
  const header: EntryHeader = { ...base, mode: typeBits(stat) | entry.mode };
  if (stat.isSymbolicLink()) return out.add({ ...header, type: 'symlink', linkname: fs.readlinkSync(file) });
  if (stat.isFile()) {
    const hash = createHash('sha256');
    const written = await out.addFile({ ...header, type: 'file', size: Number(stat.size) }, file, hash);
    onDigest?.(entry.source, entry.file, `sha256:${hash.digest('hex')}`);
    return written;
  }
  if (stat.isSocket()) return 0;
  const [devmajor, devminor] = deviceNumbers(Number(stat.rdev));
  return out.add({ ...header, type: stat.isFIFO() ? 'fifo' : stat.isBlockDevice() ? 'block-device' : 'character-device', devmajor, devminor });
}

/** ADD of a local archive: its entries, re-rooted at `base`, with their own modes, owners and times. */
async function extractArchive(out: TarOutput, file: string, base: string, plan: CopyPlan): Promise<number> {
  const { stream } = await decompress(fs.createReadStream(file));
  const extract = tar.extract();
  stream.pipe(extract);
  const where = (name: string) => {
    const normal = path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
    return normal === '' ? base : join(base, normal);
  };
  let size = 0;
  for await (const entry of extract) {
    const header = entry.header;
    const name = where(header.name);
    checkName(name, plan.instruction);
    const common: EntryHeader = {
      name,
      mode: (header.mode ?? 0o644) & 0o7777,
      uid: plan.owner?.uid ?? header.uid ?? 0,
      gid: plan.owner?.gid ?? header.gid ?? 0,
      mtime: header.mtime ?? plan.mtime,
    };
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        size += await out.addContent({ ...common, mode: fs.constants.S_IFREG | common.mode!, type: 'file', size: header.size ?? 0 }, entry as AsyncIterable<Buffer>);
        continue;
      case 'directory':
        if (name !== '') await out.add({ ...common, name: `${name}/`, mode: fs.constants.S_IFDIR | common.mode!, type: 'directory' });
        break;
      case 'symlink':
        await out.add({ ...common, mode: fs.constants.S_IFLNK | common.mode!, type: 'symlink', linkname: header.linkname ?? '' });
        break;
      case 'link':
        await out.add({ ...common, mode: fs.constants.S_IFREG | common.mode!, type: 'link', linkname: where(header.linkname ?? '') });
        break;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await out.add({ ...common, type: header.type, devmajor: header.devmajor ?? 0, devminor: header.devminor ?? 0 });
        break;
      default:
        break;
    }
    entry.resume();
  }
  return size;
}

/** ADD extracts a local file when it is a tar archive, plain or compressed with gzip, bzip2, xz or zstd. */
export async function isTarArchive(file: string): Promise<boolean> {
  const source = fs.createReadStream(file);
  try {
    const { stream } = await decompress(source);
    const head = await peek(stream, 262);
    stream.destroy();
    return head.length >= 262 && head.subarray(257, 262).toString() === 'ustar';
  } catch {
    return false;
  } finally {
    source.destroy();
  }
}

/** ADD <url>: the file is downloaded next to the context (mode 0600 as Docker gives it; mtime from Last-Modified). */
export async function downloadSource(url: string, dir: string, instruction: string): Promise<CopySource> {
  let response: HttpResponse;
  try {
    response = await send(new URL(url), { method: 'GET' });
  } catch (error) {
    throw invalidArgument(`${instruction} failed: ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (response.status < 200 || response.status > 299) {
    response.discard();
    throw notFound(`${instruction} failed: ${url}: ${response.status} ${response.statusText}`);
  }
  const name = path.posix.basename(new URL(url).pathname) || 'index.html';
  const file = path.join(fs.mkdtempSync(path.join(dir, 'download-')), 'content');
  await pipeline(response.body, fs.createWriteStream(file, { mode: 0o600 }));
  fs.chmodSync(file, 0o600);
  const modified = Date.parse(response.header('last-modified') ?? '');
  if (!Number.isNaN(modified)) fs.utimesSync(file, modified / 1000, modified / 1000);
  const stat = fs.lstatSync(file, { bigint: true });
  const root = { rel: '', file, stat };
  return { name, root, files: [root] };
}

function checkName(rel: string, instruction: string): void {
  if (path.posix.basename(rel).startsWith(whiteoutPrefix)) throw invalidArgument(`${instruction} failed: /${rel}: names beginning with ${whiteoutPrefix} are reserved for layer whiteouts`);
}
