/**
 * .dockerignore with Docker's matching (moby/patternmatcher and ignorefile), table-driven from moby's own test
 * cases and Docker's documented ones; the glob engine (Go's filepath.Match) it shares with COPY; the context walk.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { BuildCache } from '../src/builder/cache.js';
import { BuildContext } from '../src/builder/context.js';
import { cleanPath, DockerIgnore, parseDockerignore } from '../src/builder/dockerignore.js';
import { goMatch, mobyPattern } from '../src/builder/glob.js';
import { listedTree, selectSources } from '../src/builder/sources.js';
import { tempDir } from './helpers.js';

const ignores = (patterns: string[], file: string) => DockerIgnore.parse(patterns.join('\n')).ignores(file);

describe('moby/patternmatcher: one pattern, MatchesOrParentMatches', () => {
  // patternmatcher_test.go TestMatches: [pattern, path, excluded]
  const cases: [string, string, boolean][] = [
    ['**', 'file', true],
    ['**', 'file/', true],
    ['**/', 'file', true],
    ['**/', 'file/', true],
    ['**', '/', true],
    ['**/', '/', true],
    ['**', 'dir/file', true],
    ['**/', 'dir/file', true],
    ['**', 'dir/file/', true],
    ['**/', 'dir/file/', true],
    ['**/**', 'dir/file', true],
    ['**/**', 'dir/file/', true],
    ['dir/**', 'dir/file', true],
    ['dir/**', 'dir/file/', true],
    ['dir/**', 'dir/dir2/file', true],
    ['dir/**', 'dir/dir2/file/', true],
    ['**/dir', 'dir', true],
    ['**/dir', 'dir/file', true],
    ['**/dir2/*', 'dir/dir2/file', true],
    ['**/dir2/*', 'dir/dir2/file/', true],
    ['**/dir2/**', 'dir/dir2/dir3/file', true],
    ['**/dir2/**', 'dir/dir2/dir3/file/', true],
    ['**file', 'file', true],
    ['**file', 'dir/file', true],
    ['**/file', 'dir/file', true],
    ['**file', 'dir/dir/file', true],
    ['**/file', 'dir/dir/file', true],
    ['**/file*', 'dir/dir/file', true],
    ['**/file*', 'dir/dir/file.txt', true],
    ['**/file*txt', 'dir/dir/file.txt', true],
    ['**/file*.txt', 'dir/dir/file.txt', true],
    ['**/file*.txt*', 'dir/dir/file.txt', true],
    ['**/**/*.txt', 'dir/dir/file.txt', true],
    ['**/**/*.txt2', 'dir/dir/file.txt', false],
    ['**/*.txt', 'file.txt', true],
    ['**/**/*.txt', 'file.txt', true],
    ['a**/*.txt', 'a/file.txt', true],
    ['a**/*.txt', 'a/dir/file.txt', true],
    ['a**/*.txt', 'a/dir/dir/file.txt', true],
    ['a/*.txt', 'a/dir/file.txt', false],
    ['a/*.txt', 'a/file.txt', true],
    ['a/*.txt**', 'a/file.txt', true],
    ['a[b-d]e', 'ae', false],
    ['a[b-d]e', 'ace', true],
    ['a[b-d]e', 'aae', false],
    ['a[^b-d]e', 'aze', true],
    ['.*', '.foo', true],
    ['.*', 'foo', false],
    ['abc.def', 'abcdef', false],
    ['abc.def', 'abc.def', true],
    ['abc.def', 'abcZdef', false],
    ['abc?def', 'abcZdef', true],
    ['abc?def', 'abcdef', false],
    ['a\\\\', 'a\\', true],
    ['**/foo/bar', 'foo/bar', true],
    ['**/foo/bar', 'dir/foo/bar', true],
    ['**/foo/bar', 'dir/dir2/foo/bar', true],
    ['abc/**', 'abc', false],
    ['abc/**', 'abc/def', true],
    ['abc/**', 'abc/def/ghi', true],
    ['**/.foo', '.foo', true],
    ['**/.foo', 'bar.foo', false],
    ['a(b)c/def', 'a(b)c/def', true],
    ['a(b)c/def', 'a(b)c/xyz', false],
    ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
    ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ['a\\*b', 'a*b', true],
    // patternmatcher_test.go matchTests (filepath.Match's own cases)
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', true],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', '-', true],
    ['[\\-x]', 'a', false],
    ['*x', 'xxx', true],
  ];
  for (const [pattern, file, want] of cases) test(`${pattern} ${want ? 'excludes' : 'keeps'} ${file}`, () => assert.equal(ignores([pattern], file), want));
});

