/** The Dockerfile frontend: AST, typed instructions, stage selection, expansion and the --check JSON, table-driven. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DockerfileError,
  expandBuild,
  type Instruction,
  parseAst,
  parseDockerfile,
  stagesForTarget,
  toJson,
} from '../src/builder/dockerfile/index.js';

const lines = (...text: string[]) => `${text.join('\n')}\n`;
const only = (text: string) => {
  const parsed = parseDockerfile(lines('FROM busybox', text));
  assert.equal(parsed.stages[0]!.instructions.length, 1);
  return parsed.stages[0]!.instructions[0]!;
};
/** The instruction without its node, for deepEqual. */
const strip = (inst: Instruction) => {
  const { node: _node, ...rest } = inst;
  return rest;
};

describe('AST', () => {
  const cases: [string, string, { keyword: string; flags?: string[]; args: string[]; json?: boolean; startLine: number; endLine: number }[]][] = [
    ['plain', lines('FROM busybox', 'RUN echo hi'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'RUN', args: ['echo hi'], startLine: 2, endLine: 2 },
    ]],
    ['lower-case keywords stay as written', lines('from busybox', 'run ["echo","hi"]'), [
      { keyword: 'from', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'run', args: ['echo', 'hi'], json: true, startLine: 2, endLine: 2 },
    ]],
    ['continuations with comments and empty lines inside', lines('FROM busybox', 'RUN echo a \\', '  # a comment', '', '    && echo b \\', '  && echo c', 'CMD x'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'RUN', args: ['echo a     && echo b   && echo c'], startLine: 2, endLine: 6 },
      { keyword: 'CMD', args: ['x'], startLine: 7, endLine: 7 },
    ]],
    ['continuation at end of file', 'FROM busybox\nRUN echo \\', [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'RUN', args: ['echo'], startLine: 2, endLine: 2 },
    ]],
    ['an escaped escape does not continue', lines('FROM busybox', 'RUN echo \\\\', 'CMD x'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'RUN', args: ['echo \\\\'], startLine: 2, endLine: 2 },
      { keyword: 'CMD', args: ['x'], startLine: 3, endLine: 3 },
    ]],
    ['escape=` directive', lines('# escape=`', 'FROM busybox', 'RUN dir C:\\ `', '  /w'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 2, endLine: 2 },
      { keyword: 'RUN', args: ['dir C:\\   /w'], startLine: 3, endLine: 4 },
    ]],
    ['CRLF line endings and a BOM', '\uFEFFFROM busybox\r\nRUN a \\\r\n b\r\n', [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'RUN', args: ['a  b'], startLine: 2, endLine: 3 },
    ]],
    ['flags, quoted flag values and --', lines('FROM --platform=$BUILDPLATFORM busybox AS b', 'COPY --from=b --chown="1:2" --chmod=755 --link a /b', 'RUN -- --not-a-flag'), [
      { keyword: 'FROM', flags: ['--platform=$BUILDPLATFORM'], args: ['busybox', 'AS', 'b'], startLine: 1, endLine: 1 },
      { keyword: 'COPY', flags: ['--from=b', '--chown=1:2', '--chmod=755', '--link'], args: ['a', '/b'], startLine: 2, endLine: 2 },
      { keyword: 'RUN', args: ['--not-a-flag'], startLine: 3, endLine: 3 },
    ]],
    ['ENV and LABEL as key/value/delimiter triples', lines('FROM busybox', 'ENV A=1 B="x y" C=', 'ENV D e f', 'LABEL "k"=v'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'ENV', args: ['A', '1', '=', 'B', '"x y"', '=', 'C', '', '='], startLine: 2, endLine: 2 },
      { keyword: 'ENV', args: ['D', 'e f', ''], startLine: 3, endLine: 3 },
      { keyword: 'LABEL', args: ['"k"', 'v', '='], startLine: 4, endLine: 4 },
    ]],
    ['JSON that is not an array of strings is shell form', lines('FROM busybox', 'CMD [ "a", ', "ENTRYPOINT ['a']", 'CMD {"a": 1}'), [
      { keyword: 'FROM', args: ['busybox'], startLine: 1, endLine: 1 },
      { keyword: 'CMD', args: ['[ "a",'], startLine: 2, endLine: 2 },
      { keyword: 'ENTRYPOINT', args: ["['a']"], startLine: 3, endLine: 3 },
      { keyword: 'CMD', args: ['{"a": 1}'], startLine: 4, endLine: 4 },
    ]],
    ['unknown keywords still make nodes', lines('FORM busybox'), [{ keyword: 'FORM', args: [], startLine: 1, endLine: 1 }]],
  ];
  for (const [name, text, want] of cases) {
    test(name, () => {
      const nodes = parseAst(text).nodes.map((n) => ({ keyword: n.keyword, flags: n.flags, args: n.args, json: n.json, startLine: n.startLine, endLine: n.endLine }));
      assert.deepEqual(nodes, want.map((w) => ({ flags: [], json: false, ...w })));
    });
  }

  test('parser directives', () => {
    const ast = parseAst(lines('# syntax=docker/dockerfile:1', '#   ESCAPE = `', '# check=skip=all', 'FROM busybox'));
    assert.deepEqual(ast.directives, [
      { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
      { name: 'escape', value: '`', line: 2 },
      { name: 'check', value: 'skip=all', line: 3 },
    ]);
    assert.equal(ast.escapeToken, '`');
  });

  test('directives only count at the top', () => {
    for (const text of [lines('# a comment', '# escape=`', 'FROM x'), lines('', '# escape=`', 'FROM x'), lines('FROM x', '# escape=`')]) {
      const ast = parseAst(text);
      assert.equal(ast.escapeToken, '\\');
      assert.deepEqual(ast.directives, []);
    }
  });

  test('an empty continuation line is a warning', () => {
    const ast = parseAst(lines('FROM x', 'RUN a \\', '', ' b'));
    assert.deepEqual(ast.warnings, [{ message: 'Empty continuation line found in: RUN a  b', line: 4 }]);
  });
});

