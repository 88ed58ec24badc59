/**
 * The build cache that travels: `--cache-to` from one store, `--cache-from` into a fresh one, through Strata's
 * own registry, Debian's docker-registry and an OCI layout directory. Every unchanged step is `Using cache`
 * without running, the image ID is the original's, only the layers the image needs are downloaded; mode=max
 * carries the other stages and the cache mounts; a cache that cannot be read is a warning, never a poisoned store.
 * Needs root and runc.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { busyboxTar, contextDir, hasCommand, strataAsync, strataOk, tempDir } from '../helpers.js';
import { startDockerRegistry, startRegistry } from '../registry-fixture.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };
const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

/** One busybox image (one image ID) for every store of this file: a cache matches only the same base. */
let busyboxArchive: string | undefined;
function store(): string {
  if (!busyboxArchive) {
    const origin = tempDir('strata-cache-origin-');
    strataOk(origin, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
    busyboxArchive = path.join(tempDir('strata-cache-bb-'), 'busybox.tar');
    strataOk(origin, ['save', '-o', busyboxArchive, 'busybox']);
  }
  const root = tempDir('strata-cache-');
  strataOk(root, ['load', '-i', busyboxArchive]);
  return root;
}

const twoStores = (): [string, string] => [store(), store()];

const context = (files: Record<string, string>) => contextDir(files, 'strata-cache-ctx-');

const steps = (out: string) => out.split('\n').filter((line) => line.startsWith('Step ')).length;
const cached = (out: string) => out.split('\n').filter((line) => line === ' ---> Using cache').length;
const ran = (out: string) => out.split('\n').filter((line) => line.startsWith(' ---> Running in')).length;
const imageId = (root: string, name: string) => strataOk(root, ['images', '-q', '--no-trunc', name]).trim();
const layerDirs = (root: string) => fs.readdirSync(path.join(root, 'layers')).filter((name) => !name.startsWith('.'));

/** A multi-stage build: a builder stage whose own layers the final image does not carry, and the final image. */
const twoStage = {
  Dockerfile: ['FROM busybox AS builder', 'RUN echo compiled > /artifact && dd if=/dev/zero of=/scratch bs=1k count=64 2>/dev/null', 'FROM busybox', 'COPY app.txt /app/', 'RUN cat /app/app.txt > /app/ran.txt', 'COPY --from=builder /artifact /app/artifact', 'CMD ["cat", "/app/artifact"]', ''].join('\n'),
  'app.txt': 'the app\n',
};

async function roundTrip(cacheRef: string, t: { diagnostic(text: string): void }) {
  const [first, second] = twoStores();
  const dir = context(twoStage);
  const built = await strataAsync(first, ['build', '-t', 'app', '--cache-to', `type=registry,ref=${cacheRef},mode=max`, dir]);
  assert.equal(built.status, 0, built.stderr);
  assert.equal(ran(built.stdout), 2);

  const layersBefore = layerDirs(second).length;
  const imported = await strataAsync(second, ['build', '-t', 'app', '--cache-from', `type=registry,ref=${cacheRef}`, dir]);
  assert.equal(imported.status, 0, imported.stderr);
  t.diagnostic(imported.stdout);
  // Every step but the two FROMs from the cache, nothing run, the same image.
  assert.equal(ran(imported.stdout), 0, imported.stdout);
  assert.equal(cached(imported.stdout), steps(imported.stdout) - 2, imported.stdout);
  assert.equal(imageId(second, 'app'), imageId(first, 'app'));
  // Only the final image's three step layers came down: not the builder stage's.
  assert.equal(layerDirs(second).length - layersBefore, 3, layerDirs(second).join(' '));
  assert.equal(strataOk(second, ['run', '--rm', 'app']), 'compiled\n');
  return { first, second, dir };
}

test('--cache-to/--cache-from through the embedded registry: a fresh store takes every step from the cache, same image ID', skip, async (t) => {
  const registry = new URL((await startRegistry(t)).url).host;
  const { second, dir } = await roundTrip(`${registry}/cache/app:buildcache`, t);
  // The imported steps the image needed are the store's own now; the builder stage's, never made here, are not.
  const again = await strataAsync(second, ['build', dir]);
  assert.deepEqual([ran(again.stdout), cached(again.stdout)], [1, 2], again.stdout);

  // A changed file: the steps before it from the cache, the rest built.
  fs.writeFileSync(path.join(dir, 'app.txt'), 'changed\n');
  const third = store();
  const partial = await strataAsync(third, ['build', '-t', 'app', '--cache-from', `type=registry,ref=${registry}/cache/app:buildcache`, dir]);
  assert.equal(partial.status, 0, partial.stderr);
  assert.equal(ran(partial.stdout), 1, partial.stdout); // the builder stage's RUN came from the cache (mode=max)
  assert.equal(strataOk(third, ['run', '--rm', 'app', 'cat', '/app/ran.txt']), 'changed\n');
});

test('CI\'s pattern, --cache-from and --cache-to the same ref with mode=max, keeps every stage in the cache run after run', skip, async (t) => {
  const registry = new URL((await startRegistry(t)).url).host;
  const ref = `${registry}/cache/ci:buildcache`;
  const dir = context(twoStage);
  const runner = async () => {
    const root = store();
    const result = await strataAsync(root, ['build', '--cache-from', `type=registry,ref=${ref}`, '--cache-to', `type=registry,ref=${ref},mode=max`, '-t', 'app', dir]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout;
  };
  assert.match(await runner(), /cache from .* not used/); // nothing there yet: a warning, a full build
  // The second runner takes all from the cache, and its export (its builder stage never made in its store until
  // then) still carries the builder stage: a third runner after a change of app.txt runs only the final stage's RUN.
  assert.equal(ran(await runner()), 0);
  fs.writeFileSync(path.join(dir, 'app.txt'), 'changed\n');
  assert.equal(ran(await runner()), 1);
});

test('--cache-to/--cache-from through docker-registry (the CNCF distribution registry)', { skip: !canRun ? 'needs root and runc' : !hasCommand('docker-registry') ? 'docker-registry is not installed' : false }, async (t) => {
  const registryDir = tempDir('strata-cache-registry-');
  const host = await startDockerRegistry(registryDir, cleanups);
  await roundTrip(`${host}/cache/app:buildcache`, t);
});

test('type=local: an OCI layout directory; mode=min carries only the target chain; mode=max the cache mounts too', skip, async () => {
  const [first, second] = twoStores();
  const dir = context({
    ...twoStage,
    Dockerfile: `${twoStage.Dockerfile}FROM busybox AS other\nRUN --mount=type=cache,target=/cache sh -c 'echo warm >> /cache/log; cat /cache/log'\n`,
  });
  const layout = tempDir('strata-cache-layout-');
  const built = await strataAsync(first, ['build', '--target', 'other', '--cache-to', `type=local,dest=${layout},mode=max`, dir]);
  assert.equal(built.status, 0, built.stderr);
  assert.ok(fs.existsSync(path.join(layout, 'oci-layout')) && fs.existsSync(path.join(layout, 'index.json')));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'latest');

  // The cache mount's contents came along: a step that misses runs with it warm.
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `${twoStage.Dockerfile}FROM busybox AS other\nRUN --mount=type=cache,target=/cache sh -c 'echo warm >> /cache/log; echo changed; cat /cache/log'\n`);
  const warm = await strataAsync(second, ['build', '--target', 'other', '--cache-from', `type=local,src=${layout}`, dir]);
  assert.equal(warm.status, 0, warm.stderr);
  assert.match(warm.stdout, /^changed\nwarm\nwarm$/m);

  // mode=min: the target's chain only. The final stage's steps, not the builder's.
  const minimal = tempDir('strata-cache-layout-');
  assert.equal((await strataAsync(first, ['build', '--cache-to', `type=local,dest=${minimal}`, dir])).status, 0);
  const third = store();
  const fromMin = await strataAsync(third, ['build', '--cache-from', `type=local,src=${minimal}`, dir]);
  assert.equal(fromMin.status, 0, fromMin.stderr);
  assert.equal(ran(fromMin.stdout), 0, 'the final stage is all from the cache; the builder stage is never needed');
});

