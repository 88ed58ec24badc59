import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { BlobWriter, ContentStore } from '../content/store.js';
import { dataCorrupt, isNodeError, notFound } from '../errors.js';
import { entryPath } from '../layers/apply.js';
import { asDataError, decompress } from '../layers/compression.js';
import { type Digest, isDigest } from '../util/digest.js';

/** A file of an archive, hashed and staged in the content store's ingest area, not yet published. */
export interface StagedFile {
  writer: BlobWriter;
  digest: Digest;
  size: number;
}

/** Where an archive's files come from: a tar stream (docker save, oci-archive) or an OCI layout directory. */
export interface ArchiveSource {
  has(name: string): boolean;
  /** Reads a small metadata file (manifest.json, index.json, ...). */
  json(name: string): Buffer;
  /** The file staged as a blob; for blobs/sha256/<hex> paths the content is verified against the name. */
  blob(name: string): Promise<StagedFile>;
  /** Removes every staged file not committed to the store. */
  discard(): void;
}

const maxMetadataSize = 64 << 20;

function expectedFromPath(name: string): Digest | undefined {
  const match = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  const digest = match ? `sha256:${match[1]}` : undefined;
  return digest && isDigest(digest) ? digest : undefined;
}

/**
 * Reads a whole archive tar once, staging every regular file as a blob while hashing it. Symlinks (legacy
 * `docker save` dedupes layer.tar with them) are resolved to the files they name.
 */
export async function stageTarArchive(content: ContentStore, input: Readable): Promise<ArchiveSource> {
  const files = new Map<string, StagedFile>();
  const links = new Map<string, string>();
  const discard = () => {
    for (const file of files.values()) file.writer.abort();
  };
  try {
    const { stream } = await decompress(input);
    const extract = tar.extract();
    const feeding = pipeline(stream, extract);
    feeding.catch(() => {
      // Reported through the entry loop.
    });
    for await (const entry of extract) {
      const name = entryPath(entry.header.name);
      if (entry.header.type === 'symlink' || entry.header.type === 'link') {
        const target = entry.header.type === 'link' ? entryPath(entry.header.linkname ?? '') : entryPath(path.posix.join(path.posix.dirname(name), entry.header.linkname ?? ''));
        links.set(name, target);
      } else if (entry.header.type === 'file' || entry.header.type === 'contiguous-file') {
        if (files.has(name)) throw dataCorrupt(`archive has a duplicate entry "${name}"`);
        const writer = content.writer();
        files.set(name, { writer, digest: 'sha256:' as Digest, size: 0 });
        for await (const chunk of entry as AsyncIterable<Buffer>) writer.write(chunk);
        const staged = writer.stage({ digest: expectedFromPath(name) });
        files.set(name, { writer, ...staged });
        continue;
      }
      entry.resume();
    }
    await feeding;
  } catch (error) {
    discard();
    throw asDataError(error, 'invalid archive');
  }
  const resolve = (name: string): StagedFile | undefined => {
    let current = name;
    for (let hops = 0; hops < 16; hops++) {
      const file = files.get(current);
      if (file) return file;
      const next = links.get(current);
      if (next === undefined) return undefined;
      current = next;
    }
    return undefined;
  };
  const get = (name: string): StagedFile => {
    const file = resolve(entryPath(name));
    if (!file) throw dataCorrupt(`invalid archive: "${name}" is missing`);
    return file;
  };
  return {
    has: (name) => resolve(entryPath(name)) !== undefined,
    json: (name) => {
      const file = get(name);
      if (file.size > maxMetadataSize) throw dataCorrupt(`invalid archive: "${name}" is too large`);
      return fs.readFileSync(file.writer.currentPath);
    },
    blob: async (name) => get(name),
    discard,
  };
}

/** An OCI image layout directory: blobs are copied into the ingest area (and verified) only when referenced. */
export function directoryArchive(content: ContentStore, dir: string): ArchiveSource {
  const staged = new Map<string, StagedFile>();
  const full = (name: string) => {
    const rel = entryPath(name);
    return path.join(dir, rel);
  };
  return {
    has: (name) => fs.existsSync(full(name)),
    json: (name) => {
      try {
        return fs.readFileSync(full(name));
      } catch (error) {
        if (isNodeError(error, 'ENOENT')) throw dataCorrupt(`invalid image layout: "${name}" is missing`, { cause: error });
        throw error;
      }
    },
    blob: async (name) => {
      const rel = entryPath(name);
      const existing = staged.get(rel);
      if (existing) return existing;
      if (!fs.existsSync(full(rel))) throw dataCorrupt(`invalid image layout: "${name}" is missing`);
      const writer = content.writer();
      try {
        for await (const chunk of fs.createReadStream(full(rel), { highWaterMark: 1 << 20 })) writer.write(chunk as Buffer);
        const file = { writer, ...writer.stage({ digest: expectedFromPath(rel) }) };
        staged.set(rel, file);
        return file;
      } catch (error) {
        writer.abort();
        throw error;
      }
    },
    discard: () => {
      for (const file of staged.values()) file.writer.abort();
    },
  };
}

export async function openArchive(content: ContentStore, input: string | Readable): Promise<ArchiveSource> {
  if (typeof input !== 'string') return stageTarArchive(content, input);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(input);
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) throw notFound(`open ${input}: no such file or directory`, { cause: error });
    throw error;
  }
  if (stat.isDirectory()) return directoryArchive(content, input);
  return stageTarArchive(content, fs.createReadStream(input, { highWaterMark: 1 << 20 }));
}
