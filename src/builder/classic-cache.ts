/**
 * `--cache-from IMAGE`, as Docker's classic builder reads it (moby's image cache): a step is cached when an image
 * given stands on the same history as the step's parent and its next history entry was made by the same
 * instruction. The step's image is then that image itself (its last entry) or one restored from it: the parent
 * plus that entry and its layer. Pure.
 */
import type { ContainerConfig, ImageConfig } from '../images/model.js';

type History = NonNullable<ImageConfig['history']>[number];

const sameEntry = (a: History, b: History) => JSON.stringify(a, Object.keys(a).sort()) === JSON.stringify(b, Object.keys(b).sort());

/** Whether `candidate` extends `parent` (undefined: the step has no parent image): its history and layers start with the parent's. */
export function extendsParent(candidate: ImageConfig, parent: ImageConfig | undefined): boolean {
  const history = candidate.history ?? [];
  if (history.length === 0) return false;
  const parentHistory = parent?.history ?? [];
  const parentLayers = parent?.rootfs.diff_ids ?? [];
  if (parentHistory.length === 0 && parentLayers.length === 0) return true;
  if (parentHistory.length >= history.length || parentLayers.length > candidate.rootfs.diff_ids.length) return false;
  return parentHistory.every((entry, i) => sameEntry(entry, history[i]!)) && parentLayers.every((diffId, i) => diffId === candidate.rootfs.diff_ids[i]);
}

/** The candidate's entry for the step after `parent` when it was made by `createdBy`, with the index of its layer (if it made one). */
export function matchingStep(candidate: ImageConfig, parent: ImageConfig | undefined, createdBy: string): { last: boolean; layer?: number } | undefined {
  if (!extendsParent(candidate, parent)) return undefined;
  const history = candidate.history!;
  const index = parent?.history?.length ?? 0;
  const entry = history[index];
  if (entry?.created_by !== createdBy) return undefined;
  // Its layer: one per history entry that is not an empty layer, in order.
  const layer = entry.empty_layer ? undefined : history.slice(0, index).filter((h) => !h.empty_layer).length;
  if (layer !== undefined && layer >= candidate.rootfs.diff_ids.length) return undefined;
  return { last: index === history.length - 1, ...(layer !== undefined && { layer }) };
}

/** The image a matched step restores: the parent's history and layers plus the candidate's entry (and layer), the step's config. */
export function restoredConfig(candidate: ImageConfig, parent: ImageConfig | undefined, step: ContainerConfig, layer: number | undefined): ImageConfig {
  const index = parent?.history?.length ?? 0;
  const entry = candidate.history![index]!;
  const { container: _container, container_config: _containerConfig, ...base } = parent ?? candidate;
  return {
    ...base,
    architecture: candidate.architecture,
    os: candidate.os,
    ...(candidate.variant !== undefined && { variant: candidate.variant }),
    ...(candidate.author !== undefined && { author: candidate.author }),
    ...(entry.created !== undefined && { created: entry.created }),
    config: step,
    rootfs: { type: 'layers', diff_ids: [...(parent?.rootfs.diff_ids ?? []), ...(layer !== undefined ? [candidate.rootfs.diff_ids[layer]!] : [])] },
    history: [...(parent?.history ?? []), entry],
  };
}
