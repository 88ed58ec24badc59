import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import { makeImageTarball } from '../datasets/container-images.js';
import { writeImageArchive } from '../datasets/image-archive.js';
import { attempt, type Command, type Contender, measureAlternating, progress, run } from '../measure.js';
import { type PeerStore, usable } from '../peers.js';
import { atMost, fasterThan, summarize, type WorkloadResult } from '../report.js';
import { nodeStartFloor, strata, strataCommand } from '../tools.js';
import { requireContainerTools } from './containers.js';

const dockerCli = ['/usr/local/bin/docker', '/usr/bin/docker'].find((file) => fs.existsSync(file));
const busyboxImage = 'strata-bench/api-busybox:latest';

/** The docker CLI pointed at a socket: what every Engine API client pays, whichever engine answers. */
const dockerAt = (socket: string | undefined, ...args: string[]): Command => ({ file: 'env', args: [...(socket ? [`DOCKER_HOST=unix://${socket}`] : []), dockerCli!, ...args] });

const rssMB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/**
 * The Engine API service, driven by the docker CLI: `docker images` through Strata's socket against `strata
 * images` (the service keeps the store open), `docker run --rm true` through Strata's socket against the same
 * through dockerd when it runs, and what the service holds in memory when idle.
 */
export async function apiWorkloads(ctx: BenchContext): Promise<WorkloadResult[]> {
  if (!dockerCli) throw new Error('the docker CLI is not installed (apt-get install docker.io)');
  requireContainerTools('the Engine API workloads');
  const dir = fs.mkdtempSync(path.join(ctx.scratch, 'api-'));
  const root = path.join(dir, 'root');
  const socket = path.join(dir, 'api.sock');
  const archive = await writeImageArchive(path.join(dir, 'images.tar'), ctx.config.listImages, fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox');
  run(strata(root, 'load', '-q', '-i', archive.file));
  const busybox = makeImageTarball(path.join(dir, 'busybox'), path.join(dir, 'busybox.tar'), { bytes: 0, files: 0, seed: 0 });
  run(strata(root, 'import', busybox.tarball, busyboxImage));
  const docker = usable(ctx.peers).find((peer) => peer.name === 'docker');
  let dockerStore: PeerStore | undefined;
  let dockerSetup: Error | undefined;
  let service: ChildProcess | undefined;
  try {
    if (docker) {
      dockerStore = docker.openStore([busyboxImage]);
      dockerSetup = attempt(() => run(dockerStore!.command('import', busybox.tarball, busyboxImage)));
    }
    progress('api: starting the service...');
    const command = strataCommand('--root', root, 'system', 'service', '-t', '0', `unix://${socket}`);
    service = spawn(command.file, command.args, { stdio: 'ignore' });
    for (let i = 0; i < 200 && spawnSync(dockerCli, ['version'], { env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, stdio: 'ignore' }).status !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const idleAtStart = rssMB(service.pid!);

    const images = measureAlternating(
      'api images',
      [
        { name: 'strata', command: () => dockerAt(socket, 'images') },
        { name: 'strata images', command: () => strata(root, 'images') },
        { name: 'floor', command: () => nodeStartFloor },
      ],
      ctx.config.runs,
    );
    const runContenders: Contender[] = [
      { name: 'strata', command: () => dockerAt(socket, 'run', '--rm', busyboxImage, 'true') },
      // What any engine behind the socket costs at least: the CLI's start and a round trip.
      { name: 'floor', command: () => dockerAt(socket, 'version') },
      ...(docker
        ? [
            {
              name: 'docker',
              before: () => {
                if (dockerSetup) throw dockerSetup;
              },
              command: () => dockerAt(undefined, 'run', '--rm', busyboxImage, 'true'),
            },
          ]
        : []),
    ];
    const runs = measureAlternating('api run --rm', runContenders, ctx.config.runs);
    const idleAfter = rssMB(service.pid!);
    const results = [
      summarize(`docker images via API (${archive.names.length})`, images, [{ tool: 'floor' }, { tool: 'strata images', target: fasterThan }]),
      summarize('docker run --rm via API', runs, [{ tool: 'floor' }, { tool: 'docker', ...(docker ? { target: atMost(0.8) } : { skipped: 'dockerd not running' }) }]),
    ];
    results[1]!.notes = [`service RSS idle: ${idleAtStart.toFixed(1)} MB at start, ${idleAfter.toFixed(1)} MB after the runs (target ≤ 80 MB: ${idleAfter <= 80 ? 'met' : 'missed'})`];
    return results;
  } finally {
    service?.kill('SIGTERM');
    dockerStore?.dispose([busyboxImage]);
    const leftovers = attempt(() => {
      const ids = run(strata(root, 'ps', '-aq')).split('\n').filter(Boolean);
      if (ids.length > 0) run(strata(root, 'rm', '-f', ...ids));
    });
    if (leftovers) progress(`api: cleaning up: ${leftovers.message}`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
