/**
 * `build --explain` in real builds: after each step that missed, one line saying why (a changed file, a build
 * arg, the parent, no entry, --no-cache); a fully cached build prints nothing extra. Needs root and runc.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, hasCommand, strataOk, tempDir } from '../helpers.js';

const skip = { skip: process.getuid?.() === 0 && hasCommand('runc') ? false : 'needs root and runc' };

/** The transcript's `Step` lines, each with the reason that followed it (or none). */
function reasons(out: string): [string, string | undefined][] {
  const lines = out.split('\n');
  return lines.flatMap((line, i) => (line.startsWith('Step ') ? [[line.replace(/ : .*/, ''), /^ ---> Cache miss: (.*)$/.exec(lines[i + 1] ?? '')?.[1]] as [string, string | undefined]] : []));
}

test('--explain says why each missed step missed, and nothing when all is cached', skip, () => {
  const root = tempDir('strata-explain-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  const dir = tempDir('strata-explain-ctx-');
  fs.mkdirSync(path.join(dir, 'src'));
  fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'a\n');
  fs.writeFileSync(path.join(dir, 'src', 'run.sh'), 'echo run\n');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM busybox\nARG LEVEL=1\nRUN echo level $LEVEL > /level\nCOPY src /src\nCMD ["cat", "/level"]\n');

  const first = reasons(strataOk(root, ['build', '--explain', dir]));
  assert.deepEqual(first.slice(1), [
    ['Step 2/5', 'no cache entry (this step has not been built here before)'],
    ['Step 3/5', 'the parent changed (step 2 was rebuilt)'],
    ['Step 4/5', 'the parent changed (step 2 was rebuilt)'],
    ['Step 5/5', 'the parent changed (step 2 was rebuilt)'],
  ]);
  assert.ok(reasons(strataOk(root, ['build', '--explain', dir])).every(([, reason]) => reason === undefined), 'a fully cached build prints nothing extra');

  fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'changed\n');
  fs.chmodSync(path.join(dir, 'src', 'run.sh'), 0o755);
  fs.writeFileSync(path.join(dir, 'src', 'new.txt'), 'new\n');
  assert.deepEqual(reasons(strataOk(root, ['build', '--explain', dir])).slice(3), [
    ['Step 4/5', 'context files changed: src/a.txt (content), src/new.txt (added), src/run.sh (mode)'],
    ['Step 5/5', 'the parent changed (step 4 was rebuilt)'],
  ]);
  assert.equal(reasons(strataOk(root, ['build', '--explain', '--build-arg', 'LEVEL=2', dir]))[2]![1], 'build-arg LEVEL changed ("1" -> "2")');
  assert.equal(reasons(strataOk(root, ['build', '--explain', '--no-cache', dir]))[2]![1], '--no-cache');
  // Without --explain the transcript is the classic one.
  assert.doesNotMatch(strataOk(root, ['build', '--no-cache', dir]), /Cache miss/);
});
