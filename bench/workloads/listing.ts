import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import { writeImageArchive } from '../datasets/image-archive.js';
import { attempt, type Contender, measureAlternating, run } from '../measure.js';
import { type PeerStore, peerComparisons, usable } from '../peers.js';
import { atMost, fasterThan, summarize, type WorkloadResult } from '../report.js';
import { nodeStartFloor, strata } from '../tools.js';

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));

/**
 * `images` and `history IMAGE` over a store of many images. Strata loads a generated archive; Docker and Podman
 * load what `strata save` writes of it, so all three list the same images. The floor is Node's own start-up.
 */
export async function listingWorkloads(ctx: BenchContext): Promise<WorkloadResult[]> {
  if (!busybox) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const root = path.join(ctx.scratch, 'list-root');
  const archive = await writeImageArchive(path.join(ctx.scratch, 'list-images.tar'), ctx.config.listImages, busybox);
  const stores = new Map<string, { store: PeerStore; setupError?: Error }>();
  try {
    run(strata(root, 'load', '-q', '-i', archive.file));
    const saved = path.join(ctx.scratch, 'list-saved.tar');
    run(strata(root, 'save', '-o', saved, ...archive.names));
    for (const peer of usable(ctx.peers)) {
      const store = peer.openStore(archive.names);
      stores.set(peer.name, { store, setupError: attempt(() => run(store.command('load', '-i', saved))) });
    }
    fs.rmSync(saved);

    const measure = (what: string, strataArgs: string[], peerArgs: string[]) => {
      const contenders: Contender[] = [
        { name: 'strata', command: () => strata(root, ...strataArgs) },
        { name: 'floor', command: () => nodeStartFloor },
        ...[...stores].map(([name, { store, setupError }]): Contender => ({
          name,
          before: () => {
            if (setupError) throw setupError;
          },
          command: () => store.command(...peerArgs),
        })),
      ];
      const samples = measureAlternating(what, contenders, ctx.config.runs);
      return summarize(`${what} (${archive.names.length} images)`, samples, [
        { tool: 'floor' },
        ...peerComparisons(ctx.peers, { docker: atMost(2), podman: fasterThan }),
      ]);
    };
    return [measure('images', ['images'], ['images']), measure('history', ['history', archive.deepest], ['history', archive.deepest])];
  } finally {
    for (const { store } of stores.values()) store.dispose(archive.names);
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(archive.file, { force: true });
  }
}
