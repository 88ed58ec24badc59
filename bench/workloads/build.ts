import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../config.js';
import { makeImageTarball } from '../datasets/container-images.js';
import { Prng } from '../datasets/prng.js';
import { writeRootfs } from '../datasets/rootfs.js';
import { attempt, type Command, type Contender, measureAlternating, progress, run } from '../measure.js';
import { detectBuildah, mountsUnder, type Peer, type PeerSlot, type PeerStore, peerComparisons, usable } from '../peers.js';
import { atMost, fasterThan, summarize, type Target, type WorkloadResult } from '../report.js';
import { nodeStartFloor, strata, tarHashFloor } from '../tools.js';
import { floorOf, quietly, requireContainerTools, runcFloor, runPeer, runWorkloads } from './containers.js';
import { type Registry, startStrataRegistry } from './registry.js';

/** The COPY-heavy build's context: the full run's matches the import workload's rootfs, the quick one is a tenth. */
const copySizes = (quick: boolean) => (quick ? { totalBytes: 20e6, files: 500, symlinks: 5, seed: 5 } : { totalBytes: 200e6, files: 5000, symlinks: 20, seed: 5 });

/** Every image the bench makes, in Strata and the peers alike, is named strata-bench*. */
const images = {
  base: 'strata-bench/build-busybox:latest',
  cold: 'strata-bench/build-tutorial:cold',
  cached: 'strata-bench/build-tutorial:cached',
  changed: 'strata-bench/build-tutorial:changed',
  copy: 'strata-bench/build-copy:latest',
  /** Strata's alone, each in a store of its own: the travelling-cache rows' images. */
  exporter: 'strata-bench/build-tutorial:exporter',
  fromCache: 'strata-bench/build-tutorial:from-cache',
  fresh: 'strata-bench/build-tutorial:fresh',
};
/** In an order `rmi` can follow: the base image last, as Docker keeps an image that others are built on. */
const allImages = [images.cold, images.cached, images.changed, images.copy, images.base];

/**
 * Seven steps in the manner of Docker's getting-started tutorial: two RUN steps, so two containers; a COPY of
 * the app's directory; a last `COPY .` of the whole context, which alone uses config.txt (outside app/): the
 * one file the "one file changed" rebuild rewrites, so that only the last COPY and the CMD after it rebuild.
 */
const tutorialDockerfile = [
  `FROM ${images.base}`,
  'RUN mkdir -p /app/data',
  'WORKDIR /app',
  'COPY app/ ./',
  'RUN echo built > data/built.txt',
  'COPY . /src/',
  'CMD ["sh", "start.sh"]',
].join('\n');
const tutorialSteps = 7;
const changedFile = 'config.txt';

/** The tutorial's context: a small app (a dozen text files of 100 B to 8 KB), config.txt, a README, the Dockerfile. */
function writeTutorialContext(dir: string): void {
  const prng = new Prng(4);
  const text = (min: number, max: number) => `${prng.bytes(Math.round(prng.logUniform(min, max))).toString('base64')}\n`;
  const app = ['package.json', 'start.sh', 'src/index.js', 'src/db.js', 'src/routes/items.js', 'src/routes/users.js', 'src/util/log.js', 'static/index.html', 'static/app.css', 'static/app.js', 'spec/items.spec.js', 'spec/users.spec.js'];
  for (const file of app) {
    fs.mkdirSync(path.join(dir, 'app', path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'app', file), file === 'start.sh' ? 'echo started\n' : text(100, 6 << 10));
  }
  fs.writeFileSync(path.join(dir, 'README.md'), text(500, 2000));
  fs.writeFileSync(path.join(dir, changedFile), 'setting=0\n');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `${tutorialDockerfile}\n`);
}

/**
 * `build` in each peer: Docker's classic builder (BuildKit off; `--network host`, so that RUN works with a
 * daemon started with --bridge=none), Podman's and Buildah's with runc and an image per step (`--layers`,
 * Podman's default, Buildah's not), so that every tool keeps a layer cache as Docker's classic builder does.
 */
