import fs from 'node:fs';
import { Containers } from './containers/service.js';
import { ImageEngine } from './image-engine.js';
import { NativeSnapshotter } from './snapshots/native.js';
import { OverlaySnapshotter } from './snapshots/overlay.js';

/** overlay where the kernel has it (as Docker's overlay2), else the copying native driver. */
export function defaultStorageDriver(): 'overlay' | 'native' {
  try {
    return /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8')) ? 'overlay' : 'native';
  } catch {
    return 'native';
  }
}

/** Wires the services over one storage root. The CLI (and later an HTTP API) talks only to this. */
export class Engine extends ImageEngine {
  /** `storageDriver`: overlay or native for new containers; chosen from the kernel when not given. */
  constructor(root: string, storageDriver?: string, stores?: Pick<ImageEngine, 'content' | 'layers' | 'meta' | 'images'>) {
    super(root, storageDriver, stores);
  }

  /** An image engine grown into a full one, over the same open stores (the image engine still closes them). */
  static over(images: ImageEngine): Engine {
    return new Engine(images.root, images.storageDriver, images);
  }

  private containerService: Containers | undefined;

  /** Containers and their snapshotter, set up on first use. */
  get containers(): Containers {
    if (!this.containerService) {
      const snapshotters = { overlay: new OverlaySnapshotter(this.root, this.layers), native: new NativeSnapshotter(this.root, this.layers) };
      this.containerService = new Containers(this.root, this.meta, this.images, snapshotters, this.storageDriver ?? defaultStorageDriver());
      this.containerService.reconcile();
    }
    return this.containerService;
  }
}
