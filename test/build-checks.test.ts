import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseCheckDirective, runChecks } from '../src/builder/checks.js';
import { parseDockerfile } from '../src/builder/dockerfile/index.js';
import { strata, tempDir } from './helpers.js';

const check = (text: string, buildArgs?: Record<string, string>) =>
  runChecks(parseDockerfile(text, 'Dockerfile', { allowDuplicateStageNames: true }), { buildPlatform: 'linux/amd64', ...(buildArgs && { buildArgs }) }).map((r) => ({ rule: r.rule, message: r.message, line: r.line }));

// Each rule: a Dockerfile that fires it (rule, exact message, line), and one that does not.
const cases: { rule: string; fires: string; message: string; line: number; quiet: string }[] = [
  { rule: 'FromAsCasing', fires: 'FROM scratch as base\n', message: "'as' and 'FROM' keywords' casing do not match", line: 1, quiet: 'FROM scratch AS base\n' },
  { rule: 'StageNameCasing', fires: 'FROM scratch AS Base\n', message: "Stage name 'Base' should be lowercase", line: 1, quiet: 'FROM scratch AS base\n' },
  { rule: 'JSONArgsRecommended', fires: 'FROM scratch\nCMD run me\n', message: 'JSON arguments recommended for CMD to prevent unintended behavior related to OS signals', line: 2, quiet: 'FROM scratch\nSHELL ["/bin/sh", "-c"]\nCMD run me\n' },
  { rule: 'UndefinedVar', fires: 'FROM scratch\nENV APP_DIR=/a\nCOPY $APP_DIRS /x\n', message: "Usage of undefined variable '$APP_DIRS' (did you mean $APP_DIR?)", line: 3, quiet: 'FROM scratch\nARG PATHX\nCOPY $PATHX /x\n' },
  { rule: 'DuplicateStageName', fires: 'FROM scratch AS a\nFROM scratch AS a\n', message: 'Duplicate stage name "a", stage names should be unique', line: 2, quiet: 'FROM scratch AS a\nFROM scratch AS b\n' },
  { rule: 'MultipleInstructionsDisallowed', fires: 'FROM scratch\nENTRYPOINT ["a"]\nENTRYPOINT ["b"]\n', message: 'Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used', line: 2, quiet: 'FROM scratch\nENTRYPOINT ["a"]\nFROM scratch\nENTRYPOINT ["b"]\n' },
  { rule: 'ConsistentInstructionCasing', fires: 'FROM scratch\nCOPY a /a\ncopy b /b\n', message: "Command 'copy' should match the case of the command majority (uppercase)", line: 3, quiet: 'from scratch\ncopy a /a\n' },
  { rule: 'MaintainerDeprecated', fires: 'FROM scratch\nMAINTAINER me\n', message: 'Maintainer instruction is deprecated in favor of using label', line: 2, quiet: 'FROM scratch\nLABEL org.opencontainers.image.authors=me\n' },
  { rule: 'WorkdirRelativePath', fires: 'FROM scratch\nWORKDIR app\n', message: 'Relative workdir "app" can have unexpected results if the base image changes', line: 2, quiet: 'FROM scratch\nWORKDIR /app\nWORKDIR sub\n' },
  { rule: 'NoEmptyContinuation', fires: 'FROM scratch\nCOPY a \\\n\n  /a\n', message: 'Empty continuation line', line: 4, quiet: 'FROM scratch\nCOPY a \\\n  /a\n' },
  { rule: 'UndefinedArgInFrom', fires: 'ARG VERSION=1\nFROM alpine:$VERSIN\n', message: "FROM argument 'VERSIN' is not declared (did you mean VERSION?)", line: 2, quiet: 'ARG VERSION=1\nFROM alpine:$VERSION\n' },
  { rule: 'ReservedStageName', fires: 'FROM alpine AS scratch\n', message: 'Stage name should not use the same name as reserved stage "scratch"', line: 1, quiet: 'FROM alpine AS base\n' },
  { rule: 'SecretsUsedInArgOrEnv', fires: 'FROM scratch\nARG GITHUB_TOKEN\n', message: 'Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN")', line: 2, quiet: 'FROM scratch\nARG PUBLIC_KEY\n' },
  { rule: 'LegacyKeyValueFormat', fires: 'FROM scratch\nLABEL a b\n', message: '"LABEL key=value" should be used instead of legacy "LABEL key value" format', line: 2, quiet: 'FROM scratch\nLABEL a=b\n' },
  { rule: 'InvalidDefaultArgInFrom', fires: 'ARG TAG\nFROM alpine:$TAG\n', message: 'Default value for ARG alpine:$TAG results in empty or invalid base image name', line: 2, quiet: 'ARG TAG=3\nFROM alpine:$TAG\n' },
  { rule: 'RedundantTargetPlatform', fires: 'FROM --platform=$TARGETPLATFORM alpine\n', message: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', line: 1, quiet: 'FROM --platform=$BUILDPLATFORM alpine\n' },
  { rule: 'FromPlatformFlagConstDisallowed', fires: 'FROM --platform=linux/arm64 alpine AS base\n', message: 'FROM --platform flag should not use constant value "linux/arm64"', line: 1, quiet: 'FROM --platform=linux/arm64 alpine AS base-arm64\n' },
];

for (const c of cases) {
  test(`${c.rule}: fires with its message and line`, () => {
    assert.deepEqual(check(c.fires).filter((r) => r.rule === c.rule), [{ rule: c.rule, message: c.message, line: c.line }]);
  });
  test(`${c.rule}: quiet on a Dockerfile without the problem`, () => {
    assert.deepEqual(check(c.quiet).filter((r) => r.rule === c.rule), []);
  });
}

test('UndefinedVar says nothing in a stage whose base image env is unknown', () => {
  assert.deepEqual(check('FROM alpine\nCOPY $HOME /x\n'), []);
});

test('the check directive: skip lists rules (unknown names ignored), skip=all, error; a bad option is an error', () => {
  assert.deepEqual(check('# check=skip=MaintainerDeprecated,NoSuchRule\nFROM scratch\nMAINTAINER me\n'), []);
  assert.deepEqual(check('# check=skip=all\nFROM scratch\nMAINTAINER me\n'), []);
  assert.equal(parseCheckDirective('skip=A;error=true').error, true);
  assert.throws(() => parseCheckDirective('bogus'), /failed to parse check options: invalid check option "bogus"/);
  assert.throws(() => parseCheckDirective('error=maybe'), /strconv.ParseBool: parsing "maybe": invalid syntax/);
});

test('CopyIgnoredFile (experimental): only when the directive enables it, for context sources .dockerignore excludes', () => {
  const ignored = (rel: string) => rel === 'secrets' || rel.startsWith('secrets/') || rel.endsWith('.log');
  const lint = (text: string) => runChecks(parseDockerfile(text, 'Dockerfile'), { ignored }).map((r) => [r.rule, r.message, r.line]);
  const body = 'FROM scratch AS b\nCOPY ./secrets/key /k\nADD app.log /\nCOPY kept.txt /\nCOPY --from=b /secrets/key /k\n';
  assert.deepEqual(lint(body), []);
  const fired = [
    ['CopyIgnoredFile', 'Attempting to Copy file "secrets/key" that is excluded by .dockerignore', 3],
    ['CopyIgnoredFile', 'Attempting to Add file "app.log" that is excluded by .dockerignore', 4],
  ];
  assert.deepEqual(lint(`# check=experimental=CopyIgnoredFile\n${body}`), fired);
  assert.deepEqual(lint(`# check=experimental=all\n${body}`), fired);
  assert.deepEqual(lint(`# check=experimental=all;skip=CopyIgnoredFile\n${body}`), []);
});

const contextWith = (dockerfile: string) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
};

