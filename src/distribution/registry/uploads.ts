import { createHash, randomUUID, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isNodeError } from '../../errors.js';
import type { Digest } from '../../util/digest.js';
import { registryError } from './errors.js';
import type { UploadStatus } from './storage.js';

const idPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Upload sessions, one directory each under <root>/uploads: `data` (the bytes so far, appended chunk by chunk)
 * and `repository` (the name the session belongs to). The directory lives on the same filesystem as the blob
 * store so a verified upload is published with one rename. The running sha256 of each session is kept in
 * memory while chunks arrive in order; after a restart or a failed chunk the data is simply hashed again.
 */
export class UploadArea {
  readonly dir: string;
  private readonly hashes = new Map<string, { hash: Hash; offset: number }>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.dir = path.join(root, 'uploads');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  start(name: string): UploadStatus {
    const id = randomUUID();
    fs.mkdirSync(path.join(this.dir, id));
    fs.writeFileSync(path.join(this.dir, id, 'data'), '');
    fs.writeFileSync(path.join(this.dir, id, 'repository'), name);
    this.hashes.set(id, { hash: createHash('sha256'), offset: 0 });
    return { id, offset: 0 };
  }

  status(name: string, id: string): UploadStatus {
    const unknown = () => registryError('BLOB_UPLOAD_UNKNOWN', `upload ${id} is unknown to repository ${name}`, { id });
    if (!idPattern.test(id)) throw unknown();
    try {
      if (fs.readFileSync(path.join(this.dir, id, 'repository'), 'utf8') !== name) throw unknown();
      return { id, offset: fs.statSync(this.dataPath(id)).size };
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) throw unknown();
      throw error;
    }
  }

  /**
   * Appends one chunk. A chunk that fails midway, or whose length is not the declared one, is cut off again, so
   * the session's offset only ever moves by whole chunks.
   */
  append(name: string, id: string, body: AsyncIterable<Buffer>, chunk: { start?: number; length?: number } = {}): Promise<UploadStatus> {
    return this.locked(id, async () => {
      const { offset } = this.status(name, id);
      if (chunk.start !== undefined && chunk.start !== offset) {
        throw registryError('BLOB_UPLOAD_INVALID', `chunk starts at ${chunk.start}, but the upload has ${offset} bytes: the next chunk must start at ${offset}`, { offset }, 416);
      }
      let running = this.hashes.get(id);
      if (running && running.offset !== offset) {
        this.hashes.delete(id);
        running = undefined;
      }
      let received = 0;
      const counter = new Transform({
        transform(data: Buffer, _encoding, callback) {
          received += data.length;
          running?.hash.update(data);
          callback(null, data);
        },
      });
      try {
        await pipeline(body, counter, fs.createWriteStream(this.dataPath(id), { flags: 'a' }));
        if (chunk.length !== undefined && received !== chunk.length) {
          throw registryError('SIZE_INVALID', `chunk has ${received} bytes, but its Content-Length or Content-Range says ${chunk.length}`);
        }
      } catch (error) {
        this.hashes.delete(id);
        if (isNodeError(error, 'ENOSPC')) {
          // No room for this upload: it is discarded whole, so its earlier chunks give their space back.
          this.remove(id);
          throw registryError('BLOB_UPLOAD_UNKNOWN', 'the registry is out of disk space: the upload was discarded', undefined, 507);
        }
        fs.truncateSync(this.dataPath(id), offset);
        throw error;
      }
      if (running) running.offset = offset + received;
      return { id, offset: offset + received };
    });
  }

  /**
   * Flushes the data to disk and hashes it; when the digest is the expected one, `publish` moves the data file
   * into the blob store, and the session ends. On a mismatch the session is removed: nothing of it is kept.
   */
  finish(name: string, id: string, expected: Digest, publish: (dataPath: string) => void): Promise<{ size: number }> {
    return this.locked(id, async () => {
      const { offset } = this.status(name, id);
      const fd = fs.openSync(this.dataPath(id), 'r+');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const running = this.hashes.get(id);
      const actual: Digest = running && running.offset === offset ? `sha256:${running.hash.copy().digest('hex')}` : await this.rehash(id);
      if (actual !== expected) {
        this.remove(id);
        throw registryError('DIGEST_INVALID', `digest mismatch: the upload's content is ${actual}, not ${expected}`, { digest: expected });
      }
      publish(this.dataPath(id));
      this.remove(id);
      return { size: offset };
    });
  }

  cancel(name: string, id: string): void {
    this.status(name, id);
    this.remove(id);
  }

  remove(id: string): void {
    this.hashes.delete(id);
    fs.rmSync(path.join(this.dir, id), { recursive: true, force: true });
  }

  /** Sessions not touched for `maxAgeMs`: abandoned by their clients. */
  stale(maxAgeMs: number, now = Date.now()): string[] {
    return fs.readdirSync(this.dir).filter((id) => {
      try {
        return now - fs.statSync(this.dataPath(id)).mtimeMs > maxAgeMs;
      } catch {
        return true;
      }
    });
  }

  private dataPath(id: string): string {
    return path.join(this.dir, id, 'data');
  }

  private async rehash(id: string): Promise<Digest> {
    const hash = createHash('sha256');
    for await (const data of fs.createReadStream(this.dataPath(id), { highWaterMark: 1 << 20 })) hash.update(data as Buffer);
    return `sha256:${hash.digest('hex')}`;
  }

  /** One operation at a time per session: two PATCHes racing on one upload must not interleave their bytes. */
  private locked<T>(id: string, action: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.then(action, action);
    const settled = next.catch(() => undefined);
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return next;
  }
}