describe('several patterns, in order', () => {
  const cases: [string[], string, boolean][] = [
    // patternmatcher_test.go
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
    [['*'], 'fileutils.go', true],
    [['*.go'], 'fileutils.go', true],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs/', '!docs/README.md'], 'docs/README.md', false],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    // Docker's documentation: exceptions re-include, later patterns win
    [['*.md', '!README.md'], 'README.md', false],
    [['*.md', '!README.md'], 'CHANGES.md', true],
    [['*.md', '!README*.md', 'README-secret.md'], 'README-secret.md', true],
    [['*.md', 'README-secret.md', '!README*.md'], 'README-secret.md', false],
    // a directory excludes everything below it; an exception can bring one file back
    [['build'], 'build/out/app.bin', true],
    [['build', '!build/out/keep.txt'], 'build/out/keep.txt', false],
    [['build', '!build/out/keep.txt'], 'build/out/other.txt', true],
    [['build/', '!build/out'], 'build/out/other.txt', false],
    // case-sensitive, as on Linux
    [['secret.txt'], 'Secret.TXT', false],
    [['secret.txt'], 'secret.txt', true],
    [['*.LOG'], 'debug.log', false],
    [['Docs'], 'docs/readme', false],
    // cleaned: leading /, ./, trailing /, ..
    [['/secret'], 'secret', true],
    [['./secret'], 'secret', true],
    [['secret/'], 'secret/key', true],
    [['a/../secret'], 'secret', true],
    [['/a/./b//c'], 'a/b/c', true],
    [['!/keep', '*'], 'keep', true],
    [['*', '!/keep'], 'keep', false],
    [['*', '! keep'], 'keep', false],
    // `*` and `?` stop at `/`; `**` does not
    [['*/temp*'], 'somedir/temporary.txt', true],
    [['*/temp*'], 'somedir/sub/temporary.txt', false],
    [['*/*/temp*'], 'somedir/subdir/temporary.txt', true],
    [['temp?'], 'temp1', true],
    [['temp?'], 'temp/x', false],
    [['**/*.go'], 'a/b/c/main.go', true],
    [['**/*.go'], 'main.go', true],
  ];
  for (const [patterns, file, want] of cases) test(`${JSON.stringify(patterns)} ${want ? 'excludes' : 'keeps'} ${file}`, () => assert.equal(ignores(patterns, file), want));
});

describe('reading the file as ignorefile.ReadAll', () => {
  const read = (text: string) => parseDockerignore(text).map((p) => `${p.exclusion ? '!' : ''}${p.pattern}@${p.line}`);
  test('comments, blank lines, spaces, CRLF, a byte order mark', () => {
    assert.deepEqual(read('\ufeff# comment\n\n  \nsecret.txt  \r\n\t*.log\n  # not a comment\n!  keep.log\n'), ['secret.txt@4', '*.log@5', '# not a comment@6', '!keep.log@7']);
  });
  test('patterns are cleaned as Go paths; a lone / stays', () => {
    assert.deepEqual(read('/a\n./b/\nc/../d\n/\n!/e/\n'), ['a@1', 'b@2', 'd@3', '/@4', '!e@5']);
    const cases: [string, string][] = [
      ['', '.'],
      ['a//b', 'a/b'],
      ['a/./b/', 'a/b'],
      ['../a', '../a'],
      ['/../a', '/a'],
      ['a/b/../../..', '..'],
    ];
    for (const [input, want] of cases) assert.equal(cleanPath(input), want, input);
  });
  test('a # only starts a comment at the start of the line', () => {
    assert.equal(ignores(['# secret.txt'], 'secret.txt'), false);
    assert.equal(ignores([' #x'], '#x'), true);
  });
});

describe('bad patterns are one line naming the pattern and its line', () => {
  const cases: [string, RegExp][] = [
    ['ok\n[\n', /^error checking context: \.dockerignore, line 2: syntax error in pattern "\["$/],
    ['a[b\n', /^error checking context: \.dockerignore, line 1: syntax error in pattern "a\[b"$/],
    ['# c\n\n[]a]\n', /^error checking context: \.dockerignore, line 3: syntax error in pattern "\[\]a\]"$/],
    ['x\\\n', /^error checking context: \.dockerignore, line 1: syntax error in pattern "x\\\\"$/],
    ['[a-]', /syntax error in pattern "\[a-\]"$/],
    ['[-a]', /syntax error in pattern "\[-a\]"$/],
    ['[^]', /syntax error in pattern "\[\^\]"$/],
    ['[a-b-c]', /syntax error in pattern/],
    ['a\n!\n', /^error checking context: \.dockerignore, line 2: illegal exclusion pattern: "!"$/],
    ['!   \n', /illegal exclusion pattern: "!"$/],
  ];
  for (const [text, error] of cases) {
    test(JSON.stringify(text), () => {
      assert.throws(() => parseDockerignore(text), (e: Error) => {
        assert.match(e.message, error);
        assert.equal((e as { code?: string }).code, 'invalid-argument');
        return true;
      });
    });
  }
  test('a long bad pattern is cut short in the message', () => {
    const long = `${'a'.repeat(60_000)}[`;
    assert.throws(() => parseDockerignore(long), (e: Error) => {
      assert.ok(e.message.length < 200, `${e.message.length} characters`);
      assert.match(e.message, /^error checking context: \.dockerignore, line 1: syntax error in pattern "a{60}"\.\.\. \(60001 characters\)$/);
      return true;
    });
  });
  test('a line over 64 KiB is refused, as Docker’s reader does', () => {
    assert.throws(() => parseDockerignore(`ok\n${'x'.repeat(70_000)}\n`), { message: 'error reading .dockerignore: line 2 is longer than 64 KiB' });
    assert.equal(parseDockerignore(`${'x'.repeat(60_000)}\n`).length, 1);
  });
});

