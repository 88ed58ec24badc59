import { createHash } from 'node:crypto';
import fs from 'node:fs';
import tar from 'tar-stream';
import { Prng } from './prng.js';

export const listRepository = 'strata-bench/list';

export interface ImageArchive {
  file: string;
  /** The images' names, `strata-bench/list:NN`. */
  names: string[];
  /** The name of an image with the longest layer stack, for `history`. */
  deepest: string;
}

export interface Entry {
  name: string;
  body?: Buffer;
  type?: 'file' | 'directory' | 'link';
  mode?: number;
  linkname?: string;
}

const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const mtime = new Date(1_700_000_000_000);

/** A small tar built in memory, with fixed times and owners. */
export async function tarBuffer(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk) => chunks.push(chunk as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const { body, ...header } of entries) pack.entry({ mtime, uid: 0, gid: 0, mode: header.type === 'directory' ? 0o755 : 0o644, ...header }, body ?? Buffer.alloc(0));
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The base layer every image shares: busybox with a few applet hardlinks, as a minimal distribution image. */
function busyboxLayer(busybox: string): Promise<Buffer> {
  const applets = ['sh', 'ls', 'cat', 'echo', 'env', 'mkdir', 'rm', 'id'];
  return tarBuffer([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', body: fs.readFileSync(busybox), mode: 0o755 },
    ...applets.map((a): Entry => ({ name: `bin/${a}`, type: 'link', linkname: 'bin/busybox' })),
    { name: 'etc', type: 'directory' },
    { name: 'etc/passwd', body: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { name: 'etc/group', body: Buffer.from('root:x:0:\n') },
    { name: 'tmp', type: 'directory', mode: 0o1777 },
  ]);
}

/** A small layer of a few PRNG files under `dir`. */
function filesLayer(prng: Prng, dir: string, files: number): Promise<Buffer> {
  const entries: Entry[] = [{ name: dir, type: 'directory' }];
  for (let i = 0; i < files; i++) entries.push({ name: `${dir}/f${i}`, body: prng.bytes(prng.int(256, 16 << 10)) });
  return tarBuffer(entries);
}

/**
 * A `docker save` archive of `count` images with distinct IDs over shared and unshared layers: all share the
 * busybox base, every tenth shares a "runtime" layer, each has its own app layer and 0-3 more small layers.
 * History mixes layer and empty-layer (ENV, CMD) steps, as built images have.
 */
export async function writeImageArchive(file: string, count: number, busybox: string): Promise<ImageArchive> {
  const prng = new Prng(50);
  const pack = tar.pack();
  const out = fs.createWriteStream(file);
  const written = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  pack.pipe(out);
  const addedLayers = new Set<string>();
  const addLayer = (layer: Buffer) => {
    const name = `${sha256Hex(layer)}/layer.tar`;
    if (!addedLayers.has(name)) pack.entry({ name, mtime }, layer);
    addedLayers.add(name);
    return name;
  };
  const base = await busyboxLayer(busybox);
  const runtimes = await Promise.all(Array.from({ length: 5 }, (_, g) => filesLayer(prng, `opt/runtime${g}`, 8)));

  const manifest = [];
  const names: string[] = [];
  let deepest = { name: '', layers: 0 };
  for (let i = 0; i < count; i++) {
    const layers = [base, runtimes[i % runtimes.length]!, await filesLayer(prng, `app${i}`, 4)];
    for (let extra = 0; extra < i % 4; extra++) layers.push(await filesLayer(prng, `app${i}/step${extra}`, 1));
    const created = new Date(Date.UTC(2024, 0, 1 + i)).toISOString();
    const history = [
      { created, created_by: '/bin/sh -c #(nop) ADD file:busybox in / ' },
      { created, created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
      { created, created_by: `/bin/sh -c #(nop) COPY dir:runtime${i % runtimes.length} in /opt ` },
      { created, created_by: `/bin/sh -c #(nop)  ENV APP=app${i}`, empty_layer: true },
      { created, created_by: `/bin/sh -c #(nop) COPY dir:app${i} in /app${i} ` },
      ...layers.slice(3).map((_, s) => ({ created, created_by: `/bin/sh -c mkdir -p /app${i}/step${s} && ./configure --step ${s}` })),
    ];
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created,
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `APP=app${i}`], Cmd: ['sh'], WorkingDir: `/app${i}` },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256Hex(l)}`) },
        history,
      }),
    );
    const configName = `${sha256Hex(config)}.json`;
    pack.entry({ name: configName, mtime }, config);
    const name = `${listRepository}:${String(i).padStart(2, '0')}`;
    manifest.push({ Config: configName, RepoTags: [name], Layers: layers.map(addLayer) });
    names.push(name);
    if (layers.length > deepest.layers) deepest = { name, layers: layers.length };
  }
  pack.entry({ name: 'manifest.json', mtime }, JSON.stringify(manifest));
  pack.finalize();
  await written;
  return { file, names, deepest: deepest.name };
}
