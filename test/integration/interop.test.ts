/**
 * Interop with the real tools: skopeo reads what `strata save` writes, umoci unpacks it, and Strata loads what
 * skopeo and umoci write (compressed layers, legacy docker-archives, whiteouts, opaque directories). Every
 * fixture is built here from Debian's busybox-static; nothing is downloaded.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { fsExtras } from '../../src/layers/fsx.js';
import { busyboxRootfs, hasCommand, sh, strata, strataOk, tarOf, tempDir } from '../helpers.js';

const haveSkopeo = hasCommand('skopeo');
const haveUmoci = hasCommand('umoci');
const isRoot = process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------------------------
// Fixtures and small helpers

/** The busybox rootfs and its tarball, built once for this file and removed when it is done. */
let fixtureDir: string | undefined;
function fixture(): { rootfs: string; tar: string } {
  const rootfs = () => path.join(fixtureDir!, 'rootfs');
  const tar = () => path.join(fixtureDir!, 'busybox.tar');
  if (!fixtureDir) {
    fixtureDir = tempDir('strata-interop-fixture-');
    busyboxRootfs(rootfs());
    tarOf(rootfs(), tar());
  }
  return { rootfs: rootfs(), tar: tar() };
}
after(() => {
  if (fixtureDir) fs.rmSync(fixtureDir, { recursive: true, force: true });
});

/** A fresh temp directory, removed when the test ends. */
function tmp(t: TestContext, prefix = 'strata-interop-'): string {
  const dir = tempDir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a tool without a shell; throws with its stderr when it fails. */
function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

// Local transports only: the system signature policy (if any) is irrelevant here.
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);
const skopeoJson = (...args: string[]) => JSON.parse(skopeo(...args));
const umoci = (...args: string[]) => run('umoci', args);
const umociUnpack = (image: string, bundle: string) => umoci('unpack', ...(isRoot ? [] : ['--rootless']), '--image', image, bundle);

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const blobPath = (layout: string, digest: string) => path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));

interface LayoutImage {
  manifestDigest: string;
  manifest: { config: { digest: string }; layers: { mediaType: string; digest: string }[] };
  config: { rootfs: { diff_ids: string[] }; config?: { Cmd?: string[] } };
  annotations: Record<string, string>;
}

/** The image an OCI layout directory names `refName` (its only image when omitted), read straight from the files. */
function layoutImage(layout: string, refName?: string): LayoutImage {
  const index = readJson(path.join(layout, 'index.json'));
  const entries = index.manifests.filter((m: { annotations?: Record<string, string> }) => refName === undefined || m.annotations?.['org.opencontainers.image.ref.name'] === refName);
  assert.equal(entries.length, 1, `one manifest named ${refName ?? '(any)'} in ${layout}/index.json`);
  const manifest = readJson(blobPath(layout, entries[0].digest));
  return { manifestDigest: entries[0].digest, manifest, config: readJson(blobPath(layout, manifest.config.digest)), annotations: entries[0].annotations ?? {} };
}

interface Inspected {
  Id: string;
  RepoTags: string[];
  Config: { Cmd?: string[] };
  RootFS: { Layers: string[] };
  Descriptor: { digest: string };
  Strata: { LayerDirs: string[] };
}
const inspect = (root: string, name: string): Inspected => JSON.parse(strataOk(root, ['inspect', name]))[0];

/** `strata images` as rows of "repository:tag id" (12-character IDs), as a user reads them. */
function imageRows(root: string): string[] {
  return strataOk(root, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).trim().split('\n').filter(Boolean).sort();
}

/** The IDs `strata load` reports, whether it names the images or not. */
function loadedIds(output: string): string[] {
  return [...output.matchAll(/^Loaded image ID: (sha256:[a-f0-9]{64})$/gm)].map((m) => m[1]!);
}

/** A root with the busybox rootfs imported as busybox:latest (CMD ["sh"]); returns the root and the image as inspected. */
function importedBusybox(t: TestContext): { root: string; image: Inspected } {
  const root = tmp(t, 'strata-interop-root-');
  const id = strataOk(root, ['import', '-c', 'CMD ["sh"]', fixture().tar, 'busybox:latest']).trim();
  const image = inspect(root, 'busybox:latest');
  assert.equal(image.Id, id);
  assert.deepEqual(image.Config.Cmd, ['sh']);
  assert.equal(image.RootFS.Layers.length, 1);
  return { root, image };
}