test('a cache that cannot be read is a warning and the build goes on without it; a foreign artifact is refused; the store stays clean', skip, async (t) => {
  const registry = new URL((await startRegistry(t)).url).host;
  const [first, second] = twoStores();
  const dir = context(twoStage);

  // Nothing listens there: one warning, a full build.
  const unreachable = await strataAsync(second, ['build', '--cache-from', 'type=registry,ref=127.0.0.1:9/none/cache:x', dir]);
  assert.equal(unreachable.status, 0, unreachable.stderr);
  assert.match(unreachable.stdout, /^\[Warning\] cache from 127\.0\.0\.1:9\/none\/cache:x not used: .+$/m);
  assert.equal(ran(unreachable.stdout), 2);

  // An image is no cache: refused, the build goes on.
  strataOk(first, ['tag', 'busybox', `${registry}/team/busybox:latest`]);
  assert.equal((await strataAsync(first, ['push', `${registry}/team/busybox:latest`])).status, 0);
  const foreign = await strataAsync(second, ['build', '--cache-from', `type=registry,ref=${registry}/team/busybox:latest`, dir]);
  assert.equal(foreign.status, 0, foreign.stderr);
  assert.match(foreign.stdout, /not used: cache .*busybox:latest is not a Strata build cache/);

  // A local layout whose record was tampered with: refused before anything is used.
  const layout = tempDir('strata-cache-layout-');
  assert.equal((await strataAsync(first, ['build', '--cache-to', `type=local,dest=${layout}`, dir])).status, 0);
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const recordFile = path.join(layout, 'blobs', 'sha256', manifest.config.digest.slice(7));
  fs.writeFileSync(recordFile, fs.readFileSync(recordFile, 'utf8').replace(/"schemaVersion":1/, '"schemaVersion":7'));
  const third = store();
  const tampered = await strataAsync(third, ['build', '--cache-from', `type=local,src=${layout}`, '-t', 'fine', dir]);
  assert.equal(tampered.status, 0, tampered.stderr);
  assert.match(tampered.stdout, /not used: .*does not match its digest/);
  assert.equal(ran(tampered.stdout), 2);

  // Bad specs: one line each, before any work.
  for (const [flag, spec, message] of [
    ['--cache-to', 'type=s3,ref=x', /unsupported cache type "s3" in --cache-to/],
    ['--cache-to', 'type=local', /type=local needs dest=/],
    ['--cache-to', 'type=registry,ref=x,mode=all', /mode must be min or max/],
    ['--cache-from', 'type=registry', /type=registry needs ref=/],
    ['--cache-from', 'type=local,src=/x,bogus=1', /unknown key 'bogus'/],
  ] as const) {
    const refused = await strataAsync(second, ['build', flag, spec, dir]);
    assert.equal(refused.status, 1, spec);
    assert.match(refused.stderr, message);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  }
  // An export that fails fails the build, unless ignore-error=true.
  const failedExport = await strataAsync(second, ['build', '--cache-to', 'type=registry,ref=127.0.0.1:9/none/cache:x', dir]);
  assert.equal(failedExport.status, 1);
  assert.match(failedExport.stderr, /^Error: exporting the build cache to 127\.0\.0\.1:9\/none\/cache:x: /);
  const ignored = await strataAsync(second, ['build', '--cache-to', 'type=registry,ref=127.0.0.1:9/none/cache:x,ignore-error=true', dir]);
  assert.equal(ignored.status, 0, ignored.stderr);
  assert.match(ignored.stdout, /^\[Warning\] exporting the build cache to 127\.0\.0\.1:9\/none\/cache:x: /m);
});

