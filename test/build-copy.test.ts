/**
 * COPY and ADD (src/builder/copy.ts): Go's filepath.Match, which sources a list names in a directory tree and in a
 * stat walk (the build context's), the cache checksum of the sources, and the layer tar a copy makes on top of
 * a root filesystem, read back with tar-stream. Fixtures are made in temp dirs; ADD archives with GNU tar.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import tar from 'tar-stream';
import { type CopyPlan, isTarArchive, writeCopyLayer } from '../src/builder/copy.js';
import { UnionView } from '../src/layers/union.js';
import { type CopySource, directoryTree, goMatch, listedTree, selectSources, type SourceFile, type SourceTree, sourcesChecksum } from '../src/builder/sources.js';
import type { Digest } from '../src/util/digest.js';
import { sh, tempDir } from './helpers.js';

// The modes asserted below are set explicitly, but new files and dirs are made under the usual umask too.
process.umask(0o022);

const isRoot = process.getuid?.() === 0;
const scratch = tempDir('strata-copy-');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory under this file's scratch dir. */
function freshDir(name: string): string {
  const dir = path.join(scratch, `${++dirs}-${name}`);
  fs.mkdirSync(dir);
  return dir;
}

/** Makes `files` under `root`: a string is a file's content, `{ dir }` a directory, `{ link }` a symlink. */
type Spec = string | { content: string; mode: number } | { dir: number } | { link: string };
function make(root: string, files: Record<string, Spec>): string {
  for (const [rel, spec] of Object.entries(files)) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (typeof spec === 'string') fs.writeFileSync(file, spec);
    else if ('content' in spec) {
      fs.writeFileSync(file, spec.content);
      fs.chmodSync(file, spec.mode);
    } else if ('dir' in spec) {
      fs.mkdirSync(file, { recursive: true });
      fs.chmodSync(file, spec.dir);
    } else fs.symlinkSync(spec.link, file);
  }
  return root;
}

