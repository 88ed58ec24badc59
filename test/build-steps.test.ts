/**
 * What each Dockerfile step means for the image (src/builder/steps.ts), table-driven: Go's Duration and %q text,
 * WORKDIR joins, the classic builder's history strings, the command a RUN runs, the config every metadata
 * instruction leaves, and the build cache's keys. Instructions come from parsing real Dockerfile text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Instruction, parseDockerfile, type RunInstruction } from '../src/builder/dockerfile/index.js';
import {
  applyMetadata,
  cacheKey,
  chownIds,
  commandOf,
  copyCreatedBy,
  defaultShell,
  goDuration,
  goQuoteList,
  joinWorkdir,
  nopCreatedBy,
  parseChmod,
  runCommand,
  runCreatedBy,
  runSettings,
  shellOf,
} from '../src/builder/steps.js';
import type { ContainerConfig } from '../src/images/model.js';

/** The one instruction `text` makes in a stage FROM busybox. */
const only = (text: string): Instruction => {
  const parsed = parseDockerfile(`FROM busybox\n${text}\n`);
  assert.equal(parsed.stages[0]!.instructions.length, 1);
  return parsed.stages[0]!.instructions[0]!;
};

const run = (text: string): RunInstruction => {
  const inst = only(text);
  assert.equal(inst.kind, 'RUN');
  return inst as RunInstruction;
};

const bash = ['/bin/bash', '-c'];

describe('goDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [1, '1ns'],
    [999, '999ns'],
    [1500, '1.5µs'],
    [1e6, '1ms'],
    [500e6, '500ms'],
    [1.5e6, '1.5ms'],
    [1e9, '1s'],
    [1.5e9, '1.5s'],
    [30e9, '30s'],
    [60e9, '1m0s'],
    [90e9, '1m30s'],
    [61.25e9, '1m1.25s'],
    [3600e9, '1h0m0s'],
    [3661e9, '1h1m1s'],
    [3601.5e9, '1h0m1.5s'],
    [100 * 3600e9, '100h0m0s'],
    [1_234_567_891, '1.234567891s'],
  ];
  for (const [ns, want] of cases) {
    test(`${ns}ns -> ${want}`, () => assert.equal(goDuration(ns), want));
  }
});

describe('joinWorkdir', () => {
  const cases: [string | undefined, string, string][] = [
    [undefined, '/app', '/app'],
    ['/old', '/app', '/app'],
    [undefined, 'app', '/app'],
    ['', 'app', '/app'],
    ['/', 'app', '/app'],
    ['/app', 'sub', '/app/sub'],
    ['/app', 'sub/deeper', '/app/sub/deeper'],
    ['/app/', 'sub/', '/app/sub'],
    ['/app', '..', '/'],
    ['/app/sub', '../other', '/app/other'],
    ['/', '..', '/'],
    ['/app', '../../..', '/'],
    ['/app', '.', '/app'],
    ['/app', './sub/.', '/app/sub'],
    [undefined, '.', '/'],
    ['/a', '/b/../c', '/c'],
    ['/a', '/b//c/', '/b/c'],
  ];
  for (const [previous, next, want] of cases) {
    test(`${previous} + ${next} -> ${want}`, () => assert.equal(joinWorkdir(previous, next), want));
  }
});

describe('goQuoteList', () => {
  const cases: [string[], string][] = [
    [[], '[]'],
    [['sh'], '["sh"]'],
    [['/bin/sh', '-c', 'echo hi'], '["/bin/sh" "-c" "echo hi"]'],
    [['say "hi"'], '["say \\"hi\\""]'],
    [['a\\b'], '["a\\\\b"]'],
    [['tab\there', 'new\nline'], '["tab\\there" "new\\nline"]'],
    [['', 'x'], '["" "x"]'],
    [['héllo', '日本'], '["héllo" "日本"]'],
  ];
  for (const [list, want] of cases) {
    test(`${JSON.stringify(list)} -> ${want}`, () => assert.equal(goQuoteList(list), want));
  }

  test('control characters use Go escapes (\\x01, \\x7f), not JSON ones', () => {
    assert.equal(goQuoteList(['a\x01b', 'del\x7f']), '["a\\x01b" "del\\x7f"]');
  });
});

