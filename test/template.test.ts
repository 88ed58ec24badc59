/** Go's text/template as `--format` runs it: table-driven cases of output and of errors, in Go's and Docker's words. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatRows, parseFormat, renderInspect, renderTemplate } from '../src/cli/format.js';
import { sprintf, withGoType } from '../src/cli/gofmt.js';
import { maxNesting, parseTemplate } from '../src/cli/template.js';

const data = {
  ID: 'abc123',
  Name: 'web',
  N: 3,
  Zero: 0,
  F: 1.5,
  T: true,
  Empty: '',
  Nil: null,
  List: ['a', 'b', 'c'],
  Nums: [3, 1, 2],
  None: [] as string[],
  Labels: { b: '2', a: '1', 'com.example.x': 'y' },
  Nested: { Inner: { Deep: 'down' }, List: [{ K: 'v1' }, { K: 'v2' }] },
  Words: 'hello wide_world 3rd-try',
  Uni: 'héllo',
};

/** `[template, want]`, rendered on `data` with Docker's functions. */
const cases: [string, string][] = [
  // fields, dot, maps, printing as fmt's %v
  ['{{.ID}}', 'abc123'],
  ['{{.}}', 'map[Empty: F:1.5 ID:abc123 Labels:map[a:1 b:2 com.example.x:y] List:[a b c] N:3 Name:web Nested:map[Inner:map[Deep:down] List:[map[K:v1] map[K:v2]]] Nil:<nil> None:[] Nums:[3 1 2] T:true Uni:héllo Words:hello wide_world 3rd-try Zero:0]'],
  ['{{.Nested.Inner.Deep}}', 'down'],
  ['{{.Labels}}', 'map[a:1 b:2 com.example.x:y]'],
  ['{{.List}} {{.Nums}} {{.None}}', '[a b c] [3 1 2] []'],
  ['{{.Missing}}', '<no value>'],
  ['{{.Missing.Deeper}}', '<no value>'],
  ['{{.Nil}}', '<no value>'],
  ['{{.N}} {{.F}} {{.T}} {{.Zero}}', '3 1.5 true 0'],
  ['{{.Labels.a}}', '1'],
  ['text only', 'text only'],
  ['', ''],
  ['{{.ID}}\\t{{.Name}}\\n', 'abc123\tweb\n'],
  // pipelines and parentheses
  ['{{.Name | upper}}', 'WEB'],
  ['{{.Name | upper | lower}}', 'web'],
  ['{{"x" | printf "%s-%s" .Name}}', 'web-x'],
  ['{{(.Nested).Inner.Deep}}', 'down'],
  ['{{(index .Nested.List 1).K}}', 'v2'],
  ['{{len (split .ID "1")}}', '2'],
  // variables
  ['{{$x := .Name}}{{$x}}', 'web'],
  ['{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', '2'],
  ['{{$}}', 'map[Empty: F:1.5 ID:abc123 Labels:map[a:1 b:2 com.example.x:y] List:[a b c] N:3 Name:web Nested:map[Inner:map[Deep:down] List:[map[K:v1] map[K:v2]]] Nil:<nil> None:[] Nums:[3 1 2] T:true Uni:héllo Words:hello wide_world 3rd-try Zero:0]'],
  ['{{with .Nested}}{{$.Name}}:{{.Inner.Deep}}{{end}}', 'web:down'],
  ['{{$l := .Labels}}{{$l.a}}', '1'],
  // range
  ['{{range .List}}[{{.}}]{{end}}', '[a][b][c]'],
  ['{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}', '0=a 1=b 2=c '],
  ['{{range $e := .List}}{{$e}}{{end}}', 'abc'],
  ['{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}', 'a=1;b=2;com.example.x=y;'],
  ['{{range .None}}x{{else}}none{{end}}', 'none'],
  ['{{range .Missing}}x{{else}}missing{{end}}', 'missing'],
  ['{{range 3}}{{.}}{{end}}', '012'],
  ['{{range $i := 2}}{{$i}}{{end}}', '01'],
  ['{{range .List}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', 'ac'],
  ['{{range .List}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', 'a'],
  ['{{range .Nested.List}}{{.K}},{{end}}', 'v1,v2,'],
  // if, else if, with
  ['{{if .T}}yes{{end}}', 'yes'],
  ['{{if .Empty}}yes{{else}}no{{end}}', 'no'],
  ['{{if eq .N 1}}one{{else if eq .N 3}}three{{else}}other{{end}}', 'three'],
  ['{{if .None}}a{{else if .Labels}}b{{end}}', 'b'],
  ['{{if and .T .Zero}}a{{else}}b{{end}}', 'b'],
  ['{{with .Name}}[{{.}}]{{end}}', '[web]'],
  ['{{with .Empty}}x{{else}}empty{{end}}', 'empty'],
  ['{{with .Empty}}x{{else with .Name}}{{.}}{{end}}', 'web'],
  ['{{with $x := .N}}{{$x}}{{end}}', '3'],
  // built-ins
  ['{{len .List}} {{len .Labels}} {{len .ID}} {{len .Uni}}', '3 3 6 6'],
  ['{{index .List 1}} {{index .Labels "b"}} {{index .Nested "Inner" "Deep"}}', 'b 2 down'],
  ['{{index .Labels "nope"}}', '<no value>'],
  ['{{index .ID 0}}', '97'],
  ['{{slice .ID 1 3}} {{slice .List 1}} {{slice .List 0 1}}', 'bc [b c] [a]'],
  ['{{not .T}} {{not .Empty}} {{not .Nil}}', 'false true true'],
  ['{{and 1 0 2}} {{and 1 2}} {{or 0 "" "x"}} {{or 0 ""}}', '0 2 x '],
  ['{{or .Missing "default"}}', 'default'],
  ['{{and .Nil .Missing.Foo}}', '<no value>'],
  ['{{eq .N 3}} {{eq .Name "x" "web"}} {{ne .N 3}} {{eq .Nil .Missing}}', 'true true false true'],
  ['{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}} {{lt .F 2.5}}', 'true true true false true'],
  ['{{print 1 2 "a" "b" 3}}', '1 2ab3'],
  ['{{print .List .N}}', '[a b c] 3'],
  ['{{println .Name .N}}', 'web 3\n'],
  ['{{html "<a href=\'x\'>&</a>"}}', '&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;'],
  ['{{js "it\'s <b> \\"q\\" = \\\\"}}', "it\\'s \\u003Cb\\u003E \\\"q\\\" \\u003D \\\\"],
  ['{{urlquery "a b&c=d/é"}}', 'a+b%26c%3Dd%2F%C3%A9'],
  // printf
  ['{{printf "%s|%5s|%-5s|%.2s" .Name .Name .Name .Name}}', 'web|  web|web  |we'],
  ['{{printf "%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c|%U|%q" .N .N .N .N .N 255 255 8 5 65 65 65}}', "3|    3|3    |00003|+3|ff|FF|10|101|A|U+0041|'A'"],
  ['{{printf "%v %v %v %v" .List .Labels .T .Nil}}', '[a b c] map[a:1 b:2 com.example.x:y] true <nil>'],
  ['{{printf "%q %q" .Name .List}}', '"web" ["a" "b" "c"]'],
  ['{{printf "%.2f %f %e %g %g" .F 2.5 1234.5678 0.00001 100000.0}}', '1.50 2.500000 1.234568e+03 1e-05 100000'],
  ['{{printf "%6.2f|%-8.3f|" 3.14159 2.0}}', '  3.14|2.000   |'],
  ['{{printf "%-10s|%10s|" .ID .ID}}', 'abc123    |    abc123|'],
  ['{{printf "%d%%" 50}}', '50%'],
  ['{{printf "%d" .Name}}', '%!d(string=web)'],
  ['{{printf "%s %s" .Name}}', 'web %!s(MISSING)'],
  ['{{printf "%s" .Name .N}}', 'web%!(EXTRA int=3)'],
  ['{{printf "%T %T %T %T" .N .F .List .Labels}}', 'int float64 []interface {} map[string]interface {}'],
  ['{{printf "%*d|%-*d|" 4 7 3 8}}', '   7|8  |'],
  // literals
  ['{{1}} {{-2}} {{1.5}} {{1e3}} {{0x1F}} {{0o17}} {{0b101}} {{017}} {{1_000}} {{\'a\'}} {{\'\\x41\'}}', '1 -2 1.5 1000 31 15 5 15 1000 97 65'],
  // The \t and \n escapes are replaced before parsing, as Docker does, even in literals.
  ['{{"a\\tb\\u00e9\\x41"}} {{`raw\\n`}} {{`\\q`}} {{true}} {{false}}', 'a\tbéA raw\n \\q true false'],
  ['{{printf "%v" 3.0}} {{2.50}}', '3 2.5'],
  // trim markers and comments
  ['a  {{- .Name -}}  b', 'awebb'],
  ['a\n\t{{- .Name}}\n', 'aweb\n'],
  ['{{.Name -}}\n\n  x', 'webx'],
  ['{{- 3 }}', '3'],
  ['{{/* a comment */}}x', 'x'],
  ['a {{- /* trimmed */ -}} b', 'ab'],
  ['{{/* multi\nline */}}x', 'x'],
  // define, template, block
  ['{{define "T"}}<{{.}}>{{end}}{{template "T" .Name}}{{template "T" "x"}}', '<web><x>'],
  ['{{block "B" .N}}[{{.}}]{{end}}', '[3]'],
  ['{{define "T"}}{{.}}{{end}}{{template "T"}}', '<no value>'],
  // Docker's functions
  ['{{json .List}} {{json .Labels}} {{json .Name}} {{json .N}} {{json .Nil}} {{json .Missing}}', '["a","b","c"] {"a":"1","b":"2","com.example.x":"y"} "web" 3 null null'],
  ['{{json "<&>"}}', '"<&>"'],
  ['{{join .List ","}} {{join .None ","}}|', 'a,b,c |'],
  ['{{split "a:b::c" ":"}} {{len (split "" ",")}} {{split "ab" ""}}', '[a b  c] 1 [a b]'],
  ['{{join (split .ID "1") "-"}}', 'abc-23'],
  ['{{upper .Name}} {{lower "MiXeD"}} {{title .Words}}', 'WEB mixed Hello Wide_world 3rd-Try'],
  ['{{truncate .ID 3}}|{{truncate .ID 30}}|{{truncate .ID 0}}|', 'abc|abc123||'],
  ['{{pad .Name 2 1}}|{{pad .Empty 2 2}}|', '  web ||'],
  ['{{4 | truncate .ID}}', 'abc1'],
];

