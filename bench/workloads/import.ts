import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import type { Rootfs } from '../datasets/rootfs.js';
import { type Contender, measureAlternating } from '../measure.js';
import { type Peer, type PeerStore, peerComparisons, usable } from '../peers.js';
import { atMost, fasterThan, summarize, type WorkloadResult } from '../report.js';
import { strata, tarHashFloor } from '../tools.js';

export const importRef = 'strata-bench:import';

/**
 * `import TARBALL` into an empty store each run: the store is removed between runs, outside the timing.
 * Besides the floor, `tar -x` of the same tarball shows what creating the files alone costs on this machine.
 */
export function importWorkload(ctx: BenchContext, rootfs: Rootfs): WorkloadResult {
  const root = path.join(ctx.scratch, 'import-root');
  const extractDir = path.join(ctx.scratch, 'extracted');
  const remove = (dir: string) => () => fs.rmSync(dir, { recursive: true, force: true });
  const contenders: Contender[] = [
    { name: 'strata', before: remove(root), command: () => strata(root, 'import', rootfs.tarball, importRef), after: remove(root), rss: true },
    { name: 'floor', command: () => tarHashFloor(rootfs.dir) },
    {
      name: 'tar -x',
      before: () => {
        remove(extractDir)();
        fs.mkdirSync(extractDir);
      },
      command: () => ({ file: 'tar', args: ['-xf', rootfs.tarball, '-C', extractDir] }),
      after: remove(extractDir),
    },
    ...usable(ctx.peers).map((peer) => peerImport(peer, rootfs.tarball)),
  ];
  const samples = measureAlternating('import', contenders, ctx.config.runs);
  return summarize(`import ${rootfs.label}`, samples, [
    { tool: 'floor', target: atMost(3) },
    { tool: 'tar -x' },
    ...peerComparisons(ctx.peers, { docker: fasterThan, podman: fasterThan }),
  ]);
}

function peerImport(peer: Peer, tarball: string): Contender {
  let store: PeerStore | undefined;
  return {
    name: peer.name,
    before: () => {
      store = peer.openStore([importRef]);
    },
    command: () => store!.command('import', tarball, importRef),
    after: () => store?.dispose([importRef]),
  };
}