describe('history text', () => {
  test('runCreatedBy: no build args is the command alone', () => {
    assert.equal(runCreatedBy(['/bin/sh', '-c', 'make'], []), '/bin/sh -c make');
  });

  const runCases: [string, [string, string][], string][] = [
    ['one arg', [['A', '1']], '|1 A=1 /bin/sh -c make'],
    ['sorted', [['B', '2'], ['A', '1']], '|2 A=1 B=2 /bin/sh -c make'],
    // Docker sorts the K=V strings: "A1=..." comes before "A=..." ('1' < '=').
    ['sorted as K=V strings', [['A', 'z'], ['A1', 'y']], '|2 A1=y A=z /bin/sh -c make'],
    ['values kept as they are', [['MSG', 'hello world']], '|1 MSG=hello world /bin/sh -c make'],
    ['empty value', [['E', '']], '|1 E= /bin/sh -c make'],
  ];
  for (const [name, args, want] of runCases) {
    test(`runCreatedBy: ${name}`, () => assert.equal(runCreatedBy(['/bin/sh', '-c', 'make'], args), want));
  }

  test('runCreatedBy: exec form', () => {
    assert.equal(runCreatedBy(['echo', 'a b'], [['V', '1']]), '|1 V=1 echo a b');
  });

  test('runCreatedBy does not reorder its input', () => {
    const args: [string, string][] = [['B', '2'], ['A', '1']];
    runCreatedBy(['x'], args);
    assert.deepEqual(args, [['B', '2'], ['A', '1']]);
  });

  const nopCases: [ContainerConfig, string, string][] = [
    [{}, 'CMD ["sh"]', '/bin/sh -c #(nop)  CMD ["sh"]'],
    [{}, 'ENV A=1', '/bin/sh -c #(nop)  ENV A=1'],
    [{ Shell: bash }, 'LABEL a=b', '/bin/bash -c #(nop)  LABEL a=b'],
    [{ Shell: ['cmd', '/S', '/C'] }, 'USER x', 'cmd /S /C #(nop)  USER x'],
  ];
  for (const [config, text, want] of nopCases) {
    test(`nopCreatedBy: ${want}`, () => assert.equal(nopCreatedBy(config, text), want));
  }

  const copyCases: [ContainerConfig, 'COPY' | 'ADD', string, string, string][] = [
    [{}, 'COPY', 'file:abc', '/app', '/bin/sh -c #(nop) COPY file:abc in /app '],
    [{}, 'ADD', 'dir:0123', '/srv/', '/bin/sh -c #(nop) ADD dir:0123 in /srv/ '],
    [{ Shell: bash }, 'COPY', 'multi:ff', '/x/', '/bin/bash -c #(nop) COPY multi:ff in /x/ '],
  ];
  for (const [config, kind, checksum, dest, want] of copyCases) {
    test(`copyCreatedBy: ${JSON.stringify(want)}`, () => assert.equal(copyCreatedBy(config, kind, checksum, dest), want));
  }
});

