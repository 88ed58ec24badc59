import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, strata, strataOk, tempDir } from './helpers.js';
import { layerTar, sha256, writeDockerArchive } from './fixtures.js';

const base = () => fs.readFileSync(busyboxTar());
const appLayer = layerTar({ 'app/server.js': 'console.log("hello")\n'.repeat(100) });
const otherLayer = layerTar({ 'app/other.js': 'x'.repeat(5000) });

/** busybox (imported) plus app:v1 = busybox + app layer and app:v2 = busybox + other layer, loaded from an archive. */
async function storeWithSharedBase() {
  const root = tempDir();
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  const archive = await writeDockerArchive(path.join(tempDir(), 'apps.tar'), [
    { layers: [base(), appLayer], tags: ['app:v1'], history: [{ created_by: '/bin/sh -c #(nop) ADD file:busybox in /' }, { created_by: '/bin/sh -c #(nop) COPY file:server in /app', comment: 'app' }] },
    { layers: [base(), otherLayer], tags: ['app:v2'] },
  ]);
  const out = strataOk(root, ['load', '-i', archive]);
  assert.match(out, /Loaded image: app:v1/);
  assert.match(out, /Loaded image: app:v2/);
  return root;
}

const layerDirs = (root: string) => fs.readdirSync(path.join(root, 'layers')).filter((name) => !name.startsWith('.'));
const blobs = (root: string) => fs.readdirSync(path.join(root, 'blobs', 'sha256'));
const inspect = (root: string, name: string) => JSON.parse(strataOk(root, ['inspect', name]))[0];

test('images that extend another store only their new layers', async () => {
  const root = await storeWithSharedBase();
  // busybox, busybox|app, busybox|other: the base is unpacked once.
  assert.equal(layerDirs(root).length, 3);
  const baseDiffId = sha256(base());
  assert.equal(blobs(root).filter((b) => `sha256:${b}` === baseDiffId).length, 1);
  for (const name of ['busybox', 'app:v1', 'app:v2']) assert.equal(inspect(root, name).RootFS.Layers[0], baseDiffId);
  assert.equal(inspect(root, 'app:v1').Strata.LayerDirs[0], inspect(root, 'busybox').Strata.LayerDirs[0]);
});