function peerBuild(peer: Peer, store: PeerStore, args: string[]): Command {
  if (peer.name === 'docker') {
    const docker = store.command('build', '--network', 'host', ...args);
    return { file: 'env', args: ['DOCKER_BUILDKIT=0', docker.file, ...docker.args] };
  }
  if (peer.name === 'podman') return store.command('build', '--runtime', 'runc', '--network', 'host', ...args);
  return store.command('bud', '--runtime', 'runc', '--layers', '--network', 'host', ...args);
}

/** A peer with the busybox image loaded (or why loading it failed). */
interface PeerSetup {
  peer: Peer;
  store: PeerStore;
  setupError?: Error;
}

/**
 * Build: a cold (`--no-cache`) and a fully cached build of a 7-step tutorial Dockerfile on the busybox image,
 * a rebuild after one file of the last COPY changed, and a `--no-cache` build that COPYs a rootfs-like tree
 * (5,000 files, 200 MB), against Docker's classic builder, Podman and Buildah. Strata builds with
 * `--network host`, its default, as the peers do here. Needs root, runc and busybox-static. Each run's image
 * (and the step images under it) is removed after it, untimed, in every tool; Strata's cold runs also forget
 * its build cache and remembered file digests (`builder prune`), which no peer keeps across `--no-cache` builds.
 * Strata's first `COPY .` image of each cold workload is checked to hold the whole context: a run that made a
 * wrong image fails, with the reason, rather than count as fast. Two rows are Strata's alone (no peer's
 * classic builder exports a build cache): a brand-new store building the tutorial from a registry cache, and
 * what `--cache-to` adds to a cold build, both against Strata's embedded registry, started once for them.
 */
export async function buildWorkloads(ctx: BenchContext): Promise<WorkloadResult[]> {
  requireContainerTools('builds');
  return runWorkloads(new BuildBench(ctx, [...ctx.peers, { name: 'buildah', peer: detectBuildah(ctx.scratch) }]), (bench) => {
    const labels = bench.labels();
    return [
      [labels.cold, () => bench.coldBuild()],
      [labels.cached, () => bench.cachedBuild()],
      [labels.changed, () => bench.changedBuild()],
      [labels.copy, () => bench.copyBuild()],
      [labels.mounts, () => bench.cachedWithMounts()],
      [labels.stages, () => bench.twoStages()],
      [labels.fromCache, () => bench.freshStoreFromCache()],
      [labels.exportCost, () => bench.exportCost()],
    ];
  });
}

class BuildBench {
  readonly dir: string;
  readonly root: string;
  readonly tutorial: string;
  readonly copyContext: string;
  readonly peers: PeerSetup[] = [];
  private readonly busyboxDir: string;
  /** The busybox image as `strata save` wrote it: every fresh store loads it, so its image ID is the same in all. */
  private readonly savedBase: string;
  /** Strata's embedded registry for the cache rows: started by the first that needs it, stopped by cleanup. */
  private cacheRegistry?: Registry;
  private stores = 0;
  private copyLabel = '';
  /** Makes config.txt's content new for every run: a content seen before could hit a cache. */
  private changes = 0;

  constructor(
    private readonly ctx: BenchContext,
    private readonly slots: PeerSlot[],
  ) {
    this.dir = fs.mkdtempSync(path.join(ctx.scratch, 'build-'));
    this.root = path.join(this.dir, 'root');
    this.tutorial = path.join(this.dir, 'tutorial');
    this.copyContext = path.join(this.dir, 'copy');
    this.busyboxDir = path.join(this.dir, 'busybox');
    this.savedBase = path.join(this.dir, 'busybox-saved.tar');
  }

  labels() {
    return {
      cold: `build ${tutorialSteps} steps --no-cache`,
      cached: `build ${tutorialSteps} steps, all cached`,
      changed: `build, last COPY changed`,
      copy: `build COPY ${this.copyLabel || 'tree'}`,
      mounts: 'cached build with RUN --mount',
      stages: 'two independent stages (1s RUN each)',
      fromCache: 'fresh store from registry cache',
      exportCost: 'export cost (--cache-to mode=max)',
    };
  }

