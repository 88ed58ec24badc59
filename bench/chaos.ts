/**
 * `npm run chaos`: kills Strata commands with SIGKILL at random points and checks the store after each kill, as
 * a crash or an OOM kill would leave it. Each round runs one command (import, load, save, build, commit, pull,
 * push, rmi, image prune, a container run) against one store, kills it after a random delay within the time the
 * command takes, then asks `system check` (damage is a problem; leftovers of the killed write are expected and
 * removed by `--repair`) and checks that the store still works (images lists, the base image runs). Prints the
 * counts: kills, clean, repaired, problems. Needs root, runc and conmon for the container rounds.
 *
 * CHAOS_ROUNDS (default 40) sets the rounds, CHAOS_SEED the random sequence (printed, to replay a run).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeImageTarball } from './datasets/container-images.js';
import { strataCommand } from './tools.js';

const rounds = Number(process.env.CHAOS_ROUNDS ?? 40);
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`CHAOS_ROUNDS must be a positive integer, not "${process.env.CHAOS_ROUNDS}"`);

/** mulberry32: a small seeded generator, so a run with the same CHAOS_SEED kills at the same points. */
function random(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const next = random(seed);

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-chaos-'));
const root = path.join(scratch, 'store');
const cli = (...args: string[]) => strataCommand('--root', root, ...args);

function runOk(...args: string[]): string {
  const command = cli(...args);
  const result = spawnSync(command.file, command.args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (result.status !== 0) throw new Error(`strata ${args.join(' ')}: ${result.stderr.trim().split('\n').pop()}`);
  return result.stdout;
}

/** The commands a round may kill; each is set up so it has work to do when it starts. */
interface Operation {
  name: string;
  args: () => string[];
  /** Untimed preparation (an image to remove, a container to commit). */
  prepare?: () => void;
  /** Needs containers (root, runc, conmon). */
  containers?: boolean;
}

const canRunContainers = process.getuid?.() === 0 && ['runc', 'conmon'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);

let registry: ChildProcess | undefined;
let registryAddress = '';
let counter = 0;

async function main(): Promise<void> {
  console.log(`Strata chaos: ${rounds} rounds, seed ${seed} (CHAOS_SEED=${seed} replays it)`);
  const base = makeImageTarball(path.join(scratch, 'base'), path.join(scratch, 'base.tar'), { bytes: 20e6, files: 400, seed: 1 });
  runOk('import', base.tarball, 'chaos/base:latest');
  const archive = path.join(scratch, 'base-saved.tar');
  runOk('save', '-o', archive, 'chaos/base:latest');
  const context = path.join(scratch, 'context');
  fs.mkdirSync(context);
  for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(context, `f${i}`), `${'x'.repeat(10_000)}${i}`);

  const registryRoot = path.join(scratch, 'registry');
  const serve = cli('registry', 'serve', '--addr', '127.0.0.1:0', '--root', registryRoot);
  registry = spawn(serve.file, serve.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  registryAddress = await new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const found = /(127\.0\.0\.1:\d+)/.exec(text);
      if (found) resolve(found[1]!);
    };
    registry!.stdout!.on('data', onData);
    registry!.stderr!.on('data', onData);
    registry!.once('exit', () => reject(new Error(`registry serve exited: ${text.trim()}`)));
  });
  runOk('tag', 'chaos/base:latest', `${registryAddress}/chaos/base:latest`);
  runOk('push', '-q', `${registryAddress}/chaos/base:latest`);

  const operations: Operation[] = [
    { name: 'import', args: () => ['import', base.tarball, `chaos/imported:${counter}`] },
    { name: 'load', args: () => ['load', '-q', '-i', archive] },
    { name: 'save', args: () => ['save', '-o', path.join(scratch, `save-${counter}.tar`), 'chaos/base:latest'] },
    {
      name: 'build',
      prepare: () => fs.writeFileSync(path.join(context, 'Dockerfile'), `FROM chaos/base\nCOPY . /ctx${counter}/\nRUN echo ${counter} > /n\n`),
      args: () => ['build', '--no-cache', '-t', `chaos/built:${counter}`, context],
      containers: true,
    },
    {
      name: 'commit',
      prepare: () => runOk('run', '--name', `chaos-c${counter}`, 'chaos/base', 'sh', '-c', 'for i in $(seq 300); do echo $i > /tmp/f$i; done'),
      args: () => ['commit', `chaos-c${counter}`, `chaos/committed:${counter}`],
      containers: true,
    },
    {
      name: 'pull',
      prepare: () => spawnSync(cli().file, [...cli().args, 'rmi', '-f', `${registryAddress}/chaos/base:latest`], { stdio: 'ignore' }),
      args: () => ['pull', '-q', `${registryAddress}/chaos/base:latest`],
    },
    { name: 'push', prepare: () => runOk('tag', 'chaos/base:latest', `${registryAddress}/chaos/pushed:${counter}`), args: () => ['push', '-q', `${registryAddress}/chaos/pushed:${counter}`] },
    { name: 'rmi', prepare: () => runOk('tag', 'chaos/base:latest', `chaos/victim:${counter}`), args: () => ['rmi', `chaos/victim:${counter}`] },
    { name: 'image prune', args: () => ['image', 'prune', '-f'] },
    { name: 'run', args: () => ['run', '--rm', 'chaos/base', 'sh', '-c', 'echo hi > /tmp/x; sleep 0.2'], containers: true },
  ].filter((operation) => canRunContainers || !operation.containers);

  /** How long each command takes unkilled, measured on its first run: kills land within that time. */
  const durations = new Map<string, number>();
  const counts = { kills: 0, finished: 0, clean: 0, repaired: 0, problems: 0 };
  const problems: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    counter = round;
    const operation = operations[Math.floor(next() * operations.length)]!;
    try {
      operation.prepare?.();
    } catch (error) {
      problems.push(`round ${round} (${operation.name}): preparation failed: ${(error as Error).message}`);
      counts.problems++;
      continue;
    }
    const command = cli(...operation.args());
    const known = durations.get(operation.name);
    const started = Date.now();
    const child = spawn(command.file, command.args, { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let killedAt: number | undefined;
    if (known !== undefined) {
      const delay = next() * known;
      const timer = setTimeout(() => {
        killedAt = Date.now() - started;
        child.kill('SIGKILL');
      }, delay);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
      durations.set(operation.name, Date.now() - started);
    }
    if (killedAt !== undefined && child.signalCode === 'SIGKILL') counts.kills++;
    else counts.finished++;
    const verdict = checkStore();
    counts[verdict.kind]++;
    const at = killedAt !== undefined && child.signalCode === 'SIGKILL' ? `killed at ${killedAt} ms` : 'ran to the end';
    if (verdict.kind === 'problems') problems.push(`round ${round} (${operation.name}, ${at}): ${verdict.detail}`);
    console.log(`round ${String(round).padStart(3)}: ${operation.name.padEnd(11)} ${at.padEnd(18)} ${verdict.kind}${verdict.detail ? ` (${verdict.detail})` : ''}`);
  }
  console.log(`\nkills ${counts.kills}, ran to the end ${counts.finished}; stores clean ${counts.clean}, repaired ${counts.repaired}, with problems ${counts.problems}`);
  for (const problem of problems) console.log(`PROBLEM ${problem}`);
  if (counts.problems > 0) process.exitCode = 1;
}

