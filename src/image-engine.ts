import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { SaveFormat } from './archive/save.js';
import type { BuildOptions, BuildReporter, BuildResult } from './builder/builder.js';
import { BuildCache, type BuildCacheEntry, type BuildCachePruneResult, selectPrunable } from './builder/cache.js';
import { cacheMountsSize } from './builder/run-mounts.js';
import { buildStepLabel, ContainerRecords } from './containers/records.js';
import { ContentStore } from './content/store.js';
import type { Progress } from './distribution/client/progress.js';
import type { PullOptions, PullResult } from './distribution/client/pull.js';
import type { PushOptions } from './distribution/client/push.js';
import { invalidArgument } from './errors.js';
import type { CheckReport } from './images/check.js';
import type { ImportOptions } from './images/import.js';
import { type DiskUsage, diskUsage, type HistoryRow, type ImageSummary, imageHistory, inspectImage, type ListOptions, listImages } from './images/query.js';
import { ImageStore, type RemoveOptions, type RemoveResult } from './images/store.js';
import { LayerStore } from './layers/store.js';
import { MetadataDb } from './metadata/database.js';
import { EventLog } from './metadata/events.js';
import { familiarRepository, familiarString, parseReference } from './images/reference.js';
import type { Digest } from './util/digest.js';

/** Docker's and Podman's habit: a system store for root, a per-user one otherwise. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRATA_ROOT) return env.STRATA_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/strata';
  return path.join(env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'strata');
}

/** The open stores of one storage root. */
export interface Stores {
  db: MetadataDb;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  buildCache: BuildCache;
  /** RUN --mount=type=cache directories. */
  cacheMountsDir: string;
}

/** `build -o`: `local` copies the target's filesystem into a directory, `tar` writes it as one tar (a file or a stream). */
export type BuildOutput = { type: 'local'; dest: string } | { type: 'tar'; dest: string | Writable };

export interface EngineOptions {
  /** overlay or native, for new containers; chosen from the kernel when not given. */
  storageDriver?: string | undefined;
}

export interface PruneImagesResult {
  untagged: string[];
  deleted: Digest[];
  /** Bytes of layers no image uses any more. */
  reclaimed: number;
}

/**
 * The stores of one storage root, without containers: all that image commands (images, history, pull, push,
 * save, load, build...) need, and all they load. `Engine` adds the container service on top. Each operation
 * loads its modules when first called, so a short command pays only for what it uses.
 */
export class ImageEngine {
  readonly root: string;
  readonly storageDriver: string | undefined;
  readonly db: MetadataDb;
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly images: ImageStore;
  readonly buildCache: BuildCache;
  /** What happened, for `events` and the API's waits: every process that writes the store records here. */
  readonly events: EventLog;
  /** The containers table only: which images containers use (rmi, prune, df), without the container service. */
  protected readonly containerRecords: ContainerRecords;

  constructor(givenRoot: string, options: EngineOptions = {}) {
    // Absolute, as every path made from it must be: mounts, runc's bundle and conmon run elsewhere than here.
    const root = path.resolve(givenRoot);
    const { storageDriver } = options;
    if (storageDriver !== undefined && storageDriver !== 'overlay' && storageDriver !== 'native') {
      throw invalidArgument(`unknown storage driver "${storageDriver}": use overlay or native`);
    }
    this.root = root;
    this.storageDriver = storageDriver;
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    this.content = new ContentStore(root);
    this.db = new MetadataDb(path.join(root, 'metadata.db'));
    this.layers = new LayerStore(root, this.db);
    this.images = new ImageStore(this.content, this.layers, this.db);
    this.buildCache = new BuildCache(this.db);
    this.events = new EventLog(this.db);
    this.containerRecords = new ContainerRecords(this.db);
  }

  close(): void {
    this.db.close();
  }

  /** `images`: one row per tag; intermediate images and the build cache's step images only with `all`. */
  listImages(options: Omit<ListOptions, 'hidden'> = {}): ImageSummary[] {
    return listImages(this.images, { ...options, hidden: this.buildCache.images() });
  }

  history(name: string): HistoryRow[] {
    return imageHistory(this.images, name);
  }

  inspectImage(name: string): ReturnType<typeof inspectImage> {
    return inspectImage(this.images, name);
  }

  tag(source: string, target: string): void {
    this.images.tag(source, target);
    this.events.record('image', 'tag', this.images.resolve(target).id, { name: familiarString(parseReference(target)) });
  }

  /** `rmi`: each name untagged or its image deleted, Docker's rules; an image a container uses needs `force`. */
  removeImages(names: string[], options: Omit<RemoveOptions, 'inUse'> = {}): RemoveResult[] {
    const { results } = this.images.removeMany(names, { ...options, inUse: (id) => this.containerRecords.usesImage(id) });
    for (const result of results) this.recordRemoval(result);
    return results;
  }

