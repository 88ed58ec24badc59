import { applyChange } from '../images/changes.js';
import { canonicalJson, type ContainerConfig, type ImageConfig } from '../images/model.js';
import { familiarString, parseReference, type Reference } from '../images/reference.js';
import { writeLayerTar } from '../layers/diff.js';
import type { Digest } from '../util/digest.js';
import type { ContainerRecord } from './records.js';
import { parseSettings } from './settings.js';
import type { Containers } from './service.js';

export interface CommitOptions {
  reference?: string;
  /** The Engine API's commit body: fields that replace the container's (moby's merge fills in the rest). */
  config?: ContainerConfig;
  message?: string;
  author?: string;
  changes?: string[];
  /** Freezes a running container while its layer is read (Docker's default), so no write lands half in it. */
  pause?: boolean;
}

/**
 * `commit`: the container's read-write layer becomes one new layer on top of its image's, with the container's
 * command as the history entry's CREATED BY and the message as its comment. The cost follows the size of the
 * change, not of the image: only the upper dir is read. Recorded as Docker's container `commit` event.
 */
export async function commitContainer(containers: Containers, nameOrId: string, options: CommitOptions = {}): Promise<Digest> {
  const tags = options.reference ? [parseReference(options.reference)] : [];
  const record = containers.reconcileOne(containers.resolve(nameOrId));
  const pause = options.pause === true && record.state === 'running' && !containers.isPaused(record);
  if (pause) containers.pause(record.id, true);
  try {
    const id = await commitLayer(containers, record, options, tags);
    containers.event(record, 'commit', { comment: options.message ?? '', imageID: id, imageRef: tags[0] ? familiarString(tags[0]) : '' });
    return id;
  } finally {
    if (pause) containers.pause(record.id, false);
  }
}

/** The layer made, the image added and tagged; its ID. */
async function commitLayer(containers: Containers, record: ContainerRecord, options: CommitOptions, tags: Reference[]): Promise<Digest> {
  const settings = parseSettings(record.settings);
  const image = containers.images.resolve(record.imageId);
  const base = containers.images.config(image.id);
  // Docker's commit: the container's config (the image's one for containers made before it was kept), the
  // request's config over it (the Engine API's body), then the changes.
  const containerConfig = settings.config ?? base.config ?? {};
  const runtimeConfig = (options.changes ?? []).reduce<ContainerConfig>(applyChange, options.config ? mergeCommitConfig(options.config, containerConfig) : containerConfig);

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

/**
 * moby's commit merge: the given config, with what it leaves unset taken from the container's (User, WorkingDir,
 * StopSignal, Cmd and Entrypoint when it sets neither), and Env, Labels, ExposedPorts and Volumes added to.
 */
export function mergeCommitConfig(given: ContainerConfig, container: ContainerConfig): ContainerConfig {
  const key = (entry: string) => entry.split('=', 1)[0];
  const env = given.Env && given.Env.length > 0 ? [...given.Env, ...(container.Env ?? []).filter((entry) => !given.Env!.some((own) => key(own) === key(entry)))] : container.Env;
  const noCommand = (given.Entrypoint ?? []).length === 0;
  const merged: ContainerConfig = {
    ...container,
    ...given,
    ...(env && { Env: env }),
    ...((given.Labels || container.Labels) && { Labels: { ...container.Labels, ...given.Labels } }),
    ...((given.ExposedPorts || container.ExposedPorts) && { ExposedPorts: { ...container.ExposedPorts, ...given.ExposedPorts } }),
    ...((given.Volumes || container.Volumes) && { Volumes: { ...given.Volumes, ...container.Volumes } }),
    ...(!given.User && container.User !== undefined && { User: container.User }),
    ...(!given.WorkingDir && container.WorkingDir !== undefined && { WorkingDir: container.WorkingDir }),
    ...(!given.StopSignal && container.StopSignal !== undefined && { StopSignal: container.StopSignal }),
  };
  if (noCommand) {
    if ((given.Cmd ?? []).length === 0) merged.Cmd = container.Cmd;
    if (given.Entrypoint == null) merged.Entrypoint = container.Entrypoint;
  } else merged.Cmd = given.Cmd; // an Entrypoint given comes with its own Cmd, or none
  for (const field of ['Cmd', 'Entrypoint'] as const) if (merged[field] === undefined) delete merged[field];
  return merged;
}
