import { PassThrough } from 'node:stream';
import type { Engine } from '../engine.js';
import { applyChange } from '../images/changes.js';
import { canonicalJson, type ContainerConfig, type ImageConfig } from '../images/model.js';
import { parseReference } from '../images/reference.js';
import { writeLayerTar } from '../layers/diff.js';
import { chainIds, type Digest } from '../util/digest.js';
import { parseSettings } from './settings.js';

export interface CommitOptions {
  reference?: string;
  message?: string;
  author?: string;
  changes?: string[];
}

/**
 * `commit`: the container's read-write layer becomes one new layer on top of its image's, with the container's
 * command as the history entry's CREATED BY and the message as its comment. The cost follows the size of the
 * change, not of the image: only the upper dir is read.
 */
export async function commitContainer(engine: Engine, nameOrId: string, options: CommitOptions = {}): Promise<Digest> {
  const tags = options.reference ? [parseReference(options.reference)] : [];
  const record = engine.containers.resolve(nameOrId);
  const settings = parseSettings(record.settings);
  const image = engine.images.resolve(record.imageId);
  const base = engine.images.config(image.id);
  const runtimeConfig = (options.changes ?? []).reduce<ContainerConfig>(applyChange, base.config ?? {});

  const writer = engine.content.writer();
  let unpacked;
  try {
    // One pass: the tar of the upper dir is hashed, stored as the blob and unpacked as the new layer as it is made.
    const tar = new PassThrough({ highWaterMark: 1 << 20 });
    const sink = (chunk: Buffer) => new Promise<void>((resolve) => (tar.write(chunk) ? resolve() : tar.once('drain', resolve)));
    const producing = writeLayerTar(engine.containers.snapshotterFor(record).upperDir(record.id), sink).then(
      () => tar.end(),
      (error: Error) => tar.destroy(error),
    );
    unpacked = await engine.layers.unpack(tar, 'commit', writer);
    await producing;
  } catch (error) {
    writer.abort();
    throw error;
  }

  const created = new Date().toISOString();
  const config: ImageConfig = {
    ...base,
    created,
    ...(options.author !== undefined && { author: options.author }),
    config: runtimeConfig,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, unpacked.diffId] },
    history: [
      ...(base.history ?? []),
      {
        created,
        created_by: settings.args.join(' '),
        ...(options.author !== undefined && { author: options.author }),
        ...(options.message !== undefined && { comment: options.message }),
      },
    ],
  };
  const { id } = engine.images.add({
    config: canonicalJson(config),
    layers: [...engine.images.parentLayers(image), engine.images.madeLayer(chainIds(config.rootfs.diff_ids).at(-1)!, unpacked, writer)],
    tags,
    parent: image.id,
  });
  return id;
}
