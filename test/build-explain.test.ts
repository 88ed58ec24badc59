import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainMiss, fileChanges, type StepInputs } from '../src/builder/explain.js';

const base: StepInputs = { parent: 'sha256:aaaaaaaaaaaa1111', text: 'RUN make' };

// [case, previous, current, context, expected reason]
const cases: [string, StepInputs | undefined, StepInputs, { noCache?: boolean; parentMissedAt?: string }, string][] = [
  ['--no-cache wins over everything', base, { ...base, text: 'RUN other' }, { noCache: true }, '--no-cache'],
  ['an earlier miss made the parent', base, base, { parentMissedAt: '4' }, 'the parent changed (step 4 was rebuilt)'],
  ['never built', undefined, base, {}, 'no cache entry (this step has not been built here before)'],
  ['another parent (a new base)', base, { ...base, parent: 'sha256:bbbbbbbbbbbb2222' }, {}, 'the parent image changed (aaaaaaaaaaaa -> bbbbbbbbbbbb)'],
  ['a build arg', { ...base, args: { V: '1' } }, { ...base, args: { V: '2', NEW: 'x' } }, {}, 'build-arg NEW changed (unset -> "x"), V changed ("1" -> "2")'],
  ['an env value', { ...base, env: ['A=1', 'PATH=/bin'] }, { ...base, env: ['A=2', 'PATH=/bin'] }, {}, 'env A changed ("1" -> "2")'],
  ['context files', { ...base, files: { a: '100644 sha256:1', b: '100644 sha256:2' } }, { ...base, files: { a: '100755 sha256:1', c: '100644 sha256:3' } }, {}, 'context files changed: a (mode), b (removed), c (added)'],
  ['the instruction itself', base, { ...base, text: 'RUN make all' }, {}, 'the instruction changed (was: RUN make)'],
  ['the same inputs: the entry was pruned', base, base, {}, 'no cache entry (the step built before is no longer in the store)'],
];

for (const [name, previous, current, context, expected] of cases) {
  test(`explainMiss: ${name}`, () => {
    assert.equal(explainMiss(previous, current, { noCache: context.noCache ?? false, ...(context.parentMissedAt && { parentMissedAt: context.parentMissedAt }) }), expected);
  });
}

test('explainMiss lists five files by name and counts the rest', () => {
  const before = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, '100644 sha256:old']));
  const after = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`f${i}`, '100644 sha256:new']));
  assert.equal(explainMiss({ ...base, files: before }, { ...base, files: after }, { noCache: false }), 'context files changed: f0 (content), f1 (content), f2 (content), f3 (content), f4 (content) and 3 more');
});

test('fileChanges: content and mode together, a link target with spaces', () => {
  assert.deepEqual(fileChanges({ x: '100644 sha256:1', l: '120777 a b' }, { x: '100600 sha256:2', l: '120777 a c' }), ['l (content)', 'x (content, mode)']);
});
