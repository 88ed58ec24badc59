/**
 * Detached containers under conmon: the only process that stays behind for a container is conmon (no Node
 * process), its output is logged by conmon and served by `logs` as Docker serves it, its exit status comes from
 * conmon's exit file, and conmon's exit command finishes it (unmount, --rm). Needs root, runc and conmon.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { processAlive } from '../../src/util/process.js';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc') && hasCommand('conmon');
const skip = { skip: canRun ? false : 'needs root, runc and conmon' };
const roots: string[] = [];

after(() => {
  for (const root of roots) {
    const ids = strata(root, ['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) strata(root, ['rm', '-f', ...ids]);
    fs.rmSync(root, { recursive: true, force: true });
  }
});

function storeWithBusybox(): string {
  const root = tempDir('strata-conmon-');
  roots.push(root);
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return root;
}

const status = (pid: number, field: string) => fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'))?.[1];
const mounted = (root: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(root, 'snapshots'));

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('a detached container is watched by conmon alone: no Node process stays behind, a few MB of memory', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'watched', 'busybox', 'sleep', '1000']);
  const pid = JSON.parse(strataOk(root, ['inspect', 'watched']))[0].State.Pid as number;
  const monitor = Number(status(pid, 'PPid'));
  assert.equal(fs.readFileSync(`/proc/${monitor}/comm`, 'utf8').trim(), 'conmon');
  // conmon is detached: its parent is not a Strata process (the CLI that started it has exited).
  const grandparent = Number(status(monitor, 'PPid'));
  assert.notEqual(fs.readFileSync(`/proc/${grandparent}/comm`, 'utf8').trim(), 'node');
  const rssKb = Number(status(monitor, 'VmRSS'));
  assert.ok(rssKb < 10_000, `conmon's RSS is ${rssKb} kB`);
  strataOk(root, ['rm', '-f', 'watched']);
  await until(() => !processAlive(monitor), 'conmon to exit after its container');
});

test('logs serve what conmon logged: stdout and stderr apart, -n, -t, and -f until the container ends', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'echo one; echo two >&2; echo three; sleep 1; echo four; exit 3']);
  const follow = spawn(process.execPath, [cliPath, '--root', root, 'logs', '-f', 'talker'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let followed = '';
  follow.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
  const followCode = new Promise<number | null>((resolve) => follow.on('close', resolve));
  assert.equal(strataOk(root, ['wait', 'talker']).trim(), '3');
  assert.equal(await followCode, 0);
  assert.equal(followed, 'one\nthree\nfour\n');
  const logs = strata(root, ['logs', 'talker']);
  assert.equal(logs.stdout, 'one\nthree\nfour\n');
  assert.equal(logs.stderr, 'two\n');
  assert.equal(strata(root, ['logs', '-n', '1', 'talker']).stdout, 'four\n');
  const stamped = strata(root, ['logs', '-t', 'talker']).stdout.split('\n').filter(Boolean);
  assert.equal(stamped.length, 3);
  for (const line of stamped) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (one|three|four)$/);
  assert.equal(mounted(root), false, 'conmon\'s exit command unmounted it');
  // --since / --until: a window of times, as Docker's; a future since shows nothing, a past until nothing either.
  assert.equal(strata(root, ['logs', '--since', '1h', 'talker']).stdout, 'one\nthree\nfour\n');
  assert.equal(strata(root, ['logs', '--since', new Date(Date.now() + 60_000).toISOString(), 'talker']).stdout, '');
  assert.equal(strata(root, ['logs', '--until', '2000-01-01', 'talker']).stdout, '');
  const bad = strata(root, ['logs', '--since', 'yesterday', 'talker']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, 'Error: failed to parse value as time or duration: "yesterday"\n');
});

test('run -d --rm: conmon\'s exit command removes the container once it ends', skip, async () => {
  const root = storeWithBusybox();
  const id = strataOk(root, ['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.2']).trim();
  await until(() => strataOk(root, ['ps', '-aq', '--no-trunc']).trim() === '', 'the container to be removed');
  assert.equal(fs.existsSync(path.join(root, 'containers', id)), false);
  assert.equal(fs.existsSync(path.join(root, 'runtime', 'exits', id)), false);
  assert.equal(mounted(root), false);
});

test('a container conmon could not create is one error line with Docker\'s exit code, and is left exited', skip, async () => {
  const root = storeWithBusybox();
  const result = strata(root, ['run', '-d', '--name', 'broken', 'busybox', 'no-such-command']);
  assert.equal(result.status, 127);
  assert.equal(result.stderr, 'Error: failed to create task for container: unable to start container process: exec: "no-such-command": executable file not found in $PATH\n');
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^broken Exited \(127\)/);
  assert.equal(mounted(root), false);
  // conmon reported the failure and is on its way out; pgrep also lists it as a zombie until it is reaped.
  await until(() => spawnSync('pgrep', ['-f', `conmon.*${root}`]).status === 1, 'no conmon to be left');
});

test('restarting an exited container runs it under a new conmon, its log going on as Docker\'s does', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-d', '--name', 'again', 'busybox', 'sh', '-c', 'echo ran']);
  assert.equal(strataOk(root, ['wait', 'again']).trim(), '0');
  strataOk(root, ['start', 'again']);
  assert.equal(strataOk(root, ['wait', 'again']).trim(), '0');
  assert.equal(strataOk(root, ['logs', 'again']), 'ran\nran\n');
});

/**
 * Runs the CLI with `parts` written to its stdin in turn (a pause before each later one; `{ waitFor }` waits until
 * its stdout shows that text), resolving with what it did.
 */
