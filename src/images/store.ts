import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { BlobWriter, ContentStore, Descriptor } from '../content/store.js';
import { conflict, dataCorrupt, invalidArgument, notFound, StrataError } from '../errors.js';
import { LayerStore, type UnpackedLayer } from '../layers/store.js';
import type { LayerRecord } from '../layers/records.js';
import type { MetadataDb } from '../metadata/database.js';
import { chainIds, type Digest, isDigest } from '../util/digest.js';
import { processAlive } from '../util/process.js';
import { type ImageRecord, ImageRecords } from './records.js';
import { canonicalJson, type ImageConfig, type Manifest, MediaType } from './model.js';
import { formatReference, parseReference, type Reference, repositoryName } from './reference.js';
import { parseConfig, parseManifest } from './validate.js';

/** One layer of an image being added: either already in the store or unpacked into a temp dir. */
export interface NewLayer {
  blob: Descriptor;
  diffId: Digest;
  size: number;
  tarSize: number;
  tempDir?: string;
  stagedBlob?: BlobWriter;
}

export interface NewImage {
  /** The config's exact bytes: the image ID is their digest. */
  config: Buffer;
  layers: NewLayer[];
  /** The manifest's exact bytes when they came with the image (kept so its digest survives a round trip). */
  manifest?: Buffer;
  tags?: Reference[];
  parent?: Digest;
  /** Blobs written for this image that must be published with it (configs and manifests already staged). */
  stagedBlobs?: BlobWriter[];
  /** Where a registry serves it: `repository@digest` (the digest `pull` printed). */
  repoDigest?: { repository: string; digest: Digest };
  /** A lease (`lease()`) that holds the new image from the moment it exists. */
  lease?: string;
}

export interface ResolvedImage {
  record: ImageRecord;
  config: ImageConfig;
}

export interface RemoveOptions {
  force?: boolean;
  inUse?: (id: Digest) => boolean;
  /** Images to leave alone entirely (held by a running build's lease): asked inside the removal's transaction. */
  keep?: (id: Digest) => boolean;
  /** false: keep untagged parents (`rmi --no-prune`). */
  prune?: boolean;
}

/** In-flight work's hold on images (`ImageStore.lease`). */
export interface Lease {
  readonly id: string;
  /** Holds an image; false when it is no longer in the store. */
  hold(imageId: Digest): boolean;
  /** Holds a layer (and so its parents) before any image of this work uses it; false when it is no longer in the store. */
  holdLayer(chainId: Digest): boolean;
  release(): void;
}

/** What removing one name did: the names it untagged and the images it deleted, or why it failed. */
export type RemoveResult = { name: string; untagged: string[]; deleted: Digest[] } | { name: string; error: unknown };

/** Images: config + manifest in the content store, rows in the metadata store, layers in the layer store. */
export class ImageStore {
  readonly records: ImageRecords;

  constructor(
    readonly content: ContentStore,
    readonly layers: LayerStore,
    db: MetadataDb,
  ) {
    this.records = new ImageRecords(db);
  }

  /**
   * Publishes a new image: blobs first, then layer dirs, then one metadata transaction. A crash before the
   * transaction leaves only unreferenced files, which `system check --repair` and prune remove.
   */
  add(image: NewImage): { id: Digest; tags: string[] } {
    const config = parseConfig(image.config);
    const diffIds = image.layers.map((layer) => layer.diffId);
    if (diffIds.length !== config.rootfs.diff_ids.length || diffIds.some((d, i) => d !== config.rootfs.diff_ids[i])) {
      throw dataCorrupt('layer digests do not match the image config rootfs.diff_ids');
    }
    for (const writer of image.stagedBlobs ?? []) writer.commit();
    for (const layer of image.layers) layer.stagedBlob?.commit();
    const configDescriptor = { mediaType: MediaType.ociConfig, ...this.content.putBytes(image.config) };
    const manifestBytes =
      image.manifest ??
      canonicalJson({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: configDescriptor,
        layers: image.layers.map((layer) => layer.blob),
      } satisfies Manifest);
    const manifestDigest = this.content.putBytes(manifestBytes).digest;

    const chain = chainIds(diffIds);
    const records: LayerRecord[] = image.layers.map((layer, i) => {
      const name = layer.tempDir ? this.layers.publish(layer.tempDir, chain[i]!) : LayerStore.dirName(chain[i]!);
      return { chainId: chain[i]!, diffId: layer.diffId, parent: chain[i - 1] ?? null, size: layer.size, tarSize: layer.tarSize, dir: name, created: Date.now() };
    });
    const id = configDescriptor.digest;
    const tags = (image.tags ?? []).map(formatReference);
    this.records.transaction(() => {
      for (const record of records) this.layers.records.insert(record);
      this.records.insert(
        {
          id,
          manifest: manifestDigest,
          topLayer: chain.at(-1) ?? null,
          parent: image.parent ?? null,
          created: config.created ?? new Date(0).toISOString(),
          size: image.layers.reduce((sum, layer) => sum + layer.size, 0),
          added: Date.now(),
        },
        [id, manifestDigest, ...image.layers.map((layer) => layer.blob.digest)],
      );
      for (const tag of tags) this.records.tag(tag, id);
      if (image.repoDigest) this.records.addRepoDigest(image.repoDigest.repository, image.repoDigest.digest, id);
      if (image.lease) this.records.hold(image.lease, id);
    });
    return { id, tags };
  }

