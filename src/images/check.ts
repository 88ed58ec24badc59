import fs from 'node:fs';
import path from 'node:path';
import type { Digest } from '../util/digest.js';
import { processAlive } from '../util/process.js';
import type { ImageStore } from './store.js';

export interface CheckReport {
  blobs: number;
  layers: number;
  images: number;
  /** Damage: referenced data that is missing or corrupt. */
  problems: string[];
  /** Leftovers of interrupted writes: safe to delete, reported and removed with `repair`. */
  orphans: string[];
}

const linkDirName = 'l';

/** Whether the process a temp name (`[.tmp-]<pid>-...`) was made by still runs. */
function pidAlive(name: string): boolean {
  return processAlive(Number(/^(?:\.tmp-)?(\d+)-/.exec(path.basename(name))?.[1]));
}

/**
 * `system check`: every referenced blob exists and hashes to its name, every image's layers are recorded and
 * unpacked, and whatever an interrupted write left behind is listed (and removed with `repair`).
 */
export async function checkStore(images: ImageStore, options: { repair?: boolean; quick?: boolean } = {}): Promise<CheckReport> {
  const { content, layers, records: imageRecords } = images;
  const problems: string[] = [];
  const orphans: string[] = [];
  const records = imageRecords.all();
  const referencedBlobs = new Set<Digest>();
  for (const image of records) {
    for (const digest of imageRecords.blobs(image.id)) {
      referencedBlobs.add(digest);
      if (!content.has(digest)) problems.push(`image ${image.id}: blob ${digest} is missing`);
    }
    try {
      images.layerChain(image);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  const layerRecords = layers.records.all();
  const layerDirs = new Set(layerRecords.map((layer) => layer.dir));
  for (const layer of layerRecords) {
    if (!layers.exists(layer.dir)) problems.push(`layer ${layer.chainId}: directory ${layers.path(layer.dir)} is missing`);
  }
  const blobs = content.list();
  for (const digest of blobs) {
    if (!referencedBlobs.has(digest)) orphans.push(content.path(digest));
    else if (!options.quick && !(await content.verify(digest))) problems.push(`blob ${digest} is corrupt: its content does not match its digest`);
  }
  for (const name of layers.list()) {
    if (name === linkDirName) continue;
    if (!layerDirs.has(name) && !(name.startsWith('.tmp-') && pidAlive(name))) orphans.push(layers.path(name));
  }
  // Overlay's short names for layer dirs: one whose layer is gone is a leftover.
  const linkDir = layers.path(linkDirName);
  for (const link of fs.existsSync(linkDir) ? fs.readdirSync(linkDir) : []) {
    if (!fs.existsSync(path.join(linkDir, link))) orphans.push(path.join(linkDir, link));
  }
  for (const file of content.leftoverIngests()) if (!pidAlive(file)) orphans.push(file);
  if (options.repair) for (const orphan of orphans) fs.rmSync(orphan, { recursive: true, force: true });
  return { blobs: blobs.length, layers: layerRecords.length, images: records.length, problems, orphans };
}