test('images lists one row per tag with virtual sizes; json and quiet forms', async () => {
  const root = await storeWithSharedBase();
  const table = strataOk(root, ['images']).trimEnd().split('\n');
  assert.match(table[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  assert.equal(table.length, 4);
  const rows = strataOk(root, ['images', '--format', 'json']).trim().split('\n').map((line) => JSON.parse(line));
  const v1 = rows.find((row) => row.Repository === 'app' && row.Tag === 'v1');
  assert.equal(v1.ID, inspect(root, 'app:v1').Id.slice(7, 19));
  assert.equal(inspect(root, 'app:v1').Size, inspect(root, 'busybox').Size + 2100);
  assert.equal(strataOk(root, ['images', '-q']).trim().split('\n').length, 3);
  assert.deepEqual(strataOk(root, ['images', 'app']).trim().split('\n').length, 3);
  assert.deepEqual(strataOk(root, ['images', '--filter', 'reference=app:v2', '--format', '{{.Repository}}:{{.Tag}}']).trim(), 'app:v2');
  assert.match(strataOk(root, ['images', '--digests']).split('\n')[0]!, /DIGEST/);
});

test('history shows each step newest first, <missing> below the local image, sizes per layer', async () => {
  const root = await storeWithSharedBase();
  const lines = strataOk(root, ['history', 'app:v1']).trimEnd().split('\n');
  assert.match(lines[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  assert.match(lines[1]!, new RegExp(`^${inspect(root, 'app:v1').Id.slice(7, 19)}\\s+.*COPY file:server in /app\\s+2.1kB\\s+app$`));
  assert.match(lines[2]!, /^<missing>\s+/);
  const raw = strataOk(root, ['history', '-H=false', '--format', '{{.Size}}', 'app:v1']).trim().split('\n');
  assert.deepEqual(raw.map(Number), [2100, inspect(root, 'busybox').Size]);
  const json = strataOk(root, ['history', '--format', 'json', '--no-trunc', 'app:v1']).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(json[0].ID, inspect(root, 'app:v1').Id);
  // Imported images carry the import comment, like docker import.
  assert.match(strataOk(root, ['history', 'busybox']), /Imported from -/);
});

test('history --tree draws the stack and marks shared layers', async () => {
  const root = await storeWithSharedBase();
  const tree = strataOk(root, ['history', '--tree', 'app:v1']);
  assert.match(tree, /== Image "app:v1" ==/);
  assert.match(tree, /Layer 1 .* 2\.1kB/);
  assert.match(tree, /Base layer .*\n.*\n.*shared with: (busybox:latest, app:v2|app:v2, busybox:latest)/);
  const boxLines = tree.trimEnd().split('\n');
  assert.ok(boxLines.every((line) => line.length === boxLines[0]!.length), 'box lines are aligned');
});

test('rmi untags before it deletes, keeps shared layers, refuses ambiguous deletes', async () => {
  const root = await storeWithSharedBase();
  strataOk(root, ['tag', 'app:v1', 'app:also']);
  assert.equal(strataOk(root, ['rmi', 'app:also']).trim(), 'Untagged: app:also');
  strataOk(root, ['tag', 'app:v1', 'app:also']);
  const id = inspect(root, 'app:v1').Id;
  const refused = strata(root, ['rmi', id.slice(7, 19)]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /must be forced\) - image is referenced in multiple repositories/);
  const removed = strataOk(root, ['rmi', '-f', id.slice(7, 19)]);
  assert.match(removed, /Untagged: app:also\nUntagged: app:v1\nDeleted: sha256:/);
  // The app layer is gone; busybox's base layer, still used by busybox and app:v2, stays.
  assert.equal(layerDirs(root).length, 2);
  assert.ok(!blobs(root).includes(sha256(appLayer).slice(7)));
  assert.ok(blobs(root).includes(sha256(base()).slice(7)));
  assert.equal(strata(root, ['inspect', 'app:v1']).status, 1);
  assert.equal(strataOk(root, ['system', 'check']).includes('0 problems'), true);
});

test('system df counts shared layers once and splits shared from unique', async () => {
  const root = await storeWithSharedBase();
  const baseSize = inspect(root, 'busybox').Size;
  const df = JSON.parse(strataOk(root, ['system', 'df', '-v', '--format', 'json']));
  assert.equal(df.LayersSize, baseSize + 2100 + 5000);
  const v2 = df.Images.find((i: { Tag: string }) => i.Tag === 'v2');
  assert.equal(v2.UniqueSize, '5kB');
  const summary = strataOk(root, ['system', 'df']);
  assert.match(summary, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+3\s+0\s+/);
});

test('image prune removes dangling images only, -a removes the rest', async () => {
  const root = await storeWithSharedBase();
  strataOk(root, ['tag', 'app:v2', 'app:v3']);
  strataOk(root, ['load', '-i', await writeDockerArchive(path.join(tempDir(), 'retag.tar'), [{ layers: [base(), otherLayer], tags: ['app:v3'], created: '2024-02-02T00:00:00Z' }])]);
  // app:v3 moved to a new image; nothing is dangling yet because app:v2 still names the old one.
  assert.match(strataOk(root, ['image', 'prune', '-f']), /Total reclaimed space: 0B/);
  strataOk(root, ['rmi', 'app:v3']);
  assert.equal(strataOk(root, ['images', '--filter', 'dangling=true', '-q']).trim(), '');
  const all = strataOk(root, ['image', 'prune', '-a', '-f']);
  assert.match(all, /Deleted Images:/);
  assert.equal(strataOk(root, ['images', '-q']).trim(), '');
  assert.deepEqual(layerDirs(root), []);
  assert.deepEqual(blobs(root), []);
});

test('import takes gzip and zstd tarballs and stdin; -m and -c land in the config', () => {
  const root = tempDir();
  const dir = tempDir();
  const gz = path.join(dir, 'bb.tar.gz');
  fs.writeFileSync(gz, '');
  strataOk(root, ['import', '-m', 'plain', busyboxTar(), 'plain']);
  const { spawnSync } = process.getBuiltinModule?.('node:child_process') ?? { spawnSync: undefined };
  assert.ok(spawnSync);
  spawnSync('sh', ['-c', `gzip -c '${busyboxTar()}' > '${gz}' && zstd -q -c '${busyboxTar()}' > '${dir}/bb.tar.zst'`]);
  strataOk(root, ['import', '-c', 'ENV A=1', '-c', 'WORKDIR /app', gz, 'gz']);
  strataOk(root, ['import', `${dir}/bb.tar.zst`, 'zst']);
  strataOk(root, ['import', '-', 'stdin'], { input: fs.readFileSync(busyboxTar()) });
  const ids = ['plain', 'gz', 'zst', 'stdin'].map((name) => inspect(root, name).RootFS.Layers[0]);
  assert.equal(new Set(ids).size, 1, 'the same rootfs gives the same diffID whatever the compression');
  assert.equal(layerDirs(root).length, 1);
  assert.deepEqual(inspect(root, 'gz').Config, { Env: ['A=1'], WorkingDir: '/app' });
  assert.equal(inspect(root, 'plain').Comment, 'plain');
});

test('--help works on every command and usage errors exit 125', () => {
  const root = tempDir();
  for (const args of [['--help'], ['images', '--help'], ['image', 'prune', '--help'], ['system', 'df', '--help'], ['load', '--help']]) {
    assert.equal(strata(root, args).status, 0, args.join(' '));
  }
  assert.equal(strata(root, ['images', '--bogus']).status, 125);
  assert.equal(strata(root, ['nosuchcommand']).status, 125);
});