test('strata build --check prints as buildx and exits 1 on a warning, 0 without', () => {
  const root = tempDir();
  const warned = strata(root, ['build', '--check', contextWith('FROM scratch\nMAINTAINER me\n')]);
  assert.equal(warned.status, 1);
  assert.equal(
    warned.stdout,
    'Check complete, 1 warning has been found!\n\nWARNING: MaintainerDeprecated - https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/\n' +
      'Maintainer instruction is deprecated in favor of using label\nDockerfile:2\n--------------------\n   1 |     FROM scratch\n   2 | >>> MAINTAINER me\n   3 |     \n--------------------\n',
  );
  const clean = strata(root, ['build', '--check', contextWith('FROM scratch\n')]);
  assert.deepEqual([clean.status, clean.stdout], [0, 'Check complete, no warnings found.\n']);
  const skipped = strata(root, ['build', '--check', contextWith('# check=skip=MaintainerDeprecated;error=true\nFROM scratch\nMAINTAINER me\n')]);
  assert.equal(skipped.status, 0);
  const ignoring = contextWith('# check=experimental=CopyIgnoredFile\nFROM scratch\nCOPY notes.md /\n');
  fs.writeFileSync(path.join(ignoring, '.dockerignore'), '*.md\n');
  const ignoredCopy = strata(root, ['build', '--check', ignoring]);
  assert.equal(ignoredCopy.status, 1);
  assert.match(ignoredCopy.stdout, /WARNING: CopyIgnoredFile - https:\/\/docs.docker.com\/go\/dockerfile\/rule\/copy-ignored-file\/\nAttempting to Copy file "notes.md" that is excluded by .dockerignore\nDockerfile:3\n/);
});

test('strata build --check: an unparseable Dockerfile or a malformed directive is a one-line error', () => {
  const root = tempDir();
  for (const text of ['FORM scratch\n', '# check=nonsense\nFROM scratch\n']) {
    const result = strata(root, ['build', '--check', contextWith(text)]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^Error: .+\n$/);
  }
});

test('strata build --print-instructions prints the parsed instructions as JSON', () => {
  const result = strata(tempDir(), ['build', '--print-instructions', contextWith('FROM scratch\n')]);
  assert.equal(result.status, 0);
  assert.ok(Array.isArray(JSON.parse(result.stdout)) || typeof JSON.parse(result.stdout) === 'object');
});
