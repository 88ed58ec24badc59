import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Command, run } from './measure.js';
import type { Target } from './report.js';

/** A peer's image store: Docker's daemon, or a throwaway Podman or Buildah root. */
export interface PeerStore {
  command(...args: string[]): Command;
  /** Removes these images (Docker) or the whole store (Podman, Buildah). */
  dispose(images: string[]): void;
}

export interface Peer {
  name: string;
  /** A store without these images: leftovers of an interrupted bench would make Docker's work cheaper. */
  openStore(absent: string[]): PeerStore;
}

/** A peer, or why it is skipped ("not installed", "not running"). */
export type PeerOrReason = Peer | string;

/** A peer slot in every workload: the tool when usable, else the reason it is skipped. */
export interface PeerSlot {
  name: string;
  peer: PeerOrReason;
}

export const usable = (slots: PeerSlot[]): Peer[] => slots.flatMap(({ peer }) => (typeof peer === 'string' ? [] : [peer]));

const installed = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

/** Docker, when its daemon answers. Images the bench makes there are named strata-bench* and removed after. */
export function detectDocker(): PeerOrReason {
  if (!installed('docker')) return 'not installed';
  if (spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20_000 }).status !== 0) return 'not running';
  // `docker rmi` fails for images already gone, which is fine here.
  const remove = (images: string[]) => images.length > 0 && spawnSync('docker', ['rmi', ...images], { stdio: 'ignore' });
  return {
    name: 'docker',
    openStore: (absent) => {
      remove(absent);
      return { command: (...args) => ({ file: 'docker', args }), dispose: remove };
    },
  };
}

/**
 * Podman, each store a fresh --root/--runroot/--tmpdir under `scratch`, so the host's images are untouched.
 * The first storage driver and runtime flags that can import a one-file tar win.
 */
export function detectPodman(scratch: string): PeerOrReason {
  if (!installed('podman')) return 'not installed';
  const probeDir = fs.mkdtempSync(path.join(scratch, 'podman-probe-'));
  fs.writeFileSync(path.join(probeDir, 'hello'), 'hello\n');
  const probeTar = path.join(scratch, 'podman-probe.tar');
  run({ file: 'tar', args: ['-C', probeDir, '-cf', probeTar, '.'] });
  const candidates = ['overlay', 'vfs'].flatMap((driver) => [[], ['--runtime', 'runc']].map((runtime) => containersStorageTool('podman', scratch, ['--storage-driver', driver, ...runtime])));
  return firstUsable(candidates, (store) => run(store.command('import', probeTar, 'strata-bench:probe')));
}

/** The first candidate whose throwaway store passes `probe`, or why none did. */
function firstUsable(candidates: Peer[], probe: (store: PeerStore) => void): PeerOrReason {
  let firstError = '';
  for (const peer of candidates) {
    const store = peer.openStore([]);
    try {
      probe(store);
      return peer;
    } catch (error) {
      firstError ||= (error as Error).message;
    } finally {
      store.dispose([]);
    }
  }
  return `not usable (${firstError})`;
}

/** Podman or Buildah over a throwaway containers/storage store (Buildah has no --tmpdir: it uses TMPDIR). */
function containersStorageTool(tool: 'podman' | 'buildah', scratch: string, flags: string[]): Peer {
  return {
    name: tool,
    openStore: () => {
      const dir = fs.mkdtempSync(path.join(scratch, `${tool}-`));
      const globals = ['--root', `${dir}/root`, '--runroot', `${dir}/run`, ...(tool === 'podman' ? ['--tmpdir', `${dir}/tmp`] : []), ...flags];
      return {
        command: (...args) => ({ file: tool, args: [...globals, ...args] }),
        dispose: () => {
          // A failed podman command can leave the overlay driver's bind mount of its home (root/overlay) behind.
          for (const mount of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/**
 * Buildah, each store a fresh --root/--runroot under `scratch`, as Podman's. Not a peer of every workload (it
 * has no import, save or run of images): the build workload asks for it. The first storage driver that can
 * copy a file into a container from scratch and commit it wins.
 */
export function detectBuildah(scratch: string): PeerOrReason {
  if (!installed('buildah')) return 'not installed';
  const probeFile = path.join(scratch, 'buildah-probe');
  fs.writeFileSync(probeFile, 'hello\n');
  const candidates = ['overlay', 'vfs'].map((driver) => containersStorageTool('buildah', scratch, ['--storage-driver', driver]));
  return firstUsable(candidates, (store) => {
    const container = run(store.command('from', '--name', 'strata-bench-probe', 'scratch')).trim();
    run(store.command('copy', container, probeFile, '/hello'));
    run(store.command('commit', '-q', container, 'strata-bench:probe'));
    run(store.command('rm', container));
  });
}

/** The peers as comparisons for `summarize`: each with its target, or the reason it is skipped. */
export const peerComparisons = (slots: PeerSlot[], targets: Partial<Record<string, Target>>) =>
  slots.map(({ name, peer }) => ({ tool: name, target: targets[name], ...(typeof peer === 'string' && { skipped: peer }) }));

/** Mount points at or below `dir`, from /proc/self/mountinfo (octal escapes for spaces decoded). */
export function mountsUnder(dir: string): string[] {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((mount): mount is string => mount !== undefined && (mount === dir || mount.startsWith(`${dir}/`)));
}
