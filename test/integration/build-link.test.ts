/**
 * COPY --link and ADD --link, end to end: the layer is written on an empty base, so the same sources make the
 * same diffID on any base, and a build on a changed base places the layer it made before instead of copying again
 * (hardlinked, nothing unpacked). Needs root and runc for the RUN that makes a second base.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, contextDir, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };

/** A store with busybox and `other`: busybox plus a layer of its own, an /etc/passwd naming user app 1234. */
function store(): string {
  const root = tempDir('strata-link-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  const base = context({ Dockerfile: "FROM busybox\nRUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && mkdir -m 700 /app\n" });
  strataOk(root, ['build', '-q', '-t', 'other', base]);
  return root;
}

const context = (files: Record<string, string>) => contextDir(files, 'strata-link-ctx-');

const layers = (root: string, image: string): string[] => JSON.parse(strataOk(root, ['inspect', '--format', '{{json .RootFS.Layers}}', image])) as string[];
const cacheUse = (out: string) => out.split('\n').filter((line) => line.startsWith(' ---> Using cache')).length;
const linkedFile = { Dockerfile: 'ARG BASE=busybox\nFROM $BASE\nCOPY --link site /app/\n', 'site/index.html': '<h1>hi</h1>\n', 'site/js/app.js': 'go()\n' };

test('COPY --link makes the same layer on any base, and a changed base places it without copying again', skip, () => {
  const root = store();
  const dir = context(linkedFile);
  strataOk(root, ['build', '-t', 'one', dir]);
  const second = strataOk(root, ['build', '--build-arg', 'BASE=other', '-t', 'two', dir]);
  // Step 3/3 (the COPY) came from the first build's layer.
  assert.equal(cacheUse(second), 1, second);
  assert.equal(layers(root, 'one').at(-1), layers(root, 'two').at(-1));
  assert.equal(layers(root, 'two').length, layers(root, 'other').length + 1);
  assert.equal(strataOk(root, ['run', '--rm', 'two', 'cat', '/app/index.html', '/app/js/app.js']), '<h1>hi</h1>\ngo()\n');
  // The placed layer shares the first one's files (hardlinks), and outlives the image it came from.
  const copies = spawnSync('find', [path.join(root, 'layers'), '-name', 'app.js', '-links', '2'], { encoding: 'utf8' }).stdout.trim().split('\n');
  assert.equal(copies.length, 2, `layer files: ${copies.join(', ')}`);
  strataOk(root, ['rmi', 'one']);
  strataOk(root, ['builder', 'prune', '-f']);
  assert.equal(strataOk(root, ['run', '--rm', 'two', 'cat', '/app/js/app.js']), 'go()\n');

  // A fresh store, no cache at all: the very same diffID again.
  const fresh = store();
  strataOk(fresh, ['build', '--no-cache', '--build-arg', 'BASE=other', '-t', 'three', dir]);
  assert.equal(layers(fresh, 'three').at(-1), layers(root, 'two').at(-1));
});

test('without --link a changed base copies again; with --link a changed source does', skip, () => {
  const root = store();
  const plain = context({ ...linkedFile, Dockerfile: 'ARG BASE=busybox\nFROM $BASE\nCOPY site /app/\n' });
  strataOk(root, ['build', plain]);
  const unlinked = strataOk(root, ['build', '--build-arg', 'BASE=other', '-t', 'plain', plain]);
  assert.equal(cacheUse(unlinked), 0, unlinked);
  // Without --link the layer repeats the base's /app (mode 700); with it, /app is the layer's own (755).
  assert.equal(strataOk(root, ['run', '--rm', 'plain', 'stat', '-c', '%a', '/app']), '700\n');

  const dir = context(linkedFile);
  strataOk(root, ['build', dir]);
  fs.writeFileSync(path.join(dir, 'site/js/app.js'), 'stop()\n');
  const changed = strataOk(root, ['build', '--build-arg', 'BASE=other', '-t', 'changed', dir]);
  assert.equal(cacheUse(changed), 0, changed);
  assert.equal(strataOk(root, ['run', '--rm', 'changed', 'cat', '/app/js/app.js']), 'stop()\n');
  assert.equal(strataOk(root, ['run', '--rm', 'changed', 'stat', '-c', '%a', '/app']), '755\n');
});

test('COPY --link --chown resolves names in the stage, and ADD --link of an archive links too', skip, () => {
  const root = store();
  const archive = tempDir('strata-link-tar-');
  fs.writeFileSync(path.join(archive, 'data.txt'), 'packed\n');
  spawnSync('tar', ['-C', archive, '-cf', path.join(archive, 'data.tar'), 'data.txt']);
  const dir = context({ Dockerfile: 'FROM other\nCOPY --link --chown=app a.txt /home/app/\nADD --link data.tar /data/\n', 'a.txt': 'a\n' });
  fs.copyFileSync(path.join(archive, 'data.tar'), path.join(dir, 'data.tar'));
  strataOk(root, ['build', '-t', 'owned', dir]);
  assert.equal(strataOk(root, ['run', '--rm', 'owned', 'stat', '-c', '%u:%g', '/home/app/a.txt']), '1234:1234\n');
  assert.equal(strataOk(root, ['run', '--rm', 'owned', 'cat', '/data/data.txt']), 'packed\n');
  // Rebuilt unchanged: both steps from the cache.
  assert.equal(cacheUse(strataOk(root, ['build', '-t', 'owned', dir])), 2);
  // A user the stage does not know: one line with the step.
  const unknown = strata(root, ['build', context({ Dockerfile: 'FROM busybox\nCOPY --link --chown=nobody-here a.txt /\n', 'a.txt': 'a\n' })]);
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /nobody-here/);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /);
});