describe('templates render as Go text/template does', () => {
  for (const [template, want] of cases) test(JSON.stringify(template), () => assert.equal(renderTemplate(template, data), want));
});

/** `[template, error]`: parse errors and execution errors, the whole message. */
const errors: [string, string][] = [
  ['{{.ID', 'template parsing error: template: :1: unclosed action'],
  ['line1\n{{.ID', 'template parsing error: template: :2: unclosed action'],
  ['{{.ID\n\n', 'template parsing error: template: :3: unclosed action started at :1'],
  ['{{.ID}', "template parsing error: template: :1: bad character U+007D '}'"],
  ['{{', 'template parsing error: template: :1: unclosed action'],
  ['{{}}', 'template parsing error: template: :1: missing value for command'],
  ['{{/* x', 'template parsing error: template: :1: unclosed comment'],
  ['{{/* x */ .ID}}', 'template parsing error: template: :1: comment ends before closing delimiter'],
  ['{{nosuch .ID}}', 'template parsing error: template: :1: function "nosuch" not defined'],
  ['{{$x}}', 'template parsing error: template: :1: undefined variable "$x"'],
  ['{{if .T}}{{$x := 1}}{{end}}{{$x}}', 'template parsing error: template: :1: undefined variable "$x"'],
  ['{{end}}', 'template parsing error: template: :1: unexpected {{end}}'],
  ['{{else}}', 'template parsing error: template: :1: unexpected {{else}}'],
  ['{{if .T}}x', 'template parsing error: template: :1: unexpected EOF'],
  ['{{if}}x{{end}}', 'template parsing error: template: :1: missing value for if'],
  ['{{range .List}}{{else}}{{else}}{{end}}', 'template parsing error: template: :1: expected end; found {{else}}'],
  ['{{break}}', 'template parsing error: template: :1: {{break}} outside {{range}}'],
  ['{{.ID | "x"}}', 'template parsing error: template: :1: non executable command in pipeline stage 2'],
  ['{{"abc}}', 'template parsing error: template: :1: unterminated quoted string'],
  ['{{"\\q"}}', 'template parsing error: template: :1: invalid syntax'],
  ['{{3x}}', 'template parsing error: template: :1: bad number syntax: "3x"'],
  ['{{.ID )}}', 'template parsing error: template: :1: unexpected right paren'],
  ['{{(.ID}}', 'template parsing error: template: :1: unclosed left paren'],
  ['{{"a".ID}}', 'template parsing error: template: :1: unexpected . after term "\\"a\\""'],
  ['{{.ID %}}', 'template parsing error: template: :1: unexpected "%" in operand'],
  ['{{range $a, $b, $c := .List}}{{end}}', 'template parsing error: template: :1: too many declarations in range'],
  ['{{define "x"}}a{{end}}{{define "x"}}b{{end}}', 'template parsing error: template: :1: template: multiple definition of template "x"'],
  // execution
  ['{{.ID.Foo}}', 'template parsing error: template: :1:5: executing "" at <.ID.Foo>: can\'t evaluate field Foo in type string'],
  ['{{.List.Foo}}', 'template parsing error: template: :1:7: executing "" at <.List.Foo>: can\'t evaluate field Foo in type []interface {}'],
  ['{{.Nil.Foo}}', 'template parsing error: template: :1:6: executing "" at <.Nil.Foo>: nil pointer evaluating interface {}.Foo'],
  ['{{.Labels.a "x"}}', 'template parsing error: template: :1:9: executing "" at <.Labels.a>: a is not a method but has arguments'],
  ['{{upper .N}}', 'template parsing error: template: :1:8: executing "" at <.N>: wrong type for value; expected string; got int'],
  ['{{upper 3}}', 'template parsing error: template: :1:8: executing "" at <3>: expected string; found 3'],
  ['{{truncate .ID "x"}}', 'template parsing error: template: :1:15: executing "" at <"x">: expected integer; found "x"'],
  ['{{upper .Missing}}', 'template parsing error: template: :1:8: executing "" at <.Missing>: invalid value; expected string'],
  ['{{join .Nums ","}}', 'template parsing error: template: :1:7: executing "" at <.Nums>: wrong type for value; expected []string; got []interface {}'],
  ['{{join .List}}', 'template parsing error: template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1'],
  ['{{eq}}', 'template parsing error: template: :1:2: executing "" at <eq>: wrong number of args for eq: want at least 1 got 0'],
  ['{{eq .N}}', 'template parsing error: template: :1:2: executing "" at <eq .N>: error calling eq: missing argument for comparison'],
  ['{{eq .Name 1}}', 'template parsing error: template: :1:2: executing "" at <eq .Name 1>: error calling eq: incompatible types for comparison: string and int'],
  ['{{eq .List .List}}', 'template parsing error: template: :1:2: executing "" at <eq .List .List>: error calling eq: non-comparable type [a b c]: []interface {}'],
  ['{{lt .T .T}}', 'template parsing error: template: :1:2: executing "" at <lt .T .T>: error calling lt: invalid type for comparison'],
  ['{{index .List 5}}', 'template parsing error: template: :1:2: executing "" at <index .List 5>: error calling index: index out of range: 5'],
  ['{{index .List "a"}}', 'template parsing error: template: :1:2: executing "" at <index .List "a">: error calling index: cannot index slice/array with type string'],
  ['{{index .N 1}}', 'template parsing error: template: :1:2: executing "" at <index .N 1>: error calling index: can\'t index item of type int'],
  ['{{index .Missing 1}}', 'template parsing error: template: :1:2: executing "" at <index .Missing 1>: error calling index: index of untyped nil'],
  ['{{len .N}}', 'template parsing error: template: :1:2: executing "" at <len .N>: error calling len: len of type int'],
  ['{{slice .List 2 1}}', 'template parsing error: template: :1:2: executing "" at <slice .List 2 1>: error calling slice: invalid slice index: 2 > 1'],
  ['{{range .Name}}{{end}}', 'template parsing error: template: :1:8: executing "" at <.Name>: range can\'t iterate over web'],
  ['{{range $i, $e := 3}}{{end}}', 'template parsing error: template: :1:18: executing "" at <3>: can\'t use 3 to iterate over more than one variable'],
  ['{{template "nope"}}', 'template parsing error: template: :1:11: executing "" at <{{template "nope"}}>: template "nope" not defined'],
  ['{{define "T"}}{{.Foo.Bar}}{{end}}{{template "T" .ID}}', 'template parsing error: template: :1:20: executing "T" at <.Foo.Bar>: can\'t evaluate field Foo in type string'],
  ['{{nil}}', 'template parsing error: template: :1:2: executing "" at <nil>: nil is not a command'],
  ['{{.Name 1}}', 'template parsing error: template: :1:2: executing "" at <.Name>: Name is not a method but has arguments'],
  ['{{pad .Name -1 0}}', 'template parsing error: template: :1:2: executing "" at <pad .Name -1 0>: error calling pad: strings: negative Repeat count'],
  ['line1\n  {{.ID.X}}', 'template parsing error: template: :2:7: executing "" at <.ID.X>: can\'t evaluate field X in type string'],
];

