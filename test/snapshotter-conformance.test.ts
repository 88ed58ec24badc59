/**
 * One conformance suite for the Snapshotter interface (src/snapshots/types.ts), after containerd's
 * core/snapshots/testsuite: `snapshotterSuite(driver)` runs the same cases with the same assertions against each
 * implementation (overlay and native). Layers are made by the real image and layer stores from tars on a temp
 * root; the container's writes are plain file system calls on the mounted root; "what diff and commit see" is
 * the upper dir the snapshotter hands out, read by `changes` (diff) and `writeLayerTar` (commit).
 *
 * A driver that lacks a capability skips that case with the reason (see the driver table at the bottom).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import tar, { type Header } from 'tar-stream';
import { ContentStore } from '../src/content/store.js';
import { canonicalJson } from '../src/images/model.js';
import { ImageStore, type NewLayer } from '../src/images/store.js';
import { changes, writeLayerTar } from '../src/layers/diff.js';
import { fsExtras } from '../src/layers/fsx.js';
import { copyLayerInto } from '../src/layers/merge.js';
import { LayerStore } from '../src/layers/store.js';
import type { LayerRecord } from '../src/layers/records.js';
import { MetadataDb } from '../src/metadata/database.js';
import { NativeSnapshotter } from '../src/snapshots/native.js';
import { OverlaySnapshotter } from '../src/snapshots/overlay.js';
import type { Snapshotter } from '../src/snapshots/types.js';
import { tempDir } from './helpers.js';

// The modes asserted below are those of files and dirs made under the usual umask.
process.umask(0o022);

const isRoot = process.getuid?.() === 0;
const hasOverlay = fs.readFileSync('/proc/filesystems', 'utf8').includes('\toverlay\n');

// ---------------------------------------------------------------------------------------------------------------
// Layers from tars

const T0 = new Date('2020-01-01T00:00:00Z');

/** A layer's entries by path: file content, null for a whiteout (`.wh.<name>`), or a symlink or directory. */
type LayerSpec = Record<string, string | null | { symlink: string } | { dir: number } | { file: string; mode: number }>;

async function layerTar(spec: LayerSpec): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, value] of Object.entries(spec)) {
    const header: Partial<Header> & { name: string } = { name, mtime: T0, mode: 0o644 };
    if (value === null) {
      pack.entry({ ...header, name: path.posix.join(path.posix.dirname(name), `.wh.${path.posix.basename(name)}`) }, '');
    } else if (typeof value === 'string') {
      pack.entry(header, value);
    } else if ('symlink' in value) {
      pack.entry({ ...header, type: 'symlink', linkname: value.symlink, mode: 0o777 });
    } else if ('dir' in value) {
      pack.entry({ ...header, type: 'directory', mode: value.dir });
    } else {
      pack.entry({ ...header, mode: value.mode }, value.file);
    }
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Fixture {
  root: string;
  images: ImageStore;
  layers: LayerStore;
  snapshotter: Snapshotter;
  /** The image's layers, bottom first, as a container's mount gets them. */
  lowers: LayerRecord[];
  /** Their directories, topmost first, as diff reads them. */
  lowerDirs: string[];
}

/** Snapshots still there when a case fails half way: removed (and unmounted) after the file's tests. */
const live = new Set<{ snapshotter: Snapshotter; key: string }>();
after(() => {
  for (const { snapshotter, key } of live) snapshotter.remove(key);
});

/** A fresh storage root with an image of `stack` (each a layer, bottom first) and the driver under test on it. */
async function fixture(driver: Driver, stack: LayerSpec[]): Promise<Fixture> {
  const root = tempDir('strata-snap-');
  const content = new ContentStore(root);
  const db = new MetadataDb(path.join(root, 'metadata.db'));
  const layers = new LayerStore(root, db);
  const images = new ImageStore(content, layers, db);
  const made: NewLayer[] = [];
  for (const spec of stack) {
    const bytes = await layerTar(spec);
    made.push(await images.makeLayer(made.map((layer) => layer.diffId), 'test layer', (sink) => sink(bytes)));
  }
  const diffIds = made.map((layer) => layer.diffId);
  const { id } = images.add({
    config: canonicalJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }),
    layers: made,
  });
  const lowers = images.layerChain(images.resolve(id));
  const snapshotter = driver.make(root, layers);
  return { root, images, layers, snapshotter, lowers, lowerDirs: lowers.map((layer) => layers.path(layer.dir)).reverse() };
}

