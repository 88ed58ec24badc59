import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { sh, tempDir } from './helpers.js';

export const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A layer tar made with GNU tar from files given as { path: content }; a null content makes a whiteout. */
export function layerTar(files: Record<string, string | null>): Buffer {
  const dir = tempDir('strata-layer-');
  for (const [name, content] of Object.entries(files)) {
    const target = content === null ? path.join(dir, path.dirname(name), `.wh.${path.basename(name)}`) : path.join(dir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content ?? '');
  }
  const out = path.join(dir, '..', `${path.basename(dir)}.tar`);
  sh(`tar -C '${dir}' --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf '${out}' .`);
  const bytes = fs.readFileSync(out);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(out, { force: true });
  return bytes;
}

export interface ArchiveImage {
  layers: Buffer[];
  tags?: string[];
  history?: { created_by?: string; comment?: string; empty_layer?: boolean }[];
  config?: Record<string, unknown>;
  created?: string;
  /** Default linux/amd64. */
  platform?: { architecture: string; variant?: string };
}

export function imageConfig(image: ArchiveImage): Buffer {
  const created = image.created ?? '2024-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: image.platform?.architecture ?? 'amd64',
      ...(image.platform?.variant && { variant: image.platform.variant }),
      os: 'linux',
      created,
      config: image.config ?? {},
      rootfs: { type: 'layers', diff_ids: image.layers.map((layer) => sha256(layer)) },
      history: (image.history ?? image.layers.map((_, i) => ({ created_by: `/bin/sh -c #(nop) ADD layer${i} in /` }))).map((h) => ({ created, ...h })),
    }),
  );
}

/** Writes a docker-archive (legacy `docker save` layout) holding the given images. */
export async function writeDockerArchive(file: string, images: ArchiveImage[]): Promise<string> {
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    const out = fs.createWriteStream(file);
    pack.pipe(out);
    out.on('finish', resolve);
    out.on('error', reject);
  });
  const written = new Set<string>();
  const manifest = images.map((image) => {
    const config = imageConfig(image);
    const configName = `${sha256(config).slice(7)}.json`;
    pack.entry({ name: configName }, config);
    const layers = image.layers.map((layer) => {
      const name = `${sha256(layer).slice(7)}/layer.tar`;
      if (!written.has(name)) pack.entry({ name }, layer);
      written.add(name);
      return name;
    });
    return { Config: configName, RepoTags: image.tags ?? [], Layers: layers };
  });
  pack.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
  pack.finalize();
  await done;
  return file;
}