test('--cache-from IMAGE, as the classic builder: a pulled image\'s history matched step by step, its ID kept at its end', skip, async (t) => {
  const registry = new URL((await startRegistry(t)).url).host;
  const [first, second] = twoStores();
  const dir = context({ Dockerfile: 'FROM busybox\nENV MODE=prod\nCOPY app.txt /app/\nRUN cat /app/app.txt > /app/ran.txt\nCMD ["cat", "/app/ran.txt"]\n', 'app.txt': 'v1\n' });
  const name = `${registry}/team/app:latest`;
  strataOk(first, ['build', '-t', name, dir]);
  assert.equal((await strataAsync(first, ['push', name])).status, 0);

  // A fresh store pulls the image named by --cache-from: every step matches, the very image comes out.
  const whole = await strataAsync(second, ['build', '--cache-from', name, '-t', 'app', dir]);
  assert.equal(whole.status, 0, whole.stderr);
  assert.deepEqual([ran(whole.stdout), cached(whole.stdout)], [0, 4], whole.stdout);
  assert.equal(imageId(second, 'app'), imageId(first, name));

  // A changed file: the steps before it restored from the image, the rest built.
  fs.writeFileSync(path.join(dir, 'app.txt'), 'v2\n');
  const third = store();
  assert.equal((await strataAsync(third, ['pull', '-q', name])).status, 0); // not strataOk: the registry lives in this process
  const partial = await strataAsync(third, ['build', '--cache-from', name, '-t', 'app', dir]);
  assert.equal(partial.status, 0, partial.stderr);
  assert.deepEqual([ran(partial.stdout), cached(partial.stdout)], [1, 1], partial.stdout);
  assert.equal(strataOk(third, ['run', '--rm', 'app']), 'v2\n');
  // An image that is nowhere: a warning, a full build.
  const missing = await strataAsync(third, ['build', '--cache-from', `${registry}/team/none:latest`, dir]);
  assert.equal(missing.status, 0, missing.stderr);
  assert.match(missing.stdout, /^\[Warning\] cache from .*\/team\/none:latest not used: /m);
});