describe('heredocs', () => {
  const heredocsOf = (text: string) => parseAst(text).nodes.at(-1)!;
  const cases: [string, string, { name: string; content: string; expand: boolean; chomp: boolean; fileDescriptor?: number }[], number][] = [
    ['RUN <<EOF', lines('FROM x', 'RUN <<EOF', 'echo $HOME', 'EOF'), [{ name: 'EOF', content: 'echo $HOME\n', expand: true, chomp: false }], 4],
    ['quoted delimiters do not expand', lines('FROM x', `RUN <<"EOF" cat - <<'END'`, 'a', 'EOF', 'b', 'END'), [
      { name: 'EOF', content: 'a\n', expand: false, chomp: false },
      { name: 'END', content: 'b\n', expand: false, chomp: false },
    ], 6],
    ['<<- strips tabs before the delimiter', lines('FROM x', 'RUN <<-EOT', '\tindented', '\tEOT'), [{ name: 'EOT', content: '\tindented\n', expand: true, chomp: true }], 4],
    ['a file descriptor and a space', lines('FROM x', 'RUN 3<< EOF cat /proc/self/fd/3', 'x', 'EOF'), [{ name: 'EOF', content: 'x\n', expand: true, chomp: false, fileDescriptor: 3 }], 4],
    ['several on one COPY line', lines('FROM x', 'COPY <<A <<B /dest/', 'one', 'A', 'two', 'B'), [
      { name: 'A', content: 'one\n', expand: true, chomp: false },
      { name: 'B', content: 'two\n', expand: true, chomp: false },
    ], 6],
    ['empty content', lines('FROM x', 'RUN <<EOF', 'EOF'), [{ name: 'EOF', content: '', expand: true, chomp: false }], 3],
    ['not in exec form', lines('FROM x', 'RUN ["cat", "<<EOF"]'), [], 2],
    ['not for CMD', lines('FROM x', 'CMD cat <<EOF'), [], 2],
    ['<<< is a here-string', lines('FROM x', 'RUN cat <<<word'), [], 2],
  ];
  for (const [name, text, want, endLine] of cases) {
    test(name, () => {
      const node = heredocsOf(text);
      assert.deepEqual(node.heredocs, want.map((w) => ({ fileDescriptor: 0, ...w })));
      assert.equal(node.endLine, endLine);
    });
  }

  test('instructions after a heredoc keep their lines', () => {
    const nodes = parseAst(lines('FROM x', 'RUN <<EOF', 'a', 'EOF', 'CMD b')).nodes;
    assert.deepEqual(nodes.map((n) => [n.keyword, n.startLine, n.endLine]), [['FROM', 1, 1], ['RUN', 2, 4], ['CMD', 5, 5]]);
  });

  test('ONBUILD RUN <<EOF', () => {
    const [json] = toJson(parseDockerfile(lines('FROM x', 'ONBUILD RUN <<EOF', 'hi', 'EOF'))).slice(1);
    assert.deepEqual(json!.heredocs, [{ name: 'EOF', content: 'hi\n', expand: true }]);
  });
});

