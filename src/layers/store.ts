import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobWriter } from '../content/store.js';
import { isNodeError } from '../errors.js';
import type { MetadataDb } from '../metadata/database.js';
import { type Digest, hexOf } from '../util/digest.js';
import { Tap } from '../util/streams.js';
import type { Compression } from './compression.js';
import { LayerRecords } from './records.js';

export interface UnpackedLayer {
  diffId: Digest;
  size: number;
  tarSize: number;
  compression: Compression;
  /** Temp directory holding the unpacked files until `publish` names it by chain ID. */
  tempDir: string;
}

/** Unpacked layers, one directory per chain ID under <root>/layers (the lower dirs overlay will stack), and their rows. */
export class LayerStore {
  readonly dir: string;
  readonly records: LayerRecords;

  constructor(root: string, db: MetadataDb) {
    this.records = new LayerRecords(db);
    this.dir = path.join(root, 'layers');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  static dirName(chainId: Digest): string {
    return hexOf(chainId);
  }

  /**
   * Decompresses, hashes and unpacks a layer blob in one pass. With `tarCopy` (import keeps the uncompressed
   * tar as the layer blob), the tar bytes also go to that blob writer, whose hash then is the diffID. On any
   * failure the temp dir is removed and a one-line error thrown.
   */
  async unpack(blob: Readable, what: string, tarCopy?: BlobWriter): Promise<UnpackedLayer> {
    const tempDir = this.tempPath();
    fs.mkdirSync(tempDir, 0o755);
    // The tar and compression code loads only when a layer is unpacked, not for `images` or `history`.
    const [{ applyLayer }, { asDataError, decompress }] = await Promise.all([import('./apply.js'), import('./compression.js')]);
    try {
      const { stream, compression } = await decompress(blob);
      if (tarCopy) {
        const { size } = await applyLayer(copyInto(stream, tarCopy), tempDir);
        return { diffId: (await tarCopy.stageSoon()).digest, size, tarSize: tarCopy.size, compression, tempDir };
      }
      const tap = new Tap();
      const { size } = await applyLayer(tap.through(stream), tempDir);
      return { diffId: tap.digest(), size, tarSize: tap.bytes, compression, tempDir };
    } catch (error) {
      blob.destroy();
      this.discard(tempDir);
      throw asDataError(error, what);
    }
  }

  /**
   * Decompresses and hashes a layer blob without unpacking it: its diffID, to verify a blob whose layer is
   * already unpacked. Corrupt data gets the same one-line error as `unpack`.
   */
  async diffIdOf(blob: Readable, what: string): Promise<Digest> {
    const { asDataError, decompress } = await import('./compression.js');
    try {
      const { stream } = await decompress(blob);
      const hash = createHash('sha256');
      for await (const chunk of stream) hash.update(chunk as Buffer);
      return `sha256:${hash.digest('hex')}`;
    } catch (error) {
      blob.destroy();
      throw asDataError(error, what);
    }
  }

  /** A temp dir with the contents of the layer dir `name`, hardlinked (merge.ts linkLayerDir), to publish under another chain ID. */
  async linkCopy(name: string): Promise<string> {
    const { linkLayerDir } = await import('./merge.js');
    const tempDir = this.tempPath();
    try {
      linkLayerDir(this.path(name), tempDir);
    } catch (error) {
      this.discard(tempDir);
      throw error;
    }
    return tempDir;
  }

  private tempPath(): string {
    return this.path(`.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Renames an unpacked temp dir to its chain ID's name; if another writer got there first, keeps theirs. */
  publish(tempDir: string, chainId: Digest): string {
    const name = LayerStore.dirName(chainId);
    try {
      fs.renameSync(tempDir, this.path(name));
    } catch (error) {
      if (!isNodeError(error, 'ENOTEMPTY') && !isNodeError(error, 'EEXIST')) throw error;
      this.discard(tempDir);
    }
    return name;
  }

  exists(name: string): boolean {
    return fs.existsSync(this.path(name));
  }

  discard(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  remove(name: string): void {
    this.discard(this.path(name));
  }

  /** Directories present on disk, including temp dirs of unpacks that died. */
  list(): string[] {
    return fs.readdirSync(this.dir);
  }
}

async function* copyInto(source: AsyncIterable<Buffer>, writer: BlobWriter): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await writer.writeSoon(chunk);
    yield chunk;
  }
}
