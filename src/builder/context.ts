/**
 * The build context: a directory (given, or a tarball / stdin unpacked into a temp dir), its .dockerignore, a
 * stat walk of what it holds, and content digests of its files. Digests are remembered per file with its
 * stat key (device, inode, size, mtime and ctime in ns), so a rebuild reads only files whose stat changed.
 * ctime is the guard against a same-size edit that kept its mtime (`touch -d` can set mtime, never ctime).
 * A digest is remembered only when the file's ctime lies more than a second before the read began: a write
 * racing the read within the clock's granularity could otherwise leave the same stat key on new content
 * (git's "racy clean" rule).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidArgument, isNodeError, notFound } from '../errors.js';
import type { BuildCache } from './cache.js';
import { DockerIgnore, type Matches } from './dockerignore.js';
import type { Digest } from '../util/digest.js';
import { peek } from '../util/streams.js';

export interface ContextEntry {
  /** Path relative to the context root, `/`-separated, no leading `./`. */
  rel: string;
  stat: fs.BigIntStats;
}

export interface ContextSource {
  /** A directory, a tarball (plain or compressed), `-` for stdin, or undefined for no context at all. */
  spec: string;
  /** `-f`: relative to the current directory (inside the tarball for a tar context); `-` reads stdin. */
  dockerfile?: string;
  stdin?: Readable;
  /** A named context (`--build-context NAME=DIR`): files only, no Dockerfile to read. */
  withoutDockerfile?: boolean;
}

const clockGranularityMs = 1000;

export class BuildContext {
  private entryList?: ContextEntry[];
  private readonly known: Map<string, { statKey: string; digest: Digest }>;
  private readonly fresh: [string, string, Digest][] = [];
  private readonly buffer = Buffer.allocUnsafe(1 << 20);

  private constructor(
    readonly dir: string,
    readonly dockerfileText: string,
    readonly dockerfileName: string,
    private readonly ignorer: DockerIgnore,
    private readonly cache: BuildCache,
    /** A temp dir to remove at the end (tar and stdin contexts). */
    private readonly temporary: boolean,
  ) {
    // Digests of a temp dir's files are worth nothing next time.
    this.known = temporary ? new Map() : cache.fileDigests(dir);
  }