  private strata(...args: string[]): string {
    return run(strata(this.root, ...args));
  }

  /** The busybox image in Strata (`import -c 'CMD ["sh"]'`) and in each usable peer (`strata save`, then load); the two contexts. */
  setup(): void {
    progress('build: generating the busybox image and the contexts...');
    const busybox = makeImageTarball(this.busyboxDir, path.join(this.dir, 'busybox.tar'), { bytes: 0, files: 0, seed: 0 });
    this.strata('import', '-c', 'CMD ["sh"]', busybox.tarball, images.base);
    fs.rmSync(busybox.tarball);
    writeTutorialContext(this.tutorial);
    fs.mkdirSync(this.copyContext);
    const written = writeRootfs(this.copyContext, copySizes(this.ctx.config.quick));
    fs.writeFileSync(path.join(this.copyContext, 'Dockerfile'), `FROM ${images.base}\nCOPY . /data/\n`);
    this.copyLabel = `${Math.round(written.bytes / 1e6)}MB/${written.files} files`;

    // Kept for the stores of the cache rows, which load it (an import of their own would have another image ID).
    const saved = this.savedBase;
    this.strata('save', '-o', saved, images.base);
    for (const peer of usable(this.slots)) {
      progress(`build: loading the busybox image into ${peer.name}...`);
      const store = peer.openStore(allImages);
      const load = peer.name === 'buildah' ? store.command('pull', '-q', `docker-archive:${saved}`) : store.command('load', '-i', saved);
      this.peers.push({ peer, store, setupError: attempt(() => runPeer(load)) });
    }
    progress('');
  }

  /**
   * Throws unless `dest` in Strata's `image` holds as many entries as `context` (a `COPY .` there): a build
   * that drops files must not pass for a fast one. Busybox's `find` in a container lists them.
   */
  private verifyCopy(image: string, dest: string, context: string): void {
    const listed = this.strata('run', '--rm', image, 'busybox', 'find', dest).split('\n').filter(Boolean).length - 1;
    const expected = countEntries(context);
    if (listed !== expected) throw new Error(`wrong image: COPY . left ${listed} of the context's ${expected} entries in ${dest}`);
  }

  /** After Strata's run: its image checked once (the warm-up's), then removed. */
  private afterStrata(tag: string, forget: boolean, check?: { dest: string; context: string }): () => void {
    let unchecked = check;
    return () => {
      const pending = unchecked;
      unchecked = undefined;
      try {
        if (pending) this.verifyCopy(tag, pending.dest, pending.context);
      } finally {
        this.removeFromStrata(tag, forget);
      }
    };
  }

  /** `build -t TAG CONTEXT` in Strata, with `--no-cache` when `cold`. */
  private strataBuild(tag: string, context: string, cold: boolean): Command {
    return strata(this.root, 'build', '--network', 'host', ...(cold ? ['--no-cache'] : []), '-t', tag, context);
  }

  /**
   * Removes a run's image from Strata: `rmi` leaves the untagged step images under it (Docker's removes them),
   * so the dangling ones go with `image prune`; `forget` also clears the build cache and file digests.
   */
  private removeFromStrata(tag: string, forget: boolean): void {
    this.strata('rmi', tag);
    this.strata(...(forget ? ['builder', 'prune', '-f'] : ['image', 'prune', '-f']));
  }

  /** The peers' builds; `rmi` in each removes the image with the untagged step images under it. */
  private peerContenders(tag: string, context: string, cold: boolean, hooks: { before?: () => void; remove?: boolean }): Contender[] {
    return this.peers.map(({ peer, store, setupError }) => ({
      name: peer.name,
      before: () => {
        if (setupError) throw setupError;
        hooks.before?.();
      },
      command: () => peerBuild(peer, store, [...(cold ? ['--no-cache'] : []), '-t', tag, context]),
      ...(hooks.remove && { after: () => void run(store.command('rmi', tag)) }),
    }));
  }

  /** The peers' lines, each with `target`: strata within it of the fastest peer is within it of each. */
  private peerComparisons(target: Target) {
    return peerComparisons(this.slots, { docker: target, podman: target, buildah: target });
  }

