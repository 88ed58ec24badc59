/**
 * Layers from overlay upper dirs (writeLayerTar), `docker diff` (changes) and the copying fallback (copyLayerInto),
 * all checked against real overlay mounts: a container's merged view must come back the same from its layer
 * tar, and from copying its layers into one directory. Needs root and overlayfs; skips otherwise.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import tar, { type Header } from 'tar-stream';
import { applyLayer } from '../src/layers/apply.js';
import { changes, writeLayerTar } from '../src/layers/diff.js';
import { copyLayerInto } from '../src/layers/merge.js';
import { fsExtras } from '../src/layers/fsx.js';
import { xattrsOf } from '../src/layers/pax.js';
import { sh, tempDir } from './helpers.js';

// The modes asserted below are those of files and dirs made under the usual umask.
process.umask(0o022);

const canMount = process.getuid?.() === 0 && fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n');
const skip = { skip: canMount ? false : 'needs root and overlayfs' };

const work = canMount ? tempDir('strata-diff-') : '';
const mounted: string[] = [];
after(() => {
  for (const dir of mounted.reverse()) spawnSync('umount', [dir]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh directory under this file's scratch dir. */
function dir(name: string): string {
  const result = path.join(work, name);
  fs.mkdirSync(result);
  return result;
}

/** Mounts an overlay of `lowers` (topmost first), read-write when an upper dir is given; returns the merged dir. */
function mountOverlay(name: string, lowers: string[], upper?: string): string {
  const merged = dir(name);
  const rw = upper ? `,upperdir=${upper},workdir=${dir(`${name}-work`)}` : '';
  sh(`mount -t overlay overlay -o lowerdir=${lowers.join(':')}${rw},index=off ${merged}`);
  mounted.push(merged);
  return merged;
}

function unmount(merged: string): void {
  sh(`umount ${merged}`);
  mounted.splice(mounted.indexOf(merged), 1);
}

/** Runs `look` on an overlay mount of `lowers`, unmounted afterwards. */
function withOverlay<T>(name: string, lowers: string[], look: (merged: string) => T): T {
  const merged = mountOverlay(name, lowers);
  try {
    return look(merged);
  } finally {
    unmount(merged);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Layers from tar entries, and what a tree looks like

const T1 = new Date('2020-01-01T00:00:00Z');

type Entry = Partial<Header> & { name: string; content?: string };

/** A layer tar of `entries`; modes are given with their type bits (tar-stream's pack turns a 0 mode into 0644). */
async function layerTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { content, ...header } of entries) pack.entry({ mtime: T1, ...header }, Buffer.from(content ?? ''));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function unpack(tarBytes: Buffer, name: string): Promise<string> {
  const layer = dir(name);
  await applyLayer(Readable.from([tarBytes]), layer);
  return layer;
}

async function layerTarOf(upper: string, options?: { mtime?: Date }): Promise<{ bytes: Buffer; size: number }> {
  const chunks: Buffer[] = [];
  const { size } = await writeLayerTar(upper, (chunk) => void chunks.push(chunk), options);
  return { bytes: Buffer.concat(chunks), size };
}

async function tarHeaders(bytes: Buffer): Promise<Header[]> {
  const headers: Header[] = [];
  for await (const entry of Readable.from([bytes]).pipe(tar.extract())) {
    headers.push(entry.header);
    entry.resume();
  }
  return headers;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function typeOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'dir';
  if (stat.isFile()) return 'file';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isCharacterDevice()) return 'chr';
  return 'other';
}

/**
 * Every path under `root` with its type, mode, owner, mtime (whole seconds: tar keeps no more), size and content
 * hash, symlink target, device number, xattrs, and which earlier path shares its inode.
 */
