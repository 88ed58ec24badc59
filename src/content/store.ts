import { createHash, randomBytes, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { dataCorrupt, isNodeError, notFound } from '../errors.js';
import { BackgroundWrites } from '../util/background-writes.js';
import { type Digest, hexOf, isDigest } from '../util/digest.js';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface Expected {
  digest?: Digest;
  size?: number;
}

/**
 * A blob being written: bytes go to a temp file under ingest/, hashed as they arrive. `stage()` fsyncs and
 * checks digest and size; `commit()` renames into blobs/, so a partial or wrong blob is never visible.
 * Staging apart from committing lets a multi-blob operation (load, pull) publish all or nothing.
 */
export class BlobWriter {
  private readonly hash: Hash = createHash('sha256');
  private fd: number | undefined;
  private written = 0;
  private staged: { digest: Digest; size: number } | undefined;
  private committed = false;

  constructor(
    private readonly store: ContentStore,
    readonly tempPath: string,
  ) {
    this.fd = fs.openSync(tempPath, 'wx', 0o644);
  }

  write(chunk: Buffer): void {
    if (this.fd === undefined) throw new Error('blob writer is closed');
    this.hash.update(chunk);
    let offset = 0;
    while (offset < chunk.length) offset += fs.writeSync(this.fd, chunk, offset);
    this.written += chunk.length;
  }

  /** Writes still on the thread pool (`writeSoon`), made when the first one comes. */
  private background: BackgroundWrites | undefined;

  /**
   * Like `write`, but the bytes reach the file on the thread pool, in order, while the caller goes on (a layer
   * being unpacked from the same bytes keeps the main thread busy). Resolves at once, or once the writes in
   * flight are under 16 MiB. Finish with `stageSoon`.
   */
  async writeSoon(chunk: Buffer): Promise<void> {
    if (this.fd === undefined) throw new Error('blob writer is closed');
    this.hash.update(chunk);
    this.written += chunk.length;
    this.background ??= new BackgroundWrites(this.fd);
    await this.background.write(chunk);
  }

  /** `stage` after `writeSoon`: waits for the writes, and flushes to disk on the thread pool too. */
  async stageSoon(expected: Expected = {}): Promise<{ digest: Digest; size: number }> {
    if (this.staged) return this.checked(this.staged, expected);
    try {
      await this.background?.flush();
    } catch (error) {
      this.abort();
      throw error;
    }
    const fd = this.fd;
    if (fd === undefined) throw new Error('blob writer is closed');
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve())));
    return this.verify(expected);
  }

  get size(): number {
    return this.written;
  }

  /** Flushes to disk and verifies; the blob is readable at tempPath but not yet in the store. */
  stage(expected: Expected = {}): { digest: Digest; size: number } {
    if (this.staged) return this.checked(this.staged, expected);
    if (this.fd === undefined) throw new Error('blob writer is closed');
    fs.fsyncSync(this.fd);
    return this.verify(expected);
  }

  /** Closes the flushed file and checks size and digest. */
  private verify(expected: Expected): { digest: Digest; size: number } {
    const digest: Digest = `sha256:${this.hash.digest('hex')}`;
    fs.closeSync(this.fd!);
    this.fd = undefined;
    this.staged = this.checked({ digest, size: this.written }, expected);
    return this.staged;
  }

  /** The staged blob if it is what the caller expected (however early it was staged); otherwise nothing is kept. */
  private checked(staged: { digest: Digest; size: number }, expected: Expected): { digest: Digest; size: number } {
    if (expected.size !== undefined && expected.size !== staged.size) {
      this.abort();
      throw dataCorrupt(`size mismatch for ${expected.digest ?? staged.digest}: expected ${expected.size} bytes, got ${staged.size}`);
    }
    if (expected.digest !== undefined && expected.digest !== staged.digest) {
      this.abort();
      throw dataCorrupt(`digest mismatch: expected ${expected.digest}, got ${staged.digest}`);
    }
    return staged;
  }

  /**
   * Publishes the staged blob; calling it again is a no-op. A concurrent writer of the same content may have
   * won the race: the rename simply replaces identical bytes.
   */
  commit(expected: Expected = {}): { digest: Digest; size: number } {
    if (this.aborted) throw new Error('blob writer was aborted');
    const staged = this.stage(expected);
    if (!this.committed) {
      fs.renameSync(this.tempPath, this.store.path(staged.digest));
      this.committed = true;
    }
    return staged;
  }

  /** Where the bytes are now: the temp file until committed, the store after. */
  get currentPath(): string {
    return this.committed && this.staged ? this.store.path(this.staged.digest) : this.tempPath;
  }

  private aborted = false;

  abort(): void {
    if (this.committed) return;
    this.aborted = true;
    if (this.fd !== undefined) {
      // Writes on the thread pool may still use the descriptor: it is closed after them, never reused under them.
      const fd = this.fd;
      this.fd = undefined;
      if (this.background) void this.background.settled().then(() => fs.closeSync(fd));
      else fs.closeSync(fd);
    }
    fs.rmSync(this.tempPath, { force: true });
  }
}

/** Blobs addressed by sha256 digest under <root>/blobs/sha256, written through ingest/ (containerd's content store). */
export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
    fs.mkdirSync(this.blobDir, { recursive: true });
    fs.mkdirSync(this.ingestDir, { recursive: true });
  }

  path(digest: Digest): string {
    return path.join(this.blobDir, hexOf(digest));
  }

  has(digest: Digest): boolean {
    return fs.existsSync(this.path(digest));
  }

  size(digest: Digest): number {
    try {
      return fs.statSync(this.path(digest)).size;
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) throw notFound(`blob ${digest} not found`, { cause: error });
      throw error;
    }
  }

  read(digest: Digest): Buffer {
    try {
      return fs.readFileSync(this.path(digest));
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) throw notFound(`blob ${digest} not found`, { cause: error });
      throw error;
    }
  }

  openRead(digest: Digest): Readable {
    if (!this.has(digest)) throw notFound(`blob ${digest} not found`);
    return fs.createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
  }

  writer(): BlobWriter {
    return new BlobWriter(this, path.join(this.ingestDir, `${process.pid}-${randomBytes(6).toString('hex')}`));
  }

  putBytes(data: Buffer, expected: Expected = {}): { digest: Digest; size: number } {
    const writer = this.writer();
    try {
      writer.write(data);
      return writer.commit(expected);
    } catch (error) {
      writer.abort();
      throw error;
    }
  }

  delete(digest: Digest): void {
    fs.rmSync(this.path(digest), { force: true });
  }

  list(): Digest[] {
    return fs
      .readdirSync(this.blobDir)
      .map((name) => `sha256:${name}`)
      .filter(isDigest);
  }

  /** Re-hashes a stored blob; false when its content no longer matches its name. */
  async verify(digest: Digest): Promise<boolean> {
    if (!this.has(digest)) throw notFound(`blob ${digest} not found`);
    const hash = createHash('sha256');
    for await (const chunk of fs.createReadStream(this.path(digest), { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  /** Temp files of writers still writing or dead mid-write; `system check --repair` removes the dead ones. */
  leftoverIngests(): string[] {
    return fs.readdirSync(this.ingestDir).map((name) => path.join(this.ingestDir, name));
  }
}
