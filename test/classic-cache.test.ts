import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extendsParent, matchingStep, restoredConfig } from '../src/builder/classic-cache.js';
import type { ImageConfig } from '../src/images/model.js';

const d = (n: number) => `sha256:${String(n).repeat(64)}` as const;
const image = (history: [string, boolean][], diffIds: number[]): ImageConfig => ({
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['A=1'] },
  rootfs: { type: 'layers', diff_ids: diffIds.map(d) },
  history: history.map(([created_by, empty], i) => ({ created: `2026-01-0${i + 1}T00:00:00Z`, created_by, ...(empty && { empty_layer: true }) })),
});

const base = image([['ADD base', false]], [1]);
const cacheImage = image([['ADD base', false], ['ENV A=1', true], ['RUN make', false], ['CMD run', true]], [1, 2]);

test('extendsParent: the history and layers of the parent come first', () => {
  const cases: [string, ImageConfig | undefined, boolean][] = [
    ['no parent (scratch)', undefined, true],
    ['the base', base, true],
    ['another base', image([['ADD other', false]], [9]), false],
    ['the same text, another time', { ...base, history: [{ created: '2020-01-01T00:00:00Z', created_by: 'ADD base' }] }, false],
    ['the image itself (nothing after it)', cacheImage, false],
  ];
  for (const [name, parent, expected] of cases) assert.equal(extendsParent(cacheImage, parent), expected, name);
});

test('matchingStep: the next entry by its text, with its layer index', () => {
  assert.deepEqual(matchingStep(cacheImage, base, 'ENV A=1'), { last: false });
  assert.equal(matchingStep(cacheImage, base, 'ENV A=2'), undefined);
  const afterEnv = image([['ADD base', false], ['ENV A=1', true]], [1]);
  assert.deepEqual(matchingStep(cacheImage, afterEnv, 'RUN make'), { last: false, layer: 1 });
  const afterRun = image([['ADD base', false], ['ENV A=1', true], ['RUN make', false]], [1, 2]);
  assert.deepEqual(matchingStep(cacheImage, afterRun, 'CMD run'), { last: true });
});

test('restoredConfig: the parent plus the matched entry and layer, the step config, the entry time', () => {
  const afterEnv = image([['ADD base', false], ['ENV A=1', true]], [1]);
  const restored = restoredConfig(cacheImage, afterEnv, { Env: ['A=1'], Cmd: ['x'] }, 1);
  assert.deepEqual(restored.rootfs.diff_ids, [d(1), d(2)]);
  assert.deepEqual(restored.history?.map((h) => h.created_by), ['ADD base', 'ENV A=1', 'RUN make']);
  assert.equal(restored.created, '2026-01-03T00:00:00Z');
  assert.deepEqual(restored.config, { Env: ['A=1'], Cmd: ['x'] });
});
