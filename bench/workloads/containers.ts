import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import { busyboxBinary, type ImageTarball, makeImageTarball } from '../datasets/container-images.js';
import { attempt, type Command, type Contender, measureAlternating, median, progress, run, type Samples, shell } from '../measure.js';
import { mountsUnder, type Peer, type PeerStore, usable } from '../peers.js';
import { atMost, fasterThan, summarize, type Target, type WorkloadResult } from '../report.js';
import { nodeStartFloor, strata } from '../tools.js';

/** Sizes: the full run keeps the container part to a few minutes, the quick one to seconds. */
interface Sizes {
  large: { bytes: number; files: number };
  /** 10 KB files the commit container writes. */
  commitFiles: number;
  ps: { running: number; exited: number; created: number };
  /** Containers kept running at once to weigh what stays behind per container. */
  monitors: number;
}

const sizesFor = (quick: boolean): Sizes =>
  quick
    ? { large: { bytes: 45e6, files: 500 }, commitFiles: 200, ps: { running: 1, exited: 2, created: 5 }, monitors: 3 }
    : { large: { bytes: 495e6, files: 5000 }, commitFiles: 1000, ps: { running: 3, exited: 7, created: 10 }, monitors: 10 };

/** Every image and container the bench makes, in Strata, Docker and Podman alike, is named strata-bench*. */
const images = { busybox: 'strata-bench/ctr-busybox:latest', small: 'strata-bench/ctr-small:latest', large: 'strata-bench/ctr-large:latest' };
const commitRef = 'strata-bench/ctr-commit:latest';
const containerPrefix = 'strata-bench-';