  private recordRemoval(result: RemoveResult): void {
    if ('error' in result) return;
    for (const name of result.untagged) this.events.record('image', 'untag', result.deleted[0] ?? name, { name });
    for (const id of result.deleted) this.events.record('image', 'delete', id, { name: id });
  }

  /** `image prune`: dangling images (`all`: every image no container uses), then the layers and blobs they freed. */
  pruneImages(options: { all?: boolean } = {}): PruneImagesResult {
    const { images } = this;
    const removed: PruneImagesResult = { untagged: [], deleted: [], reclaimed: 0 };
    images.dropDeadLeases();
    const inUse = (id: Digest) => this.containerRecords.usesImage(id);
    const keep = (id: Digest) => images.isHeld(id);
    // Removing a child can leave its parent dangling: repeat until nothing more goes.
    for (;;) {
      const records = images.records.all();
      const parents = new Set(records.map((r) => r.parent));
      const victims = records.filter((r) => !parents.has(r.id) && !inUse(r.id) && !keep(r.id) && (options.all || images.records.tagsOf(r.id).length === 0));
      if (victims.length === 0) break;
      const { results, reclaimed } = images.removeMany(victims.map((v) => v.id), { force: true, keep });
      for (const result of results) {
        if ('error' in result) throw result.error;
        this.recordRemoval(result);
        removed.untagged.push(...result.untagged);
        removed.deleted.push(...result.deleted);
      }
      removed.reclaimed += reclaimed;
    }
    return removed;
  }

  /** `image import`: a rootfs tarball (plain or compressed) as a one-layer image. */
  async importImage(input: Readable, options: ImportOptions = {}): Promise<{ id: Digest; tags: string[] }> {
    const { importRootfs } = await import('./images/import.js');
    const imported = await importRootfs(this.images, input, options);
    this.events.record('image', 'import', imported.id, { name: imported.tags[0] ?? imported.id });
    return imported;
  }

  /** `load`: a docker-archive or OCI layout, as a tar stream or a directory; all or nothing. */
  async loadImages(input: string | Readable): Promise<{ id: Digest; tags: string[] }[]> {
    const { loadImages } = await import('./archive/load.js');
    const loaded = await loadImages(this.images, input);
    for (const image of loaded) this.events.record('image', 'load', image.id, { name: image.tags[0] ?? image.id });
    return loaded;
  }

  async saveImages(names: string[], format: SaveFormat, output: string | Writable): Promise<void> {
    const { saveImages } = await import('./archive/save.js');
    await saveImages(this.images, names, format, output);
    for (const name of names) this.events.record('image', 'save', this.images.resolve(name).id, { name });
  }

  async pull(name: string, progress: Progress, options: PullOptions = {}): Promise<PullResult> {
    const { pullImage } = await import('./distribution/client/pull.js');
    const pulled = await pullImage(this.images, name, progress, options);
    const reference = familiarString(pulled.reference);
    this.events.record('image', 'pull', reference, { name: familiarRepository(pulled.reference) });
    return pulled;
  }

  async push(name: string, progress: Progress, options: PushOptions = {}): Promise<{ digest: Digest; size: number }> {
    const { pushImage } = await import('./distribution/client/push.js');
    const pushed = await pushImage(this.images, name, progress, options);
    this.events.record('image', 'push', name, { name });
    return pushed;
  }

  /** Every local tag of a repository (`push -a`). */
  tagsOfRepository(repository: string): string[] {
    return this.images.tagsOfRepository(repository);
  }

  /**
   * RUN containers that killed builds left (their process gone), removed with `remove`: stopped, unmounted and
   * deleted. Cheap when there are none: the container service loads only if some are recorded.
   */
  async abandonedBuildSteps(options: { remove?: boolean } = {}): Promise<string[]> {
    if (this.containerRecords.withLabel(buildStepLabel).length === 0) return [];
    const { openContainerService } = await import('./container-service.js');
    const containers = openContainerService(this.root, this, this.storageDriver);
    const abandoned = containers.abandonedBuildSteps();
    if (options.remove) for (const record of abandoned) await containers.remove(record.id, { force: true });
    return abandoned.map((record) => record.id);
  }

  /**
   * `build`: a Dockerfile and its context, step by step as Docker's classic builder, with the layer cache. With
   * `output` (BuildKit's `-o`), the target's filesystem is also written out: to a directory, or as one tar.
   */
  async build(options: BuildOptions, reporter: BuildReporter, output?: BuildOutput): Promise<BuildResult> {
    await this.abandonedBuildSteps({ remove: true });
    const [{ build }, { EngineBuildBackend }] = await Promise.all([import('./builder/builder.js'), import('./build-backend.js')]);
    const backend = new EngineBuildBackend(this, this.root, this.storageDriver);
    try {
      const result = await build(backend, options, reporter);
      if (output) await this.writeFilesystem(backend, result.id, output);
      return result;
    } finally {
      backend.release();
    }
  }

