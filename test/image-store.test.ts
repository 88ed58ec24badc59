/**
 * The image store (src/images/store.ts) through its public methods, on the real content, layer and metadata
 * stores of a temp root, no CLI: add, resolve, tag, the parent chain and removal with parent pruning and garbage
 * collection. (test/images.test.ts covers the same ground from the CLI: sharing, listing, rmi of tags.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import tar from 'tar-stream';
import { ContentStore } from '../src/content/store.js';
import { StrataError } from '../src/errors.js';
import { canonicalJson, type ImageConfig } from '../src/images/model.js';
import { parseReference } from '../src/images/reference.js';
import { ImageStore, type NewLayer, type RemoveOptions } from '../src/images/store.js';
import { LayerStore } from '../src/layers/store.js';
import type { ImageRecord } from '../src/images/records.js';
import { MetadataDb } from '../src/metadata/database.js';
import { chainIds, type Digest, digestOf } from '../src/util/digest.js';
import { tempDir } from './helpers.js';

function openStore(): ImageStore {
  const root = tempDir('strata-images-');
  const db = new MetadataDb(path.join(root, 'metadata.db'));
  return new ImageStore(new ContentStore(root), new LayerStore(root, db), db);
}

/** A layer tar (tar-stream) of { path: content }; a null content makes a whiteout, `.wh.<name>`. */
async function layerTar(files: Record<string, string | null>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) {
    const entry = content === null ? path.posix.join(path.posix.dirname(name), `.wh.${path.posix.basename(name)}`) : name;
    pack.entry({ name: entry, mode: 0o644, mtime: new Date(0) }, content ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A layer of { path: content } made on top of `below` (diffIDs), as commit and build make theirs. */
async function newLayer(images: ImageStore, below: readonly Digest[], files: Record<string, string | null>): Promise<NewLayer> {
  const bytes = await layerTar(files);
  return images.makeLayer(below, 'test layer', (sink) => sink(bytes));
}

function configBytes(diffIds: readonly Digest[], label = ''): Buffer {
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: label ? { Labels: { test: label } } : {},
    rootfs: { type: 'layers', diff_ids: [...diffIds] },
    history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  return canonicalJson(config);
}

interface ImageSpec {
  /** New layers on top of the parent's, each as { path: content }. */
  layers?: Record<string, string | null>[];
  parent?: ImageRecord;
  tags?: string[];
  /** Makes the config, hence the ID, differ between images with the same layers. */
  label?: string;
}

/** Adds an image as commit and build do: the parent's layers, plus new ones made from tars. */
async function addImage(images: ImageStore, spec: ImageSpec): Promise<ImageRecord> {
  const layers = spec.parent ? images.parentLayers(spec.parent) : [];
  for (const files of spec.layers ?? []) layers.push(await newLayer(images, layers.map((layer) => layer.diffId), files));
  const { id } = images.add({
    config: configBytes(layers.map((layer) => layer.diffId), spec.label),
    layers,
    tags: (spec.tags ?? []).map((tag) => parseReference(tag)),
    ...(spec.parent && { parent: spec.parent.id }),
  });
  return images.resolve(id);
}

const isCode = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof StrataError && error.code === code && (message === undefined || message.test(error.message));

/** Layer directories (not temp dirs of unpacks, nor the short-link dir) and blobs on disk. */
const layerDirsOnDisk = (images: ImageStore) => images.layers.list().filter((name) => !name.startsWith('.') && name !== 'l').sort();
const blobsOnDisk = (images: ImageStore) => images.content.list().sort();
const ids = (records: { id: Digest }[]) => records.map((record) => record.id).sort();

test('an added image is its config, manifest and layer blobs, with each layer unpacked under its chain ID', async () => {
  const images = openStore();
  const image = await addImage(images, { layers: [{ 'etc/os': 'base\n', 'bin/tool': 'v1' }, { 'bin/tool': 'v2', 'etc/os': null }, { 'app/main': 'x'.repeat(1000) }], tags: ['app:1'] });
  const config = images.config(image.id);
  const diffIds = config.rootfs.diff_ids;
  assert.equal(diffIds.length, 3);

  assert.equal(image.id, digestOf(images.content.read(image.id)), 'the ID is the digest of the config bytes');
  const manifest = images.manifest(image);
  assert.equal(manifest.config.digest, image.id);
  assert.deepEqual(manifest.layers.map((layer) => layer.digest), diffIds, 'layer blobs are the uncompressed tars');
  assert.deepEqual(blobsOnDisk(images), [image.id, image.manifest, ...diffIds].sort());
  for (const layer of manifest.layers) assert.equal(images.content.size(layer.digest), layer.size);

  const chain = images.layerChain(image);
  const want = chainIds(diffIds);
  assert.deepEqual(chain.map((layer) => layer.chainId), want, 'bottom first, by chain ID');
  assert.deepEqual(chain.map((layer) => layer.diffId), diffIds);
  assert.deepEqual(chain.map((layer) => layer.parent), [null, want[0], want[1]]);
  assert.equal(image.topLayer, want[2]);
  assert.deepEqual(chain.map((layer) => layer.size), [7, 2, 1000], 'a layer size is the sum of its file sizes');
  assert.equal(image.size, 1009);
  assert.equal(image.parent, null);
  assert.deepEqual(layerDirsOnDisk(images), chain.map((layer) => layer.dir).sort());
  assert.equal(fs.readFileSync(path.join(images.layers.path(chain[1]!.dir), 'bin/tool'), 'utf8'), 'v2');
  assert.ok(fs.lstatSync(path.join(images.layers.path(chain[1]!.dir), 'etc/os')).isCharacterDevice(), 'a whiteout is a 0:0 device');
  assert.deepEqual(images.records.tagsOf(image.id), ['docker.io/library/app:1']);
  assert.deepEqual(images.content.leftoverIngests(), []);
});

test('an image with no layers can be added', async () => {
  const images = openStore();
  const image = await addImage(images, { tags: ['scratch-based'] });
  assert.equal(image.topLayer, null);
  assert.equal(image.size, 0);
  assert.deepEqual(images.layerChain(image), []);
  assert.deepEqual(images.manifest(image).layers, []);
});

test('an image whose layers do not match its config rootfs is refused and nothing is published', async () => {
  const images = openStore();
  const a = await newLayer(images, [], { a: 'a' });
  const b = await newLayer(images, [a.diffId], { b: 'b' });
  const cases: [string, Digest[]][] = [
    ['a layer missing', [a.diffId]],
    ['layers out of order', [b.diffId, a.diffId]],
    ['a layer too many', [a.diffId, b.diffId, a.diffId]],
    ['another layer', [a.diffId, digestOf('something else')]],
  ];
  for (const [what, diffIds] of cases) {
    assert.throws(() => images.add({ config: configBytes(diffIds), layers: [a, b], tags: [parseReference('refused')] }), isCode('data-corrupt', /rootfs\.diff_ids/), what);
    assert.deepEqual(images.records.all(), [], what);
    assert.deepEqual(blobsOnDisk(images), [], what);
    assert.deepEqual(layerDirsOnDisk(images), [], what);
    assert.equal(images.find('refused'), undefined);
  }
  for (const layer of [a, b]) {
    layer.stagedBlob?.abort();
    if (layer.tempDir) images.layers.discard(layer.tempDir);
  }
  assert.deepEqual(images.layers.list().filter((name) => name !== 'l'), []);
  assert.deepEqual(images.content.leftoverIngests(), []);
});

test('adding an image that is already there keeps one image and adds the new names', async () => {
  const images = openStore();
  const first = await addImage(images, { layers: [{ f: '1' }], tags: ['one'] });
  const again = await addImage(images, { layers: [{ f: '1' }], tags: ['two'] });
  assert.equal(again.id, first.id);
  assert.deepEqual(ids(images.records.all()), [first.id]);
  assert.deepEqual(images.records.tagsOf(first.id), ['docker.io/library/one:latest', 'docker.io/library/two:latest']);
  assert.equal(layerDirsOnDisk(images).length, 1, 'the layer is unpacked once');
  assert.deepEqual(images.layers.list().filter((name) => name.startsWith('.')), [], 'the second unpack was dropped');
  assert.deepEqual(images.content.leftoverIngests(), []);
});

test('images sharing lower layers share their layer dirs and blobs', async () => {
  const images = openStore();
  const base = await addImage(images, { layers: [{ 'etc/base': 'base' }], tags: ['base'] });
  const one = await addImage(images, { parent: base, layers: [{ one: '1' }], tags: ['one'] });
  const other = await addImage(images, { layers: [{ 'etc/base': 'base' }, { other: '2' }], tags: ['other'] });
  const [baseLayer] = images.layerChain(base);
  for (const image of [one, other]) assert.deepEqual(images.layerChain(image)[0], baseLayer);
  assert.equal(layerDirsOnDisk(images).length, 3);
  assert.equal(blobsOnDisk(images).filter((digest) => digest === baseLayer!.diffId).length, 1);
});

test('an image is found by name, by full ID with or without sha256:, by unique ID prefix and by repo digest', async () => {
  const images = openStore();
  const image = await addImage(images, { layers: [{ f: 'found' }], tags: ['localhost:5000/team/app:v1'] });
  const other = await addImage(images, { layers: [{ f: 'other' }], tags: ['other'] });
  const hex = image.id.slice('sha256:'.length);
  // The shortest prefix that only this image has.
  let unique = 1;
  while (other.id.slice(7).startsWith(hex.slice(0, unique))) unique++;
  const pushed = digestOf('manifest as the registry has it');
  images.add({ config: images.content.read(image.id), layers: images.parentLayers(image), repoDigest: { repository: 'localhost:5000/team/app', digest: pushed } });
  const cases: [string, Digest][] = [
    ['localhost:5000/team/app:v1', image.id],
    ['other', other.id],
    ['other:latest', other.id],
    ['docker.io/library/other:latest', other.id],
    [image.id, image.id],
    [hex, image.id],
    [hex.slice(0, 12), image.id],
    [hex.slice(0, unique), image.id],
    [`sha256:${hex.slice(0, 12)}`, image.id],
    [`localhost:5000/team/app@${pushed}`, image.id],
    [`localhost:5000/team/app@${image.manifest}`, image.id],
  ];
  for (const [name, want] of cases) {
    assert.equal(images.resolve(name).id, want, name);
    assert.equal(images.find(name)?.id, want, name);
  }
});

test('an ID prefix two images share is an error; a longer prefix finds each', async () => {
  const images = openStore();
  // Configs that differ only in a label, until two IDs start with the same hex digit (at most 17 tries).
  const byFirst = new Map<string, string>();
  let pair: [string, string] | undefined;
  for (let i = 0; !pair; i++) {
    const label = `try ${i}`;
    const first = digestOf(configBytes([], label)).slice(7, 8);
    const seen = byFirst.get(first);
    if (seen === undefined) byFirst.set(first, label);
    else pair = [seen, label];
  }
  const [a, b] = await Promise.all(pair.map((label) => addImage(images, { label })));
  const hexA = a!.id.slice(7);
  const hexB = b!.id.slice(7);
  let common = 0;
  while (hexA[common] === hexB[common]) common++;
  for (const name of [hexA.slice(0, common), `sha256:${hexA.slice(0, common)}`, hexA.slice(0, 1)]) {
    assert.throws(() => images.find(name), isCode('invalid-argument', /ambiguous image ID prefix/), name);
    assert.throws(() => images.resolve(name), isCode('invalid-argument', /ambiguous/), name);
    assert.throws(() => images.remove(name), isCode('invalid-argument', /ambiguous/), name);
  }
  assert.equal(images.resolve(hexA.slice(0, common + 1)).id, a!.id);
  assert.equal(images.resolve(hexB.slice(0, common + 1)).id, b!.id);
  assert.equal(images.records.all().length, 2, 'nothing removed');
});

test('a name is looked up as a tag before it is taken as an ID prefix', async () => {
  const images = openStore();
  const image = await addImage(images, { label: 'by ID' });
  const first = image.id.slice(7, 8);
  // A name that also is a prefix of the first image's ID, given to another image.
  const named = await addImage(images, { label: 'by name', tags: [first] });
  assert.notEqual(named.id, image.id);
  assert.equal(images.resolve(first).id, named.id);
  assert.equal(images.resolve(image.id.slice(7, 19)).id, image.id);
});

test('missing and malformed names: find gives undefined; resolve, tag and remove fail with not-found or invalid-argument', async () => {
  const images = openStore();
  const image = await addImage(images, { layers: [{ f: 'x' }], tags: ['present'] });
  const missing = ['absent', 'absent:latest', 'present:othertag', `sha256:${'0'.repeat(64)}`, '0'.repeat(64), '0000000', `present@${digestOf('no such manifest')}`];
  for (const name of missing) {
    assert.equal(images.find(name), undefined, name);
    assert.throws(() => images.resolve(name), isCode('not-found', new RegExp(`^No such image: ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)), name);
    assert.throws(() => images.remove(name), isCode('not-found'), name);
    assert.throws(() => images.tag(name, 'new'), isCode('not-found'), name);
  }
  for (const name of ['UPPER', 'bad name', 'a:b:c', 'x@sha256:123', '']) {
    assert.throws(() => images.resolve(name), isCode('invalid-argument', /invalid reference format/), JSON.stringify(name));
  }
  const badTargets: [string, RegExp][] = [
    ['UPPER:tag', /must be lowercase/],
    [`app@${digestOf('x')}`, /refusing to create a tag with a digest reference/],
    ['app:bad tag', /invalid reference format/],
    ['0'.repeat(64), /cannot specify 64-byte hexadecimal strings/],
  ];
  for (const [target, message] of badTargets) assert.throws(() => images.tag('present', target), isCode('invalid-argument', message), target);
  assert.deepEqual(images.records.tagsOf(image.id), ['docker.io/library/present:latest'], 'no failed tag left a name');
});

test('tag adds a name in its normalized form; tagging a name again moves it and the image it left stays', async () => {
  const images = openStore();
  const v1 = await addImage(images, { layers: [{ f: '1' }], tags: ['app:v1'] });
  const v2 = await addImage(images, { layers: [{ f: '2' }], tags: ['app:v2'] });
  images.tag('app:v1', 'app');
  images.tag('app:v1', 'app'); // again: no change
  images.tag(v1.id.slice(7, 19), 'registry.example:5000/app:stable');
  assert.deepEqual(images.records.tagsOf(v1.id), ['docker.io/library/app:latest', 'docker.io/library/app:v1', 'registry.example:5000/app:stable']);
  for (const name of ['app', 'app:latest', 'docker.io/app', 'index.docker.io/library/app:latest']) assert.equal(images.resolve(name).id, v1.id, name);

  images.tag('app:v2', 'app:latest');
  assert.equal(images.resolve('app').id, v2.id, 'latest moved to v2');
  assert.deepEqual(images.records.tagsOf(v1.id), ['docker.io/library/app:v1', 'registry.example:5000/app:stable']);
  images.tag('app:v2', 'app:v1');
  images.tag('app:v2', 'registry.example:5000/app:stable');
  assert.deepEqual(images.records.tagsOf(v1.id), [], 'v1 has no name left');
  assert.equal(images.resolve(v1.id).id, v1.id, 'but it is still there, by ID');
  assert.equal(images.layerChain(images.resolve(v1.id)).length, 1);
});

test('the parent chain: each image names the one it was built on, and its layers extend the parent layers', async () => {
  const images = openStore();
  const base = await addImage(images, { layers: [{ 'etc/base': 'base' }], tags: ['base'] });
  const step1 = await addImage(images, { parent: base, layers: [{ step1: '1' }] });
  const step2 = await addImage(images, { parent: step1, label: 'a config-only step, no new layer' });
  const top = await addImage(images, { parent: step2, layers: [{ step3: '3' }, { step3b: '3b' }], tags: ['top'] });

  const parents: ImageRecord[] = [];
  for (let record: ImageRecord | undefined = top; record; record = record.parent ? images.resolve(record.parent) : undefined) parents.push(record);
  assert.deepEqual(parents.map((record) => record.id), [top.id, step2.id, step1.id, base.id]);
  assert.deepEqual(images.records.children(base.id), [step1.id]);
  assert.deepEqual(images.records.children(top.id), []);

  const chainOf = (record: ImageRecord) => images.layerChain(record).map((layer) => layer.chainId);
  assert.deepEqual(chainOf(step2), chainOf(step1), 'a step without a layer has its parent layers');
  assert.deepEqual(chainOf(top).slice(0, 2), chainOf(step1));
  assert.equal(chainOf(top).length, 4);
  assert.equal(top.size, base.size + 1 + 1 + 2);
  assert.deepEqual(images.config(top.id).rootfs.diff_ids.slice(0, 2), images.config(step1.id).rootfs.diff_ids);
});

/** base (tagged) <- step1 <- step2 <- app (tagged), step images untagged as after a build; and other (tagged) on base. */
async function builtImages(images: ImageStore) {
  const base = await addImage(images, { layers: [{ 'etc/base': 'base' }], tags: ['base'] });
  const step1 = await addImage(images, { parent: base, layers: [{ 'step/1': 'one' }] });
  const step2 = await addImage(images, { parent: step1, layers: [{ 'step/2': 'two' }] });
  const app = await addImage(images, { parent: step2, label: 'CMD', tags: ['app'] });
  const other = await addImage(images, { parent: base, layers: [{ other: 'other' }], tags: ['other'] });
  return { base, step1, step2, app, other };
}

test('removing an image deletes its untagged parents; layers and blobs another image uses stay', async () => {
  const images = openStore();
  const { base, step1, step2, app, other } = await builtImages(images);
  const before = { layers: layerDirsOnDisk(images), blobs: blobsOnDisk(images) };
  const stepLayers = images.layerChain(app).slice(1);
  const [result] = images.removeMany(['app']).results;
  assert.deepEqual(result, { name: 'app', untagged: ['docker.io/library/app:latest'], deleted: [app.id, step2.id, step1.id] });
  assert.deepEqual(ids(images.records.all()), ids([base, other]), 'the pruning stops at the tagged base');

  // The step layers went with them; base's layer (used by base and other) and other's stay.
  const kept = [...images.layerChain(base), ...images.layerChain(other)];
  assert.deepEqual(layerDirsOnDisk(images), [...new Set(kept.map((layer) => layer.dir))].sort());
  assert.deepEqual(
    before.layers.filter((dir) => !layerDirsOnDisk(images).includes(dir)),
    stepLayers.map((layer) => layer.dir).sort(),
  );
  assert.deepEqual(blobsOnDisk(images), [base.id, base.manifest, other.id, other.manifest, ...images.config(other.id).rootfs.diff_ids].sort());
  assert.deepEqual(images.layers.records.all().map((layer) => layer.chainId).sort(), [...new Set(kept.map((layer) => layer.chainId))].sort());
  for (const image of [base, other]) for (const layer of images.layerChain(image)) assert.ok(images.layers.exists(layer.dir));
  assert.ok(before.blobs.length > blobsOnDisk(images).length);
});

test('pruning parents stops at a parent with another child, at one in use, and not at all with prune: false', async () => {
  type Built = Awaited<ReturnType<typeof builtImages>>;
  const cases: [string, (built: Built) => RemoveOptions, (keyof Built)[]][] = [
    ['by default', () => ({}), ['app', 'step2', 'step1']],
    ['prune: false', () => ({ prune: false }), ['app']],
    ['a parent in use by a container', ({ step1 }) => ({ inUse: (id) => id === step1.id }), ['app', 'step2']],
  ];
  for (const [what, options, deleted] of cases) {
    const images = openStore();
    const built = await builtImages(images);
    assert.deepEqual(images.remove('app', options(built)).deleted, deleted.map((name) => built[name].id), what);
  }

  // A second child of step1 keeps step1 when app goes.
  const images = openStore();
  const built = await builtImages(images);
  const sibling = await addImage(images, { parent: built.step1, label: 'sibling', tags: ['sibling'] });
  assert.deepEqual(images.removeMany(['app']).results[0], { name: 'app', untagged: ['docker.io/library/app:latest'], deleted: [built.app.id, built.step2.id] });
  assert.equal(images.resolve(sibling.id).parent, built.step1.id);
  assert.equal(images.layerChain(images.resolve('sibling')).length, 2, 'its layers are all there');
  for (const layer of images.layerChain(sibling)) assert.ok(images.layers.exists(layer.dir));
});

test('an image with children cannot be deleted by ID, and by name is only untagged', async () => {
  const images = openStore();
  const { base, step1 } = await builtImages(images);
  for (const name of [step1.id, step1.id.slice(7, 19), base.id]) {
    assert.throws(() => images.remove(name), isCode('conflict', /\(cannot be forced\) - image has dependent child images/), name);
    assert.throws(() => images.remove(name, { force: true }), isCode('conflict', /dependent child images/), name);
  }
  assert.deepEqual(images.remove('base'), { untagged: ['docker.io/library/base:latest'], deleted: [] });
  assert.equal(images.resolve(base.id).id, base.id, 'base stays for its children');
  assert.equal(images.find('base'), undefined);
  assert.equal(images.records.all().length, 5);
});

test('an image in use: refused without force, names and all; with force only its names go', async () => {
  const images = openStore();
  const image = await addImage(images, { layers: [{ f: 'used' }], tags: ['used', 'used:also'] });
  const inUse = (id: Digest) => id === image.id;
  assert.throws(() => images.remove(image.id, { inUse }), isCode('conflict', /image is referenced in multiple repositories/));
  // 'used' is one of two names: untagged, whether in use or not.
  assert.deepEqual(images.remove('used', { inUse }), { untagged: ['docker.io/library/used:latest'], deleted: [] });
  // The last name: refused, and the refusal is all or nothing (the name is still there).
  for (const name of ['used:also', image.id]) {
    assert.throws(() => images.remove(name, { inUse }), isCode('conflict', /\(must be forced\) - image is being used by stopped container/), name);
    assert.deepEqual(images.records.tagsOf(image.id), ['docker.io/library/used:also'], name);
  }
  assert.deepEqual(images.remove('used:also', { inUse, force: true }), { untagged: ['docker.io/library/used:also'], deleted: [] });
  assert.deepEqual(images.remove(image.id, { inUse, force: true }), { untagged: [], deleted: [] });
  assert.equal(images.resolve(image.id).id, image.id, 'the image stays for its container');
  assert.equal(images.layerChain(image).length, 1);
});

test('removeMany reports each name with its result or error, goes on after an error, and collects garbage once', async () => {
  const images = openStore();
  const a = await addImage(images, { layers: [{ a: 'a' }], tags: ['a', 'a:two'] });
  const b = await addImage(images, { layers: [{ b: 'b' }], tags: ['b'] });
  const { results } = images.removeMany(['a', 'missing', a.id, 'b']);
  assert.deepEqual(results[0], { name: 'a', untagged: ['docker.io/library/a:latest'], deleted: [] });
  assert.ok('error' in results[1]! && isCode('not-found', /No such image: missing/)(results[1].error));
  assert.deepEqual(results[2], { name: a.id, untagged: ['docker.io/library/a:two'], deleted: [a.id] });
  assert.deepEqual(results[3], { name: 'b', untagged: ['docker.io/library/b:latest'], deleted: [b.id] });
  assert.deepEqual(images.records.all(), []);
  assert.deepEqual(images.layers.records.all(), []);
  assert.deepEqual(layerDirsOnDisk(images), []);
  assert.deepEqual(blobsOnDisk(images), []);
});

test('a layer a lease holds (a pull reusing it) survives the removal of every image that used it, until released', async () => {
  const images = openStore();
  const base = await addImage(images, { layers: [{ 'a.txt': 'a' }], tags: ['base:1'] });
  const [chainId] = chainIds(images.config(base.id).rootfs.diff_ids);
  const lease = images.lease();
  assert.equal(lease.holdLayer(chainId!), true);
  images.removeMany(['base:1']);
  assert.ok(images.layers.records.get(chainId!), 'held: still in the store');
  assert.ok(images.existingLayer(chainId!));
  lease.release();
  images.collectGarbage([]);
  assert.equal(images.layers.records.get(chainId!), undefined, 'released: collected');
  assert.equal(images.lease().holdLayer(chainId!), false, 'a layer no longer in the store cannot be held');
});
