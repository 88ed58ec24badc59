/** `builder prune`: forget every cached step and remove the images only the cache kept. */
import type { ImageEngine } from '../image-engine.js';
import type { Digest } from '../util/digest.js';

export interface PruneResult {
  deleted: Digest[];
  /** Bytes of layers no image uses any more. */
  reclaimed: number;
}

export function pruneBuildCache(engine: ImageEngine): PruneResult {
  const { meta, images } = engine;
  const cached = meta.buildCacheImages();
  meta.transaction(() => {
    meta.clearBuildCache();
    meta.clearFileHashes();
  });
  const inUse = new Set(meta.containers().map((c) => c.imageId));
  const deleted: Digest[] = [];
  let reclaimed = 0;
  // Removing a step's image can leave its parent step childless: repeat until nothing more goes.
  for (;;) {
    const victims = [...cached].filter((id) => {
      const record = meta.image(id);
      return record && !inUse.has(id) && meta.tagsOf(id).length === 0 && meta.children(id).length === 0;
    });
    if (victims.length === 0) break;
    for (const id of victims) cached.delete(id);
    const blobs = victims.flatMap((id) => meta.imageBlobs(id));
    meta.transaction(() => {
      for (const id of victims) meta.deleteImage(id);
    });
    deleted.push(...victims);
    reclaimed += images.collectGarbage(blobs).reclaimed;
  }
  return { deleted, reclaimed };
}