/** Every path below `dir`, parents first, names sorted: the build context's stat walk. */
function walk(dir: string, below = ''): { rel: string; stat: fs.BigIntStats }[] {
  const out: { rel: string; stat: fs.BigIntStats }[] = [];
  for (const name of fs.readdirSync(path.join(dir, below)).sort()) {
    const rel = below === '' ? name : `${below}/${name}`;
    const stat = fs.lstatSync(path.join(dir, rel), { bigint: true });
    out.push({ rel, stat });
    if (stat.isDirectory()) out.push(...walk(dir, rel));
  }
  return out;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const digestOf = (_source: CopySource, file: SourceFile): Digest => `sha256:${sha256(fs.readFileSync(file.file))}`;

// The build context most tests select from.
const ctx = make(freshDir('context'), {
  'a.txt': { content: 'alpha\n', mode: 0o644 },
  'b.txt': { content: 'bravo\n', mode: 0o600 },
  'notes.md': 'notes',
  dir: { dir: 0o750 },
  'dir/one.txt': { content: 'one\n', mode: 0o644 },
  'dir/run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
  'dir/sub': { dir: 0o755 },
  'dir/sub/two.txt': { content: 'two\n', mode: 0o644 },
  'link-to-a': { link: 'a.txt' },
  'abs-link': { link: '/a.txt' },
  'escape-link': { link: '../../../../../../etc/hostname' },
  dirlink: { link: 'dir' },
  '..foo': 'dots\n',
  '.wh.x': 'whiteout-looking\n',
  'links/l': { link: 'one.txt' },
  'order/b': 'b',
  'order/a/z': 'z',
  'order/a-': 'a-',
  'order/A': 'A',
  'order/_': '_',
});

const trees: [string, () => SourceTree][] = [
  ['directoryTree', () => directoryTree(ctx)],
  ['listedTree', () => listedTree(ctx, walk(ctx))],
];

describe('goMatch', () => {
  const cases: [string, string, boolean][] = [
    ['a.txt', 'a.txt', true],
    ['a.txt', 'axtxt', false],
    ['*.txt', 'a.txt', true],
    ['*.txt', '.txt', true],
    ['*.txt', 'a.md', false],
    ['*.txt', 'dir/a.txt', false],
    ['*', 'a/b', false],
    ['*', '', true],
    ['a*', 'a', true],
    ['*/*.txt', 'dir/a.txt', true],
    ['*/*.txt', 'dir/sub/a.txt', false],
    ['dir/*', 'dir/x', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['a?c', 'abbc', false],
    ['a?c', 'a/c', false],
    ['[abc].txt', 'b.txt', true],
    ['[abc].txt', 'd.txt', false],
    ['[^a].txt', 'b.txt', true],
    ['[^a].txt', 'a.txt', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[^a-c]x', 'dx', true],
    ['[^a-c]x', 'cx', false],
    ['[!a]', '!', true],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['a\\?', 'a?', true],
    ['a\\?', 'ab', false],
    ['\\[a]', '[a]', true],
    ['a+b(c)|{d}$^', 'a+b(c)|{d}$^', true],
    ['a+b', 'aab', false],
  ];
  for (const [pattern, name, want] of cases) {
    test(`${pattern} ${want ? 'matches' : 'does not match'} ${JSON.stringify(name)}`, () => assert.equal(goMatch(pattern).test(name), want));
  }

  test('an unterminated class is a syntax error', () => {
    assert.throws(() => goMatch('[abc'), /syntax error in pattern/);
  });

  test('escapes inside a class', () => {
    assert.equal(goMatch('[\\]]x').test(']x'), true); // Go: the class holds `]`
    assert.equal(goMatch('[\\*]').test('*'), true);
    assert.equal(goMatch('[\\*]').test('\\'), false); // Go: `\*` in a class is `*` alone
  });
});

/** A source as tests compare it: where its root is in the context, whether a directory, and the files below. */
const summary = (source: CopySource) => ({
  name: source.name,
  root: path.relative(ctx, source.root.file),
  dir: source.root.stat.isDirectory(),
  files: source.files.map((f) => f.rel),
});

describe('selectSources', () => {
  const file = (name: string, root = name) => ({ name, root, dir: false, files: [''] });
  const dirSource = (name: string, root = name) => ({ name, root, dir: true, files: ['one.txt', 'run.sh', 'sub', 'sub/two.txt'] });
  const cases: [string, string[], ReturnType<typeof summary>[]][] = [
    ['a file', ['a.txt'], [file('a.txt')]],
    ['a file in a directory', ['dir/sub/two.txt'], [file('two.txt', 'dir/sub/two.txt')]],
    ['a directory: everything below it, parents first', ['dir'], [dirSource('dir')]],
    ['a directory with a trailing slash', ['dir/'], [dirSource('dir')]],
    ['a directory given as ./dir', ['./dir'], [dirSource('dir')]],
    ['several sources, in the order given', ['b.txt', 'a.txt'], [file('b.txt'), file('a.txt')]],
    ['a wildcard, matches sorted', ['*.txt'], [file('a.txt'), file('b.txt')]],
    ['a wildcard below a directory', ['dir/*.txt'], [file('one.txt', 'dir/one.txt')]],
    ['a wildcard matching a directory', ['d?r'], [dirSource('dir')]],
    ['a character class', ['[ab].txt'], [file('a.txt'), file('b.txt')]],
    ['a negated class', ['[^a].txt'], [file('b.txt')]],
    ['.. is clamped to the root', ['../../a.txt'], [file('a.txt')]],
    ['a leading / is the root', ['/a.txt'], [file('a.txt')]],
    ['.. inside the path', ['/../dir/../a.txt'], [file('a.txt')]],
    ['a wildcard after ..', ['../*.md'], [file('notes.md')]],
    ['a symlink is followed, keeping its name', ['link-to-a'], [file('link-to-a', 'a.txt')]],
    ['an absolute symlink is resolved inside the root', ['abs-link'], [file('abs-link', 'a.txt')]],
    ['a symlink to a directory', ['dirlink'], [dirSource('dirlink', 'dir')]],
    ['a symlink on the way', ['dirlink/one.txt'], [file('one.txt', 'dir/one.txt')]],
  ];
  for (const [treeName, makeTree] of trees) {
    for (const [name, patterns, want] of cases) {
      test(`${treeName}: ${name}`, () => assert.deepEqual(selectSources(makeTree(), patterns, 'COPY').map(summary), want));
    }

    const notFound: [string, string, string][] = [
      ['a missing file', 'missing.txt', 'missing.txt'],
      ['a missing directory on the way', 'dir/missing/x', 'dir/missing/x'],
      ['a file used as a directory', 'a.txt/x', 'a.txt/x'],
      ['a symlink cannot leave the root', 'escape-link', 'escape-link'],
    ];
    for (const [name, pattern, shown] of notFound) {
      test(`${treeName}: ${name}`, () => {
        assert.throws(
          () => selectSources(makeTree(), [pattern], 'COPY'),
          (error: Error) => {
            assert.match(error.message, /^COPY failed: file not found in build context or excluded by \.dockerignore/);
            assert.ok(error.message.includes(`stat ${shown}: file does not exist`), error.message);
            return true;
          },
        );
      });
    }

    test(`${treeName}: a wildcard that matches nothing`, () => {
      assert.throws(() => selectSources(makeTree(), ['nothing-*.txt'], 'ADD'), /ADD failed: no source files were specified/);
    });

    test(`${treeName}: an empty list`, () => {
      assert.throws(() => selectSources(makeTree(), [], 'COPY'), /no source files were specified/);
    });

    test(`${treeName}: a name beginning with .. is inside the root`, () => {
      assert.deepEqual(selectSources(makeTree(), ['..foo'], 'COPY').map(summary), [file('..foo')]);
    });

    test(`${treeName}: a symlink matched by a wildcard is followed, as Docker does`, () => {
      assert.deepEqual(selectSources(makeTree(), ['link-*'], 'COPY').map(summary), [file('link-to-a', 'a.txt')]);
    });
  }

  const everything = walk(ctx).map((entry) => entry.rel);
  test('directoryTree: . is the whole tree', () => {
    assert.deepEqual(selectSources(directoryTree(ctx), ['.'], 'COPY').map(summary), [{ name: '', root: '', dir: true, files: everything }]);
  });
  test('listedTree: . is the whole tree', () => {
    assert.deepEqual(selectSources(listedTree(ctx, walk(ctx)), ['.'], 'COPY').map(summary), [{ name: '', root: '', dir: true, files: everything }]);
  });

  test('listedTree: entries left out of the walk (.dockerignore) are not there', () => {
    const tree = listedTree(ctx, walk(ctx).filter((entry) => entry.rel !== 'notes.md' && !entry.rel.startsWith('dir/sub')));
    assert.throws(() => selectSources(tree, ['notes.md'], 'COPY'), /file not found in build context/);
    assert.throws(() => selectSources(tree, ['*.md'], 'COPY'), /no source files were specified/);
    assert.deepEqual(selectSources(tree, ['dir'], 'COPY').map(summary), [{ name: 'dir', root: 'dir', dir: true, files: ['one.txt', 'run.sh'] }]);
  });

  test('files carry their lstat and their path on this machine', () => {
    const [source] = selectSources(directoryTree(ctx), ['links'], 'COPY');
    assert.deepEqual(source!.files.map((f) => [f.rel, f.file, f.stat.isSymbolicLink()]), [['l', path.join(ctx, 'links', 'l'), true]]);
  });
});

describe('sourcesChecksum', () => {
  /** A context of its own, changed by the tests below. */
  const fresh = () =>
    make(freshDir('checksum'), {
      'a.txt': { content: 'alpha\n', mode: 0o644 },
      'b.txt': { content: 'bravo\n', mode: 0o644 },
      dir: { dir: 0o755 },
      'dir/one.txt': { content: 'one\n', mode: 0o644 },
      'dir/l': { link: 'one.txt' },
    });
  const sum = (dir: string, patterns: string[], change?: (sources: CopySource[]) => void) => {
    const sources = selectSources(directoryTree(dir), patterns, 'COPY');
    change?.(sources);
    return sourcesChecksum(sources, digestOf);
  };
  const content = (text: string): CopySource => {
    const stat = fs.lstatSync(ctx, { bigint: true });
    return { name: 'EOF', root: { rel: '', file: '', stat }, files: [], content: Buffer.from(text) };
  };

  const kinds: [string, string[], RegExp][] = [
    ['one file', ['a.txt'], /^file:[0-9a-f]{64}$/],
    ['one directory', ['dir'], /^dir:[0-9a-f]{64}$/],
    ['the whole context', ['.'], /^dir:[0-9a-f]{64}$/],
    ['two files', ['a.txt', 'b.txt'], /^multi:[0-9a-f]{64}$/],
    ['a wildcard matching two', ['*.txt'], /^multi:[0-9a-f]{64}$/],
    ['a wildcard matching one', ['a*'], /^file:[0-9a-f]{64}$/],
  ];
  const base = fresh();
  for (const [name, patterns, want] of kinds) {
    test(`kind: ${name}`, () => assert.match(sum(base, patterns), want));
  }
  test('kind: a heredoc is a file', () => assert.match(sourcesChecksum([content('hi\n')], digestOf), /^file:[0-9a-f]{64}$/));

  test('deterministic', () => {
    assert.equal(sum(base, ['dir']), sum(base, ['dir']));
    assert.equal(sum(base, ['a.txt', 'dir']), sum(base, ['a.txt', 'dir']));
    assert.equal(sum(base, ['dir']), sum(fresh(), ['dir']));
  });

  const changes: [string, string[], (dir: string) => void][] = [
    ['a file content', ['a.txt'], (dir) => fs.writeFileSync(path.join(dir, 'a.txt'), 'ALPHA\n')],
    ['a file content in a directory', ['dir'], (dir) => fs.writeFileSync(path.join(dir, 'dir/one.txt'), 'uno\n')],
    ['a file mode', ['a.txt'], (dir) => fs.chmodSync(path.join(dir, 'a.txt'), 0o755)],
    ['a directory mode', ['dir'], (dir) => fs.chmodSync(path.join(dir, 'dir'), 0o700)],
    ['a name in a directory', ['dir'], (dir) => fs.renameSync(path.join(dir, 'dir/one.txt'), path.join(dir, 'dir/uno.txt'))],
    ['a file added to a directory', ['dir'], (dir) => fs.writeFileSync(path.join(dir, 'dir/new'), '')],
    ['a symlink target', ['dir'], (dir) => {
      fs.unlinkSync(path.join(dir, 'dir/l'));
      fs.symlinkSync('other.txt', path.join(dir, 'dir/l'));
    }],
    ['a file replaced by a directory', ['dir'], (dir) => {
      fs.unlinkSync(path.join(dir, 'dir/one.txt'));
      fs.mkdirSync(path.join(dir, 'dir/one.txt'), { mode: 0o644 });
    }],
  ];
  for (const [name, patterns, change] of changes) {
    test(`changes with ${name}`, () => {
      const dir = fresh();
      const before = sum(dir, patterns);
      change(dir);
      assert.notEqual(sum(dir, patterns), before);
    });
  }

  test('changes with the source name, same content and mode', () => {
    const dir = fresh();
    fs.copyFileSync(path.join(dir, 'a.txt'), path.join(dir, 'c.txt'));
    assert.notEqual(sum(dir, ['c.txt']), sum(dir, ['a.txt']));
  });

  test('changes with the order of the sources', () => {
    assert.notEqual(sum(base, ['a.txt', 'b.txt']), sum(base, ['b.txt', 'a.txt']));
  });

  test('changes when the source is an archive ADD extracts', () => {
    assert.notEqual(sum(base, ['a.txt'], (sources) => (sources[0]!.archive = true)), sum(base, ['a.txt']));
  });

  test('changes with heredoc content', () => {
    assert.notEqual(sourcesChecksum([content('a\n')], digestOf), sourcesChecksum([content('b\n')], digestOf));
    assert.equal(sourcesChecksum([content('a\n')], digestOf), sourcesChecksum([content('a\n')], digestOf));
  });

  test('does not change when only times change', () => {
    const dir = fresh();
    const before = [sum(dir, ['a.txt']), sum(dir, ['dir']), sum(dir, ['.'])];
    const then = new Date('2001-02-03T04:05:06Z');
    for (const rel of ['a.txt', 'dir/one.txt', 'dir', '']) fs.utimesSync(path.join(dir, rel), then, then);
    fs.lutimesSync(path.join(dir, 'dir/l'), then, then);
    assert.deepEqual([sum(dir, ['a.txt']), sum(dir, ['dir']), sum(dir, ['.'])], before);
  });

  test('the owner counts only for sources that keep it (COPY --from)', { skip: isRoot ? false : 'needs root to chown' }, () => {
    const dir = fresh();
    const plain = sum(dir, ['a.txt']);
    const kept = sum(dir, ['a.txt'], (sources) => (sources[0]!.keepOwner = true));
    fs.chownSync(path.join(dir, 'a.txt'), 1234, 5678);
    assert.equal(sum(dir, ['a.txt']), plain);
    assert.notEqual(sum(dir, ['a.txt'], (sources) => (sources[0]!.keepOwner = true)), kept);
  });

  test('uses the digest it is given for file contents', () => {
    const constant = (): Digest => `sha256:${'0'.repeat(64)}`;
    const dir = fresh();
    const before = sourcesChecksum(selectSources(directoryTree(dir), ['a.txt'], 'COPY'), constant);
    fs.writeFileSync(path.join(dir, 'a.txt'), 'ALPHA\n');
    assert.equal(sourcesChecksum(selectSources(directoryTree(dir), ['a.txt'], 'COPY'), constant), before);
  });
});

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string | null;
  data: string;
}

/** Entries as compact lines: name, type, mode (octal), owner; and link target for links. */
const line = (e: TarEntry) => `${e.name} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}${e.linkname ? ` -> ${e.linkname}` : ''}`;

async function readTar(bytes: Buffer): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const entry of Readable.from([bytes]).pipe(tar.extract())) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, type, mode, uid, gid, mtime, linkname } = entry.header;
    out.push({ name, type, mode, uid, gid, mtime: mtime.getTime(), linkname: linkname || null, data: Buffer.concat(chunks).toString() });
  }
  return out;
}

