/**
 * The package as others use it: examples/library.ts (which imports only from 'strata') runs end to end, and a
 * fresh project that installs the packed tarball type-checks a program against its declarations.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { busyboxTar, hasCommand, tempDir } from '../helpers.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const example = fileURLToPath(new URL('../../examples/library.js', import.meta.url));
const canRun = process.getuid?.() === 0 && hasCommand('runc');

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { status: result.status ?? -1, out: `${result.stdout}${result.stderr}` };
}

test('examples/library.ts imports a rootfs, builds a two-step Dockerfile, runs the image and prints its output and exit code', { skip: canRun ? false : 'needs root and runc' }, () => {
  const root = tempDir('strata-library-');
  const result = spawnSync(process.execPath, [example, busyboxTar(), root], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.match(lines[0]!, /^imported sha256:[a-f0-9]{64}$/);
  assert.deepEqual(lines.slice(1, 4), ['step 1/3: FROM library-base', 'step 2/3: RUN echo built by a RUN step > /greeting', 'step 3/3: CMD ["cat", "/greeting"]']);
  assert.match(lines[4]!, /^built sha256:[a-f0-9]{64} as library-app:latest$/);
  assert.deepEqual(lines.slice(5), ['container output: built by a RUN step', 'container exit code: 0', 'lookup of a missing image: No such image: no-such-image']);
});

test('a fresh project that installs the packed tarball imports and type-checks against it', () => {
  const work = tempDir('strata-pack-');
  const packed = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work, repo], work);
  assert.equal(packed.status, 0, packed.out);
  const tarball = fs.readdirSync(work).find((name) => name.endsWith('.tgz'));
  assert.ok(tarball, packed.out);
  const project = path.join(work, 'consumer');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --ignore-scripts: the type check needs no native build; node's types come from the repository's own install.
  const installed = run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-save', path.join(work, tarball)], project);
  assert.equal(installed.status, 0, installed.out);
  for (const name of ['dist/src/index.js', 'dist/src/index.d.ts', 'LICENSE', 'NOTICE']) {
    assert.ok(fs.existsSync(path.join(project, 'node_modules', 'strata', name)), `the package has ${name}`);
  }
  assert.equal(fs.existsSync(path.join(project, 'node_modules', 'strata', 'dist', 'test')), false, 'the package leaves out the tests');
  fs.writeFileSync(
    path.join(project, 'main.ts'),
    `import { Engine, parseDockerfile, parseReference, type ImageSummary, isNotFound } from 'strata';
const engine: Engine = new Engine('/tmp/never-opened');
const rows: ImageSummary[] = engine.listImages({ all: true });
const stages: number = parseDockerfile('FROM busybox\\nRUN true\\n').stages.length;
const domain: string = parseReference('busybox').domain;
const missing: boolean = isNotFound(new Error('x'));
export { rows, stages, domain, missing };
`,
  );
  fs.writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(repo, 'node_modules', '@types')] }, files: ['main.ts'] }),
  );
  const checked = run(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
  assert.equal(checked.status, 0, checked.out);
  // A program that misuses the API is refused: the declarations really are what the check reads.
  fs.appendFileSync(path.join(project, 'main.ts'), 'const wrong: number = engine.listImages();\n');
  assert.notEqual(run(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project).status, 0);
});