/** Every file under a directory, relative path to bytes, for comparing two trees. */
function treeBytes(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else files.set(child, fs.readFileSync(path.join(dir, child)));
    }
  };
  walk('');
  return files;
}

const isWhiteout = (file: string) => {
  const stat = fs.lstatSync(file);
  return stat.isCharacterDevice() && stat.rdev === 0;
};

// ---------------------------------------------------------------------------------------------------------------
// Strata -> skopeo

test('skopeo reads a docker-format `strata save`: same diffIDs, config and image ID; copies it to an OCI layout', (t) => {
  if (!haveSkopeo) return t.skip('skopeo is not installed');
  const { root, image } = importedBusybox(t);
  const out = tmp(t);
  const archive = path.join(out, 'busybox.tar');
  strataOk(root, ['save', '-o', archive, 'busybox']);

  const info = skopeoJson('inspect', `docker-archive:${archive}`);
  assert.deepEqual(info.Layers, image.RootFS.Layers, 'uncompressed layers are named by their diffIDs');
  assert.equal(info.Os, 'linux');
  const config = skopeoJson('inspect', '--config', `docker-archive:${archive}`);
  assert.deepEqual(config.rootfs.diff_ids, image.RootFS.Layers);
  assert.deepEqual(config.config.Cmd, ['sh']);
  // The config blob is passed through untouched, so its digest is still the image ID.
  assert.equal(skopeoJson('inspect', '--raw', `docker-archive:${archive}`).config.digest, image.Id);
  // The tag in manifest.json selects the image, in short or in full form.
  for (const ref of ['busybox:latest', 'docker.io/library/busybox:latest']) {
    assert.deepEqual(skopeoJson('inspect', `docker-archive:${archive}:${ref}`).Layers, image.RootFS.Layers, ref);
  }

  const layout = path.join(out, 'layout');
  skopeo('copy', `docker-archive:${archive}`, `oci:${layout}:copied`);
  const copied = layoutImage(layout, 'copied');
  assert.deepEqual(copied.config.rootfs.diff_ids, image.RootFS.Layers);
  assert.deepEqual(skopeoJson('inspect', '--config', `oci:${layout}:copied`).config.Cmd, ['sh']);
});

test('skopeo reads `strata save --format oci` and `--format oci-dir`; ref.name is the tag alone', (t) => {
  if (!haveSkopeo) return t.skip('skopeo is not installed');
  const { root, image } = importedBusybox(t);
  strataOk(root, ['tag', 'busybox', 'example.com/tools/bb:1.36']);
  const out = tmp(t);

  const single = path.join(out, 'busybox-oci.tar');
  strataOk(root, ['save', '--format', 'oci', '-o', single, 'busybox']);
  for (const ref of [`oci-archive:${single}`, `oci-archive:${single}:latest`]) {
    const info = skopeoJson('inspect', ref);
    assert.equal(info.Digest, image.Descriptor.digest, `${ref}: the stored manifest is written as is`);
    assert.deepEqual(info.Layers, image.RootFS.Layers, ref);
    assert.equal(skopeoJson('inspect', '--raw', ref).config.digest, image.Id, ref);
  }

  // Two names of one image: one index entry each, told apart by the tag (org.opencontainers.image.ref.name);
  // the full name is in io.containerd.image.name.
  const both = path.join(out, 'both-oci.tar');
  strataOk(root, ['save', '--format', 'oci', '-o', both, 'busybox', 'example.com/tools/bb:1.36']);
  for (const tag of ['latest', '1.36']) assert.equal(skopeoJson('inspect', `oci-archive:${both}:${tag}`).Digest, image.Descriptor.digest, tag);
  const dir = path.join(out, 'both-layout');
  strataOk(root, ['save', '--format', 'oci-dir', '-o', dir, 'busybox', 'example.com/tools/bb:1.36']);
  assert.equal(layoutImage(dir, '1.36').annotations['io.containerd.image.name'], 'example.com/tools/bb:1.36');
  assert.equal(layoutImage(dir, 'latest').annotations['io.containerd.image.name'], 'docker.io/library/busybox:latest');
  for (const tag of ['latest', '1.36']) {
    const info = skopeoJson('inspect', `oci:${dir}:${tag}`);
    assert.equal(info.Digest, image.Descriptor.digest, tag);
    assert.deepEqual(info.Layers, image.RootFS.Layers, tag);
  }
  // skopeo verifies every blob against its digest while copying.
  const copy = path.join(out, 'copy');
  skopeo('copy', `oci:${dir}:1.36`, `dir:${copy}`);
  assert.equal(readJson(path.join(copy, 'manifest.json')).config.digest, image.Id);
});

