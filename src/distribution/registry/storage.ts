import type { Readable } from 'node:stream';
import type { Digest } from '../../util/digest.js';
import type { ManifestDescriptor } from './manifest.js';
import type { ManifestReference } from './names.js';

export interface UploadStatus {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/**
 * What the HTTP routes need from storage (verdaccio's split: routes stay thin, storage can be the filesystem or
 * something bigger later). Names are validated before they get here. Failures throw RegistryError with the
 * spec's codes.
 */
export interface RegistryStorage {
  /** A blob linked into the repository; undefined when the repository does not have it. */
  statBlob(name: string, digest: Digest): { size: number } | undefined;
  /** Bytes start..end inclusive (the whole blob without a range). */
  readBlob(name: string, digest: Digest, range?: { start: number; end: number }): Readable;
  deleteBlob(name: string, digest: Digest): void;
  /** Links a blob of repository `from` into `name`; false when `from` does not have it. */
  mountBlob(name: string, from: string, digest: Digest): boolean;
  /** A whole blob in one request, verified against `digest` before anything is stored. */
  putBlob(name: string, body: AsyncIterable<Buffer>, digest: Digest, length?: number): Promise<{ size: number }>;

  startUpload(name: string): UploadStatus;
  uploadStatus(name: string, id: string): UploadStatus;
  /** Appends a chunk; `start`, when given, must be the current offset (else a 416 error). */
  appendUpload(name: string, id: string, body: AsyncIterable<Buffer>, chunk?: { start?: number; length?: number }): Promise<UploadStatus>;
  /** Verifies the whole upload against `digest` and publishes it; on a mismatch nothing is stored. */
  finishUpload(name: string, id: string, digest: Digest): Promise<{ size: number }>;
  cancelUpload(name: string, id: string): void;

  /** Stores the bytes exactly, after checking everything they reference is here; tags it when given a tag. */
  putManifest(name: string, reference: ManifestReference, bytes: Buffer, contentType: string | undefined, extraTags?: string[]): { digest: Digest; subject?: Digest };
  getManifest(name: string, reference: ManifestReference): StoredManifest;
  /** By digest: the manifest and every tag on it; by tag: only the tag. */
  deleteManifest(name: string, reference: ManifestReference): void;
  /** All tags in ASCII order; undefined when the repository does not exist. */
  listTags(name: string): string[] | undefined;
  referrers(name: string, subject: Digest): ManifestDescriptor[];
  /** Repository names in ASCII order (the non-spec but common /v2/_catalog). */
  listRepositories(): string[];
}
