/**
 * `strata build` for real: RUN steps in runc containers over overlay, COPY/ADD layers, the classic builder's
 * transcript and history, and the layer cache across builds. Needs root, overlayfs and runc; skips otherwise.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { busyboxRootfs, busyboxTar, cliPath, contextDir, hasCommand, sh, strata, strataAsync, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };
const roots: string[] = [];

after(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

function storeWithBusybox(): string {
  const root = tempDir('strata-build-');
  roots.push(root);
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return root;
}

/** A context directory with the given files (a trailing `/` makes a directory). */
function context(files: Record<string, string>): string {
  const dir = contextDir(files);
  roots.push(dir);
  return dir;
}

/** The seeds' tutorial, on busybox: 8 steps, RUN, WORKDIR, two COPYs, EXPOSE, CMD. */
const tutorial = `FROM busybox
RUN mkdir -p /usr/src/app
WORKDIR /usr/src/app
COPY app /usr/src/app/
RUN cat package.json > /usr/src/installed
COPY . /usr/src/app
EXPOSE 8080
CMD ["cat", "/usr/src/app/server.txt"]
`;
const tutorialFiles = { Dockerfile: tutorial, 'app/package.json': '{"name":"app"}\n', 'server.txt': 'hello from the server\n' };

const jsonLines = (out: string): unknown[] => out.trim().split('\n').map((line) => JSON.parse(line) as unknown);
const steps = (out: string) => out.split('\n').filter((line) => line.startsWith('Step '));
/** For each step, whether it said `Using cache`. */
function cacheUse(out: string): boolean[] {
  return out
    .split(/^Step /m)
    .slice(1)
    .map((chunk) => chunk.includes(' ---> Using cache'));
}

test('the tutorial builds with the classic transcript, its history reads like Docker, and the image runs', skip, () => {
  const root = storeWithBusybox();
  const ctx = context(tutorialFiles);
  const out = strataOk(root, ['build', '-t', 'expressweb', ctx]);
  assert.match(out, /^Sending build context to Strata +\d+(\.\d+)?k?B\n/);
  assert.deepEqual(steps(out), [
    'Step 1/8 : FROM busybox',
    'Step 2/8 : RUN mkdir -p /usr/src/app',
    'Step 3/8 : WORKDIR /usr/src/app',
    'Step 4/8 : COPY app /usr/src/app/',
    'Step 5/8 : RUN cat package.json > /usr/src/installed',
    'Step 6/8 : COPY . /usr/src/app',
    'Step 7/8 : EXPOSE 8080',
    'Step 8/8 : CMD ["cat", "/usr/src/app/server.txt"]',
  ]);
  assert.match(out, / ---> Running in [0-9a-f]{12}\nRemoving intermediate container [0-9a-f]{12}\n ---> [0-9a-f]{12}\n/);
  const id = /Successfully built ([0-9a-f]{12})\n/.exec(out)?.[1];
  assert.ok(id);
  assert.match(out, /Successfully tagged expressweb:latest\n$/);

  const history = jsonLines(strataOk(root, ['history', '--format', 'json', '--no-trunc', 'expressweb'])) as { CreatedBy: string; ID: string }[];
  const createdBy = history.map((row) => row.CreatedBy);
  assert.equal(createdBy[0], '/bin/sh -c #(nop)  CMD ["cat" "/usr/src/app/server.txt"]');
  assert.equal(createdBy[1], '/bin/sh -c #(nop)  EXPOSE 8080');
  assert.match(createdBy[2]!, /^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \/usr\/src\/app $/);
  assert.equal(createdBy[3], '/bin/sh -c cat package.json > /usr/src/installed');
  assert.match(createdBy[4]!, /^\/bin\/sh -c #\(nop\) COPY dir:[0-9a-f]{64} in \/usr\/src\/app\/ $/);
  assert.equal(createdBy[5], '/bin/sh -c #(nop)  WORKDIR /usr/src/app');
  assert.equal(createdBy[6], '/bin/sh -c mkdir -p /usr/src/app');
  // Every step's image is kept locally, so history shows its ID, as Docker's does after a classic build.
  assert.ok(history.slice(0, 8).every((row) => row.ID.startsWith('sha256:')));

  assert.equal(strataOk(root, ['run', '--rm', 'expressweb']), 'hello from the server\n');
  assert.equal(strataOk(root, ['run', '--rm', 'expressweb', 'cat', '/usr/src/installed']), '{"name":"app"}\n');
  // No container is left from the RUN steps, and the intermediate images are hidden from `images`.
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  assert.deepEqual(strataOk(root, ['images', '--format', '{{.Repository}}']).trim().split('\n').sort(), ['busybox', 'expressweb']);
});

test('the cache: unchanged, late change, early change, same-size edit, --no-cache and builder prune', skip, () => {
  const root = storeWithBusybox();
  const ctx = context(tutorialFiles);
  const first = strataOk(root, ['build', '-t', 'expressweb', ctx]);
  const id = /Successfully built (\w+)/.exec(first)![1];

  const unchanged = strataOk(root, ['build', '-t', 'expressweb', ctx]);
  assert.deepEqual(cacheUse(unchanged), [false, true, true, true, true, true, true, true]);
  assert.equal(/Successfully built (\w+)/.exec(unchanged)![1], id);
  assert.doesNotMatch(unchanged, /Running in/);

  // A file only the second COPY uses: everything before it comes from the cache.
  fs.writeFileSync(path.join(ctx, 'server.txt'), 'hello again\n');
  assert.deepEqual(cacheUse(strataOk(root, ['build', '-t', 'expressweb', ctx])), [false, true, true, true, true, false, false, false]);
  assert.equal(strataOk(root, ['run', '--rm', 'expressweb']), 'hello again\n');

  // A file the first COPY uses: rebuilt from step 4 on, RUN included.
  fs.writeFileSync(path.join(ctx, 'app/package.json'), '{"name":"changed"}\n');
  const early = strataOk(root, ['build', '-t', 'expressweb', ctx]);
  assert.deepEqual(cacheUse(early), [false, true, true, false, false, false, false, false]);
  assert.match(early, /Running in/);

  // Same size, same mtime, new content: the ctime gives it away.
  const file = path.join(ctx, 'app/package.json');
  const { mtime, size } = fs.statSync(file);
  fs.writeFileSync(file, '{"name":"CHANGED"}\n');
  fs.utimesSync(file, mtime, mtime);
  assert.equal(fs.statSync(file).size, size);
  assert.deepEqual(cacheUse(strataOk(root, ['build', '-t', 'expressweb', ctx])).slice(0, 4), [false, true, true, false]);
  assert.equal(strataOk(root, ['run', '--rm', 'expressweb', 'cat', '/usr/src/installed']), '{"name":"CHANGED"}\n');

  const noCache = strataOk(root, ['build', '--no-cache', '-t', 'expressweb', ctx]);
  assert.doesNotMatch(noCache, /Using cache/);

  const pruned = strataOk(root, ['builder', 'prune', '-f']);
  assert.match(pruned, /Total reclaimed space: /);
  assert.doesNotMatch(strataOk(root, ['build', '-t', 'expressweb', ctx]), /Using cache/);
  assert.equal(strata(root, ['system', 'check']).status, 0);
});

test('rmi of a built image deletes its untagged step images too (not with --no-prune), as Docker does', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({ Dockerfile: 'FROM busybox\nRUN echo a > /a\nENV X=1\nCMD ["sh"]\n' });
  strataOk(root, ['build', '-t', 'pruned', ctx]);
  strataOk(root, ['tag', 'pruned', 'kept']);
  const all = () => new Set(strataOk(root, ['images', '-aq']).trim().split('\n')).size;
  assert.equal(all(), 4); // busybox and the RUN, ENV and CMD steps
  assert.equal(strataOk(root, ['rmi', '--no-prune', 'pruned']), 'Untagged: pruned:latest\n');
  const removed = strataOk(root, ['rmi', 'kept']);
  assert.equal(removed.match(/^Deleted: sha256:/gm)?.length, 3, removed);
  assert.equal(all(), 1);
  assert.equal(strata(root, ['system', 'check']).status, 0);
});

