import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BuildCacheEntry, selectPrunable } from '../src/builder/cache.js';

const entry = (id: string, size: number, lastUsed: number, inUse = false): BuildCacheEntry => ({ kind: id.startsWith('m') ? 'mount' : 'step', id, size, lastUsed, inUse });
const entries = [entry('s1', 100, 10), entry('s2', 200, 20, true), entry('m1', 300, 30), entry('s3', 50, 40)];
const ids = (chosen: BuildCacheEntry[]) => chosen.map((e) => e.id);

test('selectPrunable: everything not in use without filters', () => {
  assert.deepEqual(ids(selectPrunable(entries, {})), ['s1', 'm1', 's3']);
});

test('selectPrunable: until keeps what a build used since', () => {
  assert.deepEqual(ids(selectPrunable(entries, { olderThan: 35 })), ['s1', 'm1']);
  assert.deepEqual(ids(selectPrunable(entries, { olderThan: 0 })), []);
});

test('selectPrunable: keep-storage drops the least recently used until the rest fits (in-use entries count, never go)', () => {
  // 650 bytes in all: dropping s1 (100) leaves 550, m1 (300) leaves 250 <= 300.
  assert.deepEqual(ids(selectPrunable(entries, { keepStorage: 300 })), ['s1', 'm1']);
  assert.deepEqual(ids(selectPrunable(entries, { keepStorage: 1000 })), []);
  assert.deepEqual(ids(selectPrunable(entries, { keepStorage: 0 })), ['s1', 'm1', 's3']);
  assert.deepEqual(ids(selectPrunable(entries, { keepStorage: 0, olderThan: 25 })), ['s1']);
});