  /**
   * 1. The tutorial with `--no-cache`, target at most 0.7 times the fastest peer's time. The floor is
   * what any Node CLI that runs the two RUN steps in containers pays: `node -e 0` plus two `runc run` of a
   * prepared busybox bundle, measured separately and added.
   */
  coldBuild(): WorkloadResult {
    const runcRun = runcFloor(this.dir, this.busyboxDir, 'strata-bench-build-floor');
    const contenders: Contender[] = [
      { name: 'strata', command: () => this.strataBuild(images.cold, this.tutorial, true), after: this.afterStrata(images.cold, true, { dest: '/src', context: this.tutorial }) },
      { name: 'node -e 0', command: () => nodeStartFloor },
      { name: 'runc run', command: runcRun },
      ...this.peerContenders(images.cold, this.tutorial, true, { remove: true }),
    ];
    const samples = measureAlternating('build --no-cache', contenders, this.ctx.config.runs);
    samples.set('floor', floorOf([samples.get('node -e 0'), samples.get('runc run'), samples.get('runc run')]));
    return summarize(this.labels().cold, samples, [{ tool: 'floor' }, { tool: 'node -e 0' }, { tool: 'runc run' }, ...this.peerComparisons(atMost(0.7))]);
  }

  /** The tutorial built once, untimed, into the image every step of the cached and changed builds reuse. */
  private primeCache(): void {
    progress('build: priming the build caches...');
    this.strata('build', '--network', 'host', '-q', '-t', images.cached, this.tutorial);
    for (const setup of this.peers) {
      if (!setup.setupError) setup.setupError = attempt(() => runPeer(peerBuild(setup.peer, setup.store, ['-t', images.cached, this.tutorial])));
    }
    progress('');
  }