test('two Dockerfiles that begin alike share their first steps and layers', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({ 'a.txt': 'a\n', Dockerfile: 'FROM busybox\nRUN echo base > /base\nCOPY a.txt /a.txt\nCMD ["one"]\n', 'Dockerfile.other': 'FROM busybox\nRUN echo base > /base\nCOPY a.txt /a.txt\nCMD ["two"]\n' });
  strataOk(root, ['build', '-t', 'one', ctx]);
  const other = strataOk(root, ['build', '-t', 'two', '-f', path.join(ctx, 'Dockerfile.other'), ctx]);
  assert.deepEqual(cacheUse(other), [false, true, true, false]);
  const layers = (name: string) => (JSON.parse(strataOk(root, ['inspect', name])) as { RootFS: { Layers: string[] } }[])[0]!.RootFS.Layers;
  assert.deepEqual(layers('one'), layers('two'));
});

test('a failed RUN prints its output and exit code, and leaves no image and no container', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({ Dockerfile: 'FROM busybox\nRUN echo working && echo oops >&2 && exit 3\nCMD ["x"]\n' });
  const before = strataOk(root, ['images', '-q']);
  const failed = strata(root, ['build', '-t', 'broken', ctx]);
  assert.equal(failed.status, 3);
  // Both streams are shown; their order between two pipes is not guaranteed (nor is it in Docker's output).
  assert.match(failed.stdout, /^working$/m);
  assert.match(failed.stdout, /^oops$/m);
  assert.match(failed.stderr, /The command '\/bin\/sh -c echo working && echo oops >&2 && exit 3' returned a non-zero code: 3/);
  assert.equal(strataOk(root, ['images', '-q']), before);
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).filter((name) => name !== 'l'), []);
  assert.equal(strata(root, ['system', 'check']).status, 0);
});

