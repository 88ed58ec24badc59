import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { tarBuffer } from '../datasets/image-archive.js';
import type { BenchContext } from '../config.js';
import { attempt, type Command, type Contender, measureAlternating, run, type Samples, shell } from '../measure.js';
import { type Peer, type PeerStore, peerComparisons, usable } from '../peers.js';
import { atMost, summarize, type WorkloadResult } from '../report.js';
import { Prng } from '../datasets/prng.js';
import { strata } from '../tools.js';

const localName = 'strata-bench/registry:v1';
const repository = 'bench/img:v1';
const host = '127.0.0.1';
const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const mtime = new Date(1_700_000_000_000);

interface OciImage {
  dir: string;
  /** The gzip layer blobs, for the floor. */
  layerBlobs: string[];
  label: string;
}


/** An OCI layout of `layers` gzip layers of `layerBytes` PRNG bytes each, tagged v1 (and named for strata load). */
async function writeOciImage(dir: string, layers: number, layerBytes: number): Promise<OciImage> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const writeBlob = (data: Buffer) => {
    const hex = sha256Hex(data);
    fs.writeFileSync(path.join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length, file: path.join(blobs, hex) };
  };
  const prng = new Prng(70);
  const diffIds: string[] = [];
  const layerDescriptors = [];
  const layerBlobs: string[] = [];
  for (let i = 0; i < layers; i++) {
    const layerTar = await tarBuffer([{ name: `layer${i}`, type: 'directory' }, { name: `layer${i}/data`, body: prng.bytes(layerBytes) }]);
    diffIds.push(`sha256:${sha256Hex(layerTar)}`);
    const blob = writeBlob(zlib.gzipSync(layerTar, { level: 1 }));
    layerBlobs.push(blob.file);
    layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size });
  }
  const config = writeBlob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: mtime.toISOString(),
        config: { Cmd: ['sh'] },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: diffIds.map((_, i) => ({ created: mtime.toISOString(), created_by: `COPY layer${i} /layer${i}` })),
      }),
    ),
  );
  const manifest = writeBlob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
        layers: layerDescriptors,
      }),
    ),
  );
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifest.digest,
          size: manifest.size,
          annotations: { 'io.containerd.image.name': localName, 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  const total = layers * layerBytes;
  const label = total >= 1e6 ? `${Math.round(total / 1e6)}MB` : `${Math.round(total / 1e3)}kB`;
  return { dir, layerBlobs, label: `${label}, ${layers} gzip layers` };
}

/** A free loopback port: the kernel picks one, the probe lets it go. */
function freePort(): number {
  const out = run({
    file: process.execPath,
    args: ['-e', `const s=require('net').createServer().listen(0,'${host}',()=>{console.log(s.address().port);s.close()})`],
  });
  return Number(out.trim());
}

/** Waits (blocking: the bench is synchronous) until GET /v2/ answers at all, or throws after 15 s. */
function waitForRegistry(address: string, child: ChildProcess, log: string): void {
  const script = `const end=Date.now()+15000;(async()=>{for(;;){try{await fetch('http://${address}/v2/');process.exit(0)}catch{}if(Date.now()>end)process.exit(1);await new Promise(r=>setTimeout(r,25))}})()`;
  const result = spawnSync(process.execPath, ['-e', script], { stdio: 'ignore' });
  if (result.status !== 0 || child.exitCode !== null) {
    const why = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').pop() : '';
    throw new Error(`registry at ${address} did not start${why ? `: ${why}` : ''}`);
  }
}

/** A registry process on a loopback port, killed by `stop` (and on exit, should the bench die first). */
export class Registry {
  readonly address: string;
  private readonly child: ChildProcess;
  private readonly onExit = () => this.child.kill('SIGKILL');

