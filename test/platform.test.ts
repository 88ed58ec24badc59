/** --platform strings as containerd reads them, and which index entries match them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPlatform, hostPlatform, type Platform, parsePlatform, platformMatches } from '../src/images/platform.js';

const host = hostPlatform();

test('parsePlatform: os/arch[/variant], aliases and default variants', () => {
  for (const [text, expected] of [
    ['linux/amd64', 'linux/amd64'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/aarch64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['windows/amd64', 'windows/amd64'],
    ['s390x', `${host.os}/s390x`],
    [' linux/ppc64le ', 'linux/ppc64le'],
  ] as const) {
    assert.equal(formatPlatform(parsePlatform(text)), expected, text);
  }
  for (const text of ['', 'linux/', '/amd64', 'linux/amd64/v1/x', 'linux/am d64', 'linux\\amd64']) {
    assert.throws(() => parsePlatform(text), /invalid platform/, JSON.stringify(text));
  }
});

test('platformMatches: os and architecture must agree; the variant when one is asked for', () => {
  const p = (os: string, architecture: string, variant?: string): Platform => ({ os, architecture, ...(variant && { variant }) });
  for (const [candidate, wanted, expected] of [
    [p('linux', 'amd64'), 'linux/amd64', true],
    [p('linux', 'amd64', 'v3'), 'linux/amd64', true], // no variant asked for: any will do
    [p('linux', 'arm64'), 'linux/arm64', true], // an entry without a variant is v8
    [p('linux', 'arm64', 'v8'), 'linux/arm64/v8', true],
    [p('linux', 'arm', 'v7'), 'linux/arm', true],
    [p('linux', 'arm', 'v6'), 'linux/arm', false], // arm means v7
    [p('linux', 'arm'), 'linux/arm/v7', true],
    [p('linux', 'arm', 'v6'), 'linux/arm/v6', true],
    [p('linux', 'amd64'), 'linux/arm64', false],
    [p('windows', 'amd64'), 'linux/amd64', false],
  ] as const) {
    assert.equal(platformMatches(candidate, parsePlatform(wanted)), expected, `${formatPlatform(candidate)} vs ${wanted}`);
  }
});
