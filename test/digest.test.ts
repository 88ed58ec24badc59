import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chainIds, digestOf, type Digest, parseDigest, shortId } from '../src/util/digest.js';

// Literal digests computed outside the code, in a shell, by the OCI image spec's formula
// ChainID(L0) = DiffID(L0), ChainID(L0|L1) = SHA256(ChainID(L0) + " " + DiffID(L1)):
//   a=sha256:$(printf 'layer a' | sha256sum | cut -d' ' -f1)        (the diffIDs: digests of three strings)
//   b=sha256:$(printf 'layer b' | sha256sum | cut -d' ' -f1)
//   c=sha256:$(printf 'layer c' | sha256sum | cut -d' ' -f1)
//   ab=sha256:$(printf '%s %s' "$a" "$b" | sha256sum | cut -d' ' -f1)
//   abc=sha256:$(printf '%s %s' "$ab" "$c" | sha256sum | cut -d' ' -f1)
const a = 'sha256:8a74c5338f1ca6b4b751802e195c85cd48c6d54e5f38d19a4e5ea902baa60af7' as Digest;
const b = 'sha256:4660645c73f48eb8f67e661ea54842f9fabb1ae261238e0538d1b952b00863f9' as Digest;
const c = 'sha256:63faee8dfdaa1586f6f474a3e8b27d8aeb7ebde13392b7af762889d51793799a' as Digest;
const ab = 'sha256:96097a2f877d2a7d46e93242c3e704909aa0d4486b8e4a03c8d91739d51f35c8' as Digest;
const abc = 'sha256:eb60e3bb7bee074fb571fcbd9d3494f1ab5477da651e899915c6ee6bfb985b4f' as Digest;

test('chain IDs follow the OCI image spec, checked against digests computed with sha256sum', () => {
  const cases: [Digest[], Digest[]][] = [
    [[], []],
    [[a], [a]],
    [[a, b], [a, ab]],
    [[a, b, c], [a, ab, abc]],
    // The order of the layers matters: b below a is another chain.
    // printf '%s %s' "$b" "$a" | sha256sum
    [[b, a], [b, 'sha256:749f5136d5b36457a08ad976a4abd8ad097167b1479eac09939d7c22b9a66eb3']],
    // Two arbitrary diffIDs: printf '%s %s' "$d0" "$d1" | sha256sum
    [
      ['sha256:a8cb3acf76ec5f8a8ab01e9ffba4bb36b8ab5b2ef7e6b0eed3b1f4fd2ed2b6b0', 'sha256:c8d4c0b5a33b1c7a5e9b7e9c0f0b3c8a9e5e0a4f2e1b6d3c9a7f8e2d1c0b9a8f'],
      ['sha256:a8cb3acf76ec5f8a8ab01e9ffba4bb36b8ab5b2ef7e6b0eed3b1f4fd2ed2b6b0', 'sha256:fe08cf391bc13e487399ad7d63939fc852b7e5e53eb2ce5556324eed367ac8ae'],
    ],
  ];
  for (const [diffIds, want] of cases) assert.deepEqual(chainIds(diffIds), want);
});

test('the diffIDs above are the digests of their strings', () => {
  assert.deepEqual(['layer a', 'layer b', 'layer c'].map((text) => digestOf(text)), [a, b, c]);
});

test('digests are validated', () => {
  assert.equal(parseDigest(`sha256:${'0'.repeat(64)}`), `sha256:${'0'.repeat(64)}`);
  for (const bad of ['sha256:abc', `sha512:${'0'.repeat(64)}`, `sha256:${'G'.repeat(64)}`, '']) assert.throws(() => parseDigest(bad), /invalid digest/);
  assert.equal(shortId(`sha256:${'0123456789ab'.repeat(5)}abcd`), '0123456789ab');
});
