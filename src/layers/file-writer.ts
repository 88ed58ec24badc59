import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { BackgroundWrites } from '../util/background-writes.js';
import { applyXattrs } from './pax.js';

export interface FileAttributes {
  mode: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  xattrs?: [string, Buffer][];
  /** The tar entry's name, for error messages. */
  entry: string;
  /** The parent directory is setgid: a new file takes its group, so even 0:0 must be set. */
  inheritsGroup?: boolean;
}

const setXattrs = (file: string, attributes: FileAttributes) => applyXattrs(file, attributes.xattrs ?? [], attributes.entry);

const isRoot = process.getuid?.() === 0;

/** This process's umask, read without changing it (process.umask() with no argument is deprecated). */
const umask = (() => {
  try {
    return Number.parseInt(/^Umask:\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '22', 8);
  } catch {
    return 0o022;
  }
})();

/**
 * The file is created with its mode, and owned by root as root creates it: chown and chmod are needed only for
 * other owners (or a setgid parent's group), setuid/setgid/sticky bits (chown would clear them) and bits the
 * umask took away. Thousands of small files: two system calls fewer each.
 */
const needsChown = (attributes: FileAttributes) => isRoot && ((attributes.uid ?? 0) !== 0 || (attributes.gid ?? 0) !== 0 || attributes.inheritsGroup === true);
const needsChmod = (attributes: FileAttributes) => (attributes.mode & 0o7000) !== 0 || (attributes.mode & umask) !== 0 || needsChown(attributes);

/**
 * Writes a layer's regular files several at a time on libuv's thread pool. Creating and filling thousands of
 * small files is kernel work that runs in parallel on the machine's cores, while the tar parser stays
 * sequential. Small files are buffered (bounded by `maxBytes` in flight); large ones stream in order.
 */
export class ParallelFileWriter {
  private inFlight = 0;
  private bytes = 0;
  private failure: unknown;
  private readonly waiters: (() => void)[] = [];
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly maxBytes = 16 << 20,
    private readonly maxJobs = 16,
  ) {}

  /** Consumes `content` and writes it to `file` (which must not exist), now or on the pool. */
  async write(file: string, content: AsyncIterable<Buffer>, size: number, attributes: FileAttributes): Promise<void> {
    if (size > this.maxBytes / 4) {
      await this.streamNow(file, content, attributes);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk);
    while (this.inFlight >= this.maxJobs || (this.inFlight > 0 && this.bytes + size > this.maxBytes)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.rethrow();
    this.inFlight++;
    this.bytes += size;
    const job = writeFile(file, chunks, attributes)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inFlight--;
        this.bytes -= size;
        this.pending.delete(file);
        this.waiters.shift()?.();
      });
    this.pending.set(file, job);
  }

  /** Resolves once `file` is completely written (a hardlink to it can then be made). */
  async settled(file: string): Promise<void> {
    await this.pending.get(file);
    this.rethrow();
  }

  /** Waits for every write; throws the first failure. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
    this.rethrow();
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * A large file: its chunks go to the thread pool as they come (at most `maxBytes / 2` waiting), so parsing
   * and hashing go on meanwhile; the file is finished once its last bytes are written.
   */
  private async streamNow(file: string, content: AsyncIterable<Buffer> | Readable, attributes: FileAttributes): Promise<void> {
    const fd = fs.openSync(file, 'wx', attributes.mode & 0o777);
    const writes = new BackgroundWrites(fd, this.maxBytes / 2);
    try {
      for await (const chunk of content as AsyncIterable<Buffer>) await writes.write(chunk);
      await writes.flush();
      if (needsChown(attributes)) fs.fchownSync(fd, attributes.uid ?? 0, attributes.gid ?? 0);
      if (needsChmod(attributes)) fs.fchmodSync(fd, attributes.mode);
      setXattrs(file, attributes);
      if (attributes.mtime) fs.futimesSync(fd, attributes.mtime, attributes.mtime);
    } finally {
      await writes.settled();
      fs.closeSync(fd);
    }
  }
}

async function writeFile(file: string, chunks: Buffer[], attributes: FileAttributes): Promise<void> {
  const handle = await fs.promises.open(file, 'wx', attributes.mode & 0o777);
  try {
    if (chunks.length > 0) await handle.writev(chunks);
    // chown before chmod: chown clears setuid/setgid bits.
    if (needsChown(attributes)) await handle.chown(attributes.uid ?? 0, attributes.gid ?? 0);
    if (needsChmod(attributes)) await handle.chmod(attributes.mode);
    setXattrs(file, attributes);
    if (attributes.mtime) await handle.utimes(attributes.mtime, attributes.mtime);
  } finally {
    await handle.close();
  }
}
