import { applyChange } from '../images/changes.js';
import { canonicalJson, type ContainerConfig, type ImageConfig } from '../images/model.js';
import { parseReference } from '../images/reference.js';
import { writeLayerTar } from '../layers/diff.js';
import type { Digest } from '../util/digest.js';
import { parseSettings } from './settings.js';
import type { Containers } from './service.js';

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
export async function commitContainer(containers: Containers, nameOrId: string, options: CommitOptions = {}): Promise<Digest> {
  const tags = options.reference ? [parseReference(options.reference)] : [];
  const record = containers.resolve(nameOrId);
  const settings = parseSettings(record.settings);
  const image = containers.images.resolve(record.imageId);
  const base = containers.images.config(image.id);
  const runtimeConfig = (options.changes ?? []).reduce<ContainerConfig>(applyChange, base.config ?? {});

  // The cost follows the change: only the upper dir is read, hashed, stored and unpacked, in one pass.
  const upper = containers.snapshotterFor(record).upperDir(record.id);
  const layer = await containers.images.makeLayer(base.rootfs.diff_ids, 'commit', (sink) => writeLayerTar(upper, sink));
  const created = new Date().toISOString();
  const config: ImageConfig = {
    ...base,
    created,
    ...(options.author !== undefined && { author: options.author }),
    config: runtimeConfig,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
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
  const { id } = containers.images.add({
    config: canonicalJson(config),
    layers: [...containers.images.parentLayers(image), layer],
    tags,
    parent: image.id,
  });
  return id;
}