describe('instructions', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['RUN echo $HOME', { kind: 'RUN', command: ['echo $HOME'], prependShell: true, heredocs: [], mounts: [], network: undefined, security: undefined }],
    ['RUN ["echo", "a b"]', { kind: 'RUN', command: ['echo', 'a b'], prependShell: false, heredocs: [], mounts: [], network: undefined, security: undefined }],
    ['RUN --mount=type=cache,target=/root/.cache --mount=from=build,source=/out,target=/in --network=none make', {
      kind: 'RUN', command: ['make'], prependShell: true, heredocs: [], network: 'none', security: undefined,
      mounts: [{ type: 'cache', fields: { target: '/root/.cache' } }, { type: 'bind', fields: { from: 'build', source: '/out', target: '/in' } }],
    }],
    ['CMD ["sh", "-c", "x"]', { kind: 'CMD', command: ['sh', '-c', 'x'], prependShell: false }],
    ['CMD echo hi', { kind: 'CMD', command: ['echo hi'], prependShell: true }],
    ['ENTRYPOINT ["/bin/app"]', { kind: 'ENTRYPOINT', command: ['/bin/app'], prependShell: false }],
    ['ENTRYPOINT []', { kind: 'ENTRYPOINT', command: [], prependShell: false }],
    ['ENV A=1 B="two words" C=', { kind: 'ENV', env: [{ key: 'A', value: '1' }, { key: 'B', value: '"two words"' }, { key: 'C', value: '' }] }],
    ['ENV LEGACY some value', { kind: 'ENV', env: [{ key: 'LEGACY', value: 'some value' }] }],
    ['ARG A', { kind: 'ARG', args: [{ key: 'A' }] }],
    ['ARG A=1 B', { kind: 'ARG', args: [{ key: 'A', value: '1' }, { key: 'B' }] }],
    ['LABEL a=b "c d"="e f"', { kind: 'LABEL', labels: [{ key: 'a', value: 'b' }, { key: '"c d"', value: '"e f"' }] }],
    ['EXPOSE 80 443/tcp', { kind: 'EXPOSE', ports: ['80', '443/tcp'] }],
    ['WORKDIR /app', { kind: 'WORKDIR', path: '/app' }],
    ['USER app:app', { kind: 'USER', user: 'app:app' }],
    ['VOLUME /a /b', { kind: 'VOLUME', volumes: ['/a', '/b'] }],
    ['VOLUME ["/data"]', { kind: 'VOLUME', volumes: ['/data'] }],
    ['STOPSIGNAL SIGTERM', { kind: 'STOPSIGNAL', signal: 'SIGTERM' }],
    ['MAINTAINER Jane <jane@example.com>', { kind: 'MAINTAINER', maintainer: 'Jane <jane@example.com>' }],
    ['SHELL ["/bin/bash", "-c"]', { kind: 'SHELL', shell: ['/bin/bash', '-c'] }],
    ['ONBUILD RUN make', { kind: 'ONBUILD', expression: 'RUN make' }],
    ['onbuild copy . /src', { kind: 'ONBUILD', expression: 'copy . /src' }],
    ['HEALTHCHECK NONE', { kind: 'HEALTHCHECK', health: { test: ['NONE'] } }],
    ['HEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://x/', {
      kind: 'HEALTHCHECK',
      health: { test: ['CMD-SHELL', 'curl -f http://x/'], interval: 30e9, timeout: 90e9, startPeriod: 500e6, startInterval: 1.5e9, retries: 3 },
    }],
    ['HEALTHCHECK CMD ["/bin/check", "-q"]', { kind: 'HEALTHCHECK', health: { test: ['CMD', '/bin/check', '-q'] } }],
    ['COPY --from=build --chown=1:1 --chmod=644 --link a b /dest/', {
      kind: 'COPY', sources: ['a', 'b'], contents: [], dest: '/dest/', from: 'build', chown: '1:1', chmod: '644', link: true, parents: false, exclude: [],
    }],
    ['COPY ["a b", "/c d/"]', { kind: 'COPY', sources: ['a b'], contents: [], dest: '/c d/', from: undefined, chown: undefined, chmod: undefined, link: false, parents: false, exclude: [] }],
    ['ADD --checksum=sha256:abc --unpack=false https://x/y.tar /y', {
      kind: 'ADD', sources: ['https://x/y.tar'], contents: [], dest: '/y', chown: undefined, chmod: undefined, link: false, exclude: [],
      checksum: 'sha256:abc', keepGitDir: undefined, unpack: false,
    }],
  ];
  for (const [text, want] of cases) {
    test(text, () => assert.deepEqual(strip(only(text)), want));
  }

  test('COPY with heredoc sources', () => {
    const inst = parseDockerfile(lines('FROM x', 'COPY <<one <<-"two" /dest/', 'a $X', 'one', '\tb $X', '\ttwo')).stages[0]!.instructions[0]!;
    assert.equal(inst.kind, 'COPY');
    assert.deepEqual(inst.kind === 'COPY' && inst.contents, [
      { path: 'one', data: 'a $X\n', expand: true },
      { path: 'two', data: 'b $X\n', expand: false },
    ]);
    assert.deepEqual(inst.kind === 'COPY' && inst.sources, []);
  });

  test('RUN heredocs travel with the instruction', () => {
    const inst = only('RUN <<EOF\nset -e\nEOF');
    assert.equal(inst.kind === 'RUN' && inst.heredocs[0]!.content, 'set -e\n');
  });
});

