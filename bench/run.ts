import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BenchContext, readConfig } from './config.js';
import { makeRootfs, type Rootfs } from './datasets/rootfs.js';
import { canMeasureRss, progress } from './measure.js';
import { detectDocker, detectPodman } from './peers.js';
import { formatResult, jsonSummary, type WorkloadResult } from './report.js';
import { apiWorkloads } from './workloads/api.js';
import { buildWorkloads } from './workloads/build.js';
import { containerWorkloads } from './workloads/containers.js';
import { importWorkload } from './workloads/import.js';
import { listingWorkloads } from './workloads/listing.js';
import { registryWorkloads } from './workloads/registry.js';
import { saveWorkload } from './workloads/save.js';
import { startupWorkload } from './workloads/startup.js';

/**
 * `npm run bench`: Strata against the floor (the least work the job needs) and against Docker and Podman when
 * they are usable. A benchmark, not a test: it reports targets as met or missed and always exits 0 when it ran.
 */
const config = readConfig();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-'));
const removeScratch = () => fs.rmSync(scratch, { recursive: true, force: true });
process.on('SIGINT', () => {
  removeScratch();
  process.exit(130);
});

const results: WorkloadResult[] = [];
const reported = new Set<string>();
/**
 * Prints a workload's lines as soon as it ends; one that cannot run says why and the others still run.
 * With BENCH_ONLY, a workload not named there is passed over.
 */
async function report(name: string, workload: () => WorkloadResult | Promise<WorkloadResult[]>): Promise<void> {
  reported.add(name);
  if (config.only && !config.only.includes(name)) return;
  try {
    for (const result of [await workload()].flat()) {
      results.push(result);
      for (const line of formatResult(result)) console.log(line);
    }
  } catch (error) {
    console.log(`${name}: could not run (${(error as Error).message})`);
  }
}

try {
  const ctx: BenchContext = { config, scratch, peers: [{ name: 'docker', peer: detectDocker() }, { name: 'podman', peer: detectPodman(scratch) }] };
  console.log(
    `Strata bench${config.quick ? ' (quick)' : ''}${config.only ? ` (only ${config.only.join(', ')})` : ''}: ` +
      `median of ${config.runs} run${config.runs === 1 ? '' : 's'} per tool, tools alternating; ` +
      `node ${process.version}, ${os.cpus().length} CPUs${canMeasureRss ? '' : '; no /usr/bin/time, so no peak RSS'}`,
  );
  let generated: Rootfs | undefined;
  /** The rootfs and its tarball, generated for the first workload that needs them. */
  const rootfs = () => {
    if (!generated) progress('generating the rootfs and its tarball...');
    return (generated ??= makeRootfs(scratch, config.rootfs));
  };
  await report('import', () => importWorkload(ctx, rootfs()));
  await report('save', () => saveWorkload(ctx, rootfs()));
  await report('images and history', () => listingWorkloads(ctx));
  await report('startup', () => startupWorkload(ctx));
  await report('containers', () => containerWorkloads(ctx));
  await report('registry', () => registryWorkloads(ctx));
  await report('build', () => buildWorkloads(ctx));
  await report('api', () => apiWorkloads(ctx));
  for (const name of config.only ?? []) if (!reported.has(name)) console.log(`${name}: no such workload`);
  if (config.json) console.log(jsonSummary(results, { runs: config.runs, quick: config.quick, node: process.version }));
} finally {
  removeScratch();
}
