import fs from 'node:fs';
import path from 'node:path';
import { unsupported } from '../errors.js';
import { copyLayerInto } from '../layers/merge.js';
import type { LayerStore } from '../layers/store.js';
import type { LayerRecord } from '../metadata/db.js';
import type { Snapshotter, Usage } from './types.js';
import { dirUsage } from './usage.js';

/**
 * The copying fallback for filesystems without overlay (Docker's vfs): each container gets a full copy of its
 * image's layers, merged bottom to top on first mount. Start time and disk grow with the image; diff and
 * commit would need a whole-tree comparison and are not offered on it yet.
 */
export class NativeSnapshotter implements Snapshotter {
  readonly name = 'native';
  private readonly dir: string;

  constructor(
    root: string,
    private readonly layers: LayerStore,
  ) {
    this.dir = path.join(root, 'snapshots-native');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private rootfs(key: string): string {
    return path.join(this.dir, key, 'rootfs');
  }

  /** Written once the copy is complete, beside (not inside) the root filesystem. */
  private marker(key: string): string {
    return path.join(this.dir, key, 'populated');
  }

  prepare(key: string): void {
    fs.mkdirSync(this.rootfs(key), { recursive: true, mode: 0o755 });
  }

  async mount(key: string, lowers: readonly LayerRecord[]): Promise<string> {
    if (!fs.existsSync(this.marker(key))) {
      for (const layer of lowers) await copyLayerInto(this.layers.path(layer.dir), this.rootfs(key));
      fs.writeFileSync(this.marker(key), '');
    }
    return this.rootfs(key);
  }

  unmount(): void {
    // A plain directory: nothing to unmount.
  }

  isMounted(key: string): boolean {
    return fs.existsSync(this.marker(key));
  }

  upperDir(): string {
    throw unsupported('diff and commit need the overlay storage driver; this container uses the native (copying) one');
  }

  usage(key: string): Usage {
    return dirUsage(this.rootfs(key));
  }

  remove(key: string): void {
    fs.rmSync(path.join(this.dir, key), { recursive: true, force: true });
  }
}