describe('stages', () => {
  test('FROM forms, meta args and stage names', () => {
    const parsed = parseDockerfile(lines('ARG BASE=busybox', 'ARG TAG', 'FROM ${BASE}:${TAG:-latest} AS Build', 'RUN make', 'FROM --platform=linux/arm64 scratch', 'COPY --from=build /out /'));
    assert.deepEqual(parsed.metaArgs.map((a) => a.args), [[{ key: 'BASE', value: 'busybox' }], [{ key: 'TAG' }]]);
    assert.deepEqual(parsed.stages.map((s) => [s.index, s.name, s.base, s.platform, s.instructions.map((i) => i.kind)]), [
      [0, 'build', '${BASE}:${TAG:-latest}', undefined, ['RUN']],
      [1, undefined, 'scratch', 'linux/arm64', ['COPY']],
    ]);
  });

  const targets: [string, string, string | undefined, number[]][] = [
    ['the last stage alone', lines('FROM a AS one', 'FROM b AS two', 'FROM c'), undefined, [2]],
    ['FROM <stage>', lines('FROM a AS base', 'FROM b AS other', 'FROM base'), undefined, [0, 2]],
    ['COPY --from by name and index', lines('FROM a AS x', 'FROM b AS y', 'FROM c AS z', 'COPY --from=x /a /a', 'COPY --from=1 /b /b'), 'z', [0, 1, 2]],
    ['--target picks an earlier stage', lines('FROM a AS x', 'FROM x AS y', 'FROM b AS z', 'COPY --from=y / /'), 'Y', [0, 1]],
    ['COPY --from an image is no stage', lines('FROM a AS x', 'FROM b', 'COPY --from=nginx:latest /a /a'), undefined, [1]],
    ['RUN --mount=from=', lines('FROM a AS deps', 'FROM b', 'RUN --mount=from=deps,target=/d ls'), undefined, [0, 1]],
    ['transitively', lines('FROM a AS one', 'FROM one AS two', 'FROM c AS three', 'COPY --from=two / /', 'FROM d', 'COPY --from=three / /'), undefined, [0, 1, 2, 3]],
  ];
  for (const [name, text, target, want] of targets) {
    test(`target: ${name}`, () => assert.deepEqual(stagesForTarget(parseDockerfile(text), target), want));
  }

  test('target errors', () => {
    assert.throws(() => stagesForTarget(parseDockerfile(lines('FROM a AS x')), 'nope'), { message: 'target stage "nope" could not be found' });
    assert.throws(() => stagesForTarget(parseDockerfile(lines('FROM a', 'COPY --from=3 / /'))), { message: 'Dockerfile:2: invalid stage index 3' });
    assert.throws(() => stagesForTarget(parseDockerfile(lines('FROM a AS first', 'COPY --from=later / /', 'FROM b AS later')), 'first'), {
      message: 'Dockerfile:2: cannot copy from stage "later", it needs to be defined before current stage "first"',
    });
    assert.throws(() => stagesForTarget(parseDockerfile(lines('FROM a AS self', 'COPY --from=self / /'))), { message: 'Dockerfile:2: circular dependency detected on stage: self' });
  });
});