describe('template errors are Go’s, one line', () => {
  for (const [template, want] of errors) {
    test(JSON.stringify(template), () => {
      assert.throws(
        () => renderTemplate(template, data),
        (error: Error) => {
          assert.equal(error.message, want);
          assert.equal((error as { code?: string }).code, 'invalid-argument');
          return true;
        },
      );
    });
  }
});

describe('structs, as Docker’s rows are', () => {
  const row = withGoType({ ID: 'abc', Size: '1MB', Label: (name: string) => `label:${name}` }, '*formatter.imageContext');
  const cases: [string, string][] = [
    ['{{.ID}} {{.Size}}', 'abc 1MB'],
    ['{{.Label "x"}} {{"y" | .Label}}', 'label:x label:y'],
  ];
  for (const [template, want] of cases) test(template, () => assert.equal(renderTemplate(template, row), want));

  test('an unknown field is an error naming the type', () => {
    assert.throws(() => renderTemplate('{{.Foo}}', row), { message: 'template parsing error: template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.imageContext' });
  });
  test('a field given arguments is an error', () => {
    assert.throws(() => renderTemplate('{{.ID "x"}}', row), /ID has arguments but cannot be invoked as function/);
  });
  test('a struct cannot be indexed, ranged or measured', () => {
    assert.throws(() => renderTemplate('{{index . "ID"}}', row), /can't index item of type \*formatter\.imageContext/);
    assert.throws(() => renderTemplate('{{len .}}', row), /len of type \*formatter\.imageContext/);
    assert.throws(() => renderTemplate('{{range .}}{{end}}', row), /range can't iterate over/);
  });
  test('missingkey=error for maps', () => {
    const template = parseTemplate('{{.a}}{{.b}}');
    assert.equal(template.execute({ a: 1, b: 2 }, { missingKey: 'error' }), '12');
    assert.throws(() => template.execute({ a: 1 }, { missingKey: 'error' }), { message: 'template: :1:8: executing "" at <.b>: map has no entry for key "b"' });
    assert.throws(() => parseTemplate('{{.a.b}}').execute({}, { missingKey: 'error' }), /map has no entry for key "a"/);
  });
});

describe('formatRows', () => {
  const rows = [
    { Repository: 'busybox', Tag: 'latest', ID: '0123456789ab' },
    { Repository: 'alpine', Tag: '3', ID: 'ba9876543210' },
  ];
  const columns = [
    { header: 'REPOSITORY', field: 'Repository' },
    { header: 'TAG', field: 'Tag' },
    { header: 'IMAGE ID', field: 'ID' },
  ];
  const type = '*formatter.imageContext';
  test('a table template: headers through the header functions (json, upper, join... keep the header)', () => {
    assert.equal(formatRows(rows, columns, 'table {{.Repository | upper}}\\t{{json .Tag}}\\t{{truncate .ID 4}}', { type }), 'REPOSITORY   TAG        IMAGE ID\nBUSYBOX      "latest"   0123\nALPINE       "3"        ba98');
  });
  test('a header for a field no column has is its key, upper-cased', () => {
    assert.equal(formatRows([{ A: 'x', CreatedAt: 'y' }], [{ header: 'AA', field: 'A' }], 'table {{.A}}\\t{{.CreatedAt}}'), 'AA        CREATEDAT\nx         y');
  });
  test('a plain template: one line per row, Go functions and all', () => {
    assert.equal(formatRows(rows, columns, '{{printf "%-8s" .Repository}}|{{if eq .Tag "latest"}}*{{end}}', { type }), 'busybox |*\nalpine  |');
  });
  test('an unknown field fails before anything is printed', () => {
    assert.throws(() => formatRows(rows, columns, '{{.Repository}} {{.Foo}}', { type }), {
      message: 'template parsing error: template: :1:18: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.imageContext',
    });
  });
  test('a template that does not parse fails even with no rows', () => {
    assert.throws(() => formatRows([], columns, '{{.ID', { type }), { message: 'template parsing error: template: :1: unclosed action' });
    assert.throws(() => formatRows([], columns, 'table {{upper}', { type }), /template parsing error: template: :1: bad character/);
  });
  test('json and the default table are unchanged', () => {
    assert.equal(formatRows(rows.slice(0, 1), columns, 'json'), '{"Repository":"busybox","Tag":"latest","ID":"0123456789ab"}');
    assert.equal(formatRows(rows.slice(0, 1), columns), 'REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab');
  });
});

describe('inspect templates, as docker inspect runs them', () => {
  const image = { Id: 'sha256:abc', RepoTags: ['x:1'], Config: { Env: ['A=1'], Cmd: ['sh'] }, Os: 'linux', Variant: undefined, RootFS: { Type: 'layers', Layers: ['sha256:1'] } };
  const render = (template: string) => renderInspect(parseFormat(template), image, 'image');
  const cases: [string, string][] = [
    ['{{.Id}} {{.Os}}', 'sha256:abc linux'],
    ['{{.Config.User}}|{{.Config.WorkingDir}}|{{.Variant}}|{{.Config.Entrypoint}}', '|||[]'],
    ['{{.Config.Labels.x}}|{{index .Config.Labels "x"}}|', '<no value>||'],
    ['{{join .Config.Env ","}} {{json .Config.Cmd}}', 'A=1 ["sh"]'],
    ['{{index . "Id"}}', 'sha256:abc'],
    ['{{json .Config}}', '{"Env":["A=1"],"Cmd":["sh"]}'],
    ['{{range .RootFS.Layers}}{{.}}{{end}}', 'sha256:1'],
  ];
  for (const [template, want] of cases) test(template, () => assert.equal(render(template), want));
  test('a container: its struct fields exist, a nil pointer is a missing key of the raw JSON', () => {
    const container = { Id: 'c1', State: { Status: 'running', Running: true }, Config: { Labels: { a: 'b' } }, HostConfig: {}, Mounts: [{ Source: '/s', Destination: '/d' }] };
    const run = (template: string) => renderInspect(parseFormat(template), container, 'container');
    assert.equal(run('{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}} {{.HostConfig.Privileged}} {{.Config.Labels.a}} {{.RestartCount}}'), 'running false 0 false b 0');
    assert.equal(run('{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}}:{{.Mode}}|{{end}}'), '/s:/d:false:|');
    assert.throws(() => run('{{.State.Health.Status}}'), { message: 'template parsing error: template: :1:8: executing "" at <.State.Health.Status>: map has no entry for key "Health"' });
  });
  test('an unknown field is a missing key of the raw JSON', () => {
    assert.throws(() => render('{{.Foo}}'), { message: 'template parsing error: template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo"' });
    assert.throws(() => render('{{.Config.Foo}}'), { message: 'template parsing error: template: :1:9: executing "" at <.Config.Foo>: map has no entry for key "Foo"' });
  });
});

describe('deep templates fail with a short error', () => {
  const deep = 2000;
  test('nested blocks', () => {
    const template = `${'{{if 1}}'.repeat(deep)}x${'{{end}}'.repeat(deep)}`;
    assert.throws(() => parseFormat(template), { message: `template parsing error: template: :1: blocks and parentheses nested too deeply (more than ${maxNesting} levels)` });
  });
  test('nested parentheses', () => {
    assert.throws(() => parseFormat(`{{${'('.repeat(deep)}1${')'.repeat(deep)}}}`), /nested too deeply \(more than 100 levels\)/);
  });
  test('nested ranges and withs', () => {
    assert.throws(() => parseFormat(`${'{{range .}}{{with .}}'.repeat(deep)}${'{{end}}{{end}}'.repeat(deep)}`), /nested too deeply/);
  });
  test('up to the limit is fine', () => {
    const template = `${'{{with .}}'.repeat(maxNesting)}{{.}}${'{{end}}'.repeat(maxNesting)}`;
    assert.equal(renderTemplate(template, 'ok'), 'ok');
  });
  test('a template that calls itself', () => {
    assert.throws(() => renderTemplate('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}', 1), /exceeded maximum template depth \(100\)/);
  });
  test('a long template is fine, and its error context is cut short', () => {
    assert.equal(renderTemplate('{{.ID}}'.repeat(20_000), data).length, 6 * 20_000);
    const long = `{{printf "%s" ${'.ID '.repeat(100)}| nosuchfield}}`;
    assert.throws(() => renderTemplate(long, data), /function "nosuchfield" not defined/);
    const error = (() => {
      try {
        renderTemplate(`{{eq 1 ${'.ID '.repeat(100)}}}`, data);
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assert.ok(error && error.length < 250, error);
    assert.match(error!, /\.\.\.>: error calling eq: incompatible types for comparison: int and string$/);
  });
});

describe('fmt', () => {
  const cases: [string, unknown[], string][] = [
    ['%.1f %.1f %.0f %.0f', [2.25, 2.35, 0.5, 1.5], '2.2 2.4 0 2'],
    ['%8.3f|%-8.2e|', [-1.23456, 1234.5], '  -1.235|1.23e+03|'],
    ['%v %v %v', [1e21, 1e-7, 123456789.5], '1e+21 1e-07 1.234567895e+08'],
    ['%x %X % x %#x', ['hi', 'hi', 'hi', 255], '6869 6869 68 69 0xff'],
    ['%q %+q %#q', ['a\n"\u0000', 'é', 'raw'], '"a\\n\\"\\x00" "\\u00e9" `raw`'],
    ['%5t|%-5v|', [true, false], ' true|false|'],
    ['%d %s', [null, null], '%!d(<nil>) %!s(<nil>)'],
    ['%!', [], '%!!(MISSING)'],
    ['%', [], '%!(NOVERB)'],
    ['%z', [1], '%!z(int=1)'],
  ];
  for (const [format, args, want] of cases) test(format, () => assert.equal(sprintf(format, args), want));
});