describe('shellOf and commandOf', () => {
  test('shellOf: the default, or config.Shell', () => {
    assert.deepEqual(shellOf({}), ['/bin/sh', '-c']);
    assert.deepEqual(shellOf({ Shell: bash }), bash);
    assert.deepEqual(shellOf({ Shell: 'not an array' }), defaultShell);
  });

  const cases: [string, ContainerConfig, string[]][] = [
    ['CMD ["echo", "hi"]', {}, ['echo', 'hi']],
    ['CMD ["echo", "hi"]', { Shell: bash }, ['echo', 'hi']],
    ['CMD echo hi', {}, ['/bin/sh', '-c', 'echo hi']],
    ['CMD echo hi', { Shell: bash }, ['/bin/bash', '-c', 'echo hi']],
    ['ENTRYPOINT ["/entry", "--flag"]', {}, ['/entry', '--flag']],
    ['ENTRYPOINT exec /entry "$@"', {}, ['/bin/sh', '-c', 'exec /entry "$@"']],
    ['RUN echo a && echo b', {}, ['/bin/sh', '-c', 'echo a && echo b']],
    ['RUN ["/bin/true"]', {}, ['/bin/true']],
  ];
  for (const [text, config, want] of cases) {
    test(`${text} with ${JSON.stringify(config)}`, () => {
      const inst = only(text);
      assert.ok(inst.kind === 'CMD' || inst.kind === 'ENTRYPOINT' || inst.kind === 'RUN');
      assert.deepEqual(commandOf(config, inst), want);
    });
  }
});

describe('runCommand', () => {
  const cases: [string, string, ContainerConfig, string[]][] = [
    ['shell form', 'RUN echo hi', {}, ['/bin/sh', '-c', 'echo hi']],
    ['exec form', 'RUN ["echo", "hi"]', {}, ['echo', 'hi']],
    ['SHELL override', 'RUN echo hi', { Shell: ['/bin/bash', '-euo', 'pipefail', '-c'] }, ['/bin/bash', '-euo', 'pipefail', '-c', 'echo hi']],
    ['exec form ignores SHELL', 'RUN ["echo", "hi"]', { Shell: bash }, ['echo', 'hi']],
    ['a lone heredoc runs its content', 'RUN <<EOF\necho hi\necho there\nEOF', {}, ['/bin/sh', '-c', 'echo hi\necho there\n']],
    ['a lone heredoc under SHELL', 'RUN <<EOF\necho hi\nEOF', { Shell: bash }, ['/bin/bash', '-c', 'echo hi\n']],
    ['a lone quoted heredoc', "RUN <<'EOF'\necho $HOME\nEOF", {}, ['/bin/sh', '-c', 'echo $HOME\n']],
    ['a lone double-quoted <<- heredoc', 'RUN <<-"END"\n\techo hi\n\tEND', {}, ['/bin/sh', '-c', '\techo hi\n']],
    ['a heredoc fed to a command is appended to the script', 'RUN python3 <<EOF\nprint(1)\nEOF', {}, ['/bin/sh', '-c', 'python3 <<EOF\nprint(1)\nEOF']],
    ['a heredoc written to a file', 'RUN cat <<EOF > /f\nhello\nEOF', {}, ['/bin/sh', '-c', 'cat <<EOF > /f\nhello\nEOF']],
    ['an interpreter after the heredoc', 'RUN <<EOF bash\necho hi\nEOF', {}, ['/bin/sh', '-c', '<<EOF bash\necho hi\nEOF']],
    ['two heredocs are both appended', 'RUN <<A <<B\na\nA\nb\nB', {}, ['/bin/sh', '-c', '<<A <<B\na\nA\nb\nB']],
    ['appended heredocs under SHELL', 'RUN cat <<EOF\nx\nEOF', { Shell: bash }, ['/bin/bash', '-c', 'cat <<EOF\nx\nEOF']],
  ];
  for (const [name, text, config, want] of cases) {
    test(name, () => assert.deepEqual(runCommand(config, run(text)), want));
  }
});