test('multi-stage: COPY --from a stage, stages the target does not need are skipped, --target', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({
    Dockerfile: `FROM busybox AS build
RUN mkdir /out && echo compiled > /out/app
FROM busybox AS broken
RUN exit 1
FROM busybox
COPY --from=build /out/app /usr/bin/app
CMD ["cat", "/usr/bin/app"]
`,
  });
  const out = strataOk(root, ['build', '-t', 'multi', ctx]);
  assert.doesNotMatch(out, /exit 1/);
  assert.equal(steps(out).length, 5);
  assert.equal(strataOk(root, ['run', '--rm', 'multi']), 'compiled\n');
  const target = strata(root, ['build', '--target', 'broken', ctx]);
  assert.equal(target.status, 1);
  assert.match(target.stderr, /returned a non-zero code: 1/);
  const missing = strata(root, ['build', '--target', 'nope', ctx]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /target stage "nope" could not be found/);
});

test('COPY and ADD: .dockerignore, --chown, --chmod, heredocs, ADD of a tar, build args, labels', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({
    '.dockerignore': 'secret*\n*.log\n!keep.log\n',
    'secret.txt': 'do not send\n',
    'debug.log': 'noise\n',
    'keep.log': 'kept\n',
    'src/main.sh': 'echo main\n',
    Dockerfile: `FROM busybox
ARG GREETING=hello
ENV WHO=world
LABEL org.example.title="demo app"
COPY --chown=nobody:nogroup --chmod=750 src/ /opt/src/
COPY . /ctx/
ADD bundle.tar /opt/bundle/
COPY <<EOF /etc/motd
$GREETING $WHO
EOF
RUN <<EOF
echo "$GREETING from a heredoc" > /greeting
EOF
RUN echo "$GREETING" > /arg
`,
  });
  const tarSource = tempDir('strata-tarsrc-');
  roots.push(tarSource);
  fs.mkdirSync(path.join(tarSource, 'lib'));
  fs.writeFileSync(path.join(tarSource, 'lib/data.txt'), 'from the tarball\n');
  fs.chmodSync(path.join(tarSource, 'lib/data.txt'), 0o640);
  sh(`tar -C '${tarSource}' -czf '${path.join(ctx, 'bundle.tar')}' lib`);

  strataOk(root, ['build', '--build-arg', 'GREETING=hi', '--label', 'stage=test', '-t', 'files', ctx]);
  const inContainer = (command: string) => strataOk(root, ['run', '--rm', 'files', 'sh', '-c', command]);
  assert.equal(inContainer('ls /ctx | sort'), 'Dockerfile\nbundle.tar\nkeep.log\nsrc\n');
  assert.equal(inContainer('cat /ctx/src/main.sh'), 'echo main\n');
  assert.equal(inContainer('stat -c "%U:%G %a" /opt/src/main.sh'), 'nobody:nogroup 750\n');
  assert.equal(inContainer('cat /opt/bundle/lib/data.txt; stat -c %a /opt/bundle/lib/data.txt'), 'from the tarball\n640\n');
  assert.equal(inContainer('cat /etc/motd'), 'hi world\n');
  assert.equal(inContainer('cat /greeting /arg'), 'hi from a heredoc\nhi\n');
  const config = (JSON.parse(strataOk(root, ['inspect', 'files'])) as { Config: { Env: string[]; Labels: Record<string, string> } }[])[0]!.Config;
  assert.ok(config.Env.includes('WHO=world'));
  assert.deepEqual(config.Labels, { 'org.example.title': 'demo app', stage: 'test' });
  const history = jsonLines(strataOk(root, ['history', '--format', 'json', '--no-trunc', 'files'])) as { CreatedBy: string }[];
  assert.equal(history[1]!.CreatedBy, '|1 GREETING=hi /bin/sh -c echo "$GREETING" > /arg');
});

test('.dockerignore matches as Docker on Linux: case-sensitive, ** and exceptions; a bad pattern is one line', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  const root = tempDir('strata-build-');
  roots.push(root);
  const ctx = context({
    '.dockerignore': '# secrets\nsecret.txt\n**/*.tmp\nbuild\n!build/keep.txt\n',
    'secret.txt': 'do not send\n',
    'Secret.TXT': 'a different file\n',
    'sub/secret.txt': 'not at the top\n',
    'a/b/c.tmp': 'scratch\n',
    'x.tmp': 'scratch\n',
    'build/out.bin': 'binary\n',
    'build/keep.txt': 'kept\n',
    Dockerfile: 'FROM scratch\nCOPY . /ctx/\n',
  });
  strataOk(root, ['build', '-t', 'ignored', ctx]);
  // The layer as unpacked in the store: what COPY . took from the context.
  const [layerDir] = (JSON.parse(strataOk(root, ['inspect', 'ignored'])) as { Strata: { LayerDirs: string[] } }[])[0]!.Strata.LayerDirs;
  const files: string[] = [];
  const list = (rel: string) => {
    for (const name of fs.readdirSync(path.join(layerDir!, rel)).sort()) {
      const child = path.join(rel, name);
      if (fs.statSync(path.join(layerDir!, child)).isDirectory()) list(child);
      else files.push(child);
    }
  };
  list('ctx');
  assert.deepEqual(files, ['ctx/.dockerignore', 'ctx/Dockerfile', 'ctx/Secret.TXT', 'ctx/build/keep.txt', 'ctx/sub/secret.txt']);
  assert.equal(fs.readFileSync(path.join(layerDir!, 'ctx/Secret.TXT'), 'utf8'), 'a different file\n');

  fs.writeFileSync(path.join(ctx, '.dockerignore'), 'ok\n[unclosed\n');
  const bad = strata(root, ['build', ctx]);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, 'Error: error checking context: .dockerignore, line 2: syntax error in pattern "[unclosed"\n');
});