  /** Opens a context and reads its Dockerfile; throws a one-line error for a missing context or Dockerfile. */
  static async open(source: ContextSource, cache: BuildCache): Promise<BuildContext> {
    const { spec, stdin = process.stdin } = source;
    let dir: string;
    let temporary = false;
    let dockerfileText: string | undefined;
    if (spec === '-') {
      const head = await peek(stdin, 512);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-context-'));
      temporary = true;
      if (looksLikeArchive(head)) await unpackTar(stdin, dir);
      else dockerfileText = await readAll(stdin); // a lone Dockerfile: the context is empty
    } else {
      const stat = statOrUndefined(spec);
      if (!stat) throw notFound(`unable to prepare context: path ${JSON.stringify(spec)} not found`);
      if (stat.isDirectory()) dir = fs.realpathSync(spec);
      else {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-context-'));
        temporary = true;
        await unpackTar(fs.createReadStream(spec), dir);
      }
    }
    try {
      let name = source.dockerfile ?? 'Dockerfile';
      if (source.withoutDockerfile) dockerfileText = '';
      else if (dockerfileText === undefined) {
        if (source.dockerfile === '-') {
          dockerfileText = await readAll(stdin);
          name = 'Dockerfile';
        } else {
          const file = temporary || source.dockerfile === undefined ? path.join(dir, name) : path.resolve(name);
          dockerfileText = readDockerfile(file, source.dockerfile === undefined ? path.join(dir, 'dockerfile') : undefined);
        }
      }
      const ignorer = DockerIgnore.parse(readIgnoreFile(dir));
      return new BuildContext(dir, dockerfileText, path.basename(name), ignorer, cache, temporary);
    } catch (error) {
      if (temporary) fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Every file and directory the context sends (.dockerignore applied), parents before children. */
  entries(): ContextEntry[] {
    this.entryList ??= this.walk('');
    return this.entryList;
  }

  /**
   * What `Sending build context` reports: the size of the context as the tar Docker's CLI would send (a
   * 512-byte header per entry, a PAX record more for a long name, file data in 512-byte blocks, two end blocks).
   */
  size(): number {
    const block = 512;
    return this.entries().reduce((sum, { rel, stat }) => {
      const data = stat.isFile() ? Math.ceil(Number(stat.size) / block) * block : 0;
      return sum + block + (Buffer.byteLength(rel) >= 100 ? 2 * block : 0) + data;
    }, 2 * block);
  }

  isIgnored(rel: string): boolean {
    return rel !== '' && this.ignorer.ignores(rel);
  }

  /** The content digest of a regular file of the context, from memory when its stat key is unchanged. */
  digest(entry: ContextEntry): Digest {
    const file = path.join(this.dir, entry.rel);
    const key = statKey(entry.stat);
    const known = this.known.get(file);
    if (known?.statKey === key) return known.digest;
    const started = Date.now();
    const digest = hashFile(file, this.buffer);
    this.remember(file, entry.stat, digest, started);
    return digest;
  }

  /** Records a digest computed elsewhere (while the file was streamed into a layer), with the same rule. */
  remember(file: string, stat: fs.BigIntStats, digest: Digest, readStartedMs: number): void {
    if (this.temporary) return;
    if (Number(stat.ctimeNs / 1_000_000n) >= readStartedMs - clockGranularityMs) return;
    const key = statKey(stat);
    this.known.set(file, { statKey: key, digest });
    this.fresh.push([file, key, digest]);
  }

  /** Saves the digests learnt in this build and removes a temp context. */
  close(): void {
    if (this.fresh.length > 0) this.cache.saveFileDigests(this.fresh);
    this.fresh.length = 0;
    if (this.temporary) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The walk: each path is matched once against each pattern, its directory's matches passed down. An excluded
   * directory is still walked when an exception (`!pattern`) could re-include something below it.
   */
  private walk(dir: string, parent: Matches = this.ignorer.patterns.map(() => false)): ContextEntry[] {
    const out: ContextEntry[] = [];
    const names = fs.readdirSync(path.join(this.dir, dir)).sort();
    for (const name of names) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const stat = fs.lstatSync(path.join(this.dir, rel), { bigint: true });
      const matches = this.ignorer.matches(rel, parent);
      const ignored = this.ignorer.excluded(matches);
      if (!ignored) out.push({ rel, stat });
      if (stat.isDirectory() && (!ignored || this.ignorer.mayReinclude(rel))) out.push(...this.walk(rel, matches));
    }
    return out;
  }
}

export function statKey(stat: fs.BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

/** sha256 of a file, read synchronously through one reused buffer (many small files: no stream overhead). */
export function hashFile(file: string, buffer = Buffer.allocUnsafe(1 << 20)): Digest {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return `sha256:${hash.digest('hex')}`;
}

function readIgnoreFile(dir: string): string {
  try {
    return fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return '';
    throw error;
  }
}

function readDockerfile(file: string, fallback?: string): string {
  for (const candidate of [file, fallback]) {
    if (candidate === undefined) continue;
    try {
      return fs.readFileSync(candidate, 'utf8');
    } catch (error) {
      if (!isNodeError(error, 'ENOENT') && !isNodeError(error, 'ENOTDIR')) throw error;
    }
  }
  throw notFound(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${file}: no such file or directory`);
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch (error) {
    if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** A tar (ustar magic at 257) or a compressed stream (gzip, bzip2, xz, zstd magic). */
function looksLikeArchive(head: Buffer): boolean {
  if (head.length >= 262 && head.subarray(257, 262).toString() === 'ustar') return true;
  const magic = head.subarray(0, 6);
  return (
    magic.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])) ||
    magic.subarray(0, 3).toString() === 'BZh' ||
    magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ||
    magic.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))
  );
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Unpacks a context tarball with GNU tar, which refuses `..` and absolute member names and knows every
 * compression; ownership is not kept (the context's files are copied as root's anyway).
 */
async function unpackTar(stream: Readable, dir: string): Promise<void> {
  const child = spawn('tar', ['-x', '--no-same-owner', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // tar may stop reading early on a bad archive: its stdin then breaks, which its exit status explains.
  await pipeline(stream, child.stdin).catch(() => undefined);
  if ((await exited) !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw invalidArgument(`unable to prepare context: the context is not a valid tar archive: ${stderr.trim().split('\n')[0] ?? ''}`);
  }
}
