import fs from 'node:fs';
import path from 'node:path';
import type { LayerRecord } from '../layers/records.js';

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
  /**
   * Creates the empty read-write layer; with `init: false`, without the mount points a container needs (a view
   * of the image's own files only: `build -o`, RUN --mount=from=).
   */
  prepare(key: string, options?: { init?: boolean }): void;
  /**
   * Adds empty files and directories to the container's init layer (before its first mount): the targets of
   * mounts the runtime would otherwise create in the read-write layer, as Docker's init layer holds /etc/hosts.
   */
  addInitFiles(key: string, files: readonly string[], dirs?: readonly string[]): void;
  /** Makes the container's root filesystem available and returns its path. */
  mount(key: string, lowers: readonly LayerRecord[]): Promise<string>;
  unmount(key: string): void;
  isMounted(key: string): boolean;
  /** The container's changes in overlay upper-dir form (whiteouts as 0:0 devices), for diff and commit. */
  upperDir(key: string): string;
  usage(key: string): Usage;
  remove(key: string): void;
}

/**
 * Docker's "init layer": the mount points the runtime needs, in a lower dir of their own on top of the image's,
 * so that creating them is not a change of the container's (not in diff, commit or ps -s).
 */
export function makeInitDir(dir: string): void {
  for (const mountPoint of ['dev/pts', 'dev/shm', 'dev/mqueue', 'proc', 'sys']) fs.mkdirSync(path.join(dir, mountPoint), { recursive: true, mode: 0o755 });
}

export function writeInitFiles(dir: string, files: readonly string[], dirs: readonly string[] = []): void {
  for (const target of dirs) fs.mkdirSync(path.join(dir, target), { recursive: true, mode: 0o755 });
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(dir, file), '', { mode: 0o644, flag: 'a' });
    // Whole seconds, as in layers from tars: a copy (native driver) keeps them exactly, so they compare equal.
    const now = Math.floor(Date.now() / 1000);
    fs.utimesSync(path.join(dir, file), now, now);
  }
}
