import type { RootfsSpec } from './datasets/rootfs.js';
import type { PeerSlot } from './peers.js';

export interface Config {
  runs: number;
  quick: boolean;
  json: boolean;
  rootfs: RootfsSpec;
  /** Images in the store that `images` and `history` run against. */
  listImages: number;
  /** The workloads to run, by the names run.ts reports them under; undefined for all. */
  only?: string[];
}

/**
 * BENCH_RUNS (default 5), BENCH_QUICK=1 (small dataset, 2 runs: a smoke test), BENCH_JSON=1 (summary line),
 * BENCH_ONLY=build,import (only these workloads, by name: import, save, images and history, startup,
 * containers, registry, build).
 */
export function readConfig(env = process.env): Config {
  const quick = env.BENCH_QUICK === '1';
  const runs = Number(env.BENCH_RUNS ?? (quick ? 2 : 5));
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a positive integer, not "${env.BENCH_RUNS}"`);
  return {
    runs,
    quick,
    json: env.BENCH_JSON === '1',
    rootfs: quick ? { totalBytes: 10e6, files: 300, symlinks: 5, seed: 1 } : { totalBytes: 200e6, files: 5000, symlinks: 20, seed: 1 },
    listImages: quick ? 10 : 50,
    ...(env.BENCH_ONLY && { only: env.BENCH_ONLY.split(',').map((name) => name.trim()) }),
  };
}

/** What every workload gets: the configuration, a scratch directory to write in, and the peers. */
export interface BenchContext {
  config: Config;
  scratch: string;
  peers: PeerSlot[];
}