  /**
   * A layer made here (import, commit): its blob is the uncompressed tar `writer` holds. When the store already
   * has the layer at `chainId`, the fresh unpack is dropped rather than published twice.
   */
  madeLayer(chainId: Digest, unpacked: UnpackedLayer, writer: BlobWriter): NewLayer {
    const existing = this.existingLayer(chainId);
    if (existing) this.layers.discard(unpacked.tempDir);
    return {
      blob: { mediaType: MediaType.ociLayer, digest: unpacked.diffId, size: writer.size },
      diffId: unpacked.diffId,
      size: unpacked.size,
      tarSize: unpacked.tarSize,
      stagedBlob: writer,
      ...(!existing && { tempDir: unpacked.tempDir }),
    };
  }

  /** An image's layers as the base of a new image (commit, build steps): already in the store. */
  parentLayers(record: ImageRecord): NewLayer[] {
    const manifest = this.manifest(record);
    return this.layerChain(record).map((layer, i) => ({ blob: manifest.layers[i]!, diffId: layer.diffId, size: layer.size, tarSize: layer.tarSize }));
  }

  /**
   * A layer made here from a tar `produce` writes (commit, build): hashed, kept as the blob and unpacked as it
   * is written, in one pass. `parentDiffIds` places it in its chain. Nothing is published until `add`.
   */
  async makeLayer(parentDiffIds: readonly Digest[], what: string, produce: (sink: (chunk: Buffer) => Promise<void>) => Promise<unknown>): Promise<NewLayer> {
    const writer = this.content.writer();
    try {
      const tar = new PassThrough({ highWaterMark: 1 << 20 });
      // A failure of the producer reaches the caller through Promise.all; the stream only ends.
      tar.on('error', () => undefined);
      const sink = (chunk: Buffer) => new Promise<void>((resolve) => (tar.write(chunk) ? resolve() : tar.once('drain', resolve)));
      const producing = produce(sink).then(
        () => tar.end(),
        (error: Error) => {
          tar.destroy(error);
          throw error;
        },
      );
      const [unpacked] = await Promise.all([this.layers.unpack(tar, what, writer), producing]);
      return this.madeLayer(chainIds([...parentDiffIds, unpacked.diffId]).at(-1)!, unpacked, writer);
    } catch (error) {
      writer.abort();
      throw error;
    }
  }

  /**
   * A layer of the store (`layer`, its blob `blob`) on other parents: COPY --link's layer found again on a changed
   * base. Its dir is hardlinked into the new chain's, so nothing is copied or unpacked again.
   */
  async placeLayer(parentDiffIds: readonly Digest[], layer: LayerRecord, blob: Descriptor): Promise<NewLayer> {
    const placed = { blob, diffId: layer.diffId, size: layer.size, tarSize: layer.tarSize };
    if (this.existingLayer(chainIds([...parentDiffIds, layer.diffId]).at(-1)!)) return placed;
    return { ...placed, tempDir: await this.layers.linkCopy(layer.dir) };
  }

  /** If the layer for `chainId` is already unpacked, returns it, so the blob need not be read at all. */
  existingLayer(chainId: Digest): LayerRecord | undefined {
    const record = this.layers.records.get(chainId);
    return record && this.layers.exists(record.dir) ? record : undefined;
  }

  /** Finds an image the way Docker does: by reference, then by full or abbreviated ID. */
  resolve(name: string): ImageRecord {
    const found = this.find(name);
    if (!found) throw notFound(`No such image: ${name}`);
    return found;
  }

