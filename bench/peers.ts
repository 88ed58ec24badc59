import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type Command, run } from './measure.js';
import type { Target } from './report.js';

/** A peer's image store: Docker's daemon, or a throwaway Podman root. */
export interface PeerStore {
  command(...args: string[]): Command;
  /** Removes these images (Docker) or the whole store (Podman). */
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
  let firstError = '';
  for (const driver of ['overlay', 'vfs']) {
    for (const runtime of [[], ['--runtime', 'runc']]) {
      const peer = podmanWith(scratch, ['--storage-driver', driver, ...runtime]);
      const store = peer.openStore([]);
      try {
        run(store.command('import', probeTar, 'strata-bench:probe'));
        return peer;
      } catch (error) {
        firstError ||= (error as Error).message;
      } finally {
        store.dispose([]);
      }
    }
  }
  return `not usable (${firstError})`;
}

function podmanWith(scratch: string, flags: string[]): Peer {
  return {
    name: 'podman',
    openStore: () => {
      const dir = fs.mkdtempSync(path.join(scratch, 'podman-'));
      const globals = ['--root', `${dir}/root`, '--runroot', `${dir}/run`, '--tmpdir', `${dir}/tmp`, ...flags];
      return {
        command: (...args) => ({ file: 'podman', args: [...globals, ...args] }),
        dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
      };
    },
  };
}

/** The peers as comparisons for `summarize`: each with its target, or the reason it is skipped. */
export const peerComparisons = (slots: PeerSlot[], targets: Partial<Record<string, Target>>) =>
  slots.map(({ name, peer }) => ({ tool: name, target: targets[name], ...(typeof peer === 'string' && { skipped: peer }) }));