describe('applyMetadata', () => {
  interface Case {
    text: string;
    config?: ContainerConfig;
    cmdSet?: boolean;
    want: ContainerConfig;
    history: string;
    author?: string;
  }
  const cases: [string, Case][] = [
    ['CMD exec form', { text: 'CMD ["sh"]', want: { Cmd: ['sh'] }, history: 'CMD ["sh"]' }],
    ['CMD shell form', { text: 'CMD echo hi', want: { Cmd: ['/bin/sh', '-c', 'echo hi'] }, history: 'CMD ["/bin/sh" "-c" "echo hi"]' }],
    ['CMD shell form under SHELL', {
      text: 'CMD echo hi', config: { Shell: bash },
      want: { Shell: bash, Cmd: ['/bin/bash', '-c', 'echo hi'] }, history: 'CMD ["/bin/bash" "-c" "echo hi"]',
    }],
    ['CMD replaces an inherited Cmd', { text: 'CMD ["b"]', config: { Cmd: ['a'], Entrypoint: ['/e'] }, want: { Cmd: ['b'], Entrypoint: ['/e'] }, history: 'CMD ["b"]' }],
    ['ENTRYPOINT resets an inherited Cmd', {
      text: 'ENTRYPOINT ["/entry"]', config: { Cmd: ['from-base'] }, cmdSet: false,
      want: { Entrypoint: ['/entry'], Cmd: null }, history: 'ENTRYPOINT ["/entry"]',
    }],
    ['ENTRYPOINT keeps a Cmd this stage set', {
      text: 'ENTRYPOINT ["/entry"]', config: { Cmd: ['mine'] }, cmdSet: true,
      want: { Entrypoint: ['/entry'], Cmd: ['mine'] }, history: 'ENTRYPOINT ["/entry"]',
    }],
    ['ENTRYPOINT shell form', {
      text: 'ENTRYPOINT exec /entry', config: {},
      want: { Entrypoint: ['/bin/sh', '-c', 'exec /entry'], Cmd: null }, history: 'ENTRYPOINT ["/bin/sh" "-c" "exec /entry"]',
    }],
    ['ENV appends', { text: 'ENV A=1 B=2', config: { Env: ['PATH=/bin'] }, want: { Env: ['PATH=/bin', 'A=1', 'B=2'] }, history: 'ENV A=1 B=2' }],
    ['ENV replaces an existing key in place', {
      text: 'ENV A=new', config: { Env: ['A=old', 'PATH=/bin'] },
      want: { Env: ['A=new', 'PATH=/bin'] }, history: 'ENV A=new',
    }],
    ['ENV: a key that is a prefix of another is a different key', {
      text: 'ENV A=1', config: { Env: ['AB=0', 'A_=2'] },
      want: { Env: ['AB=0', 'A_=2', 'A=1'] }, history: 'ENV A=1',
    }],
    ['ENV: the key ends at the first =', { text: 'ENV X=a=b', config: { Env: ['X=old=1'] }, want: { Env: ['X=a=b'] }, history: 'ENV X=a=b' }],
    ['ENV: the same key twice keeps the last', { text: 'ENV A=1 A=2', want: { Env: ['A=2'] }, history: 'ENV A=1 A=2' }],
    ['ENV legacy form', { text: 'ENV GREETING hello', want: { Env: ['GREETING=hello'] }, history: 'ENV GREETING=hello' }],
    ['LABEL merges', {
      text: 'LABEL a=b c=d', config: { Labels: { a: 'old', z: '1' } },
      want: { Labels: { a: 'b', c: 'd', z: '1' } }, history: 'LABEL a=b c=d',
    }],
    ['ARG changes nothing but the history', { text: 'ARG A B=2', config: { User: 'x' }, want: { User: 'x' }, history: 'ARG A B=2' }],
    ['EXPOSE normalizes', {
      text: 'EXPOSE 80 8080/TCP 53/udp 9/sctp', config: { ExposedPorts: { '22/tcp': {} } },
      want: { ExposedPorts: { '22/tcp': {}, '80/tcp': {}, '8080/tcp': {}, '53/udp': {}, '9/sctp': {} } }, history: 'EXPOSE 80 8080/TCP 53/udp 9/sctp',
    }],
    ['WORKDIR absolute', { text: 'WORKDIR /app', want: { WorkingDir: '/app' }, history: 'WORKDIR /app' }],
    ['WORKDIR relative continues the previous one', { text: 'WORKDIR sub', config: { WorkingDir: '/app' }, want: { WorkingDir: '/app/sub' }, history: 'WORKDIR /app/sub' }],
    ['WORKDIR ..', { text: 'WORKDIR ../other', config: { WorkingDir: '/app/sub' }, want: { WorkingDir: '/app/other' }, history: 'WORKDIR /app/other' }],
    ['USER', { text: 'USER 1000:1000', want: { User: '1000:1000' }, history: 'USER 1000:1000' }],
    ['VOLUME JSON form merges', {
      text: 'VOLUME ["/a", "/b"]', config: { Volumes: { '/c': {} } },
      want: { Volumes: { '/a': {}, '/b': {}, '/c': {} } }, history: 'VOLUME [/a /b]',
    }],
    ['VOLUME plain form', { text: 'VOLUME /data /logs', want: { Volumes: { '/data': {}, '/logs': {} } }, history: 'VOLUME [/data /logs]' }],
    ['STOPSIGNAL', { text: 'STOPSIGNAL SIGKILL', want: { StopSignal: 'SIGKILL' }, history: 'STOPSIGNAL SIGKILL' }],
    ['HEALTHCHECK with every option, in nanoseconds', {
      text: 'HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=3 CMD curl -f http://x/',
      want: {
        Healthcheck: {
          Test: ['CMD-SHELL', 'curl -f http://x/'],
          Interval: 30e9,
          Timeout: 5e9,
          StartPeriod: 60e9,
          StartInterval: 2e9,
          Retries: 3,
        },
      },
      history: `HEALTHCHECK &{["CMD-SHELL" "curl -f http://x/"] "30s" "5s" "1m0s" "2s" '\\x03'}`,
    }],
    ['HEALTHCHECK exec form, defaults left out', {
      text: 'HEALTHCHECK CMD ["/bin/check", "a"]',
      want: { Healthcheck: { Test: ['CMD', '/bin/check', 'a'] } },
      history: `HEALTHCHECK &{["CMD" "/bin/check" "a"] "0s" "0s" "0s" "0s" '\\x00'}`,
    }],
    ['HEALTHCHECK fractional durations', {
      text: 'HEALTHCHECK --interval=1m30s --timeout=500ms CMD true',
      want: { Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 90e9, Timeout: 500e6 } },
      history: `HEALTHCHECK &{["CMD-SHELL" "true"] "1m30s" "500ms" "0s" "0s" '\\x00'}`,
    }],
    ['HEALTHCHECK NONE replaces an inherited one', {
      text: 'HEALTHCHECK NONE', config: { Healthcheck: { Test: ['CMD', 'x'], Retries: 2 } },
      want: { Healthcheck: { Test: ['NONE'] } },
      history: `HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" '\\x00'}`,
    }],
    ['SHELL', {
      text: 'SHELL ["/bin/bash", "-euo", "pipefail", "-c"]',
      want: { Shell: ['/bin/bash', '-euo', 'pipefail', '-c'] }, history: 'SHELL [/bin/bash -euo pipefail -c]',
    }],
    ['ONBUILD appends a trigger', {
      text: 'ONBUILD RUN make', config: { OnBuild: ['COPY . /src'] },
      want: { OnBuild: ['COPY . /src', 'RUN make'] }, history: 'ONBUILD RUN make',
    }],
    ['ONBUILD on a config with OnBuild null', { text: 'ONBUILD USER x', config: { OnBuild: null }, want: { OnBuild: ['USER x'] }, history: 'ONBUILD USER x' }],
    ['MAINTAINER sets the author, not the config', {
      text: 'MAINTAINER Jane Doe <jane@example.com>', config: { User: 'u' },
      want: { User: 'u' }, history: 'MAINTAINER Jane Doe <jane@example.com>', author: 'Jane Doe <jane@example.com>',
    }],
  ];
  for (const [name, c] of cases) {
    test(name, () => {
      const input = structuredClone(c.config ?? {});
      const result = applyMetadata(input, only(c.text), c.cmdSet ?? false);
      assert.deepEqual(result.config, c.want);
      assert.equal(result.text, c.history);
      assert.equal(result.author, c.author);
      // The input config is left as it was.
      assert.deepEqual(input, c.config ?? {});
    });
  }

  test('HEALTHCHECK history writes retries as Go %q of an int (a quoted rune)', () => {
    const cases: [number, string][] = [[10, "'\\n'"], [9, "'\\t'"], [39, "'\\''"], [92, "'\\\\'"]];
    for (const [retries, want] of cases) {
      const { text } = applyMetadata({}, only(`HEALTHCHECK --retries=${retries} CMD true`), false);
      assert.equal(text, `HEALTHCHECK &{["CMD-SHELL" "true"] "0s" "0s" "0s" "0s" ${want}}`);
    }
  });

  test('HEALTHCHECK retries that are printable ASCII are written as the character', () => {
    const { text } = applyMetadata({}, only('HEALTHCHECK --retries=65 CMD true'), false);
    assert.equal(text, `HEALTHCHECK &{["CMD-SHELL" "true"] "0s" "0s" "0s" "0s" 'A'}`);
  });

  const badPorts = ['abc', '80/xyz', '80-', '-80', '80/tcp/udp', ''];
  for (const port of badPorts) {
    test(`EXPOSE rejects ${JSON.stringify(port)}`, () => {
      const inst = only('EXPOSE 80');
      assert.throws(() => applyMetadata({}, { ...inst, ports: [port] } as Instruction, false), /invalid containerPort/);
    });
  }
  test('EXPOSE rejects a bad port written in the Dockerfile', () => {
    assert.throws(() => applyMetadata({}, only('EXPOSE abc'), false), /invalid containerPort: abc/);
  });

  test('EXPOSE rejects ports out of range', () => {
    assert.throws(() => applyMetadata({}, only('EXPOSE 70000'), false), /invalid/);
    assert.throws(() => applyMetadata({}, only('EXPOSE 2000-1000'), false), /invalid/);
  });

  test('EXPOSE of a range exposes each port, as Docker does', () => {
    const { config, text } = applyMetadata({}, only('EXPOSE 1000-1002/udp'), false);
    assert.deepEqual(config.ExposedPorts, { '1000/udp': {}, '1001/udp': {}, '1002/udp': {} });
    assert.equal(text, 'EXPOSE 1000-1002/udp');
  });

  test('VOLUME rejects an empty path (as `VOLUME $EMPTY` expands)', () => {
    const inst = only('VOLUME /data');
    assert.throws(() => applyMetadata({}, { ...inst, volumes: ['/a', ' '] } as Instruction, false), /VOLUME specified can not be an empty string/);
  });

  const notMetadata = ['RUN make', 'COPY a /b', 'ADD a /b'];
  for (const text of notMetadata) {
    test(`${text.split(' ')[0]} is not a metadata instruction`, () => {
      assert.throws(() => applyMetadata({}, only(text), false), /is not a metadata instruction/);
    });
  }

  test('a sequence of steps, as a stage applies them', () => {
    const steps = ['ENV A=1', 'WORKDIR /app', 'WORKDIR src', 'USER nobody', 'ENV A=2', 'CMD ["run"]', 'ENTRYPOINT ["/e"]', 'LABEL v=1'];
    let config: ContainerConfig = { Env: ['PATH=/bin'], Cmd: ['sh'] };
    let cmdSet = false;
    for (const text of steps) {
      const inst = only(text);
      config = applyMetadata(config, inst, cmdSet).config;
      if (inst.kind === 'CMD') cmdSet = true;
    }
    assert.deepEqual(config, {
      Env: ['PATH=/bin', 'A=2'],
      WorkingDir: '/app/src',
      User: 'nobody',
      Cmd: ['run'],
      Entrypoint: ['/e'],
      Labels: { v: '1' },
    });
  });
});

