/** The Dockerfile shell-word lexer: BuildKit's substitution and quoting rules, table-driven. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lex, maxExpansionDepth, processWord, processWords, ShellLexError } from '../src/builder/dockerfile/shell-lex.js';

const env = new Map([
  ['PWD', '/home'],
  ['SHELL', 'bash'],
  ['KOREAN', '한국어'],
  ['NULL', ''],
]);

describe('processWord', () => {
  // [input, expected] — `null` means an error.
  const cases: [string, string | null][] = [
    ['hello', 'hello'],
    ["he'll'o", 'hello'],
    ["he'llo", null],
    ["he\\'llo", "he'llo"],
    ["he\\\\'llo", null],
    ['abc\\tdef', 'abctdef'],
    ['"abc\\tdef"', 'abc\\tdef'],
    ['"abc\\\\tdef"', 'abc\\tdef'],
    ["'abc\\tdef'", 'abc\\tdef'],
    ['hello\\', 'hello'],
    ['hello\\\\', 'hello\\'],
    ['"hello', null],
    ['"hello\\"', null],
    ['"hel\'lo"', "hel'lo"],
    ["'hello", null],
    ["'hello\\'", 'hello\\'],
    ['"\'\'"', "''"],
    ['$.', '$.'],
    ['he$1x', 'hex'],
    ['he$pwd.', 'he.'],
    ['he$PWD', 'he/home'],
    ['he\\$PWD', 'he$PWD'],
    ['he\\\\$PWD', 'he\\/home'],
    ['"he\\$PWD"', 'he$PWD'],
    ['"he\\\\$PWD"', 'he\\/home'],
    ['\\${}', '${}'],
    ['${}', null],
    ['he${}xx', null],
    ['he${hi}xx', 'hexx'],
    ['he${PWD}', 'he/home'],
    ['he${.}', null],
    // ${VAR:-x} and ${VAR-x}: default when unset (or, with the colon, empty)
    ['he${XXX:-000}xx', 'he000xx'],
    ['he${PWD:-000}xx', 'he/homexx'],
    ['he${XXX:-$PWD}xx', 'he/homexx'],
    ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
    ['${NULL:-x}', 'x'],
    ['${NULL-x}', ''],
    ['${XXX-x}', 'x'],
    // ${VAR:+x} and ${VAR+x}: the word when set (and, with the colon, not empty)
    ['he${XXX:+000}xx', 'hexx'],
    ['he${PWD:+000}xx', 'he000xx'],
    ['he${PWD:+${SHELL}}xx', 'hebashxx'],
    ['${NULL:+x}', ''],
    ['${NULL+x}', 'x'],
    ['${XXX+x}', ''],
    // ${VAR?} / ${VAR:?}
    ['he${XXX?}', null],
    ['he${PWD:?}', 'he/home'],
    ['he${NULL?}', 'he'],
    ['he${NULL:?}', null],
    ['he${XXX:YYY}', null],
    ['he${PWD:=000}xx', null],
    ["'he${XX}'", 'he${XX}'],
    ['"he${PWD}"', 'he/home'],
    ['"he\'$PWD\'"', "he'/home'"],
    ["'$PWD'", '$PWD'],
    ["'\"hello\"'", '"hello"'],
    ['he${PWD', null],
    ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
    ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
    ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
    ['안녕$KOREAN', '안녕한국어'],
    ["안'녕'하세요", '안녕하세요'],
    ['${aaa}}', '}'],
    ['${aaa:-bbb}}', 'bbb}'],
    ['${aaa:-bbb ${foo}', null],
    ['${aaa:-bbb {foo}', 'bbb {foo'],
    ['${:-bbb}', null],
    ['${{aaa}', null],
    ['$999aaa', 'aaa'],
    ['${1:-bbb}', 'bbb'],
    ['$@aaa', 'aaa'],
    ['${#:-bbb}', 'bbb'],
    // pattern modifiers
    ['${PWD#/}', 'home'],
    ['${PWD%me}', '/ho'],
    ['${PWD/o/0}', '/h0me'],
  ];
  for (const [input, want] of cases) {
    test(`${input} -> ${want ?? 'error'}`, () => {
      if (want === null) assert.throws(() => processWord(input, env), ShellLexError);
      else assert.equal(processWord(input, env), want);
    });
  }

  test('with ` as the escape token', () => {
    assert.equal(processWord('C:\\path`$PWD', env, { escapeToken: '`' }), 'C:\\path$PWD');
    assert.equal(processWord('"a`"b"', env, { escapeToken: '`' }), 'a"b');
  });

  test('error messages name the word', () => {
    assert.throws(() => processWord("it's", env), { message: `failed to process "it's": unexpected end of statement while looking for matching single-quote` });
    assert.throws(() => processWord('${A', env), { message: `failed to process "\${A": syntax error: missing '}'` });
    assert.throws(() => processWord('${}', env), { message: `failed to process "\${}": syntax error: bad substitution` });
    assert.throws(() => processWord('${X:?must be set}', env), { message: `failed to process "\${X:?must be set}": X: must be set` });
  });

  test('deep nesting fails with a short error saying so, not a stack overflow', () => {
    const nest = (depth: number, open: (inner: string) => string, core = 'x') => {
      let word = core;
      for (let i = 0; i < depth; i++) word = open(word);
      return word;
    };
    const tooDeep = /^failed to process "\$\{A:-\$\{A:-.{60,}"\.\.\. \(\d+ characters\): variable expansion nested too deeply \(more than 100 levels\)$/;
    const forms: [string, (inner: string) => string][] = [
      ['${A:-...}', (inner) => `\${A:-${inner}}`],
      ['"${A:-"..."}"', (inner) => `\${A:-"${inner}"}`],
      ['${A+...}', (inner) => `\${PWD+${inner}}`],
      ['${A/.../...}', (inner) => `\${PWD/${inner}/y}`],
      ['${A#...}', (inner) => `\${PWD#${inner}}`],
    ];
    for (const [name, open] of forms) {
      assert.throws(() => processWord(nest(2000, open), env), (error: Error) => {
        assert.ok(error instanceof ShellLexError, name);
        assert.match(error.message, name === '${A:-...}' ? tooDeep : /: variable expansion nested too deeply \(more than 100 levels\)$/, name);
        assert.ok(error.message.length < 200, `${name}: ${error.message.length} characters`);
        return true;
      });
    }
    assert.equal(processWord(nest(maxExpansionDepth, (inner) => `\${A:-${inner}}`), env), 'x');
    assert.throws(() => processWord(nest(maxExpansionDepth + 1, (inner) => `\${A:-${inner}}`), env), /nested too deeply/);
    // Long but flat is fine.
    assert.equal(processWord('${PWD}'.repeat(20_000), env), '/home'.repeat(20_000));
  });

  test('pattern modifiers: shortest and longest prefix and suffix, replacement of the first and of every match', () => {
    const patternEnv = new Map([
      ['P', 'a/b/c.tar.gz'],
      ['S', 'xaxbxa'],
      ['E', ''],
    ]);
    const rows: [string, string][] = [
      ['${P#*/}', 'b/c.tar.gz'],
      ['${P##*/}', 'c.tar.gz'],
      ['${P%.*}', 'a/b/c.tar'],
      ['${P%%.*}', 'a/b/c'],
      ['${P#?}', '/b/c.tar.gz'],
      ['${P#nomatch}', 'a/b/c.tar.gz'],
      ['${P%**gz}', 'a/b/c.tar.'],
      ['${P%%*gz}', ''],
      ['${P/\\//-}', 'a-b/c.tar.gz'],
      ['${P//\\//-}', 'a-b-c.tar.gz'],
      ['${S//x?/Y}', 'YYY'],
      ['${S/x*x/-}', '-a'],
      ['${S//a/}', 'xxbx'],
      ['${E#*}', ''],
      ['${S#}', 'xaxbxa'],
    ];
    for (const [input, want] of rows) assert.equal(processWord(input, patternEnv), want, input);
  });

  test('a pattern with many stars over a long value takes linear time, not a backtracking explosion', () => {
    const long = new Map([['V', 'a'.repeat(20_000)]]);
    const stars = `${'*a'.repeat(30)}*b`;
    assert.equal(processWord(`\${V#${stars}}`, long), 'a'.repeat(20_000));
    assert.equal(processWord(`\${V%%${stars}}`, long), 'a'.repeat(20_000));
    assert.equal(processWord(`\${V//${stars}/x}`, new Map([['V', 'a'.repeat(2_000)]])), 'a'.repeat(2_000));
  });

  test('skipUnsetEnv and rawQuotes keep what they do not resolve', () => {
    assert.equal(processWord('$A ${B} ${C:-x} $PWD', env, { skipUnsetEnv: true }), '$A ${B} ${C:-x} /home');
    assert.equal(processWord(`'a' "b"`, env, { rawQuotes: true }), `'a' "b"`);
    assert.equal(processWord(`a\\ b`, env, { rawEscapes: true }), 'a\\ b');
    assert.equal(processWord(`"$PWD" '$PWD'`, env, { skipProcessQuotes: true }), `"/home" '/home'`);
  });

  test('reports matched and unmatched names', () => {
    const result = lex('$PWD ${NOPE:-x} $NULL', env);
    assert.deepEqual([...result.matched].sort(), ['NULL', 'PWD']);
    assert.deepEqual([...result.unmatched], ['NOPE']);
  });
});