describe('goMatch: Go’s filepath.Match', () => {
  const bad = ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a[', 'a[]', '[\\]'];
  for (const pattern of bad) test(`${pattern} is a bad pattern`, () => assert.throws(() => goMatch(pattern), { message: 'syntax error in pattern' }));
  test('a class can hold a `/`, `*` and `?` cannot match it', () => {
    assert.equal(goMatch('a[/]b').test('a/b'), true);
    assert.equal(goMatch('a[^x]b').test('a/b'), true);
    assert.equal(goMatch('a*b').test('a/b'), false);
  });
  test('no pattern takes exponential time', () => {
    const started = Date.now();
    const starry = `${'*a'.repeat(30)}*b`;
    const long = 'a'.repeat(5000);
    assert.equal(goMatch(starry).test(long), false);
    assert.equal(mobyPattern(`${'**/a'.repeat(30)}/b`).test(`${'a/'.repeat(2000)}c`), false);
    assert.equal(ignores([starry, `!${starry}x`], `dir/${long}`), false);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
  });
});

describe('the context walk', () => {
  const cache = { fileDigests: () => new Map(), saveFileDigests: () => undefined } as unknown as BuildCache;
  function contextWith(files: string[], dockerignore: string): string {
    const dir = tempDir('strata-ignore-');
    for (const name of files) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), name, { mode: 0o644 });
    }
    fs.writeFileSync(path.join(dir, '.dockerignore'), dockerignore);
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
    return dir;
  }
  const walk = async (files: string[], dockerignore: string) => {
    const context = await BuildContext.open({ spec: contextWith(files, dockerignore) }, cache);
    try {
      return context.entries().map((entry) => entry.rel);
    } finally {
      context.close();
    }
  };

  test('case-sensitive: secret.txt keeps Secret.TXT', async () => {
    assert.deepEqual(await walk(['secret.txt', 'Secret.TXT', 'sub/secret.txt'], 'secret.txt\n'), ['.dockerignore', 'Dockerfile', 'Secret.TXT', 'sub', 'sub/secret.txt']);
  });
  test('an excluded directory goes with everything in it; an exception brings back one file', async () => {
    const files = ['build/out/app.bin', 'build/out/keep.txt', 'build/log.txt', 'src/main.c'];
    assert.deepEqual(await walk(files, 'build\n'), ['.dockerignore', 'Dockerfile', 'src', 'src/main.c']);
    assert.deepEqual(await walk(files, 'build\n!build/out/keep.txt\n'), ['.dockerignore', 'Dockerfile', 'build/out/keep.txt', 'src', 'src/main.c']);
    assert.deepEqual(await walk(files, '**/*.txt\n!build/log.txt\n.dockerignore\nDockerfile\n'), ['build', 'build/log.txt', 'build/out', 'build/out/app.bin', 'src', 'src/main.c']);
  });
  test('an excluded directory is walked only when an exception could bring something in it back', async () => {
    const files = ['node_modules/a/index.js', 'node_modules/a/README.md', 'docs/guide.md', 'docs/img.png'];
    assert.deepEqual(await walk(files, 'node_modules\ndocs\n!docs/*.md\n'), ['.dockerignore', 'Dockerfile', 'docs/guide.md']);
    assert.deepEqual(await walk(files, '*/*\n!**/README.md\n'), ['.dockerignore', 'Dockerfile', 'docs', 'node_modules', 'node_modules/a/README.md']);
  });
  test('COPY . sees a file an exception re-included with its parent directories (0755, as Docker unpacks them)', async () => {
    const context = await BuildContext.open({ spec: contextWith(['build/out/keep.txt', 'build/out/app.bin'], 'build\n!build/out/keep.txt\n') }, cache);
    try {
      const [source] = selectSources(listedTree(context.dir, context.entries()), ['.'], 'COPY');
      assert.deepEqual(
        source!.files.map((f) => `${f.rel} ${(Number(f.stat.mode) & 0o7777).toString(8)}${f.stat.isDirectory() ? '/' : ''}`),
        ['.dockerignore 644', 'Dockerfile 644', 'build 755/', 'build/out 755/', 'build/out/keep.txt 644'],
      );
    } finally {
      context.close();
    }
  });
  test('a bad pattern fails opening the context, naming it', async () => {
    await assert.rejects(() => walk(['a'], '# first\n*.txt\nsrc/[ab\n'), { message: 'error checking context: .dockerignore, line 3: syntax error in pattern "src/[ab"' });
  });
});