// ---------------------------------------------------------------------------------------------------------------
// Strata -> umoci

test('umoci unpacks `strata save --format oci-dir`: identical busybox, hardlinks, modes and CMD', (t) => {
  if (!haveUmoci) return t.skip('umoci is not installed');
  const { root } = importedBusybox(t);
  const out = tmp(t);
  const layout = path.join(out, 'layout');
  strataOk(root, ['save', '--format', 'oci-dir', '-o', layout, 'busybox']);
  const bundle = path.join(out, 'bundle');
  umociUnpack(`${layout}:latest`, bundle);

  const source = fixture().rootfs;
  const rootfs = path.join(bundle, 'rootfs');
  assert.ok(fs.readFileSync(path.join(rootfs, 'bin/busybox')).equals(fs.readFileSync(path.join(source, 'bin/busybox'))), 'bin/busybox is byte-identical');
  const busybox = fs.statSync(path.join(rootfs, 'bin/busybox'));
  const applets = fs.readdirSync(path.join(source, 'bin'));
  for (const applet of applets) {
    assert.equal(fs.statSync(path.join(rootfs, 'bin', applet)).ino, busybox.ino, `bin/${applet} is a hardlink of bin/busybox`);
  }
  assert.equal(busybox.nlink, applets.length);
  assert.deepEqual(treeBytes(rootfs), treeBytes(source), 'same files with the same contents');
  for (const rel of ['bin', 'bin/busybox', 'etc/passwd', 'tmp']) {
    assert.equal(fs.statSync(path.join(rootfs, rel)).mode, fs.statSync(path.join(source, rel)).mode, `mode of ${rel}`);
  }
  assert.deepEqual(readJson(path.join(bundle, 'config.json')).process.args, ['sh'], 'the runtime config runs CMD');
});

// ---------------------------------------------------------------------------------------------------------------
// skopeo -> Strata

