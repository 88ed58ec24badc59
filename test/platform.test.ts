/** --platform strings as containerd reads them, and which index entries match them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bestForPlatform, formatPlatform, hostPlatform, type Platform, parsePlatform, platformMatches } from '../src/images/platform.js';

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
    ['linux', `linux/${host.architecture}`], // a lone os: this machine's architecture
    ['windows', `windows/${host.architecture}`],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    [' linux/ppc64le ', 'linux/ppc64le'],
  ] as const) {
    assert.equal(formatPlatform(parsePlatform(text)), expected, text);
  }
  for (const text of ['', 'linux/', '/amd64', 'linux/amd64/v1/x', 'linux/am d64', 'linux\\amd64']) {
    assert.throws(() => parsePlatform(text), /invalid platform/, JSON.stringify(text));
  }
});

test('platformMatches: os and architecture agree, and the image variant is one the wanted machine runs', () => {
  const p = (os: string, architecture: string, variant?: string): Platform => ({ os, architecture, ...(variant && { variant }) });
  for (const [candidate, wanted, expected] of [
    [p('linux', 'amd64'), 'linux/amd64', true],
    [p('linux', 'amd64', 'v1'), 'linux/amd64', true],
    [p('linux', 'amd64', 'v3'), 'linux/amd64', false], // a plain amd64 machine may lack v3's instructions
    [p('linux', 'amd64'), 'linux/amd64/v3', true], // v3 runs plain amd64 too
    [p('linux', 'amd64', 'v2'), 'linux/amd64/v3', true],
    [p('linux', 'arm64'), 'linux/arm64', true], // an entry without a variant is v8
    [p('linux', 'arm64', 'v8'), 'linux/arm64/v8', true],
    [p('linux', 'arm', 'v7'), 'linux/arm', true], // arm means v7
    [p('linux', 'arm', 'v6'), 'linux/arm', true], // which runs v6 and v5 too
    [p('linux', 'arm', 'v7'), 'linux/arm/v6', false], // but v6 does not run v7
    [p('linux', 'arm'), 'linux/arm/v7', true],
    [p('linux', 'amd64'), 'linux/arm64', false],
    [p('windows', 'amd64'), 'linux/amd64', false],
    [p('linux', 's390x'), 'linux/s390x', true],
  ] as const) {
    assert.equal(platformMatches(candidate, parsePlatform(wanted)), expected, `${formatPlatform(candidate)} vs ${wanted}`);
  }
});

test('bestForPlatform: the exact variant first, else the newest one the machine runs', () => {
  const entry = (architecture: string, variant?: string) => ({ name: `${architecture}${variant ?? ''}`, platform: { os: 'linux', architecture, ...(variant && { variant }) } });
  const index = [entry('arm', 'v5'), entry('arm', 'v6'), entry('arm', 'v7'), entry('amd64'), entry('amd64', 'v3')];
  assert.equal(bestForPlatform(index, parsePlatform('linux/arm/v7'))?.name, 'armv7');
  assert.equal(bestForPlatform(index, parsePlatform('linux/arm/v8'))?.name, 'armv7');
  assert.equal(bestForPlatform(index.slice(0, 2), parsePlatform('linux/arm/v7'))?.name, 'armv6');
  assert.equal(bestForPlatform(index, parsePlatform('linux/amd64'))?.name, 'amd64');
  assert.equal(bestForPlatform(index, parsePlatform('linux/amd64/v4'))?.name, 'amd64v3');
  assert.equal(bestForPlatform(index, parsePlatform('linux/arm64')), undefined);
  assert.equal(bestForPlatform([{ name: 'none' } as { name: string; platform?: Platform }], parsePlatform('linux/amd64')), undefined, 'entries without a platform match nothing');
});