const fixedTime = new Date('2021-02-03T04:05:06Z');

/** Runs writeCopyLayer into a buffer; returns the entries, the size it reported and the digests it gave. */
async function copyLayer(plan: Partial<CopyPlan> & Pick<CopyPlan, 'sources' | 'dest'>, rootfs: string) {
  const chunks: Buffer[] = [];
  const digests = new Map<string, Digest>();
  const { size } = await writeCopyLayer(
    { mtime: fixedTime, instruction: 'COPY', ...plan },
    new UnionView([rootfs]),
    (chunk) => void chunks.push(chunk),
    (source, file, digest) => digests.set(path.posix.join(source.name, file.rel), digest),
  );
  return { entries: await readTar(Buffer.concat(chunks)), size, digests };
}

const select = (...patterns: string[]) => selectSources(directoryTree(ctx), patterns, 'COPY');
const emptyRoot = () => freshDir('rootfs');
/** A rootfs holding `files`. */
const rootWith = (files: Record<string, Spec>) => make(freshDir('rootfs'), files);
const ownerOf = (file: string) => {
  const stat = fs.lstatSync(file);
  return `${stat.uid}:${stat.gid}`;
};

describe('writeCopyLayer', () => {
  test('a file to a new path: parents created 0755, root-owned', async () => {
    const { entries, size, digests } = await copyLayer({ sources: select('a.txt'), dest: '/opt/app/conf.txt' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['opt/ directory 755 0:0', 'opt/app/ directory 755 0:0', 'opt/app/conf.txt file 644 0:0']);
    assert.equal(entries[2]!.data, 'alpha\n');
    assert.equal(size, 6);
    assert.deepEqual([...digests], [['a.txt', `sha256:${sha256('alpha\n')}`]]);
  });

  test('every entry gets the plan mtime', async () => {
    const { entries } = await copyLayer({ sources: select('a.txt', 'dir'), dest: '/x/y/' }, emptyRoot());
    assert.ok(entries.length > 3);
    for (const entry of entries) assert.equal(entry.mtime, fixedTime.getTime(), entry.name);
  });

  test('a file into a directory given with a trailing slash', async () => {
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/app/' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['app/ directory 755 0:0', 'app/a.txt file 644 0:0']);
  });

  test('a file into an existing directory, no trailing slash', async () => {
    const rootfs = rootWith({ app: { dir: 0o711 } });
    const { entries } = await copyLayer({ sources: select('b.txt'), dest: '/app' }, rootfs);
    assert.deepEqual(entries.map(line), [`app/ directory 711 ${ownerOf(path.join(rootfs, 'app'))}`, 'app/b.txt file 600 0:0']);
  });

  test('a file to the root', async () => {
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['a.txt file 644 0:0']);
  });

  test('a symlinked source lands under its own name with its target content', async () => {
    const { entries } = await copyLayer({ sources: select('link-to-a'), dest: '/app/' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['app/ directory 755 0:0', 'app/link-to-a file 644 0:0']);
    assert.equal(entries[1]!.data, 'alpha\n');
  });

  for (const dest of ['/srv/', '/srv']) {
    test(`a directory's contents, not the directory, to ${dest}`, async () => {
      const { entries, size, digests } = await copyLayer({ sources: select('dir'), dest }, emptyRoot());
      assert.deepEqual(entries.map(line), [
        'srv/ directory 750 0:0',
        'srv/one.txt file 644 0:0',
        'srv/run.sh file 755 0:0',
        'srv/sub/ directory 755 0:0',
        'srv/sub/two.txt file 644 0:0',
      ]);
      assert.deepEqual(entries.map((e) => e.data), ['', 'one\n', '#!/bin/sh\n', '', 'two\n']);
      assert.equal(size, 4 + 10 + 4);
      assert.deepEqual(Object.fromEntries(digests), {
        'dir/one.txt': `sha256:${sha256('one\n')}`,
        'dir/run.sh': `sha256:${sha256('#!/bin/sh\n')}`,
        'dir/sub/two.txt': `sha256:${sha256('two\n')}`,
      });
    });
  }

  test('a directory into an existing directory keeps its mode and owner', async () => {
    const rootfs = rootWith({ srv: { dir: 0o701 } });
    const { entries } = await copyLayer({ sources: select('dir'), dest: '/srv' }, rootfs);
    assert.deepEqual(entries.map(line).slice(0, 2), [`srv/ directory 701 ${ownerOf(path.join(rootfs, 'srv'))}`, 'srv/one.txt file 644 0:0']);
  });

  test('symlinks inside a directory are copied as symlinks', async () => {
    const { entries } = await copyLayer({ sources: select('links'), dest: '/l/' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['l/ directory 755 0:0', 'l/l symlink 777 0:0 -> one.txt']);
  });

  test('existing parent directories are repeated with their own mode and owner', async () => {
    const rootfs = rootWith({ etc: { dir: 0o700 } });
    if (isRoot) fs.chownSync(path.join(rootfs, 'etc'), 1234, 5678);
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/etc/conf/a.txt' }, rootfs);
    assert.deepEqual(entries.map(line), [
      `etc/ directory 700 ${ownerOf(path.join(rootfs, 'etc'))}`,
      'etc/conf/ directory 755 0:0',
      'etc/conf/a.txt file 644 0:0',
    ]);
    if (isRoot) assert.equal(ownerOf(path.join(rootfs, 'etc')), '1234:5678');
  });

  test('--chown: copied entries and created parents get the owner, existing parents keep theirs', async () => {
    const rootfs = rootWith({ opt: { dir: 0o755 } });
    const { entries } = await copyLayer({ sources: select('dir'), dest: '/opt/new/app/', owner: { uid: 1000, gid: 2000 } }, rootfs);
    assert.deepEqual(entries.map(line), [
      `opt/ directory 755 ${ownerOf(path.join(rootfs, 'opt'))}`,
      'opt/new/ directory 755 1000:2000',
      'opt/new/app/ directory 750 1000:2000',
      'opt/new/app/one.txt file 644 1000:2000',
      'opt/new/app/run.sh file 755 1000:2000',
      'opt/new/app/sub/ directory 755 1000:2000',
      'opt/new/app/sub/two.txt file 644 1000:2000',
    ]);
  });

  test('--chmod: every copied file and directory, not created parents', async () => {
    const { entries } = await copyLayer({ sources: select('dir', 'b.txt'), dest: '/p/srv/', chmod: 0o700 }, emptyRoot());
    assert.deepEqual(entries.map(line), [
      'p/ directory 755 0:0',
      'p/srv/ directory 700 0:0',
      'p/srv/b.txt file 700 0:0',
      'p/srv/one.txt file 700 0:0',
      'p/srv/run.sh file 700 0:0',
      'p/srv/sub/ directory 700 0:0',
      'p/srv/sub/two.txt file 700 0:0',
    ]);
  });

  test('entries in byte order, parents first', async () => {
    const { entries } = await copyLayer({ sources: select('order'), dest: '/o/' }, emptyRoot());
    // 'a' < 'a-' < 'a/z': '-' (0x2d) sorts before '/' (0x2f); upper case before '_' before lower case.
    assert.deepEqual(entries.map((e) => e.name), ['o/', 'o/A', 'o/_', 'o/a/', 'o/a-', 'o/a/z', 'o/b']);
    const seen = new Set<string>();
    for (const { name } of entries) {
      const parent = path.posix.dirname(name.replace(/\/$/, ''));
      if (parent !== '.') assert.ok(seen.has(`${parent}/`), `${name} before its parent`);
      seen.add(name);
    }
  });

  test('several sources into a directory, sorted', async () => {
    const { entries } = await copyLayer({ sources: select('b.txt', 'a.txt'), dest: '/x/' }, emptyRoot());
    assert.deepEqual(entries.map(line), ['x/ directory 755 0:0', 'x/a.txt file 644 0:0', 'x/b.txt file 600 0:0']);
  });

  for (const [name, sources] of [['two sources', ['a.txt', 'b.txt']], ['a wildcard matching two', ['*.txt']]] as const) {
    test(`${name} need a destination ending with /`, async () => {
      await assert.rejects(
        copyLayer({ sources: select(...sources), dest: '/x' }, emptyRoot()),
        /When using COPY with more than one source file, the destination must be a directory and end with a \//,
      );
    });
  }

  test('the destination is resolved through symlinks inside the rootfs', async () => {
    const rootfs = rootWith({ run: { dir: 0o711 }, var: { dir: 0o755 }, 'var/run': { link: '../run' } });
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/var/run/x' }, rootfs);
    assert.deepEqual(entries.map(line), [`run/ directory 711 ${ownerOf(path.join(rootfs, 'run'))}`, 'run/x file 644 0:0']);
  });

  test('an absolute symlink in the rootfs is resolved inside it', async () => {
    const rootfs = rootWith({ 'real/dir': { dir: 0o755 }, link: { link: '/real/dir' } });
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/link/' }, rootfs);
    assert.deepEqual(entries.map((e) => e.name), ['real/', 'real/dir/', 'real/dir/a.txt']);
  });

  test('a symlink to a directory as the destination: into the directory', async () => {
    const rootfs = rootWith({ data: { dir: 0o755 }, current: { link: 'data' } });
    const { entries } = await copyLayer({ sources: select('a.txt'), dest: '/current' }, rootfs);
    assert.deepEqual(entries.map((e) => e.name), ['data/', 'data/a.txt']);
  });

  test('a file in the rootfs cannot be a parent', async () => {
    const rootfs = rootWith({ f: 'plain file' });
    await assert.rejects(copyLayer({ sources: select('a.txt'), dest: '/f/x' }, rootfs), /COPY failed: cannot copy to non-directory: \/f/);
  });

  test('a source named .wh.x is rejected', async () => {
    await assert.rejects(copyLayer({ sources: select('.wh.x'), dest: '/app/' }, emptyRoot()), /COPY failed: \/app\/\.wh\.x: names beginning with \.wh\. are reserved/);
  });

  test('a destination named .wh.y is rejected', async () => {
    await assert.rejects(copyLayer({ sources: select('a.txt'), dest: '/app/.wh.y' }, emptyRoot()), /names beginning with \.wh\. are reserved/);
  });

  test('a destination directory named .wh.d is rejected too', async () => {
    await assert.rejects(copyLayer({ sources: select('dir'), dest: '/.wh.d/' }, emptyRoot()), /names beginning with \.wh\. are reserved/);
    await assert.rejects(copyLayer({ sources: select('a.txt'), dest: '/.wh.e/x' }, emptyRoot()), /names beginning with \.wh\. are reserved/);
  });

  test('a .wh. name inside a copied directory is rejected', async () => {
    const dir = make(freshDir('whctx'), { 'd/ok': 'ok', 'd/.wh.gone': '' });
    await assert.rejects(
      copyLayer({ sources: selectSources(directoryTree(dir), ['d'], 'COPY'), dest: '/d/' }, emptyRoot()),
      /\/d\/\.wh\.gone: names beginning with \.wh\. are reserved/,
    );
  });

  test('a heredoc source: content, 0644 or --chmod', async () => {
    const stat = fs.lstatSync(ctx, { bigint: true });
    const heredoc = (): CopySource => ({ name: 'script.sh', root: { rel: '', file: '', stat }, files: [], content: Buffer.from('echo hi\n') });
    const plain = await copyLayer({ sources: [heredoc()], dest: '/usr/local/bin/' }, emptyRoot());
    assert.deepEqual(plain.entries.map(line), ['usr/ directory 755 0:0', 'usr/local/ directory 755 0:0', 'usr/local/bin/ directory 755 0:0', 'usr/local/bin/script.sh file 644 0:0']);
    assert.equal(plain.entries[3]!.data, 'echo hi\n');
    assert.equal(plain.size, 8);
    const executable = await copyLayer({ sources: [heredoc()], dest: '/run.sh', chmod: 0o755 }, emptyRoot());
    assert.deepEqual(executable.entries.map(line), ['run.sh file 755 0:0']);
  });
});

describe('ADD of a local tar archive', () => {
  const archiveTime = new Date('2001-01-01T00:00:00Z');
  const archives = freshDir('archives');
  const tree = make(freshDir('archive-tree'), {
    'bin/tool': { content: 'tool\n', mode: 0o755 },
    'etc/cfg': { content: 'cfg\n', mode: 0o600 },
    link: { link: 'bin/tool' },
  });
  fs.chmodSync(path.join(tree, 'etc'), 0o700);
  fs.chmodSync(tree, 0o750);
  fs.linkSync(path.join(tree, 'bin/tool'), path.join(tree, 'bin/hard'));
  for (const rel of ['bin/tool', 'etc/cfg', 'bin', 'etc', '']) fs.utimesSync(path.join(tree, rel), archiveTime, archiveTime);
  fs.lutimesSync(path.join(tree, 'link'), archiveTime, archiveTime);
  sh(`tar -C '${tree}' --numeric-owner --owner=7 --group=8 -cf '${archives}/app.tar' .`);
  sh(`gzip -c '${archives}/app.tar' > '${archives}/app.tar.gz'`);
  fs.writeFileSync(path.join(archives, 'text.txt'), 'just some text, not an archive\n'.repeat(40));
  sh(`gzip -c '${archives}/text.txt' > '${archives}/text.txt.gz'`);
  fs.writeFileSync(path.join(archives, 'tiny'), 'x');
  const whTree = make(freshDir('wh-archive-tree'), { 'ok': 'ok', '.wh.gone': '' });
  sh(`tar -C '${whTree}' -cf '${archives}/wh.tar' .`);

  const archiveCases: [string, boolean][] = [
    ['app.tar', true],
    ['app.tar.gz', true],
    ['text.txt', false],
    ['text.txt.gz', false],
    ['tiny', false],
  ];
  for (const [name, want] of archiveCases) {
    test(`isTarArchive(${name}) is ${want}`, async () => assert.equal(await isTarArchive(path.join(archives, name)), want));
  }

  const add = (name: string): CopySource[] => {
    const sources = selectSources(directoryTree(archives), [name], 'ADD');
    for (const source of sources) source.archive = true;
    return sources;
  };
  /** The last entry of each name (what an unpack leaves), in name order. */
  const final = (entries: TarEntry[]) => [...new Map(entries.map((e) => [e.name, e])).values()].sort((a, b) => (a.name < b.name ? -1 : 1));

  for (const name of ['app.tar', 'app.tar.gz']) {
    test(`${name} is extracted under the destination with its own modes, owners and times`, async () => {
      const { entries, size } = await copyLayer({ sources: add(name), dest: '/opt/', instruction: 'ADD' }, emptyRoot());
      // The destination is made first (0755, the plan's time); the archive's `./` then gives it its own metadata.
      assert.equal(line(entries[0]!), 'opt/ directory 755 0:0');
      assert.equal(entries[0]!.mtime, fixedTime.getTime());
      const unpacked = final(entries);
      const hard = unpacked.find((e) => e.type === 'link');
      assert.ok(hard, 'one of the two hardlinked names is a link entry');
      const other = hard.name === 'opt/bin/hard' ? 'opt/bin/tool' : 'opt/bin/hard';
      assert.deepEqual(unpacked.map(line), [
        'opt/ directory 750 7:8',
        'opt/bin/ directory 755 7:8',
        hard.name === 'opt/bin/hard' ? `opt/bin/hard link 755 7:8 -> ${other}` : 'opt/bin/hard file 755 7:8',
        hard.name === 'opt/bin/tool' ? `opt/bin/tool link 755 7:8 -> ${other}` : 'opt/bin/tool file 755 7:8',
        'opt/etc/ directory 700 7:8',
        'opt/etc/cfg file 600 7:8',
        'opt/link symlink 777 7:8 -> bin/tool',
      ]);
      for (const entry of unpacked) assert.equal(entry.mtime, archiveTime.getTime(), entry.name);
      assert.equal(unpacked.find((e) => e.name === other)!.data, 'tool\n');
      assert.equal(unpacked.find((e) => e.name === 'opt/etc/cfg')!.data, 'cfg\n');
      assert.equal(size, 5 + 4);
    });
  }

  test('--chown replaces the archive owners', async () => {
    const { entries } = await copyLayer({ sources: add('app.tar'), dest: '/opt/', owner: { uid: 1, gid: 2 }, instruction: 'ADD' }, emptyRoot());
    for (const entry of entries) assert.equal(`${entry.uid}:${entry.gid}`, '1:2', entry.name);
  });

  test('extracted at the root', async () => {
    const { entries } = await copyLayer({ sources: add('app.tar'), dest: '/', instruction: 'ADD' }, emptyRoot());
    assert.deepEqual(final(entries).map((e) => e.name), ['bin/', 'bin/hard', 'bin/tool', 'etc/', 'etc/cfg', 'link']);
  });

  test('next to a plain file', async () => {
    const sources = [...add('app.tar'), ...selectSources(directoryTree(ctx), ['a.txt'], 'ADD')];
    const { entries } = await copyLayer({ sources, dest: '/opt/', instruction: 'ADD' }, emptyRoot());
    const names = final(entries).map((e) => e.name);
    assert.ok(names.includes('opt/a.txt') && names.includes('opt/etc/cfg'), names.join(' '));
  });

  test('a .wh. name in the archive is rejected', async () => {
    await assert.rejects(copyLayer({ sources: add('wh.tar'), dest: '/w/', instruction: 'ADD' }, emptyRoot()), /ADD failed: \/w\/\.wh\.gone: names beginning with \.wh\. are reserved/);
  });
});