test('ADD of an http URL downloads the file; --unpack decides whether archives are extracted', skip, async () => {
  const root = storeWithBusybox();
  const packDir = tempDir('strata-build-pack-');
  fs.writeFileSync(path.join(packDir, 'inner.txt'), 'from the archive\n');
  spawnSync('tar', ['-C', packDir, '-cf', path.join(packDir, 'pack.tar'), 'inner.txt']);
  const pack = fs.readFileSync(path.join(packDir, 'pack.tar'));
  const server = http.createServer((request, response) => {
    if (request.url === '/files/pack.tar') {
      response.end(pack);
    } else if (request.url === '/files/tool.sh') {
      response.writeHead(200, { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      response.end('echo downloaded\n');
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const ctx = context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/files/tool.sh /opt/\n` });
    const result = await strataAsync(root, ['build', '-t', 'added', ctx]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(strataOk(root, ['run', '--rm', 'added', 'sh', '-c', 'cat /opt/tool.sh; stat -c %a /opt/tool.sh']), 'echo downloaded\n600\n');
    const missing = context({ Dockerfile: `FROM busybox\nADD http://127.0.0.1:${port}/nothing /opt/\n` });
    const failed = await strataAsync(root, ['build', missing]);
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /404/);
    // --checksum: the right digest builds, a wrong one is one line naming both, a local source is refused.
    const digest = `sha256:${createHash('sha256').update('echo downloaded\n').digest('hex')}`;
    const checked = await strataAsync(root, ['build', context({ Dockerfile: `FROM busybox\nADD --checksum=${digest} http://127.0.0.1:${port}/files/tool.sh /opt/\n` })]);
    assert.equal(checked.status, 0, checked.stderr);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const mismatch = await strataAsync(root, ['build', context({ Dockerfile: `FROM busybox\nADD --checksum=${wrong} http://127.0.0.1:${port}/files/tool.sh /opt/\n` })]);
    assert.equal(mismatch.status, 1);
    assert.equal(mismatch.stderr, `Error: Dockerfile:2: checksum mismatch for http://127.0.0.1:${port}/files/tool.sh: expected ${wrong}, got ${digest}\n`);
    const local = await strataAsync(root, ['build', context({ Dockerfile: `FROM busybox\nADD --checksum=${digest} a /opt/\n`, a: 'a' })]);
    assert.match(local.stderr, /^Error: Dockerfile:2: ADD --checksum applies to http\(s\) sources only, not "a"\n$/);

    // A downloaded archive stays a file unless --unpack=true; a local one is extracted unless --unpack=false.
    const url = `http://127.0.0.1:${port}/files/pack.tar`;
    const unpackCtx = context({ Dockerfile: `FROM busybox\nADD ${url} /kept/\nADD --unpack=true ${url} /unpacked/\nADD --unpack=false local.tar /local/\nADD local.tar /extracted/\n` });
    fs.writeFileSync(path.join(unpackCtx, 'local.tar'), pack);
    const unpacked = await strataAsync(root, ['build', '-t', 'unpacked', unpackCtx]);
    assert.equal(unpacked.status, 0, unpacked.stderr);
    assert.equal(strataOk(root, ['run', '--rm', 'unpacked', 'sh', '-c', 'ls /kept /unpacked /local /extracted']), '/extracted:\ninner.txt\n\n/kept:\npack.tar\n\n/local:\nlocal.tar\n\n/unpacked:\ninner.txt\n');
  } finally {
    server.close();
  }
});

test('a relative --root works for builds and runs (the store is found from the directory the CLI started in)', skip, () => {
  const cwd = tempDir('strata-relroot-');
  const run = (args: string[]) => spawnSync(process.execPath, [cliPath, '--root', 'store', ...args], { cwd, encoding: 'utf8' });
  assert.equal(run(['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']).status, 0);
  fs.mkdirSync(path.join(cwd, 'ctx'));
  fs.writeFileSync(path.join(cwd, 'ctx', 'Dockerfile'), 'FROM busybox\nRUN echo built > /built\n');
  const built = run(['build', '-q', '-t', 'rel', 'ctx']);
  assert.equal(built.status, 0, built.stderr);
  assert.equal(run(['run', '--rm', 'rel', 'cat', '/built']).stdout, 'built\n');
});

test('contexts from stdin: a tarball, or a lone Dockerfile; -q and --iidfile print the ID', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({ Dockerfile: 'FROM busybox\nCOPY hello.txt /\n', 'hello.txt': 'hi\n' });
  const tarball = path.join(tempDir('strata-ctxtar-'), 'ctx.tar');
  roots.push(path.dirname(tarball));
  sh(`tar -C '${ctx}' -cf '${tarball}' .`);
  const fromTar = strataOk(root, ['build', '-q', '-t', 'fromtar', '-'], { input: fs.readFileSync(tarball) });
  assert.match(fromTar, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(strataOk(root, ['run', '--rm', 'fromtar', 'cat', '/hello.txt']), 'hi\n');
  assert.equal(strataOk(root, ['build', '-q', tarball]), fromTar);

  const iidfile = path.join(path.dirname(tarball), 'iid');
  strataOk(root, ['build', '--iidfile', iidfile, '-t', 'lone', '-'], { input: 'FROM busybox\nCMD ["echo", "from stdin"]\n' });
  assert.match(fs.readFileSync(iidfile, 'utf8'), /^sha256:[0-9a-f]{64}$/);
  assert.equal(strataOk(root, ['run', '--rm', 'lone']), 'from stdin\n');
});

test('the same Dockerfile and context give the same layers in another store, another day', skip, () => {
  const ctx = context({ Dockerfile: 'FROM busybox\nCOPY app/ /app/\nRUN echo built > /app/built\n', 'app/a.txt': 'a\n', 'app/sub/b.txt': 'b\n' });
  const layersOf = (root: string) => (JSON.parse(strataOk(root, ['inspect', 'repro'])) as { RootFS: { Layers: string[] } }[])[0]!.RootFS.Layers;
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const first = storeWithBusybox();
  assert.equal(strata(first, ['build', '-t', 'repro', ctx], { env }).status, 0);
  // New mtimes on every file: nothing in the layers may depend on them.
  for (const file of ['app/a.txt', 'app/sub/b.txt']) fs.utimesSync(path.join(ctx, file), new Date(), new Date());
  const second = storeWithBusybox();
  assert.equal(strata(second, ['build', '-t', 'repro', ctx], { env }).status, 0);
  assert.deepEqual(layersOf(first), layersOf(second));
});

test('COPY and COPY --from read images through their layers, without mounting them', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({
    Dockerfile: `FROM busybox AS base
RUN mkdir -p /opt/real && ln -s /opt/real /opt/link && echo data > /opt/real/file && rm /etc/group
FROM base
COPY new.txt /opt/link/
COPY --from=base /opt/link/file /copied
`,
    'new.txt': 'new\n',
  });
  const mountsBefore = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(root)).length;
  strataOk(root, ['build', '-t', 'viewed', ctx]);
  // The destination went through the image's symlink; the source came from the stage's layers.
  assert.equal(strataOk(root, ['run', '--rm', 'viewed', 'sh', '-c', 'cat /opt/real/new.txt /copied; ls /etc']), 'new\ndata\npasswd\n');
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(root)).length, mountsBefore);
  assert.deepEqual(fs.readdirSync(path.join(root, 'snapshots')).filter((name) => name !== 'l'), []);
});