function prepare(f: Fixture, key: string): void {
  f.snapshotter.prepare(key);
  live.add({ snapshotter: f.snapshotter, key });
}

function remove(f: Fixture, key: string): void {
  f.snapshotter.remove(key);
  for (const entry of live) if (entry.snapshotter === f.snapshotter && entry.key === key) live.delete(entry);
}

// ---------------------------------------------------------------------------------------------------------------
// What a tree looks like

/** Mount points of the init layer, in every container's root and never a change of its. */
const initEntries = { dev: 'dir 755', 'dev/mqueue': 'dir 755', 'dev/pts': 'dir 755', 'dev/shm': 'dir 755', proc: 'dir 755', sys: 'dir 755' };

/**
 * Every entry under `dir` as "type mode [content|target]"; `raw` (a layer dir) adds what must never change
 * (inode, mtime, ctime) and overlay's own markers (whiteout devices, opaque dirs).
 */
function tree(dir: string, options: { raw?: boolean; withoutInit?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(rel === '' ? dir : `${dir}/${rel}`).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      if (options.withoutInit && child in initEntries) continue;
      const file = `${dir}/${child}`;
      const stat = fs.lstatSync(file);
      const mode = (stat.mode & 0o7777).toString(8);
      const owner = stat.uid !== 0 || stat.gid !== 0 ? ` ${stat.uid}:${stat.gid}` : '';
      const stamp = options.raw ? ` ino=${stat.ino} mtime=${stat.mtimeMs} ctime=${stat.ctimeMs}` : '';
      if (stat.isDirectory()) {
        const opaque = options.raw && fsExtras().lgetxattr(file, 'trusted.overlay.opaque')?.toString() === 'y' ? ' opaque' : '';
        out[child] = `dir ${mode}${owner}${opaque}${stamp}`;
        walk(child);
      } else if (stat.isFile()) out[child] = `file ${mode}${owner} ${fs.readFileSync(file, 'utf8')}${stamp}`;
      else if (stat.isSymbolicLink()) out[child] = `symlink -> ${fs.readlinkSync(file)}${stamp}`;
      else if (stat.isCharacterDevice() && stat.rdev === 0) out[child] = `whiteout${stamp}`;
      else out[child] = `other ${stat.mode.toString(8)}${stamp}`;
    }
  };
  walk('');
  return out;
}

/** The lower dirs exactly as they are now, to check later that nothing wrote into them. */
const layerSnapshot = (f: Fixture) => f.lowers.map((layer) => tree(f.layers.path(layer.dir), { raw: true }));

/** What `strata diff` prints for the snapshot. */
async function diffOf(f: Fixture, key: string): Promise<string[]> {
  return (await changes(f.snapshotter.upperDir(key), f.lowerDirs)).map((change) => `${change.kind} /${change.path.slice(1)}`);
}

/**
 * What `strata commit` makes of the snapshot: its upper dir as a layer tar, unpacked by the layer store and
 * stacked (copied, bottom first) on the image's layers. Returns the tree of that stack.
 */
