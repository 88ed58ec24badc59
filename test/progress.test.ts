/** Docker's pull/push progress: plain lines off a terminal, redrawn rows on one, bars at a bounded rate. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { Progress } from '../src/distribution/client/progress.js';
import { PlainProgress, TerminalProgress } from '../src/cli/progress.js';

function capture() {
  const out = new PassThrough();
  const writes: string[] = [];
  out.on('data', (chunk: Buffer) => writes.push(chunk.toString()));
  return { out, writes };
}

test('plain progress: one line per status change, none per byte', () => {
  const { out, writes } = capture();
  const progress: Progress = new PlainProgress(out);
  progress.update('abc', 'Pulling fs layer');
  progress.update('abc', 'Downloading', { current: 1, total: 10 });
  progress.update('abc', 'Downloading', { current: 5, total: 10 });
  progress.update('abc', 'Pull complete');
  progress.line('Digest: sha256:x');
  assert.deepEqual(writes, ['abc: Pulling fs layer\n', 'abc: Downloading\n', 'abc: Pull complete\n', 'Digest: sha256:x\n']);
});

test('terminal progress: rows redrawn in place; byte counts at most every 100 ms, status changes at once', async () => {
  const { out, writes } = capture();
  let clock = 1_000;
  const progress = new TerminalProgress(out, () => clock);
  progress.update('aaa', 'Pulling fs layer');
  progress.update('bbb', 'Pulling fs layer');
  assert.equal(writes.length, 2);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences are what the terminal receives
  assert.match(writes[1]!, /^\x1b\[1A\x1b\[2Kaaa: Pulling fs layer\n\x1b\[2Kbbb: Pulling fs layer\n$/);

  for (let i = 1; i <= 50; i++) progress.update('aaa', 'Downloading', { current: i * 1000, total: 50_000 });
  assert.equal(writes.length, 2, 'bytes within 100 ms of the last draw wait');
  clock += 100;
  progress.update('aaa', 'Downloading', { current: 50_000, total: 50_000 });
  assert.equal(writes.length, 3);
  assert.match(writes[2]!, /aaa: Downloading \[=+>\]  50kB\/50kB\n/);

  progress.update('bbb', 'Downloading', { current: 10, total: 100 });
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(writes.length, 4, 'a waiting bar is drawn by the timer');
  assert.match(writes[3]!, /bbb: Downloading \[=*>? *\]  10B\/100B\n$/);
  progress.update('aaa', 'Pull complete');
  assert.equal(writes.length, 5);
  assert.match(writes[4]!, /aaa: Pull complete\n/);
});