function listing(root: string): string[] {
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const child = path.posix.join(rel, name);
      const file = path.join(root, child);
      const stat = fs.lstatSync(file);
      const parts = [child, typeOf(stat), (stat.mode & 0o7777).toString(8), `${stat.uid}:${stat.gid}`, `mtime=${Math.floor(stat.mtimeMs / 1000)}`];
      if (stat.isFile()) parts.push(`size=${stat.size}`, sha256(fs.readFileSync(file)));
      if (stat.isSymbolicLink()) parts.push(`-> ${fs.readlinkSync(file)}`);
      if (stat.isCharacterDevice()) parts.push(`rdev=${stat.rdev}`);
      for (const xattr of fsExtras().llistxattr(file).sort()) parts.push(`${xattr}=${fsExtras().lgetxattr(file, xattr)?.toString('hex')}`);
      if (!stat.isDirectory() && stat.nlink > 1) {
        if (!inodes.has(stat.ino)) inodes.set(stat.ino, child);
        parts.push(`inode-of=${inodes.get(stat.ino)}`);
      }
      lines.push(parts.join(' '));
      if (stat.isDirectory()) visit(child);
    }
  };
  visit('');
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// The scenario: a two-layer image, and a container that changes it in every way overlay records

const S_IFREG = fs.constants.S_IFREG;
const S_IFDIR = fs.constants.S_IFDIR;
const binaryValue = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
// security.capability, VFS_CAP_REVISION_2 with cap_net_bind_service permitted: binary, with NUL bytes.
const capability = Buffer.from([0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

const base: Entry[] = [
  { name: 'etc/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'etc/passwd', mode: S_IFREG | 0o644, content: 'root:x:0:0:root:/root:/bin/sh\n' },
  { name: 'etc/hosts', mode: S_IFREG | 0o644, content: '127.0.0.1 localhost\n' },
  { name: 'etc/shadow', mode: S_IFREG, content: 'root:*:19000::::::\n' },
  { name: 'bin/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'bin/tool', mode: S_IFREG | 0o755, content: '#!/bin/sh\necho tool\n' },
  { name: 'data/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'data/a', mode: S_IFREG | 0o644, content: 'a\n' },
  { name: 'data/sub/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'data/sub/b', mode: S_IFREG | 0o644, content: 'b\n' },
  { name: 'old/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'old/x', mode: S_IFREG | 0o644, content: 'x\n' },
  { name: 'old/deep/y', mode: S_IFREG | 0o644, content: 'y\n' },
  { name: 'chmodme', mode: S_IFREG | 0o644, content: 'c\n' },
  { name: 'h1', mode: S_IFREG | 0o644, content: 'hard\n' },
  { name: 'h2', type: 'link', linkname: 'h1' },
  { name: 'link', type: 'symlink', linkname: 'etc/passwd' },
  { name: 'fifo', type: 'fifo', mode: 0o644 },
  { name: 'null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
];

const second: Entry[] = [
  { name: 'etc/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'etc/hosts', mode: S_IFREG | 0o644, content: '127.0.0.1 localhost layer2\n' },
  { name: 'data/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'data/.wh.a', mode: S_IFREG | 0o600 },
  { name: 'data/sub/', type: 'directory', mode: S_IFDIR | 0o755 },
  { name: 'data/sub/.wh..wh..opq', mode: S_IFREG | 0o600 },
  { name: 'data/sub/c', mode: S_IFREG | 0o644, content: 'c\n' },
  { name: 'extra', mode: S_IFREG | 0o644, content: 'extra\n' },
];

/** What the container does, through its merged dir. */
function changeContainer(root: string): void {
  const at = (rel: string) => path.join(root, rel);
  fs.writeFileSync(at('etc/newfile'), 'new\n');
  fsExtras().lsetxattr(at('etc/newfile'), 'user.bin', binaryValue);
  fs.mkdirSync(at('newdir'), 0o755);
  fs.writeFileSync(at('newdir/file'), 'f\n');
  fs.utimesSync(at('newdir/file'), new Date('2021-06-01T12:00:00Z'), new Date('2021-06-01T12:00:00Z'));
  fs.linkSync(at('newdir/file'), at('newdir/file2'));
  fs.writeFileSync(at('newdir/secret'), 's\n', { mode: 0 });
  fs.chmodSync(at('newdir/secret'), 0);
  fs.appendFileSync(at('etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
  fs.rmSync(at('etc/hosts'));
  fs.rmSync(at('etc/shadow'));
  fs.rmSync(at('link'));
  fs.rmSync(at('old'), { recursive: true });
  // A directory deleted and made again: overlay marks the new one opaque.
  fs.rmSync(at('data/sub'), { recursive: true });
  fs.mkdirSync(at('data/sub'), 0o755);
  fs.writeFileSync(at('data/sub/d'), 'd\n');
  fs.linkSync(at('extra'), at('extra.link'));
  fs.symlinkSync('/etc/passwd', at('newlink'));
  fs.chmodSync(at('chmodme'), 0o600);
  fsExtras().lsetxattr(at('bin/tool'), 'security.capability', capability);
  fs.chownSync(at('bin'), 1000, 1000);
  fsExtras().mknod(at('newfifo'), fs.constants.S_IFIFO | 0o644, 0, 0);
}

let layer1 = '';
let layer2 = '';
let upper = '';
let containerView: string[] = [];

before(async () => {
  if (!canMount) return;
  layer1 = await unpack(await layerTar(base), 'layer1');
  layer2 = await unpack(await layerTar(second), 'layer2');
  upper = dir('upper');
  const merged = mountOverlay('container', [layer2, layer1], upper);
  try {
    changeContainer(merged);
    containerView = listing(merged);
  } finally {
    unmount(merged);
  }
});

// ---------------------------------------------------------------------------------------------------------------

test('the layer tar of an upper dir, stacked on the image, shows what the container showed', skip, async () => {
  const { bytes, size } = await layerTarOf(upper);
  const layer3 = await unpack(bytes, 'layer3');
  assert.deepEqual(
    withOverlay('from-tar', [layer3, layer2, layer1], listing),
    containerView,
  );
  // Binary xattr values come through PAX records byte for byte.
  assert.deepEqual(fsExtras().lgetxattr(path.join(layer3, 'etc/newfile'), 'user.bin'), binaryValue);
  assert.deepEqual(fsExtras().lgetxattr(path.join(layer3, 'bin/tool'), 'security.capability'), capability);

  // The size is that of the regular files, each inode once.
  const inodes = new Map<number, number>();
  const count = (rel: string) => {
    for (const name of fs.readdirSync(path.join(upper, rel))) {
      const stat = fs.lstatSync(path.join(upper, rel, name));
      if (stat.isFile()) inodes.set(stat.ino, stat.size);
      if (stat.isDirectory()) count(path.join(rel, name));
    }
  };
  count('');
  assert.equal(size, [...inodes.values()].reduce((a, b) => a + b, 0));

  // Overlay gives all whiteouts one shared inode: they must still be whiteout files, not hardlinks to each other.
  const headers = await tarHeaders(bytes);
  const whiteouts = headers.filter((header) => path.posix.basename(header.name).startsWith('.wh.'));
  assert.deepEqual(
    whiteouts.map((header) => [header.name, header.type, header.size, header.mode]),
    [
      ['data/sub/.wh..wh..opq', 'file', 0, 0o755],
      ['etc/.wh.hosts', 'file', 0, 0o600],
      ['etc/.wh.shadow', 'file', 0, 0o600],
      ['.wh.link', 'file', 0, 0o600],
      ['.wh.old', 'file', 0, 0o600],
    ],
  );
  assert.deepEqual(
    headers.filter((header) => header.type === 'link').map((header) => [header.name, header.linkname]),
    [
      ['extra.link', 'extra'],
      ['newdir/file2', 'newdir/file'],
    ],
  );
});

test('changes lists what docker diff prints', skip, async () => {
  const list = await changes(upper, [layer2, layer1]);
  assert.deepEqual(
    list.map((change) => `${change.kind} ${change.path}`),
    [
      'C /bin', // chown
      'C /bin/tool', // security.capability
      'C /chmodme',
      'C /data', // unchanged itself, but holds changes
      'C /data/sub', // deleted and made again, with the same mode and owner
      'D /data/sub/c', // hidden by the new, opaque /data/sub (b was already hidden by layer 2's)
      'A /data/sub/d',
      'C /etc',
      'D /etc/hosts',
      'A /etc/newfile',
      'C /etc/passwd',
      'D /etc/shadow',
      // /extra was copied up to be hardlinked, and is unchanged: Docker does not list it either.
      'A /extra.link',
      'D /link',
      'A /newdir',
      'A /newdir/file',
      'A /newdir/file2',
      'A /newdir/secret',
      'A /newfifo',
      'A /newlink',
      'D /old', // not what was in it
    ],
  );
  assert.deepEqual(await changes(dir('empty-upper'), [layer2, layer1]), []);
});

test('a lower whiteout or opaque dir hides what is below it from changes', skip, async () => {
  // /data/a is whited out by layer 2, /data/sub/b hidden by its opaque /data/sub: made again, they are additions.
  const upperDir = dir('readd-upper');
  const merged = mountOverlay('readd', [layer2, layer1], upperDir);
  try {
    fs.writeFileSync(path.join(merged, 'data/a'), 'a again\n');
    fs.writeFileSync(path.join(merged, 'data/sub/b'), 'b again\n');
  } finally {
    unmount(merged);
  }
  assert.deepEqual(
    (await changes(upperDir, [layer2, layer1])).map((change) => `${change.kind} ${change.path}`),
    ['C /data', 'A /data/a', 'C /data/sub', 'A /data/sub/b'],
  );
});

test('copying the layers into one directory gives the overlay merged view', skip, async () => {
  const image = dir('copied-image');
  await copyLayerInto(layer1, image);
  await copyLayerInto(layer2, image);
  assert.deepEqual(listing(image), withOverlay('image', [layer2, layer1], listing));

  const container = dir('copied-container');
  for (const layer of [layer1, layer2, upper]) await copyLayerInto(layer, container);
  assert.deepEqual(listing(container), containerView);
});

test('layer tars are deterministic, and options.mtime sets every entry time', skip, async () => {
  const first = await layerTarOf(upper);
  const again = await layerTarOf(upper);
  assert.equal(sha256(again.bytes), sha256(first.bytes));

  const epoch = new Date('2000-01-01T00:00:00Z');
  const pinned = await layerTarOf(upper, { mtime: epoch });
  assert.equal(sha256((await layerTarOf(upper, { mtime: epoch })).bytes), sha256(pinned.bytes));
  assert.deepEqual(new Set((await tarHeaders(pinned.bytes)).map((header) => header.mtime?.getTime())), new Set([epoch.getTime()]));
});

test('whiteouts, opaque dirs, xattrs and special files are encoded as OCI layers have them', skip, async () => {
  const upperDir = dir('hand-upper');
  const at = (rel: string) => path.join(upperDir, rel);
  const mtime = new Date('2022-02-02T00:00:00Z');
  fsExtras().mknod(at('gone'), fs.constants.S_IFCHR, 0, 0);
  fs.mkdirSync(at('opaque'), 0o750);
  fsExtras().lsetxattr(at('opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
  fs.writeFileSync(at('opaque/kept'), 'kept\n');
  fsExtras().mknod(at('opaque/.hidden'), fs.constants.S_IFCHR | 0o600, 0, 0);
  fs.writeFileSync(at('file'), 'data\n');
  fsExtras().lsetxattr(at('file'), 'user.bin', binaryValue);
  fsExtras().lsetxattr(at('file'), 'trusted.overlay.origin', Buffer.from('overlay bookkeeping'));
  fsExtras().mknod(at('tty'), fs.constants.S_IFCHR, 5, 0);
  fs.chmodSync(at('tty'), 0o620);
  fs.mkdirSync(at('a.b'));
  fs.mkdirSync(at('a'));
  fs.writeFileSync(at('a/z'), '');
  fs.chownSync(at('a/z'), 3_000_000, 3_000_001);
  for (const rel of ['gone', 'opaque/kept', 'opaque/.hidden', 'opaque', 'file', 'tty', 'a/z', 'a', 'a.b']) fs.lutimesSync(at(rel), mtime, mtime);

  const { bytes, size } = await layerTarOf(upperDir);
  assert.equal(size, 10);
  const headers = await tarHeaders(bytes);
  assert.deepEqual(
    headers.map((header) => [header.name, header.type, header.mode.toString(8), header.size, header.devmajor, header.devminor]),
    [
      // Depth first, names in byte order: a directory's contents before the next name.
      ['a/', 'directory', '755', 0, 0, 0],
      ['a/z', 'file', '644', 0, 0, 0],
      ['a.b/', 'directory', '755', 0, 0, 0],
      ['file', 'file', '644', 5, 0, 0],
      ['.wh.gone', 'file', '600', 0, 0, 0],
      // The opaque marker comes right after its directory, as in Docker's layers.
      ['opaque/', 'directory', '750', 0, 0, 0],
      ['opaque/.wh..wh..opq', 'file', '750', 0, 0, 0],
      ['opaque/.wh..hidden', 'file', '600', 0, 0, 0],
      ['opaque/kept', 'file', '644', 5, 0, 0],
      ['tty', 'character-device', '620', 0, 5, 0],
    ],
  );
  assert.ok(headers.every((header) => header.mtime?.getTime() === mtime.getTime()));
  const file = headers.find((header) => header.name === 'file')!;
  assert.deepEqual(xattrsOf(file.pax as Record<string, string>), [['user.bin', binaryValue]]);
  // ids beyond ustar's 7 octal digits go into PAX records too.
  const big = headers.find((header) => header.name === 'a/z')!.pax as Record<string, string>;
  assert.deepEqual([big.uid, big.gid], ['3000000', '3000001']);

  // Applied again, the layer is the upper dir it came from (the opaque dir keeps its mark, without overlay's xattrs).
  const applied = await unpack(bytes, 'hand-applied');
  assert.equal(fsExtras().lgetxattr(path.join(applied, 'opaque'), 'trusted.overlay.opaque')?.toString(), 'y');
  assert.equal(fsExtras().lgetxattr(path.join(applied, 'file'), 'trusted.overlay.origin'), null);
  assert.equal(fs.lstatSync(path.join(applied, 'gone')).rdev, 0);
});

test('copyLayerInto never writes through a symlink in the target, and replaces entries of another type', skip, async () => {
  const outside = dir('outside');
  const lower = dir('sym-lower');
  fs.symlinkSync(outside, path.join(lower, 'etc')); // an absolute link, as a hostile layer could have one
  fs.symlinkSync(outside, path.join(lower, 'opt'));
  fs.mkdirSync(path.join(lower, 'was-dir'));
  fs.writeFileSync(path.join(lower, 'was-dir/inner'), 'inner\n');
  fs.writeFileSync(path.join(lower, 'was-file'), 'file\n');
  const top = dir('sym-top');
  fs.mkdirSync(path.join(top, 'etc'));
  fs.writeFileSync(path.join(top, 'etc/x'), 'x\n');
  fsExtras().mknod(path.join(top, 'opt'), fs.constants.S_IFCHR, 0, 0);
  fs.writeFileSync(path.join(top, 'was-dir'), 'now a file\n');
  fs.mkdirSync(path.join(top, 'was-file'));
  fs.writeFileSync(path.join(top, 'was-file/inner'), 'now a dir\n');

  const target = dir('sym-target');
  await copyLayerInto(lower, target);
  await copyLayerInto(top, target);
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.deepEqual(listing(target), withOverlay('sym-merged', [top, lower], listing));
  assert.ok(fs.lstatSync(path.join(target, 'etc')).isDirectory());
  assert.equal(fs.existsSync(path.join(target, 'opt')), false);
});

test('writeLayerTar fails with the sink error, and refuses overlay metacopy and redirect entries', skip, async () => {
  await assert.rejects(
    writeLayerTar(upper, (chunk) => {
      if (chunk.length > 0) throw new Error('disk full');
    }),
    /disk full/,
  );
  const upperDir = dir('metacopy-upper');
  fs.writeFileSync(path.join(upperDir, 'file'), '');
  fsExtras().lsetxattr(path.join(upperDir, 'file'), 'trusted.overlay.metacopy', Buffer.alloc(0));
  await assert.rejects(layerTarOf(upperDir), /overlay metacopy entries cannot be copied; mount overlay with metacopy=off,redirect_dir=off/);
});
