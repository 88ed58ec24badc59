/**
 * A full disk (a small tmpfs as the store): a RUN or a container that fills it, and a layer commit that does,
 * end in one line and a non-zero exit; the space is given back (the step container removed, temporary files
 * gone), the store checks clean and the next command works. Needs root (mount) and runc.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { busyboxTar, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };
const mounts: string[] = [];

after(() => {
  for (const dir of mounts) spawnSync('umount', ['-l', dir]);
});

/** A store on a 40 MB tmpfs, with busybox imported; returns the root and a function giving the bytes in use. */
function smallStore(): { root: string; used: () => number } {
  const dir = tempDir('strata-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, mounted.stderr);
  mounts.push(dir);
  const root = path.join(dir, 'root');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  const used = () => {
    const stat = fs.statfsSync(dir);
    return (stat.blocks - stat.bfree) * stat.bsize;
  };
  return { root, used };
}

function buildOf(root: string, dockerfile: string) {
  const context = tempDir('strata-full-ctx-');
  fs.writeFileSync(path.join(context, 'Dockerfile'), dockerfile);
  return strata(root, ['build', '-q', context]);
}

function assertRecovered(root: string, used: () => number, before: number) {
  assert.equal(strataOk(root, ['ps', '-aq']), '', 'no container is left');
  assert.ok(used() - before < 1 << 20, `the space is given back (${used() - before} bytes more in use)`);
  assert.match(strataOk(root, ['system', 'check']), /0 problems, 0 unreferenced items/);
  assert.equal(strataOk(root, ['run', '--rm', 'busybox', 'echo', 'still works']), 'still works\n');
}

test('a RUN that fills the disk fails the build with its own error, and its container and space are given back', skip, () => {
  const { root, used } = smallStore();
  const before = used();
  const result = buildOf(root, 'FROM busybox\nRUN dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null\n');
  // Usually dd's own failure; when the disk fills while runc is still recording the start, the runtime's.
  assert.notEqual(result.status, 0, result.stderr);
  assert.match(result.stderr, /^Error: [^\n]+\n$/);
  if (result.status === 1) assert.equal(result.stderr, "Error: The command '/bin/sh -c dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null' returned a non-zero code: 1\n");
  assertRecovered(root, used, before);
});

test('a layer that does not fit is one line, with nothing half-written left', skip, () => {
  const { root, used } = smallStore();
  const before = used();
  const result = buildOf(root, 'FROM busybox\nRUN dd if=/dev/zero of=/fill bs=1M count=22 2>/dev/null\n');
  assert.notEqual(result.status, 0, result.stderr);
  assert.match(result.stderr, /^Error: [^\n]*no space left on device[^\n]*\n$/i);
  assertRecovered(root, used, before);
});

test('a container that fills the disk keeps its output on the terminal though its log cannot be written', skip, () => {
  const { root, used } = smallStore();
  const before = used();
  const result = strata(root, ['run', '--rm', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/fill bs=1M count=64 2>/dev/null; echo after']);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'after\n');
  assertRecovered(root, used, before);
});
