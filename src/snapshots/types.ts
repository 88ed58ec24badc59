import type { LayerRecord } from '../metadata/db.js';

export interface Usage {
  /** Bytes of regular files in the read-write layer. */
  size: number;
  inodes: number;
}

/**
 * A container's read-write layer over its image's read-only layers (containerd's Snapshotter, reduced to what a
 * container needs). `key` names the active snapshot; lowers are the image's layers, bottom first.
 */
export interface Snapshotter {
  readonly name: 'overlay' | 'native';
  /** Creates the empty read-write layer. */
  prepare(key: string): void;
  /** Makes the container's root filesystem available and returns its path. */
  mount(key: string, lowers: readonly LayerRecord[]): Promise<string>;
  unmount(key: string): void;
  isMounted(key: string): boolean;
  /** The container's changes in overlay upper-dir form (whiteouts as 0:0 devices), for diff and commit. */
  upperDir(key: string): string;
  usage(key: string): Usage;
  remove(key: string): void;
}
