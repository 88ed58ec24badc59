/**
 * Hostile and corrupt input: every case must fail with one `Error: ...` line on stderr, exit 1, and leave the
 * store exactly as it was (no new blob, layer dir, temp dir or ingest file; `system check` still clean).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';
import tar from 'tar-stream';
import { busyboxTar, cliPath, type CliResult, hasCommand, tempDir } from './helpers.js';

/** Temp dirs of this file (stores, inputs), removed when it ends. */
const scratchDirs: string[] = [];
function scratch(prefix: string): string {
  const dir = tempDir(prefix);
  scratchDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const hex = (data: Buffer | string) => sha256(data).slice(7);

// ---------------------------------------------------------------------------------------------------------------
// Running the CLI (asynchronously, so the suites below can run their cases concurrently)

function cli(root: string, args: string[], input?: Buffer): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '--root', root, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    child.stdin.on('error', () => {
      // The CLI may fail before reading all of its input.
    });
    child.stdin.end(input);
  });
}

async function cliOk(root: string, args: string[], input?: Buffer): Promise<string> {
  const result = await cli(root, args, input);
  assert.equal(result.status, 0, `strata ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

// ---------------------------------------------------------------------------------------------------------------
// Stores: every case starts from a root that already holds one valid image (busybox), copied from a template.

/** Every path under `dir` (relative, sorted), with file sizes and symlink targets. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(path.join(dir, child));
      if (stat.isDirectory()) {
        out.push(`${child}/`);
        walk(child);
      } else if (stat.isSymbolicLink()) {
        out.push(`${child} -> ${fs.readlinkSync(path.join(dir, child))}`);
      } else {
        out.push(`${child} ${stat.size}`);
      }
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out;
}

interface Snapshot {
  blobs: string[];
  layers: string[];
  ingest: string[];
  /** `images -a -q --no-trunc` */
  images: string;
  /** Every name and the image it points to, when asked for (the tag tests). */
  tags?: string;
}

const filesOf = (root: string) => ({
  blobs: tree(path.join(root, 'blobs', 'sha256')),
  layers: tree(path.join(root, 'layers')),
  ingest: tree(path.join(root, 'ingest')),
});

async function snapshot(root: string, withTags = false): Promise<Snapshot> {
  return {
    ...filesOf(root),
    images: await cliOk(root, ['images', '-a', '-q', '--no-trunc']),
    ...(withTags && { tags: await cliOk(root, ['images', '-a', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']) }),
  };
}

let template: Promise<{ root: string; snapshot: Snapshot }> | undefined;
function templateRoot() {
  template ??= (async () => {
    const root = path.join(scratch('strata-bad-template-'), 'root');
    await cliOk(root, ['import', busyboxTar(), 'busybox']);
    return { root, snapshot: await snapshot(root, true) };
  })();
  return template;
}

/** A copy of the template store (one valid image, busybox), and its snapshot. */
async function freshStore(): Promise<{ root: string; before: Snapshot }> {
  const { root: source, snapshot: before } = await templateRoot();
  const root = path.join(scratch('strata-bad-'), 'root');
  await promisify(execFile)('cp', ['-a', source, root]);
  // Same files as the template, hence the same store: its snapshot holds without asking the CLI again.
  assert.deepEqual(filesOf(root), { blobs: before.blobs, layers: before.layers, ingest: before.ingest });
  return { root, before };
}

const freshRoot = async () => (await freshStore()).root;

async function assertCheckClean(root: string): Promise<void> {
  const out = await cliOk(root, ['system', 'check']);
  assert.match(out, /: 0 problems, 0 unreferenced items\n$/, out);
}

/**
 * Runs `args` against a store holding one valid image (a fresh one unless `root` is given), expecting one clear
 * error line on stderr, exit 1, nothing on stdout, and the store unchanged: same blobs, layer dirs, ingest files and
 * images (and names, with `tags`), and `system check` clean.
 */
async function expectRejected(args: string[], error: RegExp, options: { input?: Buffer; root?: string; tags?: boolean } = {}): Promise<void> {
  const { root, before } = options.root ? { root: options.root, before: await snapshot(options.root, options.tags) } : await freshStore();
  const result = await cli(root, args, options.input);
  assert.equal(result.status, 1, `exit status of strata ${args.join(' ')} (stderr: ${result.stderr})`);
  assert.match(result.stderr, /^Error: [^\n]+\n$/, `stderr must be one "Error: " line, got ${JSON.stringify(result.stderr)}`);
  assert.match(result.stderr, error);
  assert.equal(result.stdout, '');
  const compared = ({ blobs, layers, ingest, images, tags }: Snapshot) => ({ blobs, layers, ingest, images, ...(options.tags && { tags }) });
  assert.deepEqual(compared(await snapshot(root, options.tags)), compared(before), 'the store must be unchanged');
  await assertCheckClean(root);
}

// ---------------------------------------------------------------------------------------------------------------
// Crafting tars

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string | Buffer;
  pax?: Record<string, string>;
}

function makeTar(entries: Entry[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (chunk) => void chunks.push(chunk as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
    for (const entry of entries) {
      const type = entry.type ?? 'file';
      const header = { name: entry.name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), ...(entry.linkname !== undefined && { linkname: entry.linkname }), ...(entry.pax && { pax: entry.pax }) };
      if (type === 'file') pack.entry(header, typeof entry.content === 'string' ? Buffer.from(entry.content) : (entry.content ?? Buffer.alloc(0)));
      else pack.entry(header);
    }
    pack.finalize();
  });
}

/** A one-entry ustar tar whose numeric header fields are given raw, to garble them (tar-stream writes only valid ones). */
function rawTar(name: string, content: string, fields: { mode?: string | Buffer; uid?: string | Buffer; mtime?: string | Buffer }): Buffer {
  const header = Buffer.alloc(512);
  const put = (value: string | Buffer, offset: number) => (typeof value === 'string' ? Buffer.from(value, 'latin1') : value).copy(header, offset);
  put(name, 0);
  put(fields.mode ?? '0000644', 100);
  put(fields.uid ?? '0000000', 108);
  put('0000000', 116);
  put(content.length.toString(8).padStart(11, '0'), 124);
  put(fields.mtime ?? '00000000000', 136);
  put(' '.repeat(8), 148);
  put('0', 156);
  put('ustar\x0000', 257);
  put(`${header.reduce((sum, byte) => sum + byte, 0).toString(8).padStart(6, '0')}\x00 `, 148);
  const data = Buffer.from(content);
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512), Buffer.alloc(1024)]);
}

function compressWith(command: string, data: Buffer): Buffer {
  return execFileSync(command, ['-c', '-q'], { input: data, maxBuffer: 1 << 30 });
}

/** Incompressible but deterministic bytes, so that cutting a gzip stream in half cuts the tar in half too. */
function noise(size: number, seed = 'strata'): Buffer {
  const blocks: Buffer[] = [];
  let state = createHash('sha256').update(seed).digest();
  for (let total = 0; total < size; total += state.length) {
    state = createHash('sha256').update(state).digest();
    blocks.push(state);
  }
  return Buffer.concat(blocks).subarray(0, size);
}

const validEntries = (): Entry[] => [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/data.bin', content: noise(20_000) },
  { name: 'etc/motd', content: 'hello\n' },
];
const validLayer = () => makeTar(validEntries());

function flipBytes(data: Buffer, at: number, count = 16): Buffer {
  const copy = Buffer.from(data);
  for (let i = at; i < at + count && i < copy.length; i++) copy[i] = copy[i]! ^ 0xff;
  return copy;
}

// ---------------------------------------------------------------------------------------------------------------
// Crafting archives: a map of file name to content, written as a tar or as a directory.

type Files = Record<string, Buffer | string>;

function configFor(diffIds: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file in /' })),
    }),
  );
}

/** A legacy `docker save` archive: manifest.json, <hex>.json config, <hex>/layer.tar per layer. */
function dockerFiles(layers: Buffer[], diffIds = layers.map((layer) => sha256(layer))): Files {
  const config = configFor(diffIds);
  const files: Files = { [`${hex(config)}.json`]: config };
  const names = layers.map((layer) => {
    const name = `${hex(layer)}/layer.tar`;
    files[name] = layer;
    return name;
  });
  files['manifest.json'] = JSON.stringify([{ Config: `${hex(config)}.json`, RepoTags: ['hostile:latest'], Layers: names }]);
  return files;
}

interface OciLayer {
  data: Buffer;
  mediaType?: string;
  diffId?: string;
}

/** An OCI image layout, and the names of its manifest, config and layer blobs, for tests that tamper with one. */
function ociFiles(layers: OciLayer[]): { files: Files; manifest: string; config: string; layers: string[] } {
  const config = configFor(layers.map((layer) => layer.diffId ?? sha256(layer.data)));
  const descriptors = layers.map((layer) => ({ mediaType: layer.mediaType ?? 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer.data), size: layer.data.length }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: descriptors,
    }),
  );
  const files: Files = {
    'oci-layout': JSON.stringify({ imageLayoutVersion: '1.0.0' }),
    'index.json': JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 'docker.io/library/hostile:latest' } }],
    }),
    [`blobs/sha256/${hex(manifest)}`]: manifest,
    [`blobs/sha256/${hex(config)}`]: config,
  };
  for (const layer of layers) files[`blobs/sha256/${hex(layer.data)}`] = layer.data;
  return { files, manifest: `blobs/sha256/${hex(manifest)}`, config: `blobs/sha256/${hex(config)}`, layers: layers.map((layer) => `blobs/sha256/${hex(layer.data)}`) };
}

async function writeTar(files: Files, file = path.join(scratch('strata-archive-'), 'archive.tar')): Promise<string> {
  fs.writeFileSync(file, await makeTar(Object.entries(files).map(([name, content]) => ({ name, content }))));
  return file;
}

function writeDir(files: Files): string {
  const dir = path.join(scratch('strata-layout-'), 'layout');
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

function writeFile(content: Buffer, name = 'input.tar'): string {
  const file = path.join(scratch('strata-input-'), name);
  fs.writeFileSync(file, content);
  return file;
}

// ---------------------------------------------------------------------------------------------------------------
// Controls: what the builders make is accepted, so each rejection below is due to its one hostile part.

describe('controls', { concurrency: 4 }, () => {
  test('the crafted layer imports, plain and gzipped', async () => {
    const root = await freshRoot();
    const layer = await validLayer();
    const id = (await cliOk(root, ['import', writeFile(layer)])).trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    await cliOk(root, ['import', writeFile(gzipSync(layer), 'input.tar.gz')]);
    await assertCheckClean(root);
  });

  test('the crafted docker-archive and OCI layout (directory and tar) load', async () => {
    const root = await freshRoot();
    const layer = await validLayer();
    assert.match(await cliOk(root, ['load', '-i', await writeTar(dockerFiles([layer]))]), /Loaded image: hostile:latest/);
    const root2 = await freshRoot();
    assert.match(await cliOk(root2, ['load', '-i', writeDir(ociFiles([{ data: layer }]).files)]), /Loaded image: hostile:latest/);
    const root3 = await freshRoot();
    assert.match(await cliOk(root3, ['load', '-i', await writeTar(ociFiles([{ data: gzipSync(layer), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: sha256(layer) }]).files)]), /Loaded image: hostile:latest/);
    for (const r of [root, root2, root3]) await assertCheckClean(r);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile layers: each is imported as a rootfs tarball, and loaded as the layer of a docker-archive and of an
// OCI layout (whose diff_ids match the hostile bytes, so the layer content itself is what gets refused).

interface LayerCase {
  name: string;
  layer: () => Promise<Buffer>;
  error: RegExp;
  /** How an OCI layout would describe the layer. */
  mediaType?: string;
  /** A command the case needs (a decompressor); skipped without it. */
  needs?: string;
}

const corrupt = /corrupt or truncated/;
const gzipType = 'application/vnd.oci.image.layer.v1.tar+gzip';

const layerCases: LayerCase[] = [
  {
    name: 'truncated tar (cut in the middle of a file)',
    layer: async () => (await validLayer()).subarray(0, 512 + 512 + 10_000),
    error: corrupt,
  },
  { name: 'truncated gzip', layer: async () => { const gz = gzipSync(await validLayer()); return gz.subarray(0, gz.length >> 1); }, error: corrupt, mediaType: gzipType },
  { name: 'corrupt gzip (flipped bytes)', layer: async () => { const gz = gzipSync(await validLayer()); return flipBytes(gz, gz.length >> 1); }, error: corrupt, mediaType: gzipType },
  {
    name: 'truncated zstd',
    layer: async () => { const z = compressWith('zstd', await validLayer()); return z.subarray(0, z.length >> 1); },
    error: /corrupt zstd data|corrupt or truncated/,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
    needs: 'zstd',
  },
  { name: 'truncated xz', layer: async () => { const z = compressWith('xz', await validLayer()); return z.subarray(0, z.length >> 1); }, error: /corrupt xz data|corrupt or truncated/, needs: 'xz' },
  { name: 'not a tar at all', layer: async () => Buffer.from('this is not a tar archive, just some text\n'.repeat(100)), error: corrupt },
  { name: 'short garbage (less than one tar block)', layer: async () => Buffer.from('not a tar\n'), error: corrupt },
  { name: 'empty file', layer: async () => Buffer.alloc(0), error: /empty/ },
  {
    name: 'entry with a ../ path',
    layer: () => makeTar([...validEntries(), { name: '../escaped', content: 'x' }]),
    error: /"\.\.\/escaped".*(outside|climbs out)/,
  },
  {
    name: 'entry with ../ in the middle of its path',
    layer: () => makeTar([...validEntries(), { name: 'etc/../../escaped', content: 'x' }]),
    error: /(outside|climbs out)/,
  },
  {
    name: 'entry with an absolute path',
    layer: () => makeTar([...validEntries(), { name: '/etc/x', content: 'x' }]),
    error: /"\/etc\/x".*absolute/,
  },
  {
    name: 'symlink whose relative target climbs out of the root',
    layer: () => makeTar([...validEntries(), { name: 'a', type: 'symlink', linkname: '../../../etc' }]),
    error: /"a".*outside/,
  },
  {
    name: 'nested symlink whose target climbs out of the root',
    layer: () => makeTar([...validEntries(), { name: 'etc/deep', type: 'symlink', linkname: '../../x' }]),
    error: /outside/,
  },
  {
    name: 'entry written through a symlink',
    layer: () => makeTar([...validEntries(), { name: 'link', type: 'symlink', linkname: '/etc' }, { name: 'link/passwd', content: 'root::0:0::/:/bin/sh\n' }]),
    error: /"link\/passwd".*symlink/,
  },
  {
    name: 'directory created through a symlink',
    layer: () => makeTar([...validEntries(), { name: 'link', type: 'symlink', linkname: '/' }, { name: 'link/sub/', type: 'directory' }]),
    error: /symlink/,
  },
  { name: 'garbled uid field', layer: async () => rawTar('a', 'x', { uid: 'zzzzzzz' }), error: /"a".*invalid uid/ },
  { name: 'uid that does not fit (base-256)', layer: async () => rawTar('a', 'x', { uid: Buffer.from([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) }), error: /"a".*invalid uid/ },
  { name: 'garbled mode field', layer: async () => rawTar('a', 'x', { mode: 'zzzzzzz' }), error: /"a".*invalid mode/ },
  { name: 'garbled mtime field', layer: async () => rawTar('a', 'x', { mtime: 'zzzzzzzzzzz' }), error: /"a".*invalid mtime/ },
  {
    name: 'xattr that is no xattr name',
    layer: () => makeTar([...validEntries(), { name: 'x', content: 'x', pax: { 'SCHILY.xattr.bogus.name': 'v' } }]),
    error: /"x".*invalid extended attribute "bogus\.name"/,
  },
  { name: 'whiteout named ".wh."', layer: () => makeTar([...validEntries(), { name: 'etc/.wh.', content: '' }]), error: /"etc\/\.wh\."/ },
  { name: 'whiteout named ".wh.."', layer: () => makeTar([...validEntries(), { name: 'etc/.wh..', content: '' }]), error: /"etc\/\.wh\.\."/ },
  { name: 'whiteout named ".wh..." (hides "..")', layer: () => makeTar([...validEntries(), { name: 'etc/.wh...', content: '' }]), error: /"etc\/\.wh\.\.\."/ },
  {
    name: 'hardlink whose target is outside the layer',
    layer: () => makeTar([...validEntries(), { name: 'h', type: 'link', linkname: '../x' }]),
    error: /"h".*(outside|climbs out)/,
  },
  {
    name: 'hardlink whose target is an absolute host path',
    layer: () => makeTar([...validEntries(), { name: 'h', type: 'link', linkname: '/etc/passwd' }]),
    error: /"h"/,
  },
  {
    name: 'hardlink whose target is not in the layer',
    layer: () => makeTar([...validEntries(), { name: 'h', type: 'link', linkname: 'nothere' }]),
    error: /"h".*hardlink.*not.*in this layer/,
  },
  {
    name: 'hardlink through a symlink',
    layer: () => makeTar([...validEntries(), { name: 'link', type: 'symlink', linkname: '/etc' }, { name: 'h', type: 'link', linkname: 'link/passwd' }]),
    error: /"h".*hardlink/,
  },
  {
    name: 'hardlink to a directory',
    layer: () => makeTar([...validEntries(), { name: 'h', type: 'link', linkname: 'etc' }]),
    error: /"h".*hardlink/,
  },
  {
    name: 'duplicate entries for the same file',
    layer: () => makeTar([...validEntries(), { name: 'etc/motd', content: 'second\n' }]),
    error: /duplicate.*etc\/motd/,
  },
  {
    name: 'duplicate entries: a file, then a symlink of the same name',
    layer: () => makeTar([...validEntries(), { name: './etc/motd', type: 'symlink', linkname: '/etc/shadow' }]),
    error: /duplicate/,
  },
  {
    name: 'duplicate entries: a directory, then a file of the same name',
    layer: () => makeTar([...validEntries(), { name: 'etc', content: 'x' }]),
    error: /duplicate/,
  },
];

const skip = (c: LayerCase) => (c.needs && !hasCommand(c.needs) ? `needs ${c.needs}` : false);

describe('import of a hostile rootfs tarball', { concurrency: 4 }, () => {
  for (const c of layerCases) {
    test(c.name, { skip: skip(c) }, async () => {
      await expectRejected(['import', writeFile(await c.layer()), 'hostile'], c.error);
    });
  }
  test('empty input on stdin', async () => {
    await expectRejected(['import', '-', 'hostile'], /empty/, { input: Buffer.alloc(0) });
  });
  test('a layer cannot forge overlayfs metadata: trusted.overlay.* xattrs are dropped', async () => {
    const { fsExtras } = await import('../src/layers/fsx.js');
    const root = await freshRoot();
    const layer = await makeTar([
      { name: 'd/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
      { name: 'd/f', content: 'x', pax: { 'SCHILY.xattr.trusted.overlay.metacopy': '', 'SCHILY.xattr.user.kept': 'yes' } },
    ]);
    await cliOk(root, ['import', writeFile(layer), 'forged']);
    const dir: string = JSON.parse(await cliOk(root, ['inspect', 'forged']))[0].Strata.LayerDirs[0];
    for (const name of ['trusted.overlay.opaque', 'trusted.overlay.redirect']) assert.equal(fsExtras().lgetxattr(path.join(dir, 'd'), name), null, name);
    assert.equal(fsExtras().lgetxattr(path.join(dir, 'd', 'f'), 'trusted.overlay.metacopy'), null);
    assert.deepEqual(fsExtras().lgetxattr(path.join(dir, 'd', 'f'), 'user.kept'), Buffer.from('yes'), 'other xattrs are applied');
    await assertCheckClean(root);
  });
  test('hostile tarball on stdin', async () => {
    await expectRejected(['import', '-'], /outside|climbs out/, { input: await makeTar([{ name: '../x', content: 'x' }]) });
  });
});

describe('load of a docker-archive with a hostile layer', { concurrency: 4 }, () => {
  for (const c of layerCases) {
    test(c.name, { skip: skip(c) }, async () => {
      await expectRejected(['load', '-i', await writeTar(dockerFiles([await validLayer(), await c.layer()]))], c.error);
    });
  }
});

describe('load of an OCI layout with a hostile layer', { concurrency: 4 }, () => {
  for (const c of layerCases) {
    test(c.name, { skip: skip(c) }, async () => {
      const layout = ociFiles([{ data: await validLayer() }, { data: await c.layer(), ...(c.mediaType && { mediaType: c.mediaType }) }]);
      await expectRejected(['load', '-i', writeDir(layout.files)], c.error);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Hostile archives

describe('load of a corrupt archive file', { concurrency: 4 }, () => {
  const archive = async () => makeTar(Object.entries(dockerFiles([await validLayer()])).map(([name, content]) => ({ name, content })));
  const cases: [string, () => Promise<Buffer>, RegExp][] = [
    ['truncated tar (cut in the middle of a file)', async () => { const a = await archive(); return a.subarray(0, a.length - 4096 - 700); }, corrupt],
    ['truncated gzip', async () => { const gz = gzipSync(await archive()); return gz.subarray(0, gz.length >> 1); }, corrupt],
    ['corrupt gzip (flipped bytes)', async () => { const gz = gzipSync(await archive()); return flipBytes(gz, gz.length >> 1); }, corrupt],
    ['not a tar at all', async () => Buffer.from('{"this is": "not a tar"}\n'.repeat(100)), corrupt],
    ['empty file', async () => Buffer.alloc(0), /manifest\.json|index\.json|empty/],
    ['entry with a ../ path', async () => makeTar([{ name: '../manifest.json', content: '[]' }]), /outside|climbs out/],
    ['entry with an absolute path', async () => makeTar([{ name: '/manifest.json', content: '[]' }]), /absolute/],
    ['duplicate entries', async () => { const files = dockerFiles([await validLayer()]); return makeTar([...Object.entries(files).map(([name, content]) => ({ name, content })), { name: 'manifest.json', content: '[]' }]); }, /duplicate/],
  ];
  for (const [name, make, error] of cases) {
    test(name, async () => {
      await expectRejected(['load', '-i', writeFile(await make())], error);
    });
  }
  test('corrupt archive on stdin', async () => {
    const a = await archive();
    await expectRejected(['load'], corrupt, { input: a.subarray(0, a.length - 4096 - 700) });
  });
});

describe('load of a docker-archive that lies', { concurrency: 4 }, () => {
  test("config's diff_ids do not match the layer content", async () => {
    const layer = await validLayer();
    const files = dockerFiles([layer], [sha256('something else')]);
    await expectRejected(['load', '-i', await writeTar(files)], /digest.*does not match/);
  });
  test("config claims the diff_id of a layer already in the store, the layer tar is something else", async () => {
    const root = await freshRoot();
    const busyboxDiffId = JSON.parse(await cliOk(root, ['inspect', 'busybox']))[0].RootFS.Layers[0];
    const files = dockerFiles([await validLayer()], [busyboxDiffId]);
    await expectRejected(['load', '-i', await writeTar(files)], /digest.*does not match/, { root });
  });
  test('config lists more layers than manifest.json', async () => {
    const layer = await validLayer();
    await expectRejected(['load', '-i', await writeTar(dockerFiles([layer], [sha256(layer), sha256(layer)]))], /layers/);
  });
  test('manifest.json names a file the archive lacks', async () => {
    const layer = await validLayer();
    const files = dockerFiles([layer]);
    delete files[`${hex(layer)}/layer.tar`];
    await expectRejected(['load', '-i', await writeTar(files)], /layer\.tar" is missing/);
  });
  test('manifest.json names a missing config', async () => {
    const files = dockerFiles([await validLayer()]);
    for (const name of Object.keys(files)) if (name.endsWith('.json') && name !== 'manifest.json') delete files[name];
    await expectRejected(['load', '-i', await writeTar(files)], /\.json" is missing/);
  });
  test('manifest.json is not JSON', async () => {
    const files = dockerFiles([await validLayer()]);
    files['manifest.json'] = '[{"Config": "abc.json", "Layers": [';
    await expectRejected(['load', '-i', await writeTar(files)], /manifest\.json.*JSON/);
  });
  test('manifest.json has the wrong shape', async () => {
    const files = dockerFiles([await validLayer()]);
    files['manifest.json'] = JSON.stringify({ Config: 'x.json' });
    await expectRejected(['load', '-i', await writeTar(files)], /manifest\.json/);
  });
  test('config is not JSON', async () => {
    const layer = await validLayer();
    const config = Buffer.from('not json');
    const files: Files = { 'bad.json': config, [`${hex(layer)}/layer.tar`]: layer, 'manifest.json': JSON.stringify([{ Config: 'bad.json', Layers: [`${hex(layer)}/layer.tar`] }]) };
    await expectRejected(['load', '-i', await writeTar(files)], /config.*JSON/);
  });
  test('a config nested 100,000 levels deep is refused at load (inspect and save would recurse once per level)', async () => {
    const layer = await validLayer();
    const depth = 100_000;
    const config = Buffer.from(`{"architecture":"amd64","os":"linux","config":{"Extra":${'['.repeat(depth)}${']'.repeat(depth)}},"rootfs":{"type":"layers","diff_ids":["${sha256(layer)}"]}}`);
    const files: Files = { 'deep.json': config, [`${hex(layer)}/layer.tar`]: layer, 'manifest.json': JSON.stringify([{ Config: 'deep.json', Layers: [`${hex(layer)}/layer.tar`] }]) };
    await expectRejected(['load', '-i', await writeTar(files)], /nested too deeply \(more than 1000 levels\)/);
  });
  test('a repo tag that is not a valid reference', async () => {
    const files = dockerFiles([await validLayer()]);
    const manifest = JSON.parse(String(files['manifest.json']));
    manifest[0].RepoTags = ['UPPER/Case:latest'];
    files['manifest.json'] = JSON.stringify(manifest);
    await expectRejected(['load', '-i', await writeTar(files)], /invalid reference format/);
  });
});

describe('load of an OCI layout that lies', { concurrency: 4 }, () => {
  const forms: ['directory' | 'tar', (files: Files) => Promise<string>][] = [
    ['directory', async (files) => writeDir(files)],
    ['tar', (files) => writeTar(files)],
  ];
  for (const [form, write] of forms) {
    test(`blob content does not match its name (${form})`, async () => {
      const layer = await validLayer();
      const layout = ociFiles([{ data: layer }]);
      layout.files[layout.layers[0]!] = flipBytes(layer, 2000, 1);
      await expectRejected(['load', '-i', await write(layout.files)], /digest mismatch/);
    });
    test(`config blob does not match its name (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      layout.files[layout.config] = configFor([sha256('other')]);
      await expectRejected(['load', '-i', await write(layout.files)], /digest mismatch/);
    });
    test(`manifest with an unknown layer media type (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer(), mediaType: 'application/vnd.example.unknown+tar' }]);
      await expectRejected(['load', '-i', await write(layout.files)], /unsupported layer media type "application\/vnd\.example\.unknown\+tar"/);
    });
    test(`index.json names a missing manifest blob (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      delete layout.files[layout.manifest];
      await expectRejected(['load', '-i', await write(layout.files)], /blobs\/sha256\/[a-f0-9]{64}" is missing/);
    });
    test(`manifest names a missing layer blob (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      delete layout.files[layout.layers[0]!];
      await expectRejected(['load', '-i', await write(layout.files)], /is missing/);
    });
    test(`layer size in the manifest does not match the blob (${form})`, async () => {
      const layer = await validLayer();
      const layout = ociFiles([{ data: layer }]);
      const manifest = JSON.parse(String(layout.files[layout.manifest]));
      manifest.layers[0].size = layer.length + 1;
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      delete layout.files[layout.manifest];
      layout.files[`blobs/sha256/${hex(manifestBytes)}`] = manifestBytes;
      layout.files['index.json'] = JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifestBytes), size: manifestBytes.length }] });
      await expectRejected(['load', '-i', await write(layout.files)], /size mismatch/);
    });
    test(`manifest size in index.json does not match the blob (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      const index = JSON.parse(String(layout.files['index.json']));
      index.manifests[0].size -= 1;
      layout.files['index.json'] = JSON.stringify(index);
      await expectRejected(['load', '-i', await write(layout.files)], /size mismatch/);
    });
    test(`index.json is not JSON (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      layout.files['index.json'] = '{"schemaVersion": 2, "manifests": [';
      await expectRejected(['load', '-i', await write(layout.files)], /index\.json.*JSON/);
    });
    test(`config claims the diff_id of a layer already in the store, the layer blob is something else (${form})`, async () => {
      const root = await freshRoot();
      const busyboxDiffId = JSON.parse(await cliOk(root, ['inspect', 'busybox']))[0].RootFS.Layers[0];
      const layer = await validLayer();
      for (const data of [{ data: layer, diffId: busyboxDiffId }, { data: gzipSync(layer), mediaType: gzipType, diffId: busyboxDiffId }]) {
        await expectRejected(['load', '-i', await write(ociFiles([data]).files)], /digest.*does not match/, { root });
      }
    });
    test(`descriptor with a digest that is not sha256 (${form})`, async () => {
      const layout = ociFiles([{ data: await validLayer() }]);
      const index = JSON.parse(String(layout.files['index.json']));
      index.manifests[0].digest = `sha512:${'a'.repeat(128)}`;
      layout.files['index.json'] = JSON.stringify(index);
      await expectRejected(['load', '-i', await write(layout.files)], /invalid descriptor/);
    });
    test(`gzip layer whose diff_id does not match (${form})`, async () => {
      const layer = await validLayer();
      const layout = ociFiles([{ data: gzipSync(layer), mediaType: gzipType, diffId: sha256(layer.subarray(1)) }]);
      await expectRejected(['load', '-i', await write(layout.files)], /digest.*does not match/);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Bad references and options

describe('bad references and changes', { concurrency: 4 }, () => {
  test("import FILE 'UPPER/Case'", async () => {
    await expectRejected(['import', writeFile(await validLayer()), 'UPPER/Case'], /invalid reference format/, { tags: true });
  });
  test("tag busybox 'a b'", async () => {
    await expectRejected(['tag', 'busybox', 'a b'], /invalid reference format/, { tags: true });
  });
  test("tag busybox 'x:@@'", async () => {
    await expectRejected(['tag', 'busybox', 'x:@@'], /invalid reference format/, { tags: true });
  });
  test('history nosuchimage', async () => {
    await expectRejected(['history', 'nosuchimage'], /No such image: nosuchimage/);
  });
  test("import -c 'FROM x'", async () => {
    await expectRejected(['import', '-c', 'FROM x', writeFile(await validLayer())], /FROM is not a valid change command/);
  });
  test('import of a file that does not exist', async () => {
    await expectRejected(['import', '/nonexistent/rootfs.tar'], /no such file/);
  });
  test('load of a file that does not exist', async () => {
    await expectRejected(['load', '-i', '/nonexistent/archive.tar'], /no such file/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad --format templates: Go's text/template errors, in Docker's words, before anything is printed

describe('bad --format templates', { concurrency: 4 }, () => {
  const cases: [string[], RegExp][] = [
    [['images', '--format', '{{.Foo}}'], /^Error: template parsing error: template: :1:2: executing "" at <\.Foo>: can't evaluate field Foo in type \*formatter\.imageContext\n$/],
    [['images', '--format', '{{.ID'], /^Error: template parsing error: template: :1: unclosed action\n$/],
    [['images', '--format', '{{nosuch .ID}}'], /^Error: template parsing error: template: :1: function "nosuch" not defined\n$/],
    [['images', '--format', 'table {{.Repository}}\t{{.Nope}}'], /can't evaluate field Nope in type \*formatter\.imageContext/],
    [['images', '--format', `${'{{if 1}}'.repeat(2000)}${'{{end}}'.repeat(2000)}`], /^Error: template parsing error: template: :1: blocks and parentheses nested too deeply \(more than 100 levels\)\n$/],
    [['history', '--format', '{{.Bogus}}', 'busybox'], /can't evaluate field Bogus in type \*image\.historyContext/],
    [['inspect', '-f', '{{.Foo}}', 'busybox'], /^Error: template parsing error: template: :1:2: executing "" at <\.Foo>: map has no entry for key "Foo"\n$/],
    [['inspect', '-f', '{{.Id', 'nosuchimage'], /^Error: template parsing error: template: :1: unclosed action\n$/],
    [['ps', '-a', '--format', '{{.Foo}}'], /^Error: failed to execute template: template: :1:2: executing "" at <\.Foo>: can't evaluate field Foo in type \*formatter\.ContainerContext\n$/],
  ];
  for (const [args, error] of cases) {
    test(`strata ${args.map((arg) => (arg.length > 40 ? `${arg.slice(0, 37)}...` : arg)).join(' ')}`, async () => {
      await expectRejected(args, error);
    });
  }
  test('control: templates with Go built-ins and Docker functions print', async () => {
    const root = await freshRoot();
    assert.equal(await cliOk(root, ['images', '--format', '{{.Repository | upper}}:{{len .Tag}} {{if eq .Tag "latest"}}yes{{end}}']), 'BUSYBOX:6 yes\n');
    assert.equal(await cliOk(root, ['inspect', '-f', '{{.Config.User}}|{{index .Config.Labels "x"}}|{{.Os}}', 'busybox']), '||linux\n');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Deep and huge inputs: a short error saying what was too deep or too long, never a stack overflow

describe('deep and huge inputs', { concurrency: 4 }, () => {
  let deep = 'x';
  for (let i = 0; i < 2000; i++) deep = `\${A:-${deep}}`;
  const contextOf = (files: Record<string, string>) => {
    const dir = scratch('strata-deep-ctx-');
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return dir;
  };
  const short = async (args: string[], error: RegExp) => {
    const { root } = await freshStore();
    await expectRejected(args, error, { root });
    const again = await cli(root, args);
    assert.ok(again.stderr.length < 300, `${again.stderr.length} characters: ${again.stderr.slice(0, 300)}`);
  };
  test('a 2,000-deep ${A:-${A:-...}} in ENV', async () => {
    await short(['build', contextOf({ Dockerfile: `FROM scratch\nENV B=${deep}\n` })], /^Error: Dockerfile:2: failed to process ".*"\.\.\. \(\d+ characters\): variable expansion nested too deeply \(more than 100 levels\)\n$/);
  });
  test('a 2,000-deep ${A:-${A:-...}} in a flag', async () => {
    await short(['build', contextOf({ Dockerfile: `FROM scratch\nCOPY --chown=${deep} a /b\n`, a: 'a' })], /^Error: Dockerfile:2: failed to process .*: variable expansion nested too deeply \(more than 100 levels\)\n$/);
  });
  test('a 60,000-character bad .dockerignore pattern', async () => {
    await short(['build', contextOf({ Dockerfile: 'FROM scratch\nCOPY a /\n', a: 'a', '.dockerignore': `${'a'.repeat(60_000)}[\n` })], /^Error: error checking context: \.dockerignore, line 1: syntax error in pattern "a{60}"\.\.\. \(60001 characters\)\n$/);
  });
  test('a .dockerignore line over 64 KiB', async () => {
    await short(['build', contextOf({ Dockerfile: 'FROM scratch\nCOPY a /\n', a: 'a', '.dockerignore': `# ok\n${'b'.repeat(70_000)}\n` })], /^Error: error reading \.dockerignore: line 2 is longer than 64 KiB\n$/);
  });
  test('a 2,000-deep --format template', async () => {
    await short(['images', '--format', `${'{{with .}}'.repeat(2000)}${'{{end}}'.repeat(2000)}`], /^Error: template parsing error: template: :1: blocks and parentheses nested too deeply \(more than 100 levels\)\n$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Interrupted and concurrent writes

/** A tar of `count` files of 64 KiB each. */
function bigTar(count: number, seed: string): Promise<Buffer> {
  const block = noise(64 << 10, seed);
  return makeTar(Array.from({ length: count }, (_, i) => ({ name: `data/file-${i}`, content: Buffer.concat([Buffer.from(String(i)), block]) })));
}

test('an import killed mid-stream leaves only leftovers, which check --repair removes', async () => {
  const root = await freshRoot();
  const before = await snapshot(root);
  const data = await bigTar(400, 'interrupted');
  const child = spawn(process.execPath, [cliPath, '--root', root, 'import', '-', 'interrupted'], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.on('error', () => {
    // Killed while we write.
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const inProgress = () =>
    fs.readdirSync(path.join(root, 'layers')).some((name) => name.startsWith('.tmp-') && tree(path.join(root, 'layers', name)).length > 4) &&
    fs.readdirSync(path.join(root, 'ingest')).some((name) => fs.statSync(path.join(root, 'ingest', name)).size > 0);
  // A slow pipe: 64 KiB every 10 ms, killed once the import is well under way.
  for (let offset = 0; offset < data.length && !inProgress(); offset += 64 << 10) {
    if (!child.stdin.write(data.subarray(offset, offset + (64 << 10)))) await new Promise((resolve) => child.stdin.once('drain', resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(inProgress(), 'the import should be under way before it is killed');
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  const check = await cli(root, ['system', 'check']);
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /: 0 problems, [1-9]\d* unreferenced items\n$/);
  assert.match(check.stdout, /Unreferenced: .*\/layers\/\.tmp-/);
  assert.match(check.stdout, /Unreferenced: .*\/ingest\//);
  assert.equal((await snapshot(root)).images, before.images);

  const repair = await cliOk(root, ['system', 'check', '--repair']);
  assert.match(repair, /: 0 problems, [1-9]\d* unreferenced items removed\n$/);
  await assertCheckClean(root);
  assert.deepEqual(await snapshot(root), before);
});

test('two concurrent imports of the same tarball both succeed and share one layer', async () => {
  const root = await freshRoot();
  const file = writeFile(await bigTar(100, 'concurrent'));
  const topLevel = (paths: string[]) => paths.filter((p) => p.endsWith('/') && !p.slice(0, -1).includes('/'));
  const layersBefore = topLevel(tree(path.join(root, 'layers')));
  const results = await Promise.all([cli(root, ['import', file, 'one']), cli(root, ['import', file, 'two'])]);
  for (const result of results) assert.equal(result.status, 0, result.stderr);
  const layersAfter = topLevel(tree(path.join(root, 'layers')));
  assert.equal(layersAfter.length, layersBefore.length + 1, `one new layer dir: ${layersAfter.join(', ')}`);
  const inspect = async (name: string) => JSON.parse(await cliOk(root, ['inspect', name]))[0];
  const [one, two] = [await inspect('one'), await inspect('two')];
  assert.deepEqual(one.RootFS.Layers, two.RootFS.Layers);
  assert.deepEqual(one.Strata.LayerDirs, two.Strata.LayerDirs);
  // Each import's config records its own creation time, so (as with Docker) the image IDs may differ.
  assert.equal(results[0]!.stdout, `${one.Id}\n`);
  assert.equal(results[1]!.stdout, `${two.Id}\n`);
  await assertCheckClean(root);
});

test('two concurrent loads of the same archive both succeed with one image ID and one layer dir', async () => {
  const root = await freshRoot();
  const archive = await writeTar(dockerFiles([await bigTar(100, 'concurrent-load')]));
  const before = await snapshot(root);
  const results = await Promise.all([cli(root, ['load', '-i', archive]), cli(root, ['load', '-i', archive])]);
  for (const result of results) assert.equal(result.status, 0, result.stderr);
  const after = await snapshot(root);
  const newIds = after.images.split('\n').filter((id) => id && !before.images.includes(id));
  assert.equal(newIds.length, 1);
  const newLayerDirs = after.layers.filter((p) => !p.slice(0, -1).includes('/') && !before.layers.includes(p));
  assert.equal(newLayerDirs.length, 1, newLayerDirs.join(', '));
  await assertCheckClean(root);
});
