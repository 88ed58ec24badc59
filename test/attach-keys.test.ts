/** Docker's --detach-keys and the escape proxy that watches stdin for them, table-driven. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetachWatcher, parseDetachKeys } from '../src/containers/attach.js';

test('detach keys parse as Docker parses them', () => {
  const cases: [string, number[]][] = [
    ['ctrl-p,ctrl-q', [0x10, 0x11]],
    ['ctrl-a', [0x01]],
    ['ctrl-z', [0x1a]],
    ['ctrl-@', [0x00]],
    ['ctrl-[', [0x1b]],
    ['ctrl-\\', [0x1c]],
    ['ctrl-_', [0x1f]],
    ['a,b', [0x61, 0x62]],
    ['ctrl-x,q', [0x18, 0x71]],
  ];
  for (const [spec, want] of cases) assert.deepEqual([...parseDetachKeys(spec)], want, spec);
  for (const bad of ['ctrl-1', 'ctrl-', 'abc', '']) assert.throws(() => parseDetachKeys(bad), { code: 'invalid-argument' }, bad);
});

test('the watcher passes input through, holds back a partial sequence, and sees a whole one across chunks', () => {
  const keys = parseDetachKeys('ctrl-p,ctrl-q');
  const cases: [number[][], { pass: number[]; detach: boolean }[]][] = [
    [[[0x61, 0x62]], [{ pass: [0x61, 0x62], detach: false }]],
    [[[0x61, 0x10, 0x11, 0x62]], [{ pass: [0x61], detach: true }]],
    [[[0x10], [0x11]], [{ pass: [], detach: false }, { pass: [], detach: true }]],
    // A broken sequence is passed on whole, in order.
    [[[0x10, 0x61]], [{ pass: [0x10, 0x61], detach: false }]],
    [[[0x10], [0x61]], [{ pass: [], detach: false }, { pass: [0x10, 0x61], detach: false }]],
    // ctrl-p ctrl-p ctrl-q: the first ctrl-p goes through, the last two detach.
    [[[0x10, 0x10, 0x11]], [{ pass: [0x10], detach: true }]],
  ];
  for (const [chunks, want] of cases) {
    const watcher = new DetachWatcher(keys);
    const got = chunks.map((chunk) => {
      const { pass, detach } = watcher.feed(Buffer.from(chunk));
      return { pass: [...pass], detach };
    });
    assert.deepEqual(got, want, JSON.stringify(chunks));
  }
});