  private async writeFilesystem(backend: { mountImage(image: Digest): Promise<{ dir: string; release(): void }> }, image: Digest, output: BuildOutput): Promise<void> {
    const rootfs = await backend.mountImage(image);
    try {
      if (output.type === 'local') {
        fs.mkdirSync(output.dest, { recursive: true });
        fs.cpSync(rootfs.dir, output.dest, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
        return;
      }
      const [{ writeLayerTar }, { writeTo }] = await Promise.all([import('./layers/diff.js'), import('./util/streams.js')]);
      await writeTo(output.dest, (sink) => writeLayerTar(rootfs.dir, sink));
    } finally {
      rootfs.release();
    }
  }

  /**
   * `builder prune`: killed builds' RUN containers, then the cached steps (their step images, where only the cache
   * kept them) and the cache mounts' contents: all of them, or those `--filter until=` and `--keep-storage` pick.
   */
  async pruneBuildCache(options: { olderThan?: number; keepStorage?: number } = {}): Promise<BuildCachePruneResult> {
    await this.abandonedBuildSteps({ remove: true });
    this.images.dropDeadLeases();
    const filtered = options.olderThan !== undefined || options.keepStorage !== undefined;
    const chosen = filtered ? selectPrunable(this.buildCacheEntries(), options) : undefined;
    const steps = chosen && new Set(chosen.filter((entry) => entry.kind === 'step').map((entry) => entry.id as Digest));
    const result = this.buildCache.prune(this.images, (id) => this.containerRecords.usesImage(id), (id) => this.images.isHeld(id), steps);
    let mountBytes = 0;
    for (const dir of chosen ? chosen.filter((entry) => entry.kind === 'mount').map((entry) => entry.id) : this.cacheMountDirs()) {
      mountBytes += cacheMountsSize(path.join(this.cacheMountsDir, dir));
      fs.rmSync(path.join(this.cacheMountsDir, dir), { recursive: true, force: true });
    }
    return { ...result, reclaimed: result.reclaimed + mountBytes };
  }

  /**
   * What the build cache holds (`system df`): each cached step's image (the bytes of the layer it added; in use
   * when a tagged image or a container stands on it) and each cache mount.
   */
  buildCacheEntries(): BuildCacheEntry[] {
    const protectedImages = new Set<Digest>();
    const standOn = (id: Digest | null) => {
      for (let at = id; at !== null && !protectedImages.has(at); at = this.images.records.get(at)?.parent ?? null) protectedImages.add(at);
    };
    for (const image of this.images.records.all()) if (this.images.records.tagsOf(image.id).length > 0 || this.containerRecords.usesImage(image.id)) standOn(image.id);
    const steps: BuildCacheEntry[] = this.buildCache.steps().flatMap(({ image, lastUsed }) => {
      const record = this.images.records.get(image);
      if (!record) return [];
      const parentSize = record.parent === null ? 0 : (this.images.records.get(record.parent)?.size ?? 0);
      return [{ kind: 'step' as const, id: image, size: Math.max(0, record.size - parentSize), lastUsed, inUse: protectedImages.has(image) }];
    });
    const mounts = this.cacheMountDirs().map((dir) => {
      const file = path.join(this.cacheMountsDir, dir);
      return { kind: 'mount' as const, id: dir, size: cacheMountsSize(file), lastUsed: fs.statSync(file).mtimeMs, inUse: false };
    });
    return [...steps, ...mounts];
  }

  private cacheMountDirs(): string[] {
    return fs.existsSync(this.cacheMountsDir) ? fs.readdirSync(this.cacheMountsDir).filter((name) => !name.includes('.tmp-')) : [];
  }

  /** Where RUN --mount=type=cache keeps its directories, across builds. */
  get cacheMountsDir(): string {
    return path.join(this.root, 'cache-mounts');
  }


  /** `system df` for images: shared layers counted once; an image is active while a container uses it. */
  diskUsage(): DiskUsage {
    return diskUsage(this.images, (id) => this.containerRecords.usesImage(id));
  }

  /** `system check`: every blob re-hashed (unless `quick`), every image's layers checked, leftovers listed (removed with `repair`). */
  async check(options: { repair?: boolean; quick?: boolean } = {}): Promise<CheckReport> {
    const { checkStore } = await import('./images/check.js');
    const steps = await this.abandonedBuildSteps({ remove: options.repair ?? false });
    const report = await checkStore(this.images, options);
    return { ...report, orphans: [...steps.map((id) => `container ${id} (a RUN step of a killed build)`), ...report.orphans] };
  }
}