  find(name: string): ImageRecord | undefined {
    const idForm = /^(?:sha256:)?([a-f0-9]{1,64})$/.exec(name);
    if (isDigest(name)) return this.records.get(name);
    let ref: Reference | undefined;
    try {
      ref = parseReference(name);
    } catch (error) {
      if (!idForm && error instanceof StrataError) throw error;
    }
    if (ref?.tag !== undefined && ref.digest === undefined) {
      const id = this.records.byTag(formatReference(ref));
      if (id) return this.records.get(id);
    }
    if (ref?.digest !== undefined) {
      const byRepoDigest = this.records.byRepoDigest(repositoryName(ref), ref.digest);
      if (byRepoDigest) return this.records.get(byRepoDigest);
      const byManifest = this.records.all().find((image) => image.manifest === ref.digest);
      if (byManifest) return byManifest;
    }
    if (idForm) {
      const matches = this.records.byIdPrefix(idForm[1]!);
      if (matches.length > 1) throw invalidArgument(`ambiguous image ID prefix "${name}": it matches more than one image`);
      return matches[0];
    }
    return undefined;
  }

  config(id: Digest): ImageConfig {
    return parseConfig(this.content.read(id), `config of image ${id}`);
  }

  manifest(record: ImageRecord): Manifest {
    return parseManifest(this.content.read(record.manifest), `manifest of image ${record.id}`);
  }

  /** The image's layers, bottom first, as stored. */
  layerChain(record: ImageRecord): LayerRecord[] {
    const chain: LayerRecord[] = [];
    for (let id = record.topLayer; id !== null; ) {
      const layer = this.layers.records.get(id);
      if (!layer) throw dataCorrupt(`layer ${id} of image ${record.id} is missing from the store`);
      chain.push(layer);
      id = layer.parent;
    }
    return chain.reverse();
  }

  tag(source: string, target: string): void {
    const image = this.resolve(source);
    const ref = parseReference(target);
    if (ref.digest !== undefined) throw invalidArgument(`refusing to create a tag with a digest reference: ${target}`);
    this.records.transaction(() => this.records.tag(formatReference(ref), image.id));
  }