describe('cacheKey', () => {
  test('deterministic sha256 hex', () => {
    assert.match(cacheKey('a', 'b'), /^[0-9a-f]{64}$/);
    assert.equal(cacheKey('parent', 'RUN make'), cacheKey('parent', 'RUN make'));
  });

  const different: [string, string[], string[]][] = [
    ['split differently', ['ab', 'c'], ['a', 'bc']],
    ['joined', ['a', 'b'], ['ab']],
    ['a separator-looking part', ['1:a', 'b'], ['1:a1:b']],
    ['an empty part', ['a', ''], ['a']],
    ['an empty part first', ['', 'a'], ['a']],
    ['no parts vs one empty part', [], ['']],
    ['order', ['a', 'b'], ['b', 'a']],
    ['multi-byte lengths', ['é', 'x'], ['éx']],
    ['content', ['a'], ['b']],
  ];
  for (const [name, a, b] of different) {
    test(`no collision: ${name}`, () => assert.notEqual(cacheKey(...a), cacheKey(...b)));
  }
});

describe('COPY --chown and --chmod', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n';
  const group = 'root:x:0:\nstaff:x:50:app\nappgroup:x:1001:\n';
  for (const [spec, expected] of [
    ['app', { uid: 1000, gid: 1000 }], // a lone user: gid = uid, not the passwd group (Docker's rule)
    ['app:staff', { uid: 1000, gid: 50 }],
    ['app:1001', { uid: 1000, gid: 1001 }],
    ['1000:50', { uid: 1000, gid: 50 }],
    ['4242', { uid: 4242, gid: 4242 }], // numeric ids need no entry
    ['4242:7', { uid: 4242, gid: 7 }],
    ['web:', { uid: 33, gid: 33 }],
    ['root', { uid: 0, gid: 0 }],
  ] as const) {
    test(`--chown=${spec}`, () => assert.deepEqual(chownIds(spec, passwd, group), expected));
  }
  for (const [spec, message] of [
    ['nobody', /unable to find user nobody/],
    ['app:nogroup', /unable to find group nogroup/],
  ] as const) {
    test(`--chown=${spec} is refused`, () => assert.throws(() => chownIds(spec, passwd, group), message));
  }
  for (const [text, mode] of [
    ['755', 0o755],
    ['0644', 0o644],
    ['4755', 0o4755],
    ['000', 0],
  ] as const) {
    test(`--chmod=${text}`, () => assert.equal(parseChmod(text), mode));
  }
  for (const text of ['u+x', '888', '75', '07555', '', '-755']) {
    test(`--chmod=${JSON.stringify(text)} is refused`, () => assert.throws(() => parseChmod(text), /invalid chmod parameter/));
  }
});

test('a RUN container: image env, then build args and proxies; workdir and user from the config; killed at once', () => {
  const settings = runSettings({ Env: ['PATH=/bin', 'A=image'], WorkingDir: '/src', User: 'app' }, ['/bin/sh', '-c', 'make'], [['B', 'arg'], ['http_proxy', 'http://p:3128']], 'none');
  assert.deepEqual(settings.args, ['/bin/sh', '-c', 'make']);
  assert.deepEqual(settings.env, ['PATH=/bin', 'A=image', 'B=arg', 'http_proxy=http://p:3128']); // an arg that ENV overrides never gets here: expandBuild drops it
  assert.equal(settings.cwd, '/src');
  assert.equal(settings.user, 'app');
  assert.equal(settings.network, 'none');
  assert.equal(settings.stopSignal, 'KILL');
  assert.equal(settings.tty, false);
  const bare = runSettings({}, ['true'], [], 'host');
  assert.equal(bare.cwd, '/');
  assert.equal(bare.user, '');
  assert.deepEqual(bare.env, []);
});
