import { randomBytes } from 'node:crypto';
import type { BuildBackend, StepContainer } from './builder/backend.js';
import type { BuildCache } from './builder/cache.js';
import { buildStepLabel } from './containers/records.js';
import type { Containers, CreateOptions } from './containers/service.js';
import type { Stores } from './image-engine.js';
import type { ImageStore, Lease } from './images/store.js';
import type { Digest } from './util/digest.js';

/**
 * The builder's backend over an engine's open stores. The container modules load, and the service is set up, at
 * the first RUN that really runs: a cached or COPY-only build never needs them.
 */
export class EngineBuildBackend implements BuildBackend {
  readonly images: ImageStore;
  readonly cache: BuildCache;
  readonly lease: Lease;
  private containers: Containers | undefined;

  constructor(
    private readonly stores: Stores,
    private readonly root: string,
    private readonly storageDriver: string | undefined,
  ) {
    this.images = stores.images;
    this.cache = stores.buildCache;
    this.lease = stores.images.lease();
  }

  /** The build is over: its images are ordinary images again, for prunes to judge. */
  release(): void {
    this.lease.release();
  }

  get cacheMountsDir(): string {
    return this.stores.cacheMountsDir;
  }

  private async containerService(): Promise<Containers> {
    if (!this.containers) {
      const { openContainerService } = await import('./container-service.js');
      this.containers = openContainerService(this.root, this.stores, this.storageDriver);
    }
    return this.containers;
  }

  async mountImage(image: Digest): Promise<{ dir: string; release(): void }> {
    const containers = await this.containerService();
    const snapshotter = containers.snapshotterFor({ snapshotter: containers.defaultSnapshotter });
    const key = `mount-${process.pid}-${randomBytes(6).toString('hex')}`;
    snapshotter.prepare(key, { init: false });
    try {
      const dir = await snapshotter.mount(key, this.images.layerChain(this.images.resolve(image)));
      return {
        dir,
        release: () => {
          snapshotter.unmount(key);
          snapshotter.remove(key);
        },
      };
    } catch (error) {
      snapshotter.remove(key);
      throw error;
    }
  }

  async createContainer(image: Digest, settings: CreateOptions['settings']): Promise<StepContainer> {
    const containers = await this.containerService();
    // Marked with this process's pid: if it is killed, the next build, builder prune or system check finds the container.
    const record = containers.create({ image, settings: { ...settings, labels: { ...settings.labels, [buildStepLabel]: String(process.pid) } } });
    return {
      id: record.id,
      run: async (output) => {
        const { startContainer } = await import('./containers/monitor.js');
        const { exited } = await startContainer(containers, record.id, { stdout: output, stderr: output });
        return exited;
      },
      upperDir: () => containers.snapshotterFor(record).upperDir(record.id),
      remove: async () => {
        await containers.remove(record.id, { force: true });
      },
    };
  }
}