  /**
   * A fully cached rebuild of a Dockerfile whose RUNs use cache and bind mounts, against the same Dockerfile
   * without them: the mounts must cost nothing when nothing runs (their options and bound files are in the key).
   */
  cachedWithMounts(): WorkloadResult {
    const steps = (mounts: boolean) =>
      [`FROM ${images.base}`, ...[1, 2, 3].map((n) => `RUN ${mounts ? `--mount=type=cache,target=/cache${n} --mount=type=bind,source=data,target=/data ` : ''}echo ${n} > /step${n}`), ''].join('\n');
    const contexts = { with: path.join(this.dir, 'mounts-with'), without: path.join(this.dir, 'mounts-without') };
    for (const [name, dir] of Object.entries(contexts)) {
      fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'data', 'input'), 'input\n');
      fs.writeFileSync(path.join(dir, 'Dockerfile'), steps(name === 'with'));
      this.strata('build', '-q', '-t', `strata-bench/mounts-${name}`, dir);
    }
    const samples = measureAlternating('cached build with RUN --mount', [
      { name: 'strata', command: () => this.strataBuild('strata-bench/mounts-with', contexts.with, false) },
      { name: 'without mounts', command: () => this.strataBuild('strata-bench/mounts-without', contexts.without, false) },
    ], this.ctx.config.runs);
    return summarize(this.labels().mounts, samples, [{ tool: 'without mounts', target: atMost(1.05) }]);
  }

  /**
   * Two stages that do not depend on each other, each a RUN of one second, and a stage copying from both: a
   * solver that runs independent stages at once (BuildKit's) takes one second of RUN, a sequential builder two.
   */
  twoStages(): WorkloadResult {
    const dir = path.join(this.dir, 'two-stages');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'Dockerfile'),
      [`FROM ${images.base} AS a`, 'RUN sleep 1 && echo a > /a', `FROM ${images.base} AS b`, 'RUN sleep 1 && echo b > /b', `FROM ${images.base}`, 'COPY --from=a /a /a', 'COPY --from=b /b /b', ''].join('\n'),
    );
    const samples = measureAlternating('two independent stages', [
      { name: 'strata', command: () => this.strataBuild('strata-bench/two-stages', dir, true) },
      // The same work one stage after the other, as a floor to compare with: two RUNs of a second.
      { name: 'sequential RUNs', command: () => ({ file: 'sh', args: ['-c', 'sleep 1; sleep 1'] }) },
    ], this.ctx.config.runs);
    return summarize(this.labels().stages, samples, [{ tool: 'sequential RUNs', target: atMost(0.75) }]);
  }

  /** 2. The tutorial again with every step cached: faster than the fastest peer; the floor is Node's start-up. */
  cachedBuild(): WorkloadResult {
    this.primeCache();
    const contenders: Contender[] = [
      { name: 'strata', command: () => this.strataBuild(images.cached, this.tutorial, false) },
      { name: 'floor', command: () => nodeStartFloor },
      ...this.peerContenders(images.cached, this.tutorial, false, {}),
    ];
    const samples = measureAlternating('build, all cached', contenders, this.ctx.config.runs);
    return summarize(this.labels().cached, samples, [{ tool: 'floor' }, ...this.peerComparisons(fasterThan)]);
  }

  /**
   * 3. The tutorial after config.txt, which only the last COPY uses, was rewritten (untimed, before each run):
   * steps 2-5 come from the cache, the last COPY and CMD are built. At most half the fastest peer's time; the
   * floor is Node's start-up. Each run's image is removed after it, so the cache holds only the primed build.
   */
  changedBuild(): WorkloadResult {
    const change = () => fs.writeFileSync(path.join(this.tutorial, changedFile), `setting=${++this.changes}\n`);
    const contenders: Contender[] = [
      { name: 'strata', before: change, command: () => this.strataBuild(images.changed, this.tutorial, false), after: this.afterStrata(images.changed, false) },
      { name: 'floor', command: () => nodeStartFloor },
      ...this.peerContenders(images.changed, this.tutorial, false, { before: change, remove: true }),
    ];
    const samples = measureAlternating('build, last COPY changed', contenders, this.ctx.config.runs);
    return summarize(this.labels().changed, samples, [{ tool: 'floor' }, ...this.peerComparisons(atMost(0.5))]);
  }

  /**
   * 4. `FROM busybox` + `COPY . /data/` of the rootfs-like tree with `--no-cache`: at most half the fastest
   * peer's time, at most three times the floor (the tree read as a tar stream and hashed), peak RSS ≤ 200 MB.
   */
  copyBuild(): WorkloadResult {
    const contenders: Contender[] = [
      {
        name: 'strata',
        command: () => this.strataBuild(images.copy, this.copyContext, true),
        after: this.afterStrata(images.copy, true, { dest: '/data', context: this.copyContext }),
        rss: true,
      },
      { name: 'floor', command: () => tarHashFloor(this.copyContext) },
      ...this.peerContenders(images.copy, this.copyContext, true, { remove: true }),
    ];
    const samples = measureAlternating('build COPY', contenders, this.ctx.config.runs);
    return summarize(this.labels().copy, samples, [{ tool: 'floor', target: atMost(3) }, ...this.peerComparisons(atMost(0.5))], { rssLimitMB: 200 });
  }

  /** The embedded registry the cache rows export to and import from: loopback, so plain HTTP without a flag. */
  private registry(): Registry {
    this.cacheRegistry ??= startStrataRegistry(path.join(this.dir, 'cache-registry'));
    return this.cacheRegistry;
  }

  /** A brand-new store in the work dir holding the busybox image and nothing else (no cache, no file digests). */
  private freshStore(): string {
    const root = path.join(this.dir, 'stores', String(++this.stores));
    run(strata(root, 'load', '-q', '-i', this.savedBase));
    return root;
  }

  /** Removes a store of the cache rows, unmounting first whatever a failed build left mounted in it. */
  private disposeStore(root: string): void {
    for (const mount of mountsUnder(root).reverse()) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
    fs.rmSync(root, { recursive: true, force: true });
  }

  /**
   * The tutorial built (with `flags()`, called once per run) in a store of its own, made before the run and
   * removed after it, both untimed; `check` looks at the warm-up's store before it goes.
   */
  private freshStoreBuild(name: string, tag: string, flags: () => string[], check?: (root: string) => void): Contender {
    let root: string | undefined;
    let unchecked = check;
    return {
      name,
      before: () => {
        root = this.freshStore();
      },
      command: () => strata(root!, 'build', '--network', 'host', ...flags(), '-t', tag, this.tutorial),
      after: () => {
        const [store, pending] = [root, unchecked];
        root = unchecked = undefined;
        if (!store) return;
        try {
          pending?.(store);
        } finally {
          this.disposeStore(store);
        }
      },
    };
  }

  /**
   * 5. The tutorial in a brand-new store (busybox loaded, nothing else) with `--cache-from` the registry cache
   * another store exported once (`--cache-to`, mode=min), against the same cold build in a brand-new store
   * without it: at most 0.3 times as long; the floor is Node's start-up. Every step comes from the cache and
   * only the layers the image needs are downloaded: the warm-up's image must have the exporting build's ID (a
   * rebuilt RUN step would make another), else the row fails rather than pass a cache miss off as a time.
   */
  freshStoreFromCache(): WorkloadResult {
    const ref = `${this.registry().address}/bench/tutorial:cache`;
    progress("build: exporting the tutorial's cache...");
    const exporter = this.freshStore();
    let exported: string;
    try {
      exported = run(strata(exporter, 'build', '--network', 'host', '-q', '--cache-to', `type=registry,ref=${ref}`, '-t', images.exporter, this.tutorial)).trim();
    } finally {
      this.disposeStore(exporter);
    }
    const sameImage = (root: string) => {
      const id = run(strata(root, 'image', 'inspect', '--format', '{{.Id}}', images.fromCache)).trim();
      if (id !== exported) throw new Error(`wrong image: ${id}, where the build that exported the cache made ${exported} (a step not taken from the cache?)`);
    };
    const contenders: Contender[] = [
      this.freshStoreBuild('strata', images.fromCache, () => ['--cache-from', `type=registry,ref=${ref}`], sameImage),
      { name: 'floor', command: () => nodeStartFloor },
      this.freshStoreBuild('cold build', images.fresh, () => []),
    ];
    const samples = measureAlternating('build from a registry cache', contenders, this.ctx.config.runs);
    return summarize(this.labels().fromCache, samples, [{ tool: 'floor' }, { tool: 'cold build', target: atMost(0.3) }]);
  }

  /**
   * 6. What exporting costs: the cold tutorial build in a brand-new store with `--cache-to` mode=max to the
   * embedded registry, against the same build without it: at most 1.3 times as long. Each run exports to a
   * repository of its own, so that no run finds blobs an earlier one uploaded (a first export, the dearest).
   */
  exportCost(): WorkloadResult {
    const address = this.registry().address;
    let exports = 0;
    const cacheTo = () => ['--cache-to', `type=registry,ref=${address}/bench/export-${++exports}:cache,mode=max`];
    const samples = measureAlternating('build --cache-to', [this.freshStoreBuild('strata', images.exporter, cacheTo), this.freshStoreBuild('without --cache-to', images.fresh, () => [])], this.ctx.config.runs);
    return summarize(this.labels().exportCost, samples, [{ tool: 'without --cache-to', target: atMost(1.3) }]);
  }

  /** Stops the cache rows' registry, unmounts what an interrupted build left, removes the peers' images (or stores) and the work dir. */
  cleanup(): void {
    progress('build: cleaning up...');
    this.cacheRegistry?.stop();
    this.cacheRegistry = undefined;
    const ids = quietly(strata(this.root, 'ps', '-a', '-q', '--no-trunc')).split('\n').filter(Boolean);
    if (ids.length > 0) quietly(strata(this.root, 'rm', '-f', ...ids));
    for (const mount of mountsUnder(this.dir).reverse()) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
    for (const { store } of this.peers) store.dispose(allImages);
    fs.rmSync(this.dir, { recursive: true, force: true });
    progress('');
  }
}

/** Entries below `dir` (files, directories, symlinks), as `find DIR` lists them without DIR itself. */
function countEntries(dir: string): number {
  let count = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    count += 1;
    if (entry.isDirectory()) count += countEntries(path.join(dir, entry.name));
  }
  return count;
}
