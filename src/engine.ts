import type { Readable, Writable } from 'node:stream';
import { openContainerService } from './container-service.js';
import type { ExecOptions } from './containers/exec.js';
import type { ExtractToDirOptions, PathStat } from './containers/files.js';
import type { CommitOptions } from './containers/commit.js';
import type { Attach } from './containers/monitor.js';
import type { ContainerRecord } from './containers/records.js';
import { type RunOptions, settingsFromRunOptions } from './containers/run-options.js';
import type { Containers } from './containers/service.js';
import type { StatsSample } from './containers/stats.js';
import type { TopResult } from './containers/top.js';
import { ImageEngine } from './image-engine.js';
import type { Change } from './layers/diff.js';
import type { Digest } from './util/digest.js';

export { defaultStorageDriver } from './container-service.js';

/**
 * Wires the services over one storage root: the image stores of `ImageEngine` plus containers. The CLI and the
 * library talk only to this (and the Engine API server will too).
 */
export class Engine extends ImageEngine {
  private containerService: Containers | undefined;

  /** Containers and their snapshotters, set up (and reconciled) on first use. */
  get containers(): Containers {
    this.containerService ??= openContainerService(this.root, this, this.storageDriver);
    return this.containerService;
  }

  override close(): void {
    this.containerService?.close();
    super.close();
  }

  /** `create`: a container of `image` with Docker's run options; `warn` hears Docker's warnings. */
  createContainer(image: string, command: string[] = [], options: RunOptions = {}, warn?: (text: string) => void): ContainerRecord {
    const config = this.images.config(this.images.resolve(image).id).config ?? {};
    const settings = settingsFromRunOptions(this.root, config, command, options, warn);
    return this.containers.create({ image, ...(options.name !== undefined && { name: options.name }), settings });
  }

  /**
   * Runs a created container in this process (the foreground `run`): output to `attach`, resolves once it runs,
   * with a promise of its exit code.
   */
  async runAttached(nameOrId: string, attach: Attach): Promise<{ exited: Promise<number> }> {
    const { startContainer } = await import('./containers/monitor.js');
    return startContainer(this.containers, this.containers.resolve(nameOrId).id, attach);
  }

  /** `commit`: the container's changes as one new layer on its image; returns the new image's ID. */
  async commit(nameOrId: string, options: CommitOptions = {}): Promise<Digest> {
    const { commitContainer } = await import('./containers/commit.js');
    return commitContainer(this.containers, nameOrId, options);
  }

  /** `exec`: a command in a running container; resolves with its exit code. */
  async exec(nameOrId: string, command: string[], options: ExecOptions = {}): Promise<number> {
    const { execInContainer } = await import('./containers/exec.js');
    return execInContainer(this.containers, nameOrId, command, options);
  }

  /** `diff`: what the container added (A), changed (C) and deleted (D). */
  async diff(nameOrId: string): Promise<Change[]> {
    const { changes } = await import('./layers/diff.js');
    const record = this.containers.resolve(nameOrId);
    const lowers = this.images.layerChain(this.images.resolve(record.imageId)).map((layer) => this.layers.path(layer.dir));
    return changes(this.containers.snapshotterFor(record).upperDir(record.id), lowers.reverse());
  }

  /** `export`: the container's merged filesystem as one tar, to a file (written whole, then renamed) or a stream. */
  async export(nameOrId: string, output: string | Writable): Promise<void> {
    const { exportContainer } = await import('./containers/files.js');
    await exportContainer(this.containers, nameOrId, output);
  }

  /** `cp CONTAINER:SRC DEST` (`-` for a tar on stdout). */
  async copyFromContainer(nameOrId: string, source: string, destination: string): Promise<void> {
    const { copyFromContainer } = await import('./containers/files.js');
    await copyFromContainer(this.containers, nameOrId, source, destination);
  }

  /** A path's stat in the container (Docker's ContainerPathStat; the last symlink is not followed). */
  async statPath(nameOrId: string, path: string): Promise<PathStat> {
    const { statPath } = await import('./containers/files.js');
    return statPath(this.containers, nameOrId, path);
  }

  /** A tar of a path in the container, its root entry named by the path's base name: to what `begin` returns once the stat is known. */
  async archivePath(nameOrId: string, path: string, begin: (stat: PathStat) => Writable): Promise<PathStat> {
    const { archivePath } = await import('./containers/files.js');
    return archivePath(this.containers, nameOrId, path, begin);
  }

  /** A tar (plain or compressed) unpacked into a directory of the container, every path resolved inside its root. */
  async extractToDir(nameOrId: string, dir: string, tar: Readable, options: ExtractToDirOptions = {}): Promise<void> {
    const { extractToDir } = await import('./containers/files.js');
    await extractToDir(this.containers, nameOrId, dir, tar, options);
  }

  /** `top`: ps over the running container's processes (`psArgs` as `ps` takes them, `-ef` by default). */
  async top(nameOrId: string, psArgs = ''): Promise<TopResult> {
    const { containerTop } = await import('./containers/top.js');
    return containerTop(this.containers, nameOrId, psArgs);
  }

  /** `stats`: one sample of the container's CPU, memory, pids, block I/O and network counters (empty when it does not run). */
  async stats(nameOrId: string): Promise<StatsSample> {
    const { sampleStats } = await import('./containers/stats.js');
    return sampleStats(this.containers, nameOrId);
  }

  /** `cp SRC CONTAINER:DEST`: paths resolved inside the container's root. */
  async copyToContainer(source: string, nameOrId: string, destination: string): Promise<void> {
    const { copyToContainer } = await import('./containers/files.js');
    await copyToContainer(this.containers, source, nameOrId, destination);
  }
}