describe('processWords', () => {
  const vars = new Map([
    ['hi', 'hi'],
    ['space', 'abc  def'],
    ['leading', '  ab c'],
    ['trailing', 'ab c   '],
  ]);
  const cases: [string, string[] | null][] = [
    ['hello', ['hello']],
    ['hello${hi}bye', ['hellohibye']],
    ['hello${space}bye', ['helloabc', 'defbye']],
    ['hello"${space}"bye', ['helloabc  defbye']],
    ['hello "${space}"bye', ['hello', 'abc  defbye']],
    ['hello${leading}def', ['hello', 'ab', 'cdef']],
    ['hello"${leading}" def', ['hello  ab c', 'def']],
    ['hello${trailing}d', ['helloab', 'c', 'd']],
    ['hel"lo${trailing}"', ['helloab c   ']],
    ['hello there     ', ['hello', 'there']],
    ['hello\\ there', ['hello there']],
    ['hello" there', null],
    ['hello\\" there', ['hello"', 'there']],
    ['hello"\\\\there"', ['hello\\there']],
    ["hello'\\\\there'", ['hello\\\\there']],
    ["hello'$there'", ['hello$there']],
    ['80 443/tcp', ['80', '443/tcp']],
  ];
  for (const [input, want] of cases) {
    test(`${input} -> ${want ? JSON.stringify(want) : 'error'}`, () => {
      if (want === null) assert.throws(() => processWords(input, vars), ShellLexError);
      else assert.deepEqual(processWords(input, vars), want);
    });
  }
});