  constructor(command: (address: string) => Command, log: string) {
    this.address = `${host}:${freePort()}`;
    const { file, args } = command(this.address);
    const fd = fs.openSync(log, 'a');
    try {
      this.child = spawn(file, args, { stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    process.on('exit', this.onExit);
    try {
      waitForRegistry(this.address, this.child, log);
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  ref(): string {
    return `${this.address}/${repository}`;
  }

  stop(): void {
    this.child.kill('SIGKILL');
    process.off('exit', this.onExit);
  }
}

/** Debian's docker-registry (distribution 2.x) over a fresh filesystem storage directory, no blob cache. */
function startDockerRegistry(dir: string): Registry {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const config = path.join(dir, 'config.yml');
  return new Registry((address) => {
    fs.writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${path.join(dir, 'storage')}`,
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: ${address}`,
        '',
      ].join('\n'),
    );
    return { file: '/usr/bin/docker-registry', args: ['serve', config] };
  }, path.join(dir, 'registry.log'));
}

export function startStrataRegistry(dir: string): Registry {
  fs.mkdirSync(dir, { recursive: true });
  return new Registry((address) => strata(path.join(dir, 'client-root'), 'registry', 'serve', '--addr', address, '--root', path.join(dir, 'storage')), path.join(dir, 'registry.log'));
}

const skopeo = (...args: string[]): Command => ({ file: 'skopeo', args: ['--insecure-policy', ...args] });
const blobHashFloor = (image: OciImage): Command => shell(`cat ${image.layerBlobs.map((f) => `'${f}'`).join(' ')} | openssl dgst -sha256`);

/** Tags the loaded image as `registry`'s reference and pushes it there (untimed setup). */
function strataPush(root: string, registry: Registry): Command {
  run(strata(root, 'tag', localName, registry.ref()));
  return strata(root, 'push', '-q', '--insecure-registry', registry.address, registry.ref());
}

/**
 * Push and pull of a ~100 MB image in 5 gzip layers over loopback: strata against skopeo and (when usable)
 * podman with Debian's docker-registry, and strata pulling from its own embedded registry against pulling from
 * docker-registry. Podman works in throwaway stores (bench/peers.ts): each pull into a fresh, empty one; the
 * pushes from one store the image was loaded into once, untimed.
 */
/** The registry issue's memory target for pull and push. */
const registryRss = { rssLimitMB: 200 };

export async function registryWorkloads(ctx: BenchContext): Promise<WorkloadResult[]> {
  for (const tool of ['/usr/bin/docker-registry', '/usr/bin/skopeo']) if (!fs.existsSync(tool)) throw new Error(`${tool} not installed`);
  const base = fs.mkdtempSync(path.join(ctx.scratch, 'registry-'));
  const registries: Registry[] = [];
  let pushRegistry: Registry | undefined;
  const stopPushRegistry = () => {
    pushRegistry?.stop();
    pushRegistry = undefined;
  };
  /** Podman's throwaway stores not removed yet: the end removes them, whatever failed. */
  const podmanStores = new Set<PeerStore>();
  const openPodmanStore = (peer: Peer) => {
    const store = peer.openStore([]);
    podmanStores.add(store);
    return store;
  };
  const disposePodmanStore = (store: PeerStore | undefined) => {
    if (store && podmanStores.delete(store)) store.dispose([]);
  };
  try {
    const image = await writeOciImage(path.join(base, 'oci'), 5, ctx.config.quick ? 2e6 : 20e6);
    const sourceRoot = path.join(base, 'source-root');
    run(strata(sourceRoot, 'load', '-q', '-i', image.dir));
    const floor: Contender = { name: 'floor', command: () => blobHashFloor(image) };
    const podmanSlots = ctx.peers.filter(({ name }) => name === 'podman');
    const podman = usable(podmanSlots)[0];

    // Podman pushes, by image ID, from a store the OCI layout skopeo pushes was pulled into once (untimed). As
    // an archive: podman 4.3 names an image pulled from an `oci:` directory after its path, which fails on the
    // capitals mkdtemp puts there; from `oci-archive:` it takes the name in index.json's annotations.
    const podmanSource = podman && openPodmanStore(podman);
    let podmanImage = '';
    const podmanSetupError =
      podmanSource &&
      attempt(() => {
        const archive = path.join(base, 'oci.tar');
        run({ file: 'tar', args: ['-C', image.dir, '-cf', archive, '.'] });
        podmanImage = run(podmanSource.command('pull', '-q', `oci-archive:${archive}:v1`)).trim();
        fs.rmSync(archive);
      });

    // (a) push into a fresh docker-registry each run (restarted on a new port and empty storage, untimed).
    const pushDir = path.join(base, 'push-registry');
    const pushContenders: Contender[] = [
      {
        name: 'strata',
        before: () => {
          pushRegistry = startDockerRegistry(pushDir);
        },
        command: () => strataPush(sourceRoot, pushRegistry!),
        after: stopPushRegistry,
        rss: true,
      },
      {
        name: 'skopeo',
        before: () => {
          pushRegistry = startDockerRegistry(pushDir);
        },
        command: () => skopeo('copy', '-q', '--dest-tls-verify=false', `oci:${image.dir}:v1`, `docker://${pushRegistry!.ref()}`),
        after: stopPushRegistry,
      },
      // Podman keeps layers uncompressed in its store, so its push gzips them anew (its default, kept here as
      // what a user gets) where strata and skopeo send the stored gzip blobs as they are.
      ...(podmanSource
        ? [
            {
              name: 'podman',
              before: () => {
                if (podmanSetupError) throw podmanSetupError;
                pushRegistry = startDockerRegistry(pushDir);
              },
              command: () => podmanSource.command('push', '-q', '--tls-verify=false', podmanImage, `docker://${pushRegistry!.ref()}`),
              after: stopPushRegistry,
            },
          ]
        : []),
      floor,
    ];
    const pushSamples = measureAlternating('registry push', pushContenders, ctx.config.runs);
    stopPushRegistry();
    disposePodmanStore(podmanSource);

    // (b) and (c): one docker-registry and one embedded registry holding the image, pulled into fresh roots.
    const docker = startDockerRegistry(path.join(base, 'docker-registry'));
    registries.push(docker);
    const embedded = startStrataRegistry(path.join(base, 'strata-registry'));
    registries.push(embedded);
    run(strataPush(sourceRoot, docker));
    run(strataPush(sourceRoot, embedded));
    const pullRoot = path.join(base, 'pull-root');
    const pullDir = path.join(base, 'pull-oci');
    const clean = () => {
      fs.rmSync(pullRoot, { recursive: true, force: true });
      fs.rmSync(pullDir, { recursive: true, force: true });
    };
    const strataPull = (registry: Registry) => strata(pullRoot, 'pull', '-q', '--insecure-registry', registry.address, registry.ref());
    // Each podman pull into a fresh, empty store, made and removed untimed as strata's pull root is.
    let pullStore: PeerStore | undefined;
    const podmanPull: Contender[] = podman
      ? [
          {
            name: 'podman',
            before: () => {
              pullStore = openPodmanStore(podman);
            },
            command: () => pullStore!.command('pull', '-q', '--tls-verify=false', docker.ref()),
            after: () => disposePodmanStore(pullStore),
          },
        ]
      : [];
    const pullSamples = measureAlternating(
      'registry pull',
      [
        { name: 'strata', before: clean, command: () => strataPull(docker), after: clean, rss: true },
        { name: 'skopeo', before: clean, command: () => skopeo('copy', '-q', '--src-tls-verify=false', `docker://${docker.ref()}`, `oci:${pullDir}:v1`), after: clean },
        ...podmanPull,
        { name: 'embedded', before: clean, command: () => strataPull(embedded), after: clean, rss: true },
        floor,
      ],
      ctx.config.runs,
    );
    const podmanComparison = peerComparisons(podmanSlots, { podman: atMost(1) });
    const pick = (names: Record<string, string>) => new Map(Object.entries(names).map(([as, name]) => [as, pullSamples.get(name) as Samples]));
    return [
      summarize(`push ${image.label}`, pushSamples, [{ tool: 'floor' }, { tool: 'skopeo', target: atMost(1) }, ...podmanComparison], registryRss),
      summarize(`pull ${image.label}`, pullSamples, [{ tool: 'floor' }, { tool: 'skopeo', target: atMost(1) }, ...podmanComparison], registryRss),
      summarize(
        `pull ${image.label}, embedded`,
        pick({ strata: 'embedded', floor: 'floor', 'docker-registry': 'strata' }),
        [{ tool: 'floor' }, { tool: 'docker-registry', target: atMost(1) }],
        registryRss,
      ),
    ];
  } finally {
    stopPushRegistry();
    for (const registry of registries) registry.stop();
    for (const store of podmanStores) disposePodmanStore(store);
    fs.rmSync(base, { recursive: true, force: true });
  }
}