  /**
   * Docker's rmi: a name that is one of several tags is untagged; the last name (or an ID) deletes the image,
   * unless other images are built on it or, without force, it has several tags.
   */
  remove(name: string, options: RemoveOptions = {}): { untagged: string[]; deleted: Digest[] } {
    const image = this.resolve(name);
    const tags = this.records.tagsOf(image.id);
    const byId = !tags.some((tag) => this.matchesTag(name, tag));
    const untagged: string[] = [];
    return this.records.transaction(() => {
      if (options.keep?.(image.id)) return { untagged, deleted: [] };
      if (!byId) {
        const tag = tags.find((t) => this.matchesTag(name, t))!;
        this.records.untag(tag);
        untagged.push(tag);
        if (tags.length > 1) return { untagged, deleted: [] };
      } else if (tags.length > 1 && !options.force) {
        throw conflict(`conflict: unable to delete ${image.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
      }
      if (options.inUse?.(image.id)) {
        if (!options.force) throw conflict(`conflict: unable to delete ${image.id.slice(7, 19)} (must be forced) - image is being used by stopped container`);
        // Docker's rmi -f of an image a container uses: the names go, the image stays for the container.
        for (const tag of this.records.tagsOf(image.id)) {
          this.records.untag(tag);
          untagged.push(tag);
        }
        return { untagged, deleted: [] };
      }
      if (this.records.children(image.id).length > 0) {
        if (!byId) return { untagged, deleted: [] };
        throw conflict(`conflict: unable to delete ${image.id.slice(7, 19)} (cannot be forced) - image has dependent child images`);
      }
      for (const tag of this.records.tagsOf(image.id)) {
        this.records.untag(tag);
        untagged.push(tag);
      }
      this.records.delete(image.id);
      const deleted = [image.id];
      // Docker's prune of parents: untagged ancestors nothing else uses (a build's step images) go too.
      for (let parent = image.parent; parent !== null && options.prune !== false; ) {
        const record = this.records.get(parent);
        if (!record || this.records.tagsOf(record.id).length > 0 || this.records.children(record.id).length > 0 || options.inUse?.(record.id) || options.keep?.(record.id)) break;
        this.records.delete(record.id);
        deleted.push(record.id);
        parent = record.parent;
      }
      return { untagged, deleted };
    });
  }

  /** rmi of several names, then one garbage collection for all the blobs and layers they freed. */
  removeMany(names: string[], options: RemoveOptions = {}): { results: RemoveResult[]; reclaimed: number } {
    const results: RemoveResult[] = [];
    const candidates: Digest[] = [];
    for (const name of names) {
      try {
        // The blobs of the image and of its ancestors, any of which the removal may delete.
        const blobs: Digest[] = [];
        for (let id: Digest | null = this.resolve(name).id; id !== null; id = this.records.get(id)?.parent ?? null) blobs.push(...this.records.blobs(id));
        const result = this.remove(name, options);
        if (result.deleted.length > 0) candidates.push(...blobs);
        results.push({ name, ...result });
      } catch (error) {
        results.push({ name, error });
      }
    }
    return { results, reclaimed: this.collectGarbage(candidates).reclaimed };
  }

  /**
   * A lease for this process's in-flight work (containerd's leases): images it `hold`s, and those `add` makes
   * with it, count as in use for prunes until `release`, or until the process is gone (a killed build).
   */
  lease(): Lease {
    const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
    this.records.transaction(() => this.records.createLease(id, process.pid));
    return {
      id,
      // In one transaction with the check: an image a prune removed a moment ago is not held, and the caller knows.
      hold: (imageId) =>
        this.records.transaction(() => {
          if (!this.records.get(imageId)) return false;
          this.records.hold(id, imageId);
          return true;
        }),
      holdLayer: (chainId) =>
        this.records.transaction(() => {
          if (!this.layers.records.get(chainId)) return false;
          this.records.holdLayer(id, chainId);
          return true;
        }),
      release: () => this.records.transaction(() => this.records.deleteLease(id)),
    };
  }

  /** Whether a lease of a live process holds the image; run inside a removal's transaction, it cannot race a hold. */
  isHeld(imageId: Digest): boolean {
    return this.records.holders(imageId).some((pid) => processAlive(pid));
  }

  /** Deletes the leases of processes that are gone (killed builds). */
  dropDeadLeases(): void {
    for (const lease of this.records.leases()) if (!processAlive(lease.pid)) this.records.transaction(() => this.records.deleteLease(lease.id));
  }

  /** Every local tag of a repository (`domain/path`), sorted. */
  tagsOfRepository(repository: string): string[] {
    return [...this.records.allTags().values()].flat().filter((tag) => repositoryName(parseReference(tag)) === repository).sort();
  }

  private matchesTag(name: string, tag: string): boolean {
    try {
      return formatReference(parseReference(name)) === tag;
    } catch {
      return false;
    }
  }

  /**
   * Removes layers no image uses any more, and those of `candidateBlobs` (blobs of removed images) that no image
   * references. Metadata first, files after: a crash in between leaves only orphan files. Only candidates are
   * deleted, never "every unreferenced blob", so a concurrent load's freshly written blobs are safe.
   */
  collectGarbage(candidateBlobs: Iterable<Digest>): { layers: number; blobs: number; reclaimed: number } {
    const { deadLayers, deadBlobs } = this.records.transaction(() => {
      const live = new Set<Digest>();
      const held = this.records.heldLayers().filter((layer) => processAlive(layer.pid)).map((layer) => layer.chainId);
      for (const top of [...this.records.all().map((image) => image.topLayer), ...held]) {
        for (let id = top; id !== null && !live.has(id); ) {
          live.add(id);
          id = this.layers.records.get(id)?.parent ?? null;
        }
      }
      const dead = this.layers.records.all().filter((layer) => !live.has(layer.chainId));
      // Children before parents: the parent foreign key forbids the other order.
      const depth = (layer: LayerRecord): number => (layer.parent ? 1 + depth(this.layers.records.get(layer.parent)!) : 0);
      dead.sort((a, b) => depth(b) - depth(a));
      for (const layer of dead) this.layers.records.delete(layer.chainId);
      return { deadLayers: dead, deadBlobs: [...new Set(candidateBlobs)].filter((digest) => !this.records.isBlobReferenced(digest)) };
    });
    let reclaimed = 0;
    for (const layer of deadLayers) {
      reclaimed += layer.size;
      this.layers.remove(layer.dir);
    }
    for (const digest of deadBlobs) this.content.delete(digest);
    return { layers: deadLayers.length, blobs: deadBlobs.length, reclaimed };
  }
}
