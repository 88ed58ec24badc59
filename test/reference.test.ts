import assert from 'node:assert/strict';
import { test } from 'node:test';
import { familiarString, formatReference, parseReference } from '../src/images/reference.js';

test('references normalize as Docker does', () => {
  const cases: [string, string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b:tag', 'localhost:5000/a/b:tag', 'localhost:5000/a/b:tag'],
    ['host.example.com/a/b/c', 'host.example.com/a/b/c:latest', 'host.example.com/a/b/c:latest'],
    ['a__b-c/e_f.g', 'docker.io/a__b-c/e_f.g:latest', 'a__b-c/e_f.g:latest'],
    [`busybox@sha256:${'a'.repeat(64)}`, `docker.io/library/busybox@sha256:${'a'.repeat(64)}`, `busybox@sha256:${'a'.repeat(64)}`],
    [`busybox:1@sha256:${'b'.repeat(64)}`, `docker.io/library/busybox:1@sha256:${'b'.repeat(64)}`, `busybox:1@sha256:${'b'.repeat(64)}`],
    ['[::1]:5000/app:x', '[::1]:5000/app:x', '[::1]:5000/app:x'],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = parseReference(input);
    assert.equal(formatReference(ref), full, input);
    assert.equal(familiarString(ref), familiar, input);
  }
});

test('invalid references are refused with Docker-like messages', () => {
  const cases: [string, RegExp][] = [
    ['', /invalid reference format/],
    ['Busybox', /must be lowercase/],
    ['UPPER/Case', /must be lowercase/],
    ['a b', /invalid reference format/],
    ['busybox:', /invalid reference format/],
    ['busybox:-tag', /invalid reference format/],
    ['busybox@sha256:abc', /invalid digest/],
    ['-leading', /invalid reference format/],
    ['a//b', /invalid reference format/],
    ['a/', /invalid reference format/],
    [`x:${'t'.repeat(129)}`, /invalid reference format/],
    ['a'.repeat(64), /cannot specify 64-byte hexadecimal strings/],
    [`${'a'.repeat(250)}/${'b'.repeat(10)}`, /must not be more than 255 characters/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => parseReference(input), message, input);
  }
});

test('defaultTag can be turned off', () => {
  assert.equal(parseReference('busybox', { defaultTag: false }).tag, undefined);
});