test('Strata loads what skopeo writes: gzip and zstd OCI layouts, oci-archive, legacy docker-archive', (t) => {
  if (!haveSkopeo) return t.skip('skopeo is not installed');
  const { root, image } = importedBusybox(t);
  const out = tmp(t);
  const ociTar = path.join(out, 'busybox-oci.tar');
  strataOk(root, ['save', '--format', 'oci', '-o', ociTar, 'busybox']);

  /** Loads `input` into a fresh root: the same image ID and diffIDs as the original, and a working history. */
  const loadFresh = (input: string) => {
    const fresh = tmp(t, 'strata-interop-fresh-');
    const output = strataOk(fresh, ['load', '-i', input]);
    const loaded = inspect(fresh, image.Id);
    assert.equal(loaded.Id, image.Id, `${input}: image ID`);
    assert.deepEqual(loaded.RootFS.Layers, image.RootFS.Layers, `${input}: diffIDs`);
    assert.deepEqual(loaded.Config.Cmd, ['sh']);
    const history = strataOk(fresh, ['history', image.Id]).trimEnd().split('\n');
    assert.equal(history.length, 2, `${input}: history has one step`);
    assert.match(history[1]!, new RegExp(`^${image.Id.slice(7, 19)}\\s.*\\s[\\d.]+[kMG]?B\\s+Imported from -$`));
    return { fresh, output };
  };

  // An OCI layout with gzip layers: a directory and named only by tag, so the image is loaded untagged.
  const gzip = path.join(out, 'gzip');
  skopeo('copy', '--dest-compress', '--dest-compress-format', 'gzip', `oci-archive:${ociTar}`, `oci:${gzip}:v1`);
  assert.deepEqual(layoutImage(gzip, 'v1').manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip']);
  assert.notEqual(layoutImage(gzip, 'v1').manifest.layers[0]!.digest, image.RootFS.Layers[0]);
  {
    const { fresh, output } = loadFresh(gzip);
    assert.deepEqual(loadedIds(output), [image.Id]);
    assert.deepEqual(imageRows(fresh), [`<none>:<none> ${image.Id.slice(7, 19)}`]);
    // Saved again as a docker archive, the layer is written uncompressed and named by its diffID.
    const again = path.join(out, 'again.tar');
    strataOk(fresh, ['save', '-o', again, image.Id]);
    assert.deepEqual(skopeoJson('inspect', `docker-archive:${again}`).Layers, image.RootFS.Layers);
    skopeo('copy', `docker-archive:${again}`, `oci:${path.join(out, 'again-layout')}:x`);
  }

  // zstd layers.
  const zstd = path.join(out, 'zstd');
  skopeo('copy', '--dest-compress-format', 'zstd', `oci-archive:${ociTar}`, `oci:${zstd}:v1`);
  assert.deepEqual(layoutImage(zstd, 'v1').manifest.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+zstd']);
  assert.deepEqual(loadedIds(loadFresh(zstd).output), [image.Id]);

  // An oci-archive whose ref.name is a whole reference names the image.
  const named = path.join(out, 'named-oci.tar');
  skopeo('copy', `oci:${gzip}:v1`, `oci-archive:${named}:busybox:v1`);
  {
    const { fresh, output } = loadFresh(named);
    assert.match(output, /^Loaded image: busybox:v1$/m);
    assert.deepEqual(imageRows(fresh), [`busybox:v1 ${image.Id.slice(7, 19)}`]);
  }

  // skopeo's docker-archive is the legacy layout (skopeo 1.9: <id>.json, <diffID>.tar, <v1id>/layer.tar as a
  // symlink to it, repositories), named docker.io/library/busybox:v1.
  const docker = path.join(out, 'skopeo-docker.tar');
  skopeo('copy', `oci:${gzip}:v1`, `docker-archive:${docker}:busybox:v1`);
  {
    const { fresh, output } = loadFresh(docker);
    assert.match(output, /^Loaded image: busybox:v1$/m);
    assert.deepEqual(imageRows(fresh), [`busybox:v1 ${image.Id.slice(7, 19)}`]);
  }
});

test('Strata loads a layout skopeo converted from docker-archive: the re-encoded config is the image ID', (t) => {
  if (!haveSkopeo) return t.skip('skopeo is not installed');
  const { root, image } = importedBusybox(t);
  const out = tmp(t);
  const archive = path.join(out, 'busybox.tar');
  strataOk(root, ['save', '-o', archive, 'busybox']);
  // Converting a docker-archive to OCI makes skopeo re-serialise the config, so its digest may change; the
  // layers (diffIDs) may not.
  const layout = path.join(out, 'converted');
  skopeo('copy', '--dest-compress-format', 'gzip', `docker-archive:${archive}`, `oci:${layout}:v1`);
  const converted = layoutImage(layout, 'v1');
  assert.deepEqual(converted.config.rootfs.diff_ids, image.RootFS.Layers);

  const fresh = tmp(t, 'strata-interop-fresh-');
  assert.deepEqual(loadedIds(strataOk(fresh, ['load', '-i', layout])), [converted.manifest.config.digest]);
  const loaded = inspect(fresh, converted.manifest.config.digest);
  assert.deepEqual(loaded.RootFS.Layers, image.RootFS.Layers);
  assert.equal(loaded.Descriptor.digest, converted.manifestDigest, 'the layout manifest is kept');
  assert.deepEqual(loaded.Config.Cmd, ['sh']);
  // The same layer as the original, unpacked to the same files.
  assert.deepEqual(treeBytes(loaded.Strata.LayerDirs[0]!), treeBytes(fixture().rootfs));
});

// ---------------------------------------------------------------------------------------------------------------
// umoci -> Strata -> umoci: whiteouts

/**
 * An OCI layout built by umoci alone: `base` is the busybox rootfs plus /opt/old/readme; `v2` adds a layer that
 * deletes /etc/group and /opt/old, adds /etc/motd and changes /etc/passwd.
 */
function umociLayout(t: TestContext) {
  const work = tmp(t);
  const layout = path.join(work, 'layout');
  umoci('init', '--layout', layout);
  umoci('new', '--image', `${layout}:base`);
  const base = path.join(work, 'bundle-base');
  umociUnpack(`${layout}:base`, base);
  sh(`cp -a '${fixture().rootfs}/.' '${base}/rootfs/'`);
  fs.mkdirSync(path.join(base, 'rootfs/opt/old'), { recursive: true });
  fs.writeFileSync(path.join(base, 'rootfs/opt/old/readme'), 'from the base layer\n');
  umoci('repack', '--image', `${layout}:base`, base);
  umoci('config', '--image', `${layout}:base`, '--config.cmd', 'sh');

  const top = path.join(work, 'bundle-v2');
  umociUnpack(`${layout}:base`, top);
  fs.rmSync(path.join(top, 'rootfs/etc/group'));
  fs.rmSync(path.join(top, 'rootfs/opt/old'), { recursive: true });
  fs.writeFileSync(path.join(top, 'rootfs/etc/motd'), 'added on top\n');
  fs.appendFileSync(path.join(top, 'rootfs/etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  umoci('repack', '--image', `${layout}:v2`, top);
  return { work, layout, base: layoutImage(layout, 'base'), v2: layoutImage(layout, 'v2') };
}

test('a two-layer umoci image with whiteouts: loaded with overlay whiteouts, saved back and unpacked by umoci', (t) => {
  if (!haveUmoci) return t.skip('umoci is not installed');
  const { work, layout, base, v2 } = umociLayout(t);
  assert.equal(v2.manifest.layers.length, 2);
  assert.equal(v2.manifest.layers[0]!.digest, base.manifest.layers[0]!.digest);

  const root = tmp(t, 'strata-interop-root-');
  const ids = loadedIds(strataOk(root, ['load', '-i', layout]));
  const id = v2.manifest.config.digest;
  assert.deepEqual(ids.sort(), [base.manifest.config.digest, id].sort(), 'both images of the layout are loaded');
  // umoci names images by tag only: they are loaded untagged.
  assert.deepEqual(imageRows(root).map((row) => row.split(' ')[0]), ['<none>:<none>', '<none>:<none>']);

  const image = inspect(root, id);
  assert.equal(image.RootFS.Layers.length, 2);
  assert.deepEqual(image.RootFS.Layers, v2.config.rootfs.diff_ids);
  assert.equal(image.Strata.LayerDirs.length, 2);
  assert.equal(image.Strata.LayerDirs[0], inspect(root, base.manifest.config.digest).Strata.LayerDirs[0], 'the base layer is shared');
  assert.match(strataOk(root, ['history', id]), /umoci repack/);

  // The top layer as overlayfs wants it: whiteouts are 0:0 character devices, the new files are plain files.
  const upper = image.Strata.LayerDirs[1]!;
  assert.ok(isWhiteout(path.join(upper, 'etc/group')), 'etc/group is a whiteout');
  assert.ok(isWhiteout(path.join(upper, 'opt/old')), 'opt/old is a whiteout');
  assert.equal(fs.readFileSync(path.join(upper, 'etc/motd'), 'utf8'), 'added on top\n');
  assert.match(fs.readFileSync(path.join(upper, 'etc/passwd'), 'utf8'), /^app:x:1000/m);
  assert.ok(!fs.existsSync(path.join(upper, 'bin')), 'unchanged files stay in the base layer');
  const lower = image.Strata.LayerDirs[0]!;
  assert.equal(fs.readFileSync(path.join(lower, 'opt/old/readme'), 'utf8'), 'from the base layer\n');
  assert.ok(fs.statSync(path.join(lower, 'etc/group')).isFile());

  // Saved again and unpacked by umoci: the deleted files are gone, the added and changed ones are there.
  strataOk(root, ['tag', id, 'umoci-made:v2']);
  const saved = path.join(work, 'saved');
  strataOk(root, ['save', '--format', 'oci-dir', '-o', saved, 'umoci-made:v2']);
  assert.equal(layoutImage(saved, 'v2').manifestDigest, v2.manifestDigest, 'the manifest survives byte for byte');
  const bundle = path.join(work, 'unpacked');
  umociUnpack(`${saved}:v2`, bundle);
  const rootfs = path.join(bundle, 'rootfs');
  assert.ok(!fs.existsSync(path.join(rootfs, 'etc/group')), 'etc/group was deleted');
  assert.ok(!fs.existsSync(path.join(rootfs, 'opt/old')), 'opt/old was deleted');
  assert.ok(fs.statSync(path.join(rootfs, 'opt')).isDirectory());
  assert.equal(fs.readFileSync(path.join(rootfs, 'etc/motd'), 'utf8'), 'added on top\n');
  assert.equal(fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8'), `${fs.readFileSync(path.join(fixture().rootfs, 'etc/passwd'), 'utf8')}app:x:1000:1000::/home/app:/bin/sh\n`);
  assert.ok(fs.readFileSync(path.join(rootfs, 'bin/busybox')).equals(fs.readFileSync(path.join(fixture().rootfs, 'bin/busybox'))));
  assert.equal(fs.statSync(path.join(rootfs, 'bin/sh')).ino, fs.statSync(path.join(rootfs, 'bin/busybox')).ino);

  // And as a docker archive (uncompressed layers) into another root: the same image.
  const dockerTar = path.join(work, 'saved.tar');
  strataOk(root, ['save', '-o', dockerTar, 'umoci-made:v2']);
  const other = tmp(t, 'strata-interop-fresh-');
  assert.match(strataOk(other, ['load', '-i', dockerTar]), /^Loaded image: umoci-made:v2$/m);
  assert.equal(inspect(other, 'umoci-made:v2').Id, id);
  assert.ok(isWhiteout(path.join(inspect(other, 'umoci-made:v2').Strata.LayerDirs[1]!, 'etc/group')));
  if (haveSkopeo) {
    // The docker format rewrites the manifest for uncompressed layers; skopeo reads both of its views.
    assert.deepEqual(skopeoJson('inspect', `docker-archive:${dockerTar}`).Layers, image.RootFS.Layers);
    assert.deepEqual(skopeoJson('inspect', `oci-archive:${dockerTar}:v2`).Layers, image.RootFS.Layers);
    assert.equal(skopeoJson('inspect', '--raw', `oci-archive:${dockerTar}:v2`).config.digest, id);
  }
});

test('an opaque directory from `umoci insert --opaque` hides the lower contents', (t) => {
  if (!haveUmoci) return t.skip('umoci is not installed');
  const { work, layout } = umociLayout(t);
  // /opt replaced wholesale: the lower /opt/old must not show through.
  umoci('tag', '--image', `${layout}:base`, 'v3');
  const replacement = path.join(work, 'new-opt');
  fs.mkdirSync(path.join(replacement, 'fresh'), { recursive: true });
  fs.writeFileSync(path.join(replacement, 'fresh/file'), 'new\n');
  umoci('insert', '--image', `${layout}:v3`, '--opaque', replacement, '/opt');
  const v3 = layoutImage(layout, 'v3');
  assert.equal(v3.manifest.layers.length, 2);

  const root = tmp(t, 'strata-interop-root-');
  assert.ok(loadedIds(strataOk(root, ['load', '-i', layout])).includes(v3.manifest.config.digest));
  const image = inspect(root, v3.manifest.config.digest);
  assert.deepEqual(image.RootFS.Layers, v3.config.rootfs.diff_ids);
  const upperOpt = path.join(image.Strata.LayerDirs[1]!, 'opt');
  assert.equal(fsExtras().lgetxattr(upperOpt, 'trusted.overlay.opaque')?.toString(), 'y', 'opt is marked opaque for overlayfs');
  assert.deepEqual([...treeBytes(upperOpt).keys()], ['fresh/file']);

  strataOk(root, ['tag', v3.manifest.config.digest, 'opaque:v3']);
  const saved = path.join(work, 'saved');
  strataOk(root, ['save', '--format', 'oci-dir', '-o', saved, 'opaque:v3']);
  const bundle = path.join(work, 'unpacked');
  umociUnpack(`${saved}:v3`, bundle);
  assert.deepEqual([...treeBytes(path.join(bundle, 'rootfs/opt')).keys()], ['fresh/file']);
  assert.equal(fs.readFileSync(path.join(bundle, 'rootfs/opt/fresh/file'), 'utf8'), 'new\n');
});

// ---------------------------------------------------------------------------------------------------------------
// umoci -> Strata: file types and metadata

const oldTime = new Date('2001-02-03T04:05:06Z');
const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_raw+ep, v2

/**
 * A one-layer umoci image with what real root filesystems have beyond plain files: relative and absolute
 * symlinks, a fifo, a character device, a setuid binary, a file owned by 1234:5678 with an old mtime, and
 * (when asked) xattrs. Loaded into a fresh root; returns the root, the image and its unpacked layer dir.
 */
function specialFilesImage(t: TestContext, options: { xattrs?: boolean } = {}) {
  const work = tmp(t);
  const layout = path.join(work, 'layout');
  umoci('init', '--layout', layout);
  umoci('new', '--image', `${layout}:special`);
  const bundle = path.join(work, 'bundle');
  umociUnpack(`${layout}:special`, bundle);
  const rootfs = path.join(bundle, 'rootfs');
  sh(`cp -a '${fixture().rootfs}/.' '${rootfs}/'`);
  fs.symlinkSync('busybox', path.join(rootfs, 'bin/vi'));
  fs.symlinkSync('/etc/passwd', path.join(rootfs, 'passwd-link'));
  sh(`mkfifo '${rootfs}/tmp/fifo'`);
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o4755);
  fs.mkdirSync(path.join(rootfs, 'data'));
  fs.writeFileSync(path.join(rootfs, 'data/owned'), 'owned by 1234\n');
  fs.utimesSync(path.join(rootfs, 'data/owned'), oldTime, oldTime);
  fs.utimesSync(path.join(rootfs, 'tmp/fifo'), oldTime, oldTime);
  if (isRoot) {
    fs.chownSync(path.join(rootfs, 'data/owned'), 1234, 5678);
    fsExtras().mknod(path.join(rootfs, 'tmp/null'), 0o020000 | 0o644, 1, 3);
    fs.utimesSync(path.join(rootfs, 'tmp/null'), oldTime, oldTime);
  }
  let xattrs = false;
  if (options.xattrs) {
    fs.writeFileSync(path.join(rootfs, 'bin/pinger'), 'not really ping\n', { mode: 0o755 });
    try {
      fsExtras().lsetxattr(path.join(rootfs, 'data/owned'), 'user.note', Buffer.from('hello'));
      if (isRoot) fsExtras().lsetxattr(path.join(rootfs, 'bin/pinger'), 'security.capability', capability);
      xattrs = true;
    } catch {
      // The temp filesystem keeps no xattrs.
    }
  }
  umoci('repack', '--image', `${layout}:special`, bundle);
  const root = tmp(t, 'strata-interop-root-');
  const id = layoutImage(layout, 'special').manifest.config.digest;
  assert.deepEqual(loadedIds(strataOk(root, ['load', '-i', layout])), [id]);
  const image = inspect(root, id);
  return { work, root, id, image, layer: image.Strata.LayerDirs[0]!, xattrs };
}

/** What a root filesystem shows of the special files, the same way for Strata's layer dir and umoci's bundle. */
function checkSpecialFiles(rootfs: string, what: string) {
  assert.equal(fs.readlinkSync(path.join(rootfs, 'bin/vi')), 'busybox', `${what}: relative symlink`);
  assert.equal(fs.readlinkSync(path.join(rootfs, 'passwd-link')), '/etc/passwd', `${what}: absolute symlink`);
  assert.ok(fs.lstatSync(path.join(rootfs, 'tmp/fifo')).isFIFO(), `${what}: fifo`);
  assert.equal(fs.statSync(path.join(rootfs, 'bin/busybox')).mode & 0o7777, 0o4755, `${what}: setuid bit`);
  assert.equal(fs.statSync(path.join(rootfs, 'bin/sh')).ino, fs.statSync(path.join(rootfs, 'bin/busybox')).ino, `${what}: hardlink`);
  const owned = fs.statSync(path.join(rootfs, 'data/owned'));
  assert.equal(owned.mtime.toISOString(), oldTime.toISOString(), `${what}: file mtime`);
  if (isRoot) {
    assert.deepEqual([owned.uid, owned.gid], [1234, 5678], `${what}: owner`);
    const device = fs.lstatSync(path.join(rootfs, 'tmp/null'));
    assert.ok(device.isCharacterDevice(), `${what}: character device`);
    assert.equal(device.rdev, (1 << 8) | 3, `${what}: device 1:3`);
  }
}

test('symlinks, fifos, devices, setuid, owners and mtimes from a umoci layer: in the layer dir and back through umoci', (t) => {
  if (!haveUmoci) return t.skip('umoci is not installed');
  const { work, root, id, layer } = specialFilesImage(t);
  checkSpecialFiles(layer, 'layer dir');
  strataOk(root, ['tag', id, 'special:v1']);
  const saved = path.join(work, 'saved');
  strataOk(root, ['save', '--format', 'oci-dir', '-o', saved, 'special:v1']);
  const bundle = path.join(work, 'unpacked');
  umociUnpack(`${saved}:v1`, bundle);
  checkSpecialFiles(path.join(bundle, 'rootfs'), 'umoci unpack of strata save');
});

test(
  'xattrs of a layer (SCHILY.xattr PAX records) reach the unpacked layer dir',
  (t) => {
    if (!haveUmoci) return t.skip('umoci is not installed');
    const { work, root, id, layer, xattrs } = specialFilesImage(t, { xattrs: true });
    if (!xattrs) return t.skip('the temp filesystem does not keep xattrs');
    // The stored layer keeps them: umoci finds them again in what Strata saves.
    strataOk(root, ['tag', id, 'xattrs:v1']);
    const saved = path.join(work, 'saved');
    strataOk(root, ['save', '--format', 'oci-dir', '-o', saved, 'xattrs:v1']);
    const bundle = path.join(work, 'unpacked');
    umociUnpack(`${saved}:v1`, bundle);
    assert.equal(fsExtras().lgetxattr(path.join(bundle, 'rootfs/data/owned'), 'user.note')?.toString(), 'hello');
    if (isRoot) assert.deepEqual(fsExtras().lgetxattr(path.join(bundle, 'rootfs/bin/pinger'), 'security.capability'), capability);
    // The layer dir, which overlayfs will show to containers, must have them too.
    assert.equal(fsExtras().lgetxattr(path.join(layer, 'data/owned'), 'user.note')?.toString(), 'hello', 'user.note in the layer dir');
    if (isRoot) assert.deepEqual(fsExtras().lgetxattr(path.join(layer, 'bin/pinger'), 'security.capability'), capability, 'file capability in the layer dir');
  },
);

test(
  'mtimes of fifos and device nodes reach the unpacked layer dir',
  (t) => {
    if (!haveUmoci) return t.skip('umoci is not installed');
    const { layer } = specialFilesImage(t);
    assert.equal(fs.lstatSync(path.join(layer, 'tmp/fifo')).mtime.toISOString(), oldTime.toISOString(), 'fifo mtime');
    if (isRoot) assert.equal(fs.lstatSync(path.join(layer, 'tmp/null')).mtime.toISOString(), oldTime.toISOString(), 'device mtime');
  },
);

// ---------------------------------------------------------------------------------------------------------------
// Round trips

test('save -> load into another root keeps the image ID; saving is deterministic in every format', (t) => {
  const { root, image } = importedBusybox(t);
  strataOk(root, ['tag', 'busybox', 'example.com/tools/bb:1.36']);
  const out = tmp(t);
  const names = ['busybox:latest', 'example.com/tools/bb:1.36'];

  for (const format of ['docker', 'oci']) {
    const first = path.join(out, `${format}-1.tar`);
    const second = path.join(out, `${format}-2.tar`);
    strataOk(root, ['save', '--format', format, '-o', first, ...names]);
    strataOk(root, ['save', '--format', format, '-o', second, ...names]);
    assert.ok(fs.readFileSync(first).equals(fs.readFileSync(second)), `${format}: two saves are byte-identical`);

    const other = tmp(t, 'strata-interop-fresh-');
    const output = strataOk(other, ['load', '-i', first]);
    for (const name of names) assert.match(output, new RegExp(`^Loaded image: ${name.replace(/\./g, '\\.')}$`, 'm'));
    for (const name of names) {
      const loaded = inspect(other, name);
      assert.equal(loaded.Id, image.Id, `${format}: ${name}`);
      assert.deepEqual(loaded.RootFS.Layers, image.RootFS.Layers);
      assert.equal(loaded.Descriptor.digest, image.Descriptor.digest, `${format}: the manifest digest survives`);
    }
    // Saved from the other root, the archive is the same bytes again.
    const third = path.join(out, `${format}-3.tar`);
    strataOk(other, ['save', '--format', format, '-o', third, ...names]);
    assert.ok(fs.readFileSync(first).equals(fs.readFileSync(third)), `${format}: the loaded image saves to the same archive`);
  }

  const dirs = [path.join(out, 'dir-1'), path.join(out, 'dir-2')];
  for (const dir of dirs) strataOk(root, ['save', '--format', 'oci-dir', '-o', dir, ...names]);
  assert.deepEqual(treeBytes(dirs[0]!), treeBytes(dirs[1]!), 'oci-dir: two saves are identical');
  const other = tmp(t, 'strata-interop-fresh-');
  strataOk(other, ['load', '-i', dirs[0]!]);
  assert.equal(inspect(other, 'example.com/tools/bb:1.36').Id, image.Id);

  // Saving by ID writes no names: loading it gives an untagged image with the same ID.
  const byId = path.join(out, 'by-id.tar');
  strataOk(root, ['save', '-o', byId, image.Id]);
  const untagged = tmp(t, 'strata-interop-fresh-');
  assert.deepEqual(loadedIds(strataOk(untagged, ['load', '-i', byId])), [image.Id]);
  assert.deepEqual(imageRows(untagged), [`<none>:<none> ${image.Id.slice(7, 19)}`]);
  assert.notEqual(strata(untagged, ['inspect', 'busybox']).status, 0, 'no busybox tag in the other root');
});
