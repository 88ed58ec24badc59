import fs from 'node:fs';
import path from 'node:path';
import { copyLayerInto } from '../layers/merge.js';
import type { LayerStore } from '../layers/store.js';
import type { LayerRecord } from '../layers/records.js';
import { makeInitDir, type Snapshotter, type Usage, writeInitFiles } from './types.js';
import { writeUpperView } from './native-changes.js';
import { dirUsage } from './usage.js';

/**
 * The copying fallback for filesystems without overlay (Docker's vfs): each container gets a full copy of its
 * image's layers, merged bottom to top on first mount. Start time and disk grow with the image. For diff and
 * commit, the changes are found by comparing the copy with the layers (native-changes.ts).
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

  prepare(key: string, options: { init?: boolean } = {}): void {
    // Not recursive for the key's own dir: preparing a key twice fails, as overlay's does.
    fs.mkdirSync(path.join(this.dir, key));
    fs.mkdirSync(this.rootfs(key), 0o755);
    if (options.init === false) fs.mkdirSync(this.initDir(key), 0o755);
    else makeInitDir(this.initDir(key));
  }

  private initDir(key: string): string {
    return path.join(this.dir, key, 'init');
  }

  async mount(key: string, lowers: readonly LayerRecord[]): Promise<string> {
    if (!fs.existsSync(this.marker(key))) {
      for (const layer of lowers) await copyLayerInto(this.layers.path(layer.dir), this.rootfs(key));
      await copyLayerInto(this.initDir(key), this.rootfs(key));
      // The layers it was copied from (bottom first), for finding its changes later; written last, as the marker.
      fs.writeFileSync(this.marker(key), JSON.stringify(lowers.map((layer) => layer.dir)));
    }
    return this.rootfs(key);
  }

  unmount(): void {
    // A plain directory: nothing to unmount.
  }

  isMounted(key: string): boolean {
    return fs.existsSync(this.marker(key));
  }

  /** Made afresh on each call from the full copy (empty for a container that never ran). */
  addInitFiles(key: string, files: readonly string[], dirs: readonly string[] = []): void {
    writeInitFiles(this.initDir(key), files, dirs);
  }

  upperDir(key: string): string {
    const view = path.join(this.dir, key, 'changes');
    fs.rmSync(view, { recursive: true, force: true });
    fs.mkdirSync(view, { mode: 0o755 });
    if (!fs.existsSync(this.marker(key))) return view;
    const lowers = (JSON.parse(fs.readFileSync(this.marker(key), 'utf8') || '[]') as string[]).map((dir) => this.layers.path(dir)).reverse();
    writeUpperView(this.rootfs(key), [this.initDir(key), ...lowers], view);
    return view;
  }

  /** The container's changes only (Docker's vfs reports the same), from the overlay-form view of them. */
  usage(key: string): Usage {
    return dirUsage(this.upperDir(key));
  }

  remove(key: string): void {
    fs.rmSync(path.join(this.dir, key), { recursive: true, force: true });
  }
}