describe('bad Dockerfiles', () => {
  const cases: [string, string, string][] = [
    ['unknown instruction', lines('FROM busybox', '', 'FORM x'), 'Dockerfile:3: unknown instruction: FORM'],
    ['unterminated heredoc', lines('FROM busybox', 'RUN true', '# c', '', 'RUN <<EOF', 'echo hi'), 'Dockerfile parse error line 5: unterminated heredoc'],
    ['blank ENV name', lines('FROM x', 'ENV =x'), 'Dockerfile:2: ENV names can not be blank'],
    ['ENV without value', lines('FROM x', 'ENV A'), 'Dockerfile parse error line 2: ENV must have two arguments'],
    ['ENV without =', lines('FROM x', 'ENV A=1 B'), `Dockerfile parse error line 2: Syntax error - can't find = in "B". Must be of the form: name=value`],
    ['empty ENV', lines('FROM x', 'ENV'), 'Dockerfile:2: ENV requires at least one argument'],
    ['blank LABEL name', lines('FROM x', 'LABEL =x'), 'Dockerfile:2: LABEL names can not be blank'],
    ['blank ARG name', lines('FROM x', 'ARG =x'), 'Dockerfile:2: ARG names can not be blank'],
    ['FROM with two arguments', lines('FROM a b'), 'Dockerfile:1: FROM requires either one or three arguments'],
    ['FROM with four arguments', lines('FROM a AS b c'), 'Dockerfile:1: FROM requires either one or three arguments'],
    ['bad stage name', lines('FROM a AS 1st'), `Dockerfile:1: invalid name for build stage: "1st", name can't start with a number or contain symbols`],
    ['duplicate stage name', lines('FROM a AS x', 'FROM b AS X'), 'Dockerfile:2: Duplicate stage name "x", stage names should be unique'],
    ['instruction before FROM', lines('RUN x', 'FROM a'), 'Dockerfile:1: no build stage in current context'],
    ['only ARGs', lines('ARG A=1'), 'Dockerfile:1: dockerfile contains no stages to build'],
    ['empty file', '\n\n', 'Dockerfile parse error line 2: file with no instructions'],
    ['only comments', lines('# just', '# comments'), 'Dockerfile parse error line 2: file with no instructions'],
    ['COPY without destination', lines('FROM x', 'COPY a'), 'Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['ADD without destination', lines('FROM x', 'ADD a'), 'Dockerfile:2: ADD requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['COPY heredoc destination', lines('FROM x', 'COPY a <<EOF', 'x', 'EOF'), 'Dockerfile:2: COPY cannot accept a heredoc as a destination'],
    ['WORKDIR without argument', lines('FROM x', 'WORKDIR'), 'Dockerfile:2: WORKDIR requires exactly one argument'],
    ['USER without argument', lines('FROM x', 'USER'), 'Dockerfile:2: USER requires exactly one argument'],
    ['STOPSIGNAL without argument', lines('FROM x', 'STOPSIGNAL'), 'Dockerfile:2: STOPSIGNAL requires exactly one argument'],
    ['EXPOSE without argument', lines('FROM x', 'EXPOSE'), 'Dockerfile:2: EXPOSE requires at least one argument'],
    ['VOLUME without argument', lines('FROM x', 'VOLUME'), 'Dockerfile:2: VOLUME requires at least one argument'],
    ['VOLUME empty string', lines('FROM x', 'VOLUME [""]'), 'Dockerfile:2: VOLUME specified can not be an empty string'],
    ['ARG without argument', lines('FROM x', 'ARG'), 'Dockerfile:2: ARG requires at least one argument'],
    ['SHELL in shell form', lines('FROM x', 'SHELL /bin/bash -c'), 'Dockerfile:2: SHELL requires the arguments to be in JSON form'],
    ['SHELL empty', lines('FROM x', 'SHELL []'), 'Dockerfile:2: SHELL requires at least one argument'],
    ['JSON with a number', lines('FROM x', 'CMD ["a", 1]'), 'Dockerfile parse error line 2: when using JSON array syntax, arrays must be comprised of strings only'],
    ['ONBUILD ONBUILD', lines('FROM x', 'ONBUILD ONBUILD RUN x'), "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ['ONBUILD FROM', lines('FROM x', 'ONBUILD FROM y'), "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"],
    ['ONBUILD MAINTAINER', lines('FROM x', 'ONBUILD MAINTAINER me'), "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"],
    ['empty ONBUILD', lines('FROM x', 'ONBUILD'), 'Dockerfile:2: ONBUILD requires at least one argument'],
    ['HEALTHCHECK NONE with arguments', lines('FROM x', 'HEALTHCHECK NONE x'), 'Dockerfile:2: HEALTHCHECK NONE takes no arguments'],
    ['HEALTHCHECK unknown type', lines('FROM x', 'HEALTHCHECK RUN x'), 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)'],
    ['HEALTHCHECK CMD without command', lines('FROM x', 'HEALTHCHECK CMD'), 'Dockerfile:2: Missing command after HEALTHCHECK CMD'],
    ['HEALTHCHECK tiny interval', lines('FROM x', 'HEALTHCHECK --interval=1us CMD x'), 'Dockerfile:2: Interval "interval" cannot be less than 1ms'],
    ['HEALTHCHECK bad duration', lines('FROM x', 'HEALTHCHECK --timeout=5 CMD x'), 'Dockerfile:2: time: missing unit in duration "5"'],
    ['HEALTHCHECK negative retries', lines('FROM x', 'HEALTHCHECK --retries=-1 CMD x'), 'Dockerfile:2: --retries cannot be negative (-1)'],
    ['unknown flag', lines('FROM x', 'COPY --form=a b c'), 'Dockerfile:2: unknown flag: --form'],
    ['flag on ENV', lines('FROM x', 'ENV --x=1 A=1'), 'Dockerfile:2: unknown flag: --x'],
    ['duplicate flag', lines('FROM x', 'COPY --from=a --from=b c d'), 'Dockerfile:2: duplicate flag specified: --from'],
    ['flag without value', lines('FROM x', 'COPY --chown a b'), 'Dockerfile:2: missing a value on flag: --chown'],
    ['bool flag with junk', lines('FROM x', 'COPY --link=maybe a b'), 'Dockerfile:2: expecting boolean value for flag --link, not: maybe'],
    ['bad mount type', lines('FROM x', 'RUN --mount=type=nfs,target=/x ls'), 'Dockerfile:2: unsupported mount type "nfs"'],
    ['bad escape directive', lines('# escape=x', 'FROM a'), "Dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"],
    ['repeated directive', lines('# syntax=a', '# syntax=b', 'FROM a'), 'Dockerfile parse error line 2: only one syntax parser directive can be used'],
  ];
  for (const [name, text, message] of cases) {
    test(name, () => {
      assert.throws(() => parseDockerfile(text), (error: unknown) => {
        assert.ok(error instanceof DockerfileError, String(error));
        assert.equal(error.message, message);
        assert.equal(error.code, 'invalid-argument');
        return true;
      });
    });
  }

  test('the file name is the one given', () => {
    assert.throws(() => parseDockerfile(lines('FROM a', 'NOPE'), 'build/Containerfile'), { message: 'build/Containerfile:2: unknown instruction: NOPE' });
  });
});

describe('expansion', () => {
  const build = (text: string, options: Parameters<typeof expandBuild>[1] = {}) =>
    expandBuild(parseDockerfile(text), { buildPlatform: 'linux/amd64', ...options });
  const stepsOf = (text: string, options: Parameters<typeof expandBuild>[1] = {}) => build(text, options).stages.at(-1)!.steps;
  const summary = (inst: Instruction): unknown => {
    switch (inst.kind) {
      case 'ENV': return inst.env;
      case 'LABEL': return inst.labels;
      case 'ARG': return inst.args;
      case 'WORKDIR': return inst.path;
      case 'USER': return inst.user;
      case 'STOPSIGNAL': return inst.signal;
      case 'VOLUME': return inst.volumes;
      case 'EXPOSE': return inst.ports;
      case 'COPY': case 'ADD': return { sources: inst.sources, dest: inst.dest, chown: inst.chown, chmod: inst.chmod, contents: inst.contents.map((c) => c.data) };
      case 'RUN': return { command: inst.command, mounts: inst.mounts.map((m) => m.fields) };
      case 'CMD': case 'ENTRYPOINT': return inst.command;
      default: return inst.kind;
    }
  };

  const cases: [string, string, Record<string, string>, unknown[]][] = [
    ['ENV then use', lines('FROM x', 'ENV DIR=/app', 'WORKDIR $DIR/sub', 'USER ${USER:-nobody}'), {}, [[{ key: 'DIR', value: '/app' }], '/app/sub', 'nobody']],
    ['ENV pairs see the old values', lines('FROM x', 'ENV abc=hello', 'ENV abc=bye def=$abc', 'ENV ghi=$abc'), {}, [
      [{ key: 'abc', value: 'hello' }], [{ key: 'abc', value: 'bye' }, { key: 'def', value: 'hello' }], [{ key: 'ghi', value: 'bye' }],
    ]],
    ['legacy ENV and quotes', lines('FROM x', 'ENV A "quoted value"', 'ENV B="x y" C=\'$A\' D=a\\ b'), {}, [
      [{ key: 'A', value: 'quoted value' }], [{ key: 'B', value: 'x y' }, { key: 'C', value: '$A' }, { key: 'D', value: 'a b' }],
    ]],
    // An ARG instruction keeps its own default (Docker's history and cache key); the build arg is what is in effect.
    ['ARG default, build-arg override, ENV wins', lines('FROM x', 'ARG A=1 B=$A', 'ARG C=def', 'ENV C=env', 'LABEL a=$A b=$B c=$C', 'ARG D=d', 'LABEL d=$D'), { C: 'cli', D: 'over' }, [
      [{ key: 'A', value: '1' }, { key: 'B', value: '1' }], [{ key: 'C', value: 'def' }], [{ key: 'C', value: 'env' }], [{ key: 'a', value: '1' }, { key: 'b', value: '1' }, { key: 'c', value: 'env' }], [{ key: 'D', value: 'd' }], [{ key: 'd', value: 'over' }],
    ]],
    ['an undeclared build arg is not visible', lines('FROM x', 'WORKDIR /${SECRET}x'), { SECRET: 's' }, ['/x']],
    ['proxy args are visible without ARG', lines('FROM x', 'LABEL p=$HTTP_PROXY'), { HTTP_PROXY: 'http://proxy:3128' }, [[{ key: 'p', value: 'http://proxy:3128' }]]],
    ['meta ARG reaches a stage only when redeclared', lines('ARG V=1.0', 'FROM x', 'LABEL before=$V', 'ARG V', 'LABEL after=$V'), {}, [
      [{ key: 'before', value: '' }], [{ key: 'V' }], [{ key: 'after', value: '1.0' }],
    ]],
    ['predefined platform ARGs', lines('FROM x', 'ARG TARGETPLATFORM', 'ARG TARGETARCH', 'ARG BUILDOS', 'LABEL p=$TARGETPLATFORM a=$TARGETARCH o=$BUILDOS'), {}, [
      [{ key: 'TARGETPLATFORM' }], [{ key: 'TARGETARCH' }], [{ key: 'BUILDOS' }],
      [{ key: 'p', value: 'linux/arm64' }, { key: 'a', value: 'arm64' }, { key: 'o', value: 'linux' }],
    ]],
    ['EXPOSE splits words', lines('FROM x', 'ENV PORTS="80 443"', 'EXPOSE $PORTS 8080/udp'), {}, [[{ key: 'PORTS', value: '80 443' }], ['80', '443', '8080/udp']]],
    ['VOLUME and STOPSIGNAL', lines('FROM x', 'ARG SIG=SIGINT D=/data', 'VOLUME ["$D", "/b"]', 'STOPSIGNAL $SIG'), {}, [
      [{ key: 'SIG', value: 'SIGINT' }, { key: 'D', value: '/data' }], ['/data', '/b'], 'SIGINT',
    ]],
    ['COPY paths, flags and heredoc content', lines('FROM x', 'ARG U=1000 M=0755 SRC=app', 'COPY --chown=$U:$U --chmod=$M $SRC/ /opt/$SRC/', 'COPY <<EOF <<"RAW" /etc/', 'user=$U "q"', 'EOF', 'user=$U', 'RAW'), {}, [
      [{ key: 'U', value: '1000' }, { key: 'M', value: '0755' }, { key: 'SRC', value: 'app' }],
      { sources: ['app/'], dest: '/opt/app/', chown: '1000:1000', chmod: '0755', contents: [] },
      { sources: [], dest: '/etc/', chown: undefined, chmod: undefined, contents: ['user=1000 "q"\n', 'user=$U\n'] },
    ]],
    ['RUN, CMD and ENTRYPOINT are left to the shell; mounts are expanded', lines('FROM x', 'ARG T=/cache', 'RUN --mount=type=cache,target=$T echo $T', 'CMD echo $T', 'ENTRYPOINT ["$T"]'), {}, [
      [{ key: 'T', value: '/cache' }], { command: ['echo $T'], mounts: [{ target: '/cache' }] }, ['echo $T'], ['$T'],
    ]],
  ];
  for (const [name, text, buildArgs, want] of cases) {
    test(name, () => {
      const steps = stepsOf(text, { buildArgs, targetPlatform: name.startsWith('predefined') ? 'linux/arm64' : undefined });
      assert.deepEqual(steps.map((s) => summary(s.instruction)), want);
    });
  }

  test('FROM is expanded with the global scope only', () => {
    const result = build(lines('ARG IMG=alpine', 'ARG TAG=3', 'FROM --platform=$BUILDPLATFORM ${IMG}:${TAG} AS b', 'ENV TAG=9', 'FROM b'), { buildArgs: { TAG: '3.19' } });
    assert.deepEqual(result.stages.map((s) => [s.index, s.base, s.platform, s.baseStage]), [[0, 'alpine:3.19', 'linux/amd64', undefined], [1, 'b', undefined, 0]]);
    assert.equal(result.globalArgs.get('IMG'), 'alpine');
    assert.equal(result.globalArgs.get('TARGETSTAGE'), 'default');
  });

  test('env runs through base images and stages; run args and proxy env', () => {
    const result = build(lines('FROM golang AS b', 'ENV CGO=0', 'FROM b', 'ARG V=1', 'WORKDIR $GOPATH/src', 'RUN make'), {
      baseEnv: (base) => (base === 'golang' ? ['PATH=/usr/bin', 'GOPATH=/go'] : []),
      buildArgs: { http_proxy: 'http://p', UNUSED: 'x' },
    });
    const last = result.stages[1]!;
    assert.deepEqual(summary(last.steps[1]!.instruction), '/go/src');
    assert.deepEqual(last.env, ['PATH=/usr/bin', 'GOPATH=/go', 'CGO=0']);
    assert.deepEqual(last.steps[2]!.args, [['V', '1']]);
    assert.deepEqual(last.steps[2]!.proxyEnv, [['http_proxy', 'http://p']]);
  });

  test('only the stages the target needs are expanded', () => {
    const result = build(lines('FROM a AS one', 'WORKDIR ${BROKEN', 'FROM b AS two', 'RUN x'), { target: 'two' });
    assert.deepEqual(result.needed, [1]);
  });

  const errors: [string, string, string][] = [
    ['bad substitution', lines('FROM x', 'WORKDIR ${}'), 'Dockerfile:2: failed to process "${}": syntax error: bad substitution'],
    ['required variable', lines('FROM x', 'USER ${U:?set U}'), 'Dockerfile:2: failed to process "${U:?set U}": U: set U'],
    ['blank base', lines('ARG IMG', 'FROM $IMG'), 'Dockerfile:2: base name ($IMG) should not be blank'],
    ['blank platform', lines('FROM --platform=$NOPE x'), 'Dockerfile:1: empty platform value from expression $NOPE'],
    ['variable in COPY --from', lines('FROM x', 'ARG S=a', 'COPY --from=$S / /'), 'Dockerfile:3: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround'],
  ];
  for (const [name, text, message] of errors) {
    test(`error: ${name}`, () => assert.throws(() => build(text), { message }));
  }

  test('error: a 2,000-deep expansion in ENV, a flag or a meta ARG says so in one short line', () => {
    let deep = 'x';
    for (let i = 0; i < 2000; i++) deep = `\${A:-${deep}}`;
    for (const [text, line] of [
      [lines('FROM x', `ENV B=${deep}`), 2],
      [lines('FROM x', `COPY --chown=${deep} a /b`), 2],
      [lines(`ARG V=${deep}`, 'FROM x'), 1],
    ] as const) {
      assert.throws(() => build(text), (error: Error) => {
        assert.match(error.message, new RegExp(`^Dockerfile:${line}: failed to process .*: variable expansion nested too deeply \\(more than 100 levels\\)$`));
        assert.ok(error.message.length < 200, error.message);
        return true;
      });
    }
  });

  test('a chain of thousands of stages is walked without deep recursion', () => {
    const text = lines('FROM scratch AS s0', ...Array.from({ length: 20_000 }, (_, i) => `FROM s${i} AS s${i + 1}`));
    assert.equal(build(text).needed.length, 20_001);
  });
});

describe('toJson', () => {
  test('one object per instruction', () => {
    const parsed = parseDockerfile(lines('# syntax=docker/dockerfile:1', 'ARG V=1', 'FROM busybox:$V AS base', 'ENV A=1 B="2 3"', 'COPY --chmod=644 <<EOF /x', 'hi', 'EOF', 'CMD ["sh"]'));
    assert.deepEqual(toJson(parsed), [
      { name: 'ARG', flags: [], args: ['V=1'], json: false, heredocs: [], startLine: 2, endLine: 2, original: 'ARG V=1' },
      { name: 'FROM', flags: [], args: ['busybox:$V', 'AS', 'base'], json: false, heredocs: [], startLine: 3, endLine: 3, original: 'FROM busybox:$V AS base' },
      { name: 'ENV', flags: [], args: ['A=1', 'B="2 3"'], json: false, heredocs: [], startLine: 4, endLine: 4, original: 'ENV A=1 B="2 3"' },
      { name: 'COPY', flags: ['--chmod=644'], args: ['<<EOF', '/x'], json: false, heredocs: [{ name: 'EOF', content: 'hi\n', expand: true }], startLine: 5, endLine: 7, original: 'COPY --chmod=644 <<EOF /x' },
      { name: 'CMD', flags: [], args: ['sh'], json: true, heredocs: [], startLine: 8, endLine: 8, original: 'CMD ["sh"]' },
    ]);
    assert.doesNotThrow(() => JSON.stringify(toJson(parsed)));
  });
});