/**
 * The store after a round: `system check` finds no damage (leftovers of the killed write are allowed, and
 * `--repair` must remove them), no container is left running or mounted by a dead command, and the store works.
 */
function checkStore(): { kind: 'clean' | 'repaired' | 'problems'; detail?: string } {
  const check = spawnSync(cli().file, [...cli().args, 'system', 'check', '--quick'], { encoding: 'utf8' });
  if (check.status !== 0) return { kind: 'problems', detail: check.stdout.split('\n').filter((line) => line.startsWith('ERROR')).join('; ') || check.stderr.trim() };
  const leftovers = /(\d+) unreferenced items/.exec(check.stdout)?.[1] ?? '0';
  let kind: 'clean' | 'repaired' = 'clean';
  if (leftovers !== '0') {
    const repair = spawnSync(cli().file, [...cli().args, 'system', 'check', '--repair', '--quick'], { encoding: 'utf8' });
    const again = spawnSync(cli().file, [...cli().args, 'system', 'check', '--quick'], { encoding: 'utf8' });
    if (repair.status !== 0 || !/ 0 unreferenced items/.test(again.stdout)) return { kind: 'problems', detail: `--repair left: ${again.stdout.trim().split('\n').pop()}` };
    kind = 'repaired';
  }
  try {
    if (!runOk('images', '--format', '{{.Repository}}:{{.Tag}}').includes('chaos/base:latest')) return { kind: 'problems', detail: 'chaos/base:latest is gone' };
    const running = runOk('ps', '-q');
    if (running.trim() !== '') return { kind: 'problems', detail: `containers left running: ${running.trim().split('\n').join(' ')}` };
    for (const id of runOk('ps', '-aq').split('\n').filter(Boolean)) runOk('rm', '-f', id);
    if (canRunContainers && runOk('run', '--rm', 'chaos/base', 'sh', '-c', 'echo ok').trim() !== 'ok') return { kind: 'problems', detail: 'the base image no longer runs' };
  } catch (error) {
    return { kind: 'problems', detail: (error as Error).message };
  }
  return { kind };
}

try {
  await main();
} finally {
  registry?.kill('SIGTERM');
  await sleep(100);
  fs.rmSync(scratch, { recursive: true, force: true });
}