test('ONBUILD triggers run in the child build', skip, () => {
  const root = storeWithBusybox();
  strataOk(root, ['build', '-t', 'parent', context({ Dockerfile: 'FROM busybox\nONBUILD COPY message.txt /message.txt\n' })]);
  const out = strataOk(root, ['build', '-t', 'child', context({ Dockerfile: 'FROM parent\nCMD ["cat", "/message.txt"]\n', 'message.txt': 'triggered\n' })]);
  assert.match(out, /# Executing 1 build trigger\n/);
  assert.equal(strataOk(root, ['run', '--rm', 'child']), 'triggered\n');
});

test('bad Dockerfiles and bad sources: file:line, exit 1, store unchanged', skip, () => {
  const root = storeWithBusybox();
  const cases: [Record<string, string>, RegExp][] = [
    [{ Dockerfile: 'FROM busybox\nFORM x\n' }, /Dockerfile:2: unknown instruction: FORM/i],
    [{ Dockerfile: 'RUN echo\n' }, /Dockerfile:1: no build stage in current context/],
    [{ Dockerfile: 'FROM busybox\nCOPY missing.txt /\n' }, /COPY failed: file not found in build context or excluded by \.dockerignore: stat missing\.txt: file does not exist/],
    [{ Dockerfile: 'FROM busybox\nCOPY a b /dest\n', a: '', b: '' }, /must be a directory and end with a \//],
    [{ Dockerfile: 'FROM nosuchimage\n' }, /nosuchimage/],
    [{ 'other.txt': '' }, /Dockerfile/],
  ];
  const before = fs.readdirSync(path.join(root, 'blobs', 'sha256')).sort();
  for (const [files, error] of cases) {
    const result = strata(root, ['build', context(files)]);
    assert.equal(result.status, 1, `${JSON.stringify(files)}: ${result.stderr}`);
    assert.match(result.stderr, error);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
  assert.deepEqual(fs.readdirSync(path.join(root, 'blobs', 'sha256')).sort(), before);
  assert.equal(strata(root, ['system', 'check']).status, 0);
});

test('ADD of a hostile archive: paths are kept under the destination, writing through a symlink is refused', skip, () => {
  const root = storeWithBusybox();
  const ctx = context({ Dockerfile: 'FROM busybox\nADD evil.tar /x/\n' });
  const staging = tempDir('strata-evil-');
  roots.push(staging);
  fs.mkdirSync(path.join(staging, 'etc'));
  fs.writeFileSync(path.join(staging, 'etc', 'escaped'), 'x');
  fs.symlinkSync('/etc', path.join(staging, 'link'));
  // `../../etc/escaped` and an entry below the symlink `link` (GNU tar keeps both as written).
  sh(`tar -C '${staging}' -cf '${path.join(ctx, 'evil.tar')}' --transform 's,^etc/escaped,../../etc/escaped,' link etc/escaped`);
  sh(`cd '${staging}' && tar --append -f '${path.join(ctx, 'evil.tar')}' --transform 's,^etc/,link/,' etc/escaped`);
  const before = strataOk(root, ['images', '-aq']);
  const result = strata(root, ['build', '-t', 'evil', ctx]);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /path goes through the symlink "x\/link"/);
  assert.equal(strataOk(root, ['images', '-aq']), before);
  assert.equal(fs.existsSync('/etc/escaped'), false);
  assert.equal(strata(root, ['system', 'check']).status, 0);
});

test('build --print-instructions prints the parsed instructions as JSON', () => {
  const root = tempDir('strata-check-');
  roots.push(root);
  const ctx = context({ Dockerfile: 'FROM busybox AS base\nRUN ["echo", "hi"]\nCOPY --chown=1:1 a /b\n' });
  const parsed = JSON.parse(strataOk(root, ['build', '--print-instructions', ctx])) as { name: string; json: boolean; flags: string[]; startLine: number }[];
  assert.deepEqual(
    parsed.map((i) => [i.name, i.json, i.flags, i.startLine]),
    [
      ['FROM', false, [], 1],
      ['RUN', true, [], 2],
      ['COPY', false, ['--chown=1:1'], 3],
    ],
  );
});

test('a base without PATH (made by import) gets Docker\'s default one: ENV PATH=/app:$PATH extends it, RUN finds sh', skip, () => {
  const root = storeWithBusybox();
  assert.doesNotMatch(strataOk(root, ['inspect', '-f', '{{json .Config.Env}}', 'busybox']), /PATH/, 'the imported base sets no PATH');
  const built = strataOk(root, ['build', '-t', 'pathed', context({ Dockerfile: 'FROM busybox\nENV PATH=/app:$PATH\nRUN echo "path: $PATH"\n' })]);
  assert.match(built, /^path: \/app:\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
  assert.deepEqual(JSON.parse(strataOk(root, ['inspect', '-f', '{{json .Config.Env}}', 'pathed'])), ['PATH=/app:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  // FROM scratch too, as Docker's builder: the image's config carries the default PATH.
  strataOk(root, ['build', '-t', 'scratchy', context({ Dockerfile: 'FROM scratch\nCOPY a /a\n', a: 'a' })]);
  assert.deepEqual(JSON.parse(strataOk(root, ['inspect', '-f', '{{json .Config.Env}}', 'scratchy'])), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
});

test('COPY --exclude leaves out what its patterns match (.dockerignore syntax); an excluded file changing is no cache miss', skip, () => {
  const root = storeWithBusybox();
  const dir = context({
    Dockerfile: 'FROM busybox\nCOPY --exclude=*.log --exclude=tmp --exclude=**/*.bak --exclude=!keep.log src/ /app/\nCOPY --exclude=*.txt notes.txt other.md /docs/\n',
    'src/main.c': 'int main;',
    'src/debug.log': 'log',
    'src/keep.log': 'kept',
    'src/tmp/scratch': 'x',
    'src/deep/old.bak': 'bak',
    'src/deep/new.c': 'new',
    'notes.txt': 'notes',
    'other.md': 'md',
  });
  strataOk(root, ['build', '-t', 'excluded', dir]);
  const listed = strataOk(root, ['run', '--rm', 'excluded', 'sh', '-c', 'cd /app && find . -type f | sort; ls /docs']);
  assert.equal(listed, './deep/new.c\n./keep.log\n./main.c\nother.md\n');
  fs.writeFileSync(path.join(dir, 'src', 'debug.log'), 'changed log');
  assert.equal(cacheUse(strataOk(root, ['build', '-t', 'excluded', dir])).filter(Boolean).length, 2, 'both COPY steps from the cache');
  fs.writeFileSync(path.join(dir, 'src', 'main.c'), 'int main(void);');
  assert.deepEqual(cacheUse(strataOk(root, ['build', '-t', 'excluded', dir])), [false, false, false]);
});

test('-o writes the target\'s filesystem: to a directory, as a tar file, or as a tar on stdout (the transcript on stderr)', skip, () => {
  const root = storeWithBusybox();
  const dir = context({ Dockerfile: 'FROM busybox AS base\nRUN echo made > /made\nFROM base\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' });
  const out = path.join(tempDir('strata-build-out-'), 'rootfs');
  strataOk(root, ['build', '-o', `type=local,dest=${out}`, dir]);
  assert.equal(fs.readFileSync(path.join(out, 'made'), 'utf8'), 'made\n');
  assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'a\n');
  assert.ok(fs.existsSync(path.join(out, 'bin', 'busybox')));
  assert.equal(fs.existsSync(path.join(out, 'proc')), false, 'no container mount points');
  const tarFile = path.join(tempDir('strata-build-out-'), 'rootfs.tar');
  strataOk(root, ['build', '-o', `type=tar,dest=${tarFile}`, dir]);
  assert.match(sh(`tar -tf '${tarFile}'`), /^(\.\/)?made$/m);
  const piped = spawnSync(process.execPath, [cliPath, '--root', root, 'build', '-o', '-', dir], { maxBuffer: 1 << 28 });
  assert.equal(piped.status, 0, piped.stderr.toString());
  assert.match(piped.stderr.toString(), /^Successfully built [0-9a-f]{12}$/m);
  const listed = spawnSync('tar', ['-t'], { input: piped.stdout, encoding: 'utf8' });
  assert.match(listed.stdout, /^(\.\/)?a\.txt$/m);
  const bad = strata(root, ['build', '-o', 'type=oci,dest=x', dir]);
  assert.equal(bad.stderr, 'Error: unsupported output type "oci": use local or tar\n');
});

/** A shell command that marks `self` arrived in /m and waits for `other` to arrive, failing after 30 s alone. */
const meet = (self: string, other: string) => `sh -c 'touch /m/${self}; i=0; while [ ! -e /m/${other} ]; do i=$((i+1)); [ $i -gt 300 ] && exit 9; sleep 0.1; done'`;

test('independent stages build at once, their transcripts each whole and in order; a failing stage fails the build and leaves nothing', skip, () => {
  const root = storeWithBusybox();
  const dir = context({
    Dockerfile: [
      // Each stage's RUN waits (up to 30 s) to meet the other's in a shared cache mount: run one after the other,
      // the first would give up and fail the build. No clock is read: only whether they ran at the same time.
      'FROM busybox AS a',
      `RUN --mount=type=cache,id=meet,target=/m ${meet('a', 'b')} && echo a > /a && echo from-a`,
      'FROM busybox AS b',
      `RUN --mount=type=cache,id=meet,target=/m ${meet('b', 'a')} && echo b > /b && echo from-b`,
      'FROM busybox',
      'COPY --from=a /a /a',
      'COPY --from=b /b /b',
      'RUN cat /a /b',
      '',
    ].join('\n'),
  });
  const out = strataOk(root, ['build', '--no-cache', '-t', 'stages', dir]);
  const lines = out.split('\n');
  const at = (text: string) => lines.findIndex((line) => line.startsWith(text));
  assert.ok(at('Step 1/8 : FROM busybox AS a') < at('from-a') && at('from-a') < at('Step 3/8 : FROM busybox AS b'), out);
  assert.ok(at('Step 3/8') < at('from-b') && at('from-b') < at('Step 5/8'), out);
  assert.match(out, /^a\nb$/m);

  const failing = context({ Dockerfile: 'FROM busybox AS slow\nRUN sleep 1\nFROM busybox AS bad\nRUN exit 3\nFROM busybox\nCOPY --from=slow /bin/sh /x\nCOPY --from=bad /bin/sh /y\n' });
  const result = strata(root, ['build', failing]);
  assert.equal(result.status, 3);
  assert.equal(result.stderr, "Error: The command '/bin/sh -c exit 3' returned a non-zero code: 3\n");
  assert.equal(strataOk(root, ['ps', '-aq']), '', 'no step container is left, the other stage\'s included');
});

test('--build-context: an image under another name for FROM, a directory for COPY --from and RUN --mount from=', skip, () => {
  const root = storeWithBusybox();
  const extra = context({ 'e.txt': 'from extra\n', '.dockerignore': 'hidden.txt\n', 'hidden.txt': 'hidden\n' });
  const dir = context({ Dockerfile: 'FROM base\nCOPY --from=extra e.txt /e.txt\nRUN --mount=type=bind,from=extra,target=/x cat /x/e.txt /e.txt\n' });
  const out = strataOk(root, ['build', '--build-context', 'base=docker-image://busybox', '--build-context', `extra=${extra}`, '-t', 'named', dir]);
  assert.match(out, /^from extra\nfrom extra$/m);
  const ignored = strata(root, ['build', '--build-context', 'base=docker-image://busybox', '--build-context', `extra=${extra}`, context({ Dockerfile: 'FROM base\nCOPY --from=extra hidden.txt /h\n' })]);
  assert.equal(ignored.status, 1, 'the named context\'s .dockerignore applies');
  // A changed file of the named context is a cache miss, as one of the main context is.
  assert.equal(cacheUse(strataOk(root, ['build', '--build-context', 'base=docker-image://busybox', '--build-context', `extra=${extra}`, dir])).filter(Boolean).length, 2);
  fs.writeFileSync(path.join(extra, 'e.txt'), 'changed\n');
  assert.match(strataOk(root, ['build', '--build-context', 'base=docker-image://busybox', '--build-context', `extra=${extra}`, dir]), /^changed\nchanged$/m);
  assert.equal(strata(root, ['build', '--build-context', 'extra=/nonexistent', dir]).stderr, 'Error: build context extra: /nonexistent does not exist\n');
});

test('--build-context NAME=DIR as a FROM base: the directory is the stage\'s filesystem, cached by its files', skip, () => {
  const root = storeWithBusybox();
  const rootfs = context({ 'etc/motd': 'hello\n', 'bin/.keep': '', '.dockerignore': 'skip.txt\n', 'skip.txt': 'no\n' });
  fs.cpSync(path.join(busyboxRootfs(), 'bin'), path.join(rootfs, 'bin'), { recursive: true, verbatimSymlinks: true });
  const dir = context({ Dockerfile: 'FROM tree\nRUN cat /etc/motd && test ! -e /skip.txt\n' });
  const first = strataOk(root, ['build', '--build-context', `tree=${rootfs}`, '-t', 'fromdir', dir]);
  assert.match(first, /^hello$/m);
  // One layer, the directory's (the RUN changed nothing), and its history entry.
  assert.equal(JSON.parse(strataOk(root, ['inspect', '--format', '{{json .RootFS.Layers}}', 'fromdir'])).length, 1);
  assert.match(strataOk(root, ['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'fromdir']), /^FROM tree$/m);
  assert.equal(cacheUse(strataOk(root, ['build', '--build-context', `tree=${rootfs}`, dir])).filter(Boolean).length, 1);
  fs.writeFileSync(path.join(rootfs, 'etc/motd'), 'changed\n');
  assert.match(strataOk(root, ['build', '--build-context', `tree=${rootfs}`, dir]), /^changed$/m);
});

test('COPY --parents keeps each source\'s path under the destination, below a /./ pivot when there is one', skip, () => {
  const root = storeWithBusybox();
  const dir = context({
    Dockerfile: 'FROM busybox\nCOPY --parents x/a.txt y/z/*.txt /dest/\nCOPY --parents ./src/./pkg/lib /pivot/\nCOPY x/a.txt y/z/b.txt /flat/\n',
    'x/a.txt': 'a',
    'y/z/b.txt': 'b',
    'src/pkg/lib/m.c': 'm',
  });
  strataOk(root, ['build', '-t', 'parents', dir]);
  const listed = strataOk(root, ['run', '--rm', 'parents', 'sh', '-c', 'cd / && find dest pivot flat -type f | sort']);
  assert.equal(listed, 'dest/x/a.txt\ndest/y/z/b.txt\nflat/a.txt\nflat/b.txt\npivot/pkg/lib/m.c\n');
});

test('ADD of a git repository: its HEAD, a tag, a branch, a subdirectory, --keep-git-dir; a missing ref is one line', { skip: canRun && fs.existsSync('/usr/lib/git-core/git-daemon') ? false : 'needs root, runc and git-daemon' }, async (t) => {
  const root = storeWithBusybox();
  const base = tempDir('strata-git-');
  const work = path.join(base, 'work');
  const git = (args: string[], cwd = work) => {
    const result = spawnSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };
  fs.mkdirSync(path.join(work, 'sub'), { recursive: true });
  git(['init', '--quiet', '--initial-branch=main', work], base);
  fs.writeFileSync(path.join(work, 'top.txt'), 'v1\n');
  fs.writeFileSync(path.join(work, 'sub', 'inner.txt'), 'inner\n');
  git(['add', '.']);
  git(['commit', '--quiet', '-m', 'one']);
  git(['tag', 'v1']);
  git(['checkout', '--quiet', '-b', 'feature']);
  fs.writeFileSync(path.join(work, 'top.txt'), 'feature\n');
  git(['commit', '--quiet', '-am', 'two']);
  const featureCommit = git(['rev-parse', 'HEAD']);
  git(['checkout', '--quiet', 'main']);
  git(['clone', '--quiet', '--bare', work, path.join(base, 'repo.git')], base);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const daemon = spawn('git', ['daemon', '--export-all', '--reuseaddr', `--base-path=${base}`, `--port=${port}`, '--listen=127.0.0.1', base], { stdio: 'ignore' });
  t.after(() => daemon.kill());
  const url = `git://127.0.0.1:${port}/repo.git`;
  for (let i = 0; i < 100 && spawnSync('git', ['ls-remote', url], { stdio: 'ignore' }).status !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const dir = context({
    Dockerfile: [
      'FROM busybox',
      `ADD ${url} /head/`,
      `ADD ${url}#v1:sub /tagged-sub/`,
      `ADD ${url}#feature /feature/`,
      `ADD --keep-git-dir=true ${url} /with-git/`,
      '',
    ].join('\n'),
  });
  const built = await strataAsync(root, ['build', '-t', 'gitted', dir]);
  assert.equal(built.status, 0, built.stderr);
  const shown = strataOk(root, ['run', '--rm', 'gitted', 'sh', '-c', 'cat /head/top.txt /tagged-sub/inner.txt /feature/top.txt; test -d /head/.git || echo no-git; test -d /with-git/.git && echo has-git']);
  assert.equal(shown, 'v1\ninner\nfeature\nno-git\nhas-git\n');
  const checksum = await strataAsync(root, ['build', context({ Dockerfile: `FROM busybox\nADD --checksum=${featureCommit} ${url}#feature /f/\n` })]);
  assert.equal(checksum.status, 0, checksum.stderr);
  const missing = await strataAsync(root, ['build', context({ Dockerfile: `FROM busybox\nADD ${url}#nosuch /x/\n` })]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, `Error: Dockerfile:2: git ref "nosuch" does not exist in ${url}\n`);
  assert.equal(strataOk(root, ['ps', '-aq']), '');
});
