/**
 * A full disk (a small tmpfs as the store): a RUN or a container that fills it, and a layer commit that does,
 * end in one line and a non-zero exit; the space is given back (the step container removed, temporary files
 * gone), the store checks clean and the next command works. Needs root (mount) and runc.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };
const mounts: string[] = [];

after(() => {
  for (const dir of mounts) spawnSync('umount', ['-l', dir]);
});

/** A 40 MB tmpfs; returns its directory and a function giving the bytes in use. */
function smallDisk(): { dir: string; used: () => number } {
  const dir = tempDir('strata-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(mounted.status, 0, mounted.stderr);
  mounts.push(dir);
  const used = () => {
    const stat = fs.statfsSync(dir);
    return (stat.blocks - stat.bfree) * stat.bsize;
  };
  return { dir, used };
}

/** A store on a 40 MB tmpfs, with busybox imported; returns the root and a function giving the bytes in use. */
function smallStore(): { root: string; used: () => number } {
  const { dir, used } = smallDisk();
  const root = path.join(dir, 'root');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return { root, used };
}

/** Strata's registry in a process of its own, storing under `storage`; resolves with its address. */
async function registry(storage: string): Promise<{ host: string; stop: () => void }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [cliPath, '--root', tempDir('strata-full-reg-root-'), 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', storage], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) return { host: `127.0.0.1:${port}`, stop: () => child.kill() };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('strata registry serve did not start');
}

/** A store (on the ordinary disk) holding a 60 MB image of incompressible bytes, tagged `name`. */
function bigImage(name: string): string {
  const root = tempDir('strata-full-src-');
  const rootfs = tempDir('strata-full-rootfs-');
  fs.writeFileSync(path.join(rootfs, 'noise'), Buffer.alloc(60 << 20).map(() => Math.floor(Math.random() * 256)));
  const tarball = path.join(tempDir('strata-full-tar-'), 'big.tar');
  spawnSync('tar', ['-C', rootfs, '-cf', tarball, '.']);
  strataOk(root, ['import', tarball, name]);
  return root;
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

test('a pull into a full disk is one line, leaves nothing half-written, and the store works after', skip, async (t) => {
  const served = await registry(tempDir('strata-full-reg-'));
  t.after(served.stop);
  const source = bigImage(`${served.host}/full/big:1`);
  strataOk(source, ['push', '-q', `${served.host}/full/big:1`]);
  const { root, used } = smallStore();
  const before = used();
  const result = strata(root, ['pull', '-q', `${served.host}/full/big:1`]);
  assert.equal(result.status, 1, result.stdout);
  assert.match(result.stderr, /^Error: [^\n]*no space left on device[^\n]*\n$/i);
  assert.doesNotMatch(strataOk(root, ['images']), /full\/big/);
  assertRecovered(root, used, before);
});

test('a registry whose disk fills refuses the upload in one error, keeps no partial blob, and keeps serving', skip, async (t) => {
  const { dir, used } = smallDisk();
  const served = await registry(path.join(dir, 'registry'));
  t.after(served.stop);
  const source = bigImage(`${served.host}/full/big:1`);
  const before = used();
  const push = strata(source, ['push', '-q', `${served.host}/full/big:1`]);
  assert.equal(push.status, 1, push.stdout);
  assert.match(push.stderr, /^Error: [^\n]+\n$/);
  // The upload's partial bytes are given back, so the disk is usable again at once.
  assert.ok(used() - before < 1 << 20, `the space is given back (${used() - before} bytes more in use)`);
  strataOk(source, ['import', '-c', 'CMD ["sh"]', busyboxTar(), `${served.host}/full/small:1`]);
  assert.equal(strata(source, ['push', '-q', `${served.host}/full/small:1`]).status, 0, 'a small image still goes through');
});