test('system df counts the build cache; builder prune --filter until= and --keep-storage take only what they pick', skip, async () => {
  const root = store();
  const dir = context({ ...twoStage, Dockerfile: `${twoStage.Dockerfile.replace('RUN echo compiled', 'RUN --mount=type=cache,target=/c echo x > /c/x && echo compiled')}` });
  strataOk(root, ['build', '-t', 'app', dir]);
  const df = strataOk(root, ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}}']);
  // Six step images (the builder's RUN, the final stage's four, ...) and one cache mount; the tagged chain is active.
  const [, total, active] = /^Build Cache (\d+) (\d+)$/m.exec(df)!.map(Number);
  assert.ok(total! >= 6 && active! >= 4 && active! < total!, df);

  assert.match(strataOk(root, ['builder', 'prune', '-f', '--filter', 'until=1h']), /^Total reclaimed space: 0B$/m);
  assert.match(strataOk(root, ['builder', 'prune', '-f', '--keep-storage', '1g']), /^Total reclaimed space: 0B$/m);
  assert.equal(ran((await strataAsync(root, ['build', dir])).stdout), 0, 'nothing was taken');
  // Nothing may stay: the builder stage's step and the mount go, the tagged chain stays.
  assert.match(strataOk(root, ['builder', 'prune', '-f', '--keep-storage', '0']), /^Total reclaimed space: [1-9]/m);
  const after = /^Build Cache (\d+) (\d+)$/m.exec(strataOk(root, ['system', 'df', '--format', '{{.Type}} {{.TotalCount}} {{.Active}}']))!.map(Number);
  assert.equal(after[1], after[2], 'only what is in use is left');
  const rebuilt = await strataAsync(root, ['build', dir]);
  assert.equal(ran(rebuilt.stdout), 1, rebuilt.stdout);

  for (const [args, message] of [
    [['--filter', 'label=x'], /invalid filter 'label=x': builder prune takes until=DURATION/],
    [['--keep-storage', 'lots'], /invalid argument "lots" for "--keep-storage" flag/],
    [['--filter', 'until=soon'], /failed to parse value as time or duration: "soon"/],
  ] as const) {
    const refused = await strataAsync(root, ['builder', 'prune', '-f', ...args]);
    assert.equal(refused.status, 1, args.join(' '));
    assert.match(refused.stderr, message);
  }
});
