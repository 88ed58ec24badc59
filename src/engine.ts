import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Containers } from './containers/service.js';
import { ContentStore } from './content/store.js';
import { ImageStore } from './images/store.js';
import { LayerStore } from './layers/store.js';
import { MetadataStore } from './metadata/db.js';
import { NativeSnapshotter } from './snapshots/native.js';
import { OverlaySnapshotter } from './snapshots/overlay.js';
import { invalidArgument } from './errors.js';

/** Docker's and Podman's habit: a system store for root, a per-user one otherwise. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRATA_ROOT) return env.STRATA_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/strata';
  return path.join(env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'strata');
}

/** overlay where the kernel has it (as Docker's overlay2), else the copying native driver. */
export function defaultStorageDriver(): 'overlay' | 'native' {
  try {
    return /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8')) ? 'overlay' : 'native';
  } catch {
    return 'native';
  }
}

/** Wires the services over one storage root. The CLI (and later an HTTP API) talks only to this. */
export class Engine {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly meta: MetadataStore;
  readonly images: ImageStore;

  constructor(
    readonly root: string,
    /** overlay or native for new containers; chosen from the kernel when not given. */
    readonly storageDriver?: string,
  ) {
    if (storageDriver !== undefined && storageDriver !== 'overlay' && storageDriver !== 'native') {
      throw invalidArgument(`unknown storage driver "${storageDriver}": use overlay or native`);
    }
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    this.content = new ContentStore(root);
    this.layers = new LayerStore(root);
    this.meta = new MetadataStore(path.join(root, 'metadata.db'));
    this.images = new ImageStore(this.content, this.layers, this.meta);
  }

  private containerService: Containers | undefined;

  /** Containers and their snapshotter, set up on first use: image commands never pay for them. */
  get containers(): Containers {
    if (!this.containerService) {
      const snapshotters = { overlay: new OverlaySnapshotter(this.root, this.layers), native: new NativeSnapshotter(this.root, this.layers) };
      this.containerService = new Containers(this.root, this.meta, this.images, snapshotters, this.storageDriver ?? defaultStorageDriver());
      this.containerService.reconcile();
    }
    return this.containerService;
  }

  close(): void {
    this.meta.close();
  }
}
