import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContentStore } from './content/store.js';
import { invalidArgument } from './errors.js';
import { ImageStore } from './images/store.js';
import { LayerStore } from './layers/store.js';
import { MetadataStore } from './metadata/db.js';

/** Docker's and Podman's habit: a system store for root, a per-user one otherwise. */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRATA_ROOT) return env.STRATA_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/strata';
  return path.join(env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), 'strata');
}

/**
 * The stores of one storage root, without containers: all that image commands (images, history, pull, push,
 * save, load...) need, and all they load. `Engine` adds the container service on top.
 */
export class ImageEngine {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly meta: MetadataStore;
  readonly images: ImageStore;

  /** `storageDriver` (overlay or native) is for `Engine`'s containers; `stores` shares another engine's open stores. */
  constructor(
    readonly root: string,
    readonly storageDriver?: string,
    stores?: Pick<ImageEngine, 'content' | 'layers' | 'meta' | 'images'>,
  ) {
    if (storageDriver !== undefined && storageDriver !== 'overlay' && storageDriver !== 'native') {
      throw invalidArgument(`unknown storage driver "${storageDriver}": use overlay or native`);
    }
    if (stores) {
      ({ content: this.content, layers: this.layers, meta: this.meta, images: this.images } = stores);
      return;
    }
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    this.content = new ContentStore(root);
    this.layers = new LayerStore(root);
    this.meta = new MetadataStore(path.join(root, 'metadata.db'));
    this.images = new ImageStore(this.content, this.layers, this.meta);
  }

  close(): void {
    this.meta.close();
  }
}
