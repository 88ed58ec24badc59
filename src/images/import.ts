import type { Readable } from 'node:stream';
import { type ContainerConfig, type ImageConfig, canonicalJson } from './model.js';
import { hostPlatform } from './platform.js';
import { applyChange } from './changes.js';
import { parseReference } from './reference.js';
import type { ImageStore } from './store.js';

export interface ImportOptions {
  reference?: string;
  message?: string;
  changes?: string[];
}

/**
 * `docker import`: a rootfs tarball (plain or compressed) becomes a one-layer image. The tar is decompressed,
 * hashed, stored as the layer blob and unpacked in a single pass.
 */
export async function importRootfs(images: ImageStore, source: Readable, options: ImportOptions = {}) {
  // Validate everything the user typed before a byte is written.
  const tags = options.reference ? [parseReference(options.reference)] : [];
  const runtimeConfig = (options.changes ?? []).reduce<ContainerConfig>(applyChange, {});

  const writer = images.content.writer();
  let unpacked;
  try {
    unpacked = await images.layers.unpack(source, 'import', writer);
  } catch (error) {
    writer.abort();
    throw error;
  }

  const created = new Date().toISOString();
  const config: ImageConfig = {
    ...hostPlatform(),
    created,
    config: runtimeConfig,
    rootfs: { type: 'layers', diff_ids: [unpacked.diffId] },
    history: [{ created, comment: options.message ?? 'Imported from -' }],
  };
  return images.add({
    config: canonicalJson(config),
    // One layer: its chain ID is its diffID.
    layers: [images.madeLayer(unpacked.diffId, unpacked, writer)],
    tags,
  });
}
