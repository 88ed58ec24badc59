import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import type { Rootfs } from '../datasets/rootfs.js';
import { attempt, type Contender, measureAlternating, run } from '../measure.js';
import { type PeerStore, peerComparisons, usable } from '../peers.js';
import { atMost, summarize, type WorkloadResult } from '../report.js';
import { strata, tarHashFloor } from '../tools.js';
import { importRef } from './import.js';

/** `save -o FILE` (docker format) of the imported image; the output file is removed between runs, untimed. */
export function saveWorkload(ctx: BenchContext, rootfs: Rootfs): WorkloadResult {
  const root = path.join(ctx.scratch, 'save-root');
  const output = path.join(ctx.scratch, 'saved.tar');
  const removeOutput = () => fs.rmSync(output, { force: true });
  const stores = new Map<string, PeerStore>();
  try {
    run(strata(root, 'import', rootfs.tarball, importRef));
    const contenders: Contender[] = [
      { name: 'strata', command: () => strata(root, 'save', '-o', output, importRef), after: removeOutput, rss: true },
      { name: 'floor', command: () => tarHashFloor(rootfs.dir) },
    ];
    for (const peer of usable(ctx.peers)) {
      const store = peer.openStore([importRef]);
      stores.set(peer.name, store);
      const setupError = attempt(() => run(store.command('import', rootfs.tarball, importRef)));
      contenders.push({
        name: peer.name,
        before: () => {
          if (setupError) throw setupError;
        },
        command: () => store.command('save', '-o', output, importRef),
        after: removeOutput,
      });
    }
    const samples = measureAlternating('save', contenders, ctx.config.runs);
    return summarize(`save ${rootfs.label}`, samples, [{ tool: 'floor', target: atMost(3) }, ...peerComparisons(ctx.peers, {})]);
  } finally {
    for (const store of stores.values()) store.dispose([importRef]);
    fs.rmSync(root, { recursive: true, force: true });
    removeOutput();
  }
}