/** What `run` costs under Docker's and Podman's defaults for the same image, next to Strata's. */
const peerRun = (peer: Peer, store: PeerStore, image: string): Command =>
  peer.name === 'podman'
    ? // With Podman's default rlimits for root (and even with --ulimit host), runc's setrlimit fails with EPERM
      // where CAP_SYS_RESOURCE is missing (VMs and CI sandboxes); lowered limits always work, at the same cost.
      store.command('--runtime', 'runc', 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', image, 'true')
    : store.command('run', '--rm', image, 'true');

/** A peer with the busybox image loaded (or why loading it failed), and the containers made in it. */
interface PeerSetup {
  peer: Peer;
  store: PeerStore;
  setupError?: Error;
  containers: string[];
}

/** A workload that could not run still gets its line, with the reason, and the others run on. */
function guarded(label: string, workload: () => WorkloadResult): WorkloadResult {
  try {
    return workload();
  } catch (error) {
    return { label, strata: { reason: `could not run: ${(error as Error).message}` }, comparisons: [] };
  }
}

/** The sum of the parts' medians, as one sample (a part listed twice counts twice). */
export const floorOf = (parts: (Samples | undefined)[]): Samples => {
  const failed = parts.find((p) => !p || p.error);
  if (failed) return { seconds: [], rssKiB: [], error: failed?.error ?? 'not run' };
  return { seconds: [parts.reduce((sum, p) => sum + median(p!.seconds), 0)], rssKiB: [] };
};

/**
 * Containers: `run --rm` latency against Docker, Podman and the floor (Node's start-up plus `runc run` of a
 * prepared bundle), start time against image size, `commit` of many small files and of one file in a big
 * image, and `ps -a -s`. Needs root, runc and busybox-static. Everything made is removed at the end, whatever
 * failed (the workloads run synchronously: a Ctrl-C fails the tools' runs, then the cleanup runs).
 */
/** What workloads that run containers need here; throws saying what is missing. */
export function requireContainerTools(what: string): void {
  if (process.getuid?.() !== 0) throw new Error(`${what} need root (overlay mounts, runc)`);
  if (!busyboxBinary) throw new Error('busybox is not installed (apt-get install busybox-static)');
  if (spawnSync('runc', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('runc is not installed (apt-get install runc)');
}

export async function containerWorkloads(ctx: BenchContext): Promise<WorkloadResult[]> {
  requireContainerTools('containers');
  return runWorkloads(new ContainerBench(ctx), (bench) => {
    const labels = bench.labels();
    return [
      [labels.run, () => bench.runLatency()],
      [labels.startByImageSize, () => bench.startByImageSize()],
      [labels.commitManyFiles, () => bench.commitManyFiles()],
      [labels.commitOneFile, () => bench.commitOneFile()],
      [labels.ps, () => bench.psSize()],
      [labels.monitors, () => bench.monitorMemory()],
    ];
  });
}

/**
 * `runc run` of a busybox tree running `true`, from a bundle made once under `dir` (config from `runc spec`,
 * rootfs a plain copy): the floor under any CLI that runs containers through runc. Each call a new container id.
 */
export function runcFloor(dir: string, busyboxDir: string, namePrefix: string): () => Command {
  const bundle = path.join(dir, 'runc-bundle');
  const state = path.join(dir, 'runc-state');
  fs.mkdirSync(bundle);
  run({ file: 'cp', args: ['-a', busyboxDir, path.join(bundle, 'rootfs')] });
  run({ file: 'runc', args: ['spec', '--bundle', bundle] });
  const configFile = path.join(bundle, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { process: { terminal: boolean; args: string[] } };
  config.process.terminal = false;
  config.process.args = ['true'];
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
  let runs = 0;
  return () => ({ file: 'runc', args: ['--root', state, 'run', '--bundle', bundle, `${namePrefix}-${process.pid}-${runs++}`] });
}

/** Sets a bench up, runs its workloads (each guarded: one that fails says why), and cleans up whatever happened. */
export function runWorkloads<B extends { setup(): void; cleanup(): void }>(bench: B, workloads: (bench: B) => [string, () => WorkloadResult][]): WorkloadResult[] {
  try {
    bench.setup();
    return workloads(bench).map(([label, workload]) => guarded(label, workload));
  } finally {
    bench.cleanup();
  }
}

class ContainerBench {
  readonly sizes: Sizes;
  readonly dir: string;
  readonly root: string;
  readonly peers: PeerSetup[] = [];
  small?: ImageTarball;
  large?: ImageTarball;
  /** Node's start-up plus `runc run`, from the `run --rm` workload, for the others to compare with. */
  private floor?: Samples;
  private readonly busyboxDir: string;

  constructor(private readonly ctx: BenchContext) {
    this.sizes = sizesFor(ctx.config.quick);
    this.dir = fs.mkdtempSync(path.join(ctx.scratch, 'containers-'));
    this.root = path.join(this.dir, 'root');
    this.busyboxDir = path.join(this.dir, 'busybox');
  }

  labels() {
    const large = this.large?.label ?? 'large';
    const { running, exited, created } = this.sizes.ps;
    return {
      run: 'run --rm true (busybox)',
      startByImageSize: `run --rm true (${large} image)`,
      commitManyFiles: `commit ${this.sizes.commitFiles} x 10KB files`,
      commitOneFile: `commit 1 file (${large} image; floor: unchanged, target +0.1s)`,
      ps: `ps -a -s (${running + exited + created} containers)`,
      monitors: `run -d sleep, ${this.sizes.monitors} running`,
    };
  }

  private strata(...args: string[]): string {
    return run(strata(this.root, ...args));
  }

  /** The three images in Strata; the busybox one also in each usable peer, through `strata save` and `load`. */
  setup(): void {
    progress('containers: generating the images...');
    const busybox = makeImageTarball(this.busyboxDir, path.join(this.dir, 'busybox.tar'), { bytes: 0, files: 0, seed: 0 });
    this.small = this.importFresh('small', images.small, { bytes: 3e6, files: 30, seed: 2 });
    this.large = this.importFresh('large', images.large, { ...this.sizes.large, seed: 3 });
    this.strata('import', busybox.tarball, images.busybox);
    fs.rmSync(busybox.tarball);

    const saved = path.join(this.dir, 'busybox-saved.tar');
    this.strata('save', '-o', saved, images.busybox);
    for (const peer of usable(this.ctx.peers)) {
      progress(`containers: loading the busybox image into ${peer.name}...`);
      if (peer.name === 'docker') removeDockerContainers(dockerContainersNamed(containerPrefix));
      const store = peer.openStore([images.busybox, commitRef]);
      const setup: PeerSetup = { peer, store, containers: [] };
      setup.setupError = attempt(() => runPeer(store.command('load', '-i', saved)));
      this.peers.push(setup);
    }
    fs.rmSync(saved);
    progress('');
  }

  /** Generates an image's tree, imports it, and removes tree and tarball (the large one is half a gigabyte). */
  private importFresh(name: string, ref: string, extra: { bytes: number; files: number; seed: number }): ImageTarball {
    progress(`containers: generating the ${name} image...`);
    const tree = path.join(this.dir, name);
    const image = makeImageTarball(tree, path.join(this.dir, `${name}.tar`), extra);
    fs.rmSync(tree, { recursive: true, force: true });
    progress(`containers: importing the ${name} image...`);
    this.strata('import', image.tarball, ref);
    fs.rmSync(image.tarball);
    return image;
  }

  private peerContender(setup: PeerSetup, command: () => Command, hooks: { after?: () => void } = {}): Contender {
    return {
      name: setup.peer.name,
      before: () => {
        if (setup.setupError) throw setup.setupError;
      },
      command,
      ...hooks,
    };
  }

  private peerComparisons(targets: Partial<Record<string, Target>>, only?: string[]) {
    return this.ctx.peers
      .filter(({ name }) => !only || only.includes(name))
      .map(({ name, peer }) => ({ tool: name, target: targets[name], ...(typeof peer === 'string' && { skipped: peer }) }));
  }

  /**
   * 1. `run --rm IMAGE true` on the busybox image. The floor is what any Node CLI over runc pays: `node -e 0`
   * plus `runc run` of a bundle prepared once (config from `runc spec`, rootfs a plain copy of the image's tree),
   * measured separately and added.
   */
  runLatency(): WorkloadResult {
    const runcRun = runcFloor(this.dir, this.busyboxDir, 'strata-bench-floor');
    const contenders: Contender[] = [
      { name: 'strata', command: () => strata(this.root, 'run', '--rm', images.busybox, 'true') },
      { name: 'node -e 0', command: () => nodeStartFloor },
      { name: 'runc run', command: runcRun },
      ...this.peers.map((setup) => this.peerContender(setup, () => peerRun(setup.peer, setup.store, images.busybox))),
    ];
    const samples = measureAlternating('run --rm true', contenders, this.ctx.config.runs);
    this.floor = floorOf([samples.get('node -e 0'), samples.get('runc run')]);
    samples.set('floor', this.floor);
    return summarize(this.labels().run, samples, [
      // "Close to the floor": at most half as much again.
      { tool: 'floor', target: atMost(1.5) },
      { tool: 'node -e 0' },
      { tool: 'runc run' },
      ...this.peerComparisons({ docker: fasterThan, podman: fasterThan }),
    ]);
  }

  /**
   * 6. `run -d IMAGE sleep` until N containers run, each tool in turn, then the memory that stays behind per
   * container: the RSS of each container's parent (Strata's and Podman's conmon, Docker's containerd-shim) and,
   * for Strata, of any other process of its store (a Node monitor would show here). Target (issue 12): ≤5 MB.
   */
  monitorMemory(): WorkloadResult {
    const count = this.sizes.monitors;
    const tools: { name: string; start: (name: string) => Command; pidOf: (name: string) => number; remove: (names: string[]) => void }[] = [
      {
        name: 'strata',
        start: (name) => strata(this.root, 'run', '-d', '--name', name, images.busybox, 'sleep', '600'),
        pidOf: (name) => Number(this.strata('inspect', '-f', '{{.State.Pid}}', name).trim()),
        remove: (names) => run(strata(this.root, 'rm', '-f', ...names)),
      },
      ...this.peers
        .filter((setup) => !setup.setupError)
        .map(({ peer, store }) => ({
          name: peer.name,
          start: (name: string) =>
            peer.name === 'podman'
              ? store.command('--runtime', 'runc', 'run', '-d', '--name', name, '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', images.busybox, 'sleep', '600')
              : store.command('run', '-d', '--name', name, images.busybox, 'sleep', '600'),
          pidOf: (name: string) => Number(run(store.command('inspect', '-f', '{{.State.Pid}}', name)).trim()),
          remove: (names: string[]) => attempt(() => runPeer(store.command('rm', '-f', ...names))),
        })),
    ];
    const started = new Map(tools.map((tool) => [tool.name, { seconds: [] as number[], names: [] as string[] }]));
    try {
      for (let i = 0; i < count; i++) {
        progress(`run -d: container ${i + 1}/${count}`);
        for (const tool of tools) {
          const name = `${containerPrefix}mon-${tool.name}-${i}`;
          const begin = process.hrtime.bigint();
          run(tool.start(name));
          started.get(tool.name)!.seconds.push(Number(process.hrtime.bigint() - begin) / 1e9);
          started.get(tool.name)!.names.push(name);
        }
      }
      const rssKiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      const parentOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      const perContainerMB = (tool: (typeof tools)[number]) => {
        const monitors = new Set(started.get(tool.name)!.names.map((name) => parentOf(tool.pidOf(name))));
        if (tool.name === 'strata') for (const pid of processesOf(this.root)) monitors.add(pid);
        return [...monitors].reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024 / count;
      };
      const memory = tools.map((tool) => ({ name: tool.name, mb: perContainerMB(tool) }));
      const strataMB = memory[0]!.mb;
      return {
        label: this.labels().monitors,
        strata: { seconds: median(started.get('strata')!.seconds) },
        comparisons: [
          { tool: 'floor', outcome: { reason: 'none (the memory below is the figure)' } },
          ...this.peerComparisons({}).map((c) => ({ ...c, outcome: started.has(c.tool) && c.tool !== 'strata' ? { seconds: median(started.get(c.tool)!.seconds) } : { reason: c.skipped ?? 'not run' } })),
        ],
        notes: [
          `stays behind per running container: ${memory.map(({ name, mb }) => `${name} ${mb.toFixed(1)}MB`).join(', ')} (strata target ≤5MB: ${strataMB <= 5 ? 'met' : 'missed'})`,
        ],
      };
    } finally {
      for (const tool of tools) tool.remove(started.get(tool.name)!.names);
    }
  }

  /** 2. `run --rm IMAGE true` on the large image against the small one: the image's size should not matter. */
  startByImageSize(): WorkloadResult {
    const smallName = `${this.small!.label} image`;
    const samples = measureAlternating('run --rm by image size', [
      { name: 'strata', command: () => strata(this.root, 'run', '--rm', images.large, 'true') },
      { name: smallName, command: () => strata(this.root, 'run', '--rm', images.small, 'true') },
    ], this.ctx.config.runs);
    if (this.floor) samples.set('floor', this.floor);
    // "Equal within noise": a tenth, about what run-to-run spread is for a few hundred milliseconds here.
    return summarize(this.labels().startByImageSize, samples, [{ tool: 'floor' }, { tool: smallName, target: atMost(1.1) }]);
  }

  /** Runs a container named `name` to its end in Strata and in each of `peers` that has the image. */
  private runToEnd(name: string, image: string, script: string, peers: PeerSetup[]): void {
    this.strata('run', '--name', name, image, 'sh', '-c', script);
    for (const setup of peers) {
      if (setup.setupError) continue;
      setup.containers.push(name);
      setup.setupError = attempt(() => runPeer(setup.store.command('run', '--name', name, image, 'sh', '-c', script)));
    }
  }

  private upperDir(container: string): string {
    const id = this.strata('inspect', '--type', 'container', '-f', '{{.Id}}', container).trim();
    const upper = path.join(this.root, 'snapshots', id, 'upper');
    if (!fs.existsSync(upper)) throw new Error(`no upper dir at ${upper}`);
    return upper;
  }

  /**
   * 3a. `commit` of a stopped container that wrote many 10 KB files, against `docker commit` of the same.
   * The committed image is removed after each run (untimed), so every run makes its layer anew. The floor is
   * the least a commit must do with GNU tools: read the changes as a tar stream, keep it as the blob, unpack it
   * as the new layer's directory, and hash it.
   */
  commitManyFiles(): WorkloadResult {
    const name = `${containerPrefix}commit`;
    const docker = this.peers.filter((s) => s.peer.name === 'docker');
    const floorBlob = path.join(this.dir, 'floor-layer.tar');
    const floorLayer = path.join(this.dir, 'floor-layer');
    const removeFloorOutput = () => {
      fs.rmSync(floorBlob, { force: true });
      fs.rmSync(floorLayer, { recursive: true, force: true });
    };
    let upper: string | undefined;
    progress('containers: writing the files to commit...');
    const script = `mkdir /data && i=0 && while [ $i -lt ${this.sizes.commitFiles} ]; do head -c 10240 /dev/urandom > /data/f$i; i=$((i+1)); done`;
    try {
      this.runToEnd(name, images.busybox, script, docker);
      const contenders: Contender[] = [
        { name: 'strata', command: () => strata(this.root, 'commit', name, commitRef), after: () => void this.strata('rmi', commitRef), rss: true },
        {
          name: 'floor',
          before: () => {
            upper ??= this.upperDir(name);
            fs.mkdirSync(floorLayer);
          },
          command: () => shell(`tar -c -C '${upper}' . | tee '${floorBlob}' | tar -x -C '${floorLayer}' && openssl dgst -sha256 '${floorBlob}' >/dev/null`),
          after: removeFloorOutput,
        },
        ...docker.map((setup) =>
          this.peerContender(setup, () => setup.store.command('commit', name, commitRef), { after: () => void run(setup.store.command('rmi', commitRef)) }),
        ),
      ];
      const samples = measureAlternating('commit', contenders, this.ctx.config.runs);
      return summarize(this.labels().commitManyFiles, samples, [{ tool: 'floor' }, ...this.peerComparisons({ docker: atMost(1) }, ['docker'])]);
    } finally {
      removeFloorOutput();
      this.removeContainers([name], docker);
    }
  }

  /**
   * 3b. `commit` of a container that changed one file in the large image, against `commit` of an unchanged
   * container of the same image (the floor): the image's size should not matter, target within 0.1 s.
   */
  commitOneFile(): WorkloadResult {
    const changed = `${containerPrefix}commit-one`;
    const unchanged = `${containerPrefix}commit-none`;
    const changedRef = 'strata-bench/ctr-commit-one:latest';
    const unchangedRef = 'strata-bench/ctr-commit-none:latest';
    try {
      this.strata('run', '--name', changed, images.large, 'sh', '-c', 'echo changed > /changed');
      this.strata('run', '--name', unchanged, images.large, 'true');
      const samples = measureAlternating('commit 1 file', [
        { name: 'strata', command: () => strata(this.root, 'commit', changed, changedRef), after: () => void this.strata('rmi', changedRef) },
        { name: 'floor', command: () => strata(this.root, 'commit', unchanged, unchangedRef), after: () => void this.strata('rmi', unchangedRef) },
      ], this.ctx.config.runs);
      const floor = samples.get('floor');
      // Within 0.1 s of the floor, as a ratio: the report's targets are ratios.
      const target = floor && !floor.error ? atMost(Number((1 + 0.1 / median(floor.seconds)).toFixed(2))) : undefined;
      return summarize(this.labels().commitOneFile, samples, [{ tool: 'floor', ...(target && { target }) }]);
    } finally {
      this.removeContainers([changed, unchanged], []);
    }
  }

  /**
   * 4. `ps -a -s` over containers in every state (some running `sleep 1000`, some exited after writing a
   * 100 KB file, some only created), against `docker ps -a -s` over the same set; the floor is Node's start-up.
   */
  psSize(): WorkloadResult {
    const docker = this.peers.filter((s) => s.peer.name === 'docker');
    const { running, exited, created } = this.sizes.ps;
    const names: string[] = [];
    const name = () => {
      const n = `${containerPrefix}ps-${String(names.length).padStart(2, '0')}`;
      names.push(n);
      return n;
    };
    const each = (args: (n: string) => string[]) => {
      const n = name();
      this.strata(...args(n));
      for (const setup of docker) {
        if (setup.setupError) continue;
        setup.containers.push(n);
        setup.setupError = attempt(() => runPeer(setup.store.command(...args(n))));
      }
    };
    try {
      progress('containers: creating the containers to list...');
      for (let i = 0; i < running; i++) each((n) => ['run', '-d', '--name', n, images.busybox, 'sleep', '1000']);
      for (let i = 0; i < exited; i++) each((n) => ['run', '--name', n, images.busybox, 'sh', '-c', 'head -c 100000 /dev/urandom > /file']);
      for (let i = 0; i < created; i++) each((n) => ['create', '--name', n, images.busybox, 'true']);
      const contenders: Contender[] = [
        { name: 'strata', command: () => strata(this.root, 'ps', '-a', '-s') },
        { name: 'floor', command: () => nodeStartFloor },
        ...docker.map((setup) => this.peerContender(setup, () => setup.store.command('ps', '-a', '-s'))),
      ];
      const samples = measureAlternating('ps -a -s', contenders, this.ctx.config.runs);
      return summarize(this.labels().ps, samples, [{ tool: 'floor' }, ...this.peerComparisons({ docker: atMost(1) }, ['docker'])]);
    } finally {
      this.removeContainers(names, docker);
    }
  }

  /** `rm -f` in Strata and in the peers; a failure here must not hide the workload's result. */
  private removeContainers(names: string[], peers: PeerSetup[]): void {
    if (names.length > 0) quietly(strata(this.root, 'rm', '-f', ...names));
    for (const setup of peers) {
      const mine = setup.containers.filter((n) => names.includes(n));
      if (mine.length > 0) quietly(setup.store.command('rm', '-f', ...mine));
      setup.containers = setup.containers.filter((n) => !names.includes(n));
    }
  }

  /** Removes every container (Strata's unmount their roots on the way), the peers' containers and images, and the work dir. */
  cleanup(): void {
    progress('containers: cleaning up...');
    const ids = quietly(strata(this.root, 'ps', '-a', '-q', '--no-trunc')).split('\n').filter(Boolean);
    if (ids.length > 0) quietly(strata(this.root, 'rm', '-f', ...ids));
    // Whatever is still mounted under the work dir (a run interrupted half-way) must go before its files do.
    for (const mount of mountsUnder(this.dir).reverse()) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
    for (const setup of this.peers) {
      if (setup.peer.name === 'docker') removeDockerContainers([...new Set([...setup.containers, ...dockerContainersNamed(containerPrefix)])]);
      setup.store.dispose([images.busybox, commitRef]);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    progress('');
  }
}

/**
 * `run` for the peers' setup commands: Docker's and Podman's last stderr line is "Run '... --help' for more
 * information", so the error keeps the lines before it, which say what went wrong.
 */
export function runPeer(command: Command): void {
  const result = spawnSync(command.file, command.args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.error) throw new Error(`${command.file}: ${result.error.message}`);
  if (result.status !== 0) {
    const why = result.stderr.split('\n').filter((line) => line.trim() !== '' && !/^Run '.*--help'/.test(line)).join(' ');
    throw new Error(`${command.file} ${command.args.join(' ')}: ${why || `exit status ${result.status}`}`);
  }
}

/** Runs a cleanup command; its failure is not the bench's. Returns its stdout. */
export function quietly(command: Command): string {
  const result = spawnSync(command.file, command.args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return result.status === 0 ? result.stdout.trim() : '';
}

function dockerContainersNamed(prefix: string): string[] {
  return quietly({ file: 'docker', args: ['ps', '-a', '--filter', `name=^${prefix}`, '--format', '{{.Names}}'] }).split('\n').filter(Boolean);
}

function removeDockerContainers(names: string[]): void {
  if (names.length > 0) quietly({ file: 'docker', args: ['rm', '-f', ...names] });
}

/** Processes (other than this one) whose command line names the store: what Strata leaves running for it. */
function processesOf(root: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(root) && !cmdline.startsWith('sleep')) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}
