/**
 * A build killed during a RUN leaves its step container (the container's process is the build's child): the
 * next command shows it exited, `system check` lists it, and the next build, `builder prune` or
 * `system check --repair` removes it, its process stopped and its mount released. Needs root, runc, conmon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };

/** Starts a build whose RUN sleeps, waits until its step container runs, then kills the build with SIGKILL. */
async function killedBuild(root: string): Promise<string> {
  const context = tempDir('strata-killed-ctx-');
  fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN sleep 60\n');
  const child = spawn(process.execPath, [cliPath, '--root', root, 'build', context], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const running = strata(root, ['ps', '-q', '--no-trunc']).stdout.trim();
    if (running) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('close', resolve));
      return running;
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  assert.fail('the RUN step never started');
}

const mounted = (root: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.join(root, 'snapshots'));

function store(): string {
  const root = tempDir('strata-killed-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return root;
}

test('system check lists the step container of a killed build and --repair removes it', skip, async () => {
  const root = store();
  const id = await killedBuild(root);
  assert.match(strataOk(root, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Status}}']), new RegExp(`^${id} Exited \\(137\\)`));
  const checked = strata(root, ['system', 'check']);
  assert.match(checked.stdout, new RegExp(`Unreferenced: container ${id} \\(a RUN step of a killed build\\)`));
  const repaired = strataOk(root, ['system', 'check', '--repair']);
  assert.match(repaired, new RegExp(`Removed: container ${id}`));
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  assert.equal(mounted(root), false);
  assert.doesNotMatch(strataOk(root, ['system', 'check']), /killed build/);
});

test('the next build and builder prune remove what a killed build left; a live build\'s step is left alone', skip, async () => {
  const root = store();
  await killedBuild(root);
  const context = tempDir('strata-killed-ctx-');
  fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN echo built > /f\n');
  strataOk(root, ['build', '-q', context]);
  assert.equal(strataOk(root, ['ps', '-aq']), '', 'the next build removed it');
  await killedBuild(root);
  strataOk(root, ['builder', 'prune', '-f']);
  assert.equal(strataOk(root, ['ps', '-aq']), '', 'builder prune removed it');
  assert.equal(mounted(root), false);
  // A build that is still running keeps its step container while another command looks.
  fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN sleep 2\n');
  const live = spawn(process.execPath, [cliPath, '--root', root, 'build', context], { stdio: 'ignore' });
  for (let i = 0; i < 200 && strata(root, ['ps', '-q']).stdout.trim() === ''; i++) await sleep(50);
  assert.doesNotMatch(strataOk(root, ['system', 'check', '--repair']), /killed build/);
  assert.equal(await new Promise((resolve) => live.on('close', resolve)), 0, 'the live build finished');
});