async function committedTree(f: Fixture, key: string): Promise<Record<string, string>> {
  const upper = f.snapshotter.upperDir(key);
  const layer = await f.images.makeLayer(
    f.lowers.map((lower) => lower.diffId),
    'commit',
    (sink) => writeLayerTar(upper, sink),
  );
  const stack = tempDir('strata-stack-');
  try {
    for (const lower of f.lowers) await copyLayerInto(f.layers.path(lower.dir), stack);
    assert.ok(layer.tempDir, 'the commit is a new layer');
    await copyLayerInto(layer.tempDir, stack);
    return tree(stack);
  } finally {
    if (layer.tempDir) f.layers.discard(layer.tempDir);
    layer.stagedBlob?.abort();
    fs.rmSync(stack, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The image every case but scratch starts from, and what a container does in it

const baseStack: LayerSpec[] = [
  {
    'bin/sh': 'sh v0',
    'bin/tool': { file: 'tool', mode: 0o755 },
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\n',
    'opt/a/x': 'x',
    'opt/a/y': 'y',
    'var/gone': 'gone',
    'olddir/f': 'f',
    swap: 'a file',
    'keep/k': 'k',
    'new/file': 'n',
  },
  {
    'bin/sh': 'sh v1', // shadows the lower one
    'etc/group': null, // whiteout
    'opt/a/.wh..wh..opq': '', // opaque: x and y are hidden
    'opt/a/z': 'z',
    'var/gone': null,
    olddir: null, // a whiteout of a whole directory
    'swap/inside': 'now a dir', // a directory over a file
    'lib/link': { symlink: '../bin/sh' },
  },
  {
    'etc/group': 'group v2\n', // back after the whiteout below
    'home/user': { dir: 0o700 },
  },
];

/** The merged view of baseStack. */
const baseView: Record<string, string> = {
  bin: 'dir 755',
  'bin/sh': 'file 644 sh v1',
  'bin/tool': 'file 755 tool',
  etc: 'dir 755',
  'etc/group': 'file 644 group v2\n',
  'etc/passwd': 'file 644 root:x:0:0:root:/root:/bin/sh\n',
  home: 'dir 755',
  'home/user': 'dir 700',
  keep: 'dir 755',
  'keep/k': 'file 644 k',
  lib: 'dir 755',
  'lib/link': 'symlink -> ../bin/sh',
  new: 'dir 755',
  'new/file': 'file 644 n',
  opt: 'dir 755',
  'opt/a': 'dir 755',
  'opt/a/z': 'file 644 z',
  swap: 'dir 755',
  'swap/inside': 'file 644 now a dir',
  var: 'dir 755',
};

const changedPasswd = 'root:x:0:0:changed by the container:/root:/bin/sh\n';

/** A container's work: adds, changes and deletes, on files and directories of every layer. */
function containerWrites(view: string): void {
  fs.writeFileSync(`${view}/new.txt`, 'added');
  fs.writeFileSync(`${view}/etc/passwd`, changedPasswd);
  fs.rmSync(`${view}/bin/sh`); // a file that shadows a lower one
  fs.chmodSync(`${view}/bin/tool`, 0o700);
  fs.rmSync(`${view}/keep`, { recursive: true });
  fs.mkdirSync(`${view}/made/sub`, { recursive: true });
  fs.writeFileSync(`${view}/made/sub/f`, 'f');
  fs.rmSync(`${view}/opt/a/z`);
  fs.writeFileSync(`${view}/opt/a/w`, 'w');
  fs.symlinkSync('new.txt', `${view}/lnk`);
  fs.renameSync(`${view}/new/file`, `${view}/new/renamed`);
}

const viewAfterWrites: Record<string, string> = (() => {
  const view = { ...baseView };
  for (const gone of ['bin/sh', 'keep', 'keep/k', 'opt/a/z', 'new/file']) delete view[gone];
  return {
    ...view,
    'new.txt': 'file 644 added',
    'etc/passwd': `file 644 ${changedPasswd}`,
    'bin/tool': 'file 700 tool',
    made: 'dir 755',
    'made/sub': 'dir 755',
    'made/sub/f': 'file 644 f',
    'opt/a/w': 'file 644 w',
    lnk: 'symlink -> new.txt',
    'new/renamed': 'file 644 n',
  };
})();

/** `strata diff` after containerWrites, in its byte order. */
const diffAfterWrites = [
  'C /bin',
  'D /bin/sh',
  'C /bin/tool',
  'C /etc',
  'C /etc/passwd',
  'D /keep',
  'A /lnk',
  'A /made',
  'A /made/sub',
  'A /made/sub/f',
  'C /new',
  'A /new.txt',
  'D /new/file',
  'A /new/renamed',
  'C /opt',
  'C /opt/a',
  'A /opt/a/w',
  'D /opt/a/z',
];

/** The bytes and entries of the read-write layer after containerWrites: whole files (copied up), whiteouts, dirs. */
const usageAfterWrites = {
  // new.txt, etc/passwd, bin/tool (copied up by the chmod), made/sub/f, opt/a/w, new/renamed (copied up by the rename)
  size: 'added'.length + changedPasswd.length + 'tool'.length + 1 + 1 + 1,
  // those 6 files; bin, etc, made, made/sub, opt, opt/a, new; the whiteouts of bin/sh, keep, opt/a/z, new/file; lnk
  inodes: 6 + 7 + 4 + 1,
};

// ---------------------------------------------------------------------------------------------------------------
// The suite

interface Driver {
  name: Snapshotter['name'];
  make: (root: string, layers: LayerStore) => Snapshotter;
  /** Why the whole suite cannot run here. */
  skip: string | false;
  /** Cases this driver cannot take part in, with the reason. */
  lacks?: { unmountHidesRoot?: string };
  /** Cases this driver gets wrong (a bug, reported), with the reason. */
}

function snapshotterSuite(driver: Driver): void {
  describe(`the ${driver.name} snapshotter`, { skip: driver.skip }, () => {
    test('the view of a stack of layers: lower files show through, upper layers shadow them, whiteouts and opaque dirs hide', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      assert.deepEqual(tree(view), { ...baseView, ...initEntries });
      assert.deepEqual(await diffOf(f, 'c1'), [], 'a fresh snapshot has no changes');
      remove(f, 'c1');
    });

    test('writes go to the container layer only: the layer dirs stay as they were', async () => {
      const f = await fixture(driver, baseStack);
      const before = layerSnapshot(f);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      containerWrites(view);
      assert.deepEqual(tree(view), { ...viewAfterWrites, ...initEntries });
      f.snapshotter.upperDir('c1');
      assert.deepEqual(layerSnapshot(f), before);
      remove(f, 'c1');
      assert.deepEqual(layerSnapshot(f), before);
    });

    test('changes: diff lists what was added, changed and deleted, a deleted lower file included', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      containerWrites(await f.snapshotter.mount('c1', f.lowers));
      assert.deepEqual(await diffOf(f, 'c1'), diffAfterWrites);
      assert.deepEqual(await diffOf(f, 'c1'), diffAfterWrites, 'asking again gives the same');
      remove(f, 'c1');
    });

    test('commit: the upper dir as a layer on the image gives the container view', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      containerWrites(view);
      assert.deepEqual(await committedTree(f, 'c1'), tree(view, { withoutInit: true }));
      assert.deepEqual(await committedTree(f, 'c1'), viewAfterWrites);
      remove(f, 'c1');
    });

    test('deleting and re-creating a lower directory hides its old contents', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      fs.rmSync(`${view}/opt/a`, { recursive: true });
      fs.mkdirSync(`${view}/opt/a`);
      fs.writeFileSync(`${view}/opt/a/fresh`, 'fresh');
      fs.rmSync(`${view}/swap`, { recursive: true }); // a dir over a lower file: the file must not come back
      fs.writeFileSync(`${view}/etc/group`, 'group v3\n');
      const want: Record<string, string> = { ...baseView, 'opt/a/fresh': 'file 644 fresh', 'etc/group': 'file 644 group v3\n' };
      for (const gone of ['opt/a/z', 'swap', 'swap/inside']) delete want[gone];
      assert.deepEqual(tree(view, { withoutInit: true }), want);
      assert.deepEqual(await diffOf(f, 'c1'), ['C /etc', 'C /etc/group', 'C /opt', 'C /opt/a', 'A /opt/a/fresh', 'D /opt/a/z', 'D /swap']);
      assert.deepEqual(await committedTree(f, 'c1'), want);
      remove(f, 'c1');
    });

    test('mount and unmount are idempotent, and a remount after unmount keeps the writes', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      assert.equal(f.snapshotter.isMounted('c1'), false, 'prepared, not mounted');
      f.snapshotter.unmount('c1'); // not mounted yet: no error
      const view = await f.snapshotter.mount('c1', f.lowers);
      assert.equal(await f.snapshotter.mount('c1', f.lowers), view, 'a second mount gives the same root');
      assert.equal(f.snapshotter.isMounted('c1'), true);
      containerWrites(view);
      f.snapshotter.unmount('c1');
      f.snapshotter.unmount('c1');
      const again = await f.snapshotter.mount('c1', f.lowers);
      assert.equal(f.snapshotter.isMounted('c1'), true);
      assert.deepEqual(tree(again), { ...viewAfterWrites, ...initEntries });
      assert.deepEqual(await diffOf(f, 'c1'), diffAfterWrites);
      remove(f, 'c1');
    });

    test('unmount takes the root away until the next mount', { skip: driver.lacks?.unmountHidesRoot ?? false }, async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      fs.writeFileSync(`${view}/written`, 'x');
      f.snapshotter.unmount('c1');
      assert.equal(f.snapshotter.isMounted('c1'), false);
      assert.equal(fs.existsSync(`${view}/written`), false);
      assert.equal(fs.existsSync(`${view}/etc/passwd`), false);
      assert.deepEqual(await diffOf(f, 'c1'), ['A /written'], 'the changes are there unmounted');
      await f.snapshotter.mount('c1', f.lowers);
      assert.equal(fs.readFileSync(`${view}/written`, 'utf8'), 'x');
      remove(f, 'c1');
    });

    test('remove deletes everything of the snapshot, mounted or not, and leaves the layers', async () => {
      const f = await fixture(driver, baseStack);
      /** Everything under the root but the image stores. */
      const outsideStores = () =>
        fs
          .readdirSync(f.root, { recursive: true, encoding: 'utf8' })
          .filter((name) => !/^(layers|blobs|ingest|metadata\.db)/.test(name))
          .sort();
      const mountsUnder = () =>
        fs
          .readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .filter((line) => (line.split(' ')[4] ?? '').startsWith(`${f.root}/`));
      const empty = outsideStores();
      const layersBefore = layerSnapshot(f);

      prepare(f, 'mounted');
      prepare(f, 'never-mounted');
      const view = await f.snapshotter.mount('mounted', f.lowers);
      containerWrites(view);
      f.snapshotter.addInitFiles('never-mounted', ['etc/hosts']);
      const upper = f.snapshotter.upperDir('mounted');
      assert.notDeepEqual(outsideStores(), empty);

      remove(f, 'mounted');
      remove(f, 'never-mounted');
      assert.deepEqual(outsideStores(), empty, 'nothing of either snapshot is left');
      assert.deepEqual(mountsUnder(), [], 'nothing is left mounted');
      assert.equal(fs.existsSync(view), false);
      assert.equal(fs.existsSync(upper), false);
      assert.equal(f.snapshotter.isMounted('mounted'), false);
      assert.deepEqual(layerSnapshot(f), layersBefore, 'the layers are as they were');
      f.snapshotter.remove('mounted'); // removing again is no error

      // The key can be used again, for a fresh snapshot.
      prepare(f, 'mounted');
      assert.deepEqual(tree(await f.snapshotter.mount('mounted', f.lowers)), { ...baseView, ...initEntries });
      assert.deepEqual(await diffOf(f, 'mounted'), []);
      remove(f, 'mounted');
    });

    test('usage counts the bytes and entries of the container layer, not of the image', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      assert.deepEqual(f.snapshotter.usage('c1'), { size: 0, inodes: 0 }, 'prepared');
      const view = await f.snapshotter.mount('c1', f.lowers);
      assert.deepEqual(f.snapshotter.usage('c1'), { size: 0, inodes: 0 }, 'mounted, nothing written');
      containerWrites(view);
      assert.deepEqual(f.snapshotter.usage('c1'), usageAfterWrites);
      fs.writeFileSync(`${view}/big`, Buffer.alloc(100_000));
      assert.deepEqual(f.snapshotter.usage('c1'), { size: usageAfterWrites.size + 100_000, inodes: usageAfterWrites.inodes + 1 });
      remove(f, 'c1');
    });

    test('the upper dir holds the writes in overlay form: whole files, whiteouts for deletions', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      containerWrites(await f.snapshotter.mount('c1', f.lowers));
      const upper = tree(f.snapshotter.upperDir('c1'));
      for (const [rel, want] of [
        ['new.txt', 'file 644 added'],
        ['etc/passwd', `file 644 ${changedPasswd}`],
        ['bin/tool', 'file 700 tool'],
        ['bin/sh', 'whiteout'],
        ['keep', 'whiteout'],
        ['opt/a/z', 'whiteout'],
        ['new/file', 'whiteout'],
        ['lnk', 'symlink -> new.txt'],
      ]) {
        assert.equal(upper[rel!], want, rel);
      }
      for (const untouched of ['etc/group', 'lib', 'home', 'var', 'swap', 'opt/a/x', 'dev', 'proc']) assert.equal(upper[untouched], undefined, untouched);
      remove(f, 'c1');
    });

    test('two snapshots on the same layers are independent', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'a');
      prepare(f, 'b');
      const [viewA, viewB] = [await f.snapshotter.mount('a', f.lowers), await f.snapshotter.mount('b', f.lowers)];
      assert.notEqual(viewA, viewB);
      containerWrites(viewA);
      fs.writeFileSync(`${viewB}/etc/passwd`, 'b was here\n');
      fs.writeFileSync(`${viewB}/only-b`, 'b');
      assert.deepEqual(tree(viewA), { ...viewAfterWrites, ...initEntries });
      assert.deepEqual(tree(viewB), { ...baseView, ...initEntries, 'etc/passwd': 'file 644 b was here\n', 'only-b': 'file 644 b' });
      assert.deepEqual(await diffOf(f, 'a'), diffAfterWrites);
      assert.deepEqual(await diffOf(f, 'b'), ['C /etc', 'C /etc/passwd', 'A /only-b']);

      remove(f, 'a');
      assert.equal(f.snapshotter.isMounted('b'), true);
      assert.equal(fs.readFileSync(`${viewB}/only-b`, 'utf8'), 'b');
      assert.equal(fs.readFileSync(`${viewB}/bin/sh`, 'utf8'), 'sh v1', 'what a deleted, b never did');
      assert.deepEqual(await diffOf(f, 'b'), ['C /etc', 'C /etc/passwd', 'A /only-b']);
      remove(f, 'b');
    });

    test('a snapshot with no layers (scratch) has only the init mount points, and takes writes', async () => {
      const f = await fixture(driver, []);
      assert.deepEqual(f.lowers, []);
      prepare(f, 'scratch');
      const view = await f.snapshotter.mount('scratch', []);
      assert.deepEqual(tree(view), initEntries);
      assert.deepEqual(await diffOf(f, 'scratch'), []);
      fs.mkdirSync(`${view}/app`);
      fs.writeFileSync(`${view}/app/hello`, 'hello');
      assert.deepEqual(await diffOf(f, 'scratch'), ['A /app', 'A /app/hello']);
      assert.deepEqual(await committedTree(f, 'scratch'), { app: 'dir 755', 'app/hello': 'file 644 hello' });
      remove(f, 'scratch');
    });

    test('init files are in the view before the first mount, and are no change', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      f.snapshotter.addInitFiles('c1', ['etc/hosts', 'etc/resolv.conf', 'run/secrets/token']);
      const view = await f.snapshotter.mount('c1', f.lowers);
      for (const file of ['etc/hosts', 'etc/resolv.conf', 'run/secrets/token']) assert.equal(fs.readFileSync(`${view}/${file}`, 'utf8'), '', file);
      assert.equal(fs.readFileSync(`${view}/etc/passwd`, 'utf8'), 'root:x:0:0:root:/root:/bin/sh\n', 'the image etc still shows');
      assert.deepEqual(await diffOf(f, 'c1'), []);
      assert.deepEqual(await committedTree(f, 'c1'), baseView, 'a commit has none of them');
      remove(f, 'c1');
    });

    test('preparing a key that exists fails and leaves that snapshot as it was', async () => {
      const f = await fixture(driver, baseStack);
      prepare(f, 'c1');
      const view = await f.snapshotter.mount('c1', f.lowers);
      fs.writeFileSync(`${view}/mine`, 'mine');
      assert.throws(() => f.snapshotter.prepare('c1'));
      assert.equal(fs.readFileSync(`${view}/mine`, 'utf8'), 'mine');
      remove(f, 'c1');
    });
  });
}

const needs = (...what: [boolean, string][]) => what.find(([ok]) => !ok)?.[1] ?? false;

snapshotterSuite({
  name: 'overlay',
  make: (root, layers) => new OverlaySnapshotter(root, layers),
  skip: needs([isRoot, 'needs root (mount, mknod, trusted xattrs)'], [hasOverlay, 'needs overlayfs']),
});

snapshotterSuite({
  name: 'native',
  make: (root, layers) => new NativeSnapshotter(root, layers),
  skip: needs([isRoot, 'needs root (mknod, trusted xattrs)']),
  lacks: { unmountHidesRoot: 'the native root is a plain directory: unmount is a no-op and it stays readable' },
});