function strataWithInput(root: string, args: string[], parts: (string | Buffer | { waitFor: string })[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, '--root', root, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => undefined);
  void (async () => {
    for (const [i, part] of parts.entries()) {
      if (typeof part === 'object' && 'waitFor' in part) {
        await until(() => stdout.includes(part.waitFor), `"${part.waitFor}" on stdout`);
        continue;
      }
      if (i > 0) await sleep(300);
      child.stdin.write(part);
    }
  })();
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

test('attach relays a running container\'s output and stdin through conmon; its exit code is attach\'s', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-di', '--name', 'shell', 'busybox', 'sh']);
  const attached = await strataWithInput(root, ['attach', 'shell'], ['echo out; echo err >&2; exit 7\n']);
  assert.equal(attached.status, 7);
  assert.equal(attached.stdout, 'out\n');
  assert.equal(attached.stderr, 'err\n');
  assert.match(strataOk(root, ['ps', '-a', '--format', '{{.Names}} {{.Status}}']), /^shell Exited \(7\)/);
  const badKeys = strata(root, ['attach', '--detach-keys', 'ctrl-1', 'shell']);
  assert.equal(badKeys.status, 1);
  assert.equal(badKeys.stderr, "Error: Unknown character: '1'\n");
  const stopped = strata(root, ['attach', 'shell']);
  assert.equal(stopped.status, 1);
  assert.equal(stopped.stderr, 'Error: You cannot attach to a stopped container, start it first\n');
});

test('the detach keys end the attach and leave the container running; --detach-keys changes them', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['run', '-di', '--name', 'stays', 'busybox', 'sh']);
  const detached = await strataWithInput(root, ['attach', 'stays'], ['echo first\n', { waitFor: 'first\n' }, Buffer.from([0x10, 0x11])]);
  assert.equal(detached.status, 0);
  assert.equal(detached.stdout, 'first\n');
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.Status}}']), /^stays Up/);
  const custom = await strataWithInput(root, ['attach', '--detach-keys', 'ctrl-x', 'stays'], ['echo second\n', { waitFor: 'second\n' }, Buffer.from([0x18])]);
  assert.equal(custom.status, 0);
  assert.equal(custom.stdout, 'second\n');
  const ended = await strataWithInput(root, ['attach', 'stays'], ['exit 4\n']);
  assert.equal(ended.status, 4);
});

test('start -ai starts a created container attached to this stdin; a -t container\'s output comes from its pty', skip, async () => {
  const root = storeWithBusybox();
  strataOk(root, ['create', '-i', '--name', 'later', 'busybox', 'sh']);
  const started = await strataWithInput(root, ['start', '-ai', 'later'], ['echo started; exit 5\n']);
  assert.equal(started.status, 5);
  assert.equal(started.stdout, 'started\n');
  // As Docker: one container at a time, refused before any starts.
  strataOk(root, ['create', '--name', 'other', 'busybox', 'true']);
  const several = strata(root, ['start', '-ai', 'later', 'other']);
  assert.equal(several.status, 1);
  assert.equal(several.stderr, 'Error: you cannot start and attach multiple containers at once\n');
  assert.equal(strataOk(root, ['inspect', '-f', '{{.State.Status}}', 'other']).trim(), 'created');
  strataOk(root, ['run', '-dit', '--name', 'terminal', 'busybox', 'sh']);
  const tty = await strataWithInput(root, ['attach', 'terminal'], ['tty; exit 2\n']);
  assert.equal(tty.status, 2);
  assert.match(tty.stdout, /\/dev\/pts\/\d+\r\n/);
});

