import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Containers } from './containers/service.js';
import type { Stores } from './image-engine.js';
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

/** The container service over open stores: both snapshotters, conmon's exit command, and a first reconcile. */
export function openContainerService(root: string, stores: Pick<Stores, 'db' | 'layers' | 'images'>, storageDriver?: string): Containers {
  const snapshotters = { overlay: new OverlaySnapshotter(root, stores.layers), native: new NativeSnapshotter(root, stores.layers) };
  const exitEntry = fileURLToPath(new URL('./conmon-exit.js', import.meta.url));
  const containers = new Containers(root, stores.db, stores.images, snapshotters, storageDriver ?? defaultStorageDriver(), exitEntry);
  containers.reconcile();
  return containers;
}
