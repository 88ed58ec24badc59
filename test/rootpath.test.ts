import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readContainerFile } from '../src/containers/user.js';
import { resolveInRoot } from '../src/util/rootpath.js';
import { tempDir } from './helpers.js';

/** A container root full of links that try to leave it; every entry is { path: target } or a file's content. */
function hostileRoot(): string {
  const root = tempDir('strata-rootpath-');
  const files: Record<string, string> = {
    'etc/group': 'inside group\n',
    'usr/lib/libc.so': 'libc\n',
    'a/b/c/file': 'deep\n',
    'regular': 'a file\n',
  };
  const links: Record<string, string> = {
    'etc/passwd': '/../../../../etc/shadow', // absolute, climbing: stays at root/etc/shadow (absent)
    'etc/hosts': '../../../../../../etc/hostname', // relative, climbing
    'host': '/', // the root itself
    'hostetc': '/etc', // -> root/etc
    'up': '../../../../..',
    'usr/lib64': 'lib', // an ordinary relative link
    'usr/bin/env': '/usr/lib/libc.so',
    'chain1': '/chain2',
    'chain2': 'a/b',
    'a/b/c/back': '../../../../../../a/b/c/file',
    'a/b/dotdot': '../b/c/../../b/c',
    'loop1': 'loop2',
    'loop2': '/loop1',
    'self': 'self',
    'loopdir': 'loopdir/x',
    'dangling': '/nowhere/at/all',
    'throughfile': '/regular/x',
  };
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content);
  }
  for (const [name, target] of Object.entries(links)) {
    fs.mkdirSync(path.join(root, path.dirname(name)), { recursive: true });
    fs.symlinkSync(target, path.join(root, name));
  }
  return root;
}

const inside = (root: string, result: string) => result === root || result.startsWith(`${root}/`);

test('resolveInRoot follows symlinks as if the root were /', () => {
  const root = hostileRoot();
  const cases: [string, string][] = [
    ['/', ''],
    ['', ''],
    ['/etc/group', 'etc/group'],
    ['etc/group', 'etc/group'],
    ['/etc/passwd', 'etc/shadow'],
    ['/etc/hosts', 'etc/hostname'],
    ['/host', ''],
    ['/host/etc/group', 'etc/group'],
    ['/host/../../../etc/group', 'etc/group'],
    ['/hostetc/passwd', 'etc/shadow'],
    ['/up', ''],
    ['/up/etc/passwd', 'etc/shadow'],
    ['/../../../../etc/shadow', 'etc/shadow'],
    ['/usr/lib64/libc.so', 'usr/lib/libc.so'],
    ['/usr/bin/env', 'usr/lib/libc.so'],
    ['/chain1/c/file', 'a/b/c/file'],
    ['/a/b/c/back', 'a/b/c/file'],
    ['/a/b/dotdot/file', 'a/b/c/file'],
    ['/dangling', 'nowhere/at/all'],
    ['/dangling/deeper', 'nowhere/at/all/deeper'],
    ['/missing/../etc/group', 'etc/group'],
    ['/throughfile', 'regular/x'],
    ['//etc///group/', 'etc/group'],
    ['/etc/./group', 'etc/group'],
  ];
  for (const [unsafe, want] of cases) {
    const got = resolveInRoot(root, unsafe);
    assert.equal(got, path.join(root, want), unsafe);
    assert.ok(inside(root, got), unsafe);
  }
  fs.rmSync(root, { recursive: true, force: true });
});

test('resolveInRoot stops symlink loops', () => {
  const root = hostileRoot();
  for (const loop of ['/loop1', '/loop2/x', '/self', '/loopdir']) {
    assert.throws(() => resolveInRoot(root, loop), (error: Error & { code?: string }) => error.message.includes('too many levels of symbolic links') && error.code === 'invalid-argument', loop);
  }
  fs.rmSync(root, { recursive: true, force: true });
});

test('readContainerFile reads the container file, never the host file a link names', () => {
  const root = hostileRoot();
  // etc/passwd -> /../../../../etc/shadow: the host's shadow exists, the container's does not.
  assert.equal(readContainerFile(root, '/etc/passwd'), undefined);
  fs.writeFileSync(path.join(root, 'etc', 'shadow'), 'container shadow\n');
  assert.equal(readContainerFile(root, '/etc/passwd'), 'container shadow\n');
  assert.equal(readContainerFile(root, '/host/etc/group'), 'inside group\n');
  assert.equal(readContainerFile(root, '/etc/hosts'), undefined);
  assert.equal(readContainerFile(root, '/usr/bin/env'), 'libc\n');
  assert.equal(readContainerFile(root, '/regular/x'), undefined);
  assert.equal(readContainerFile(root, '/no/such/file'), undefined);
  assert.throws(() => readContainerFile(root, '/loop1'), /too many levels of symbolic links/);
  fs.rmSync(root, { recursive: true, force: true });
});

test('readContainerFile: a root whose /etc is a link to / reads root/passwd', () => {
  const root = tempDir('strata-rootpath-');
  fs.symlinkSync('/', path.join(root, 'etc'));
  assert.equal(readContainerFile(root, '/etc/passwd'), undefined);
  fs.writeFileSync(path.join(root, 'passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  assert.equal(readContainerFile(root, '/etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  fs.rmSync(root, { recursive: true, force: true });
});
