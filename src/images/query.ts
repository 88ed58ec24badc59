import { invalidArgument } from '../errors.js';
import type { LayerRecord } from '../layers/records.js';
import type { ImageRecord } from './records.js';
import type { Digest } from '../util/digest.js';
import { chainIds } from '../util/digest.js';
import { compareText } from '../util/text.js';
import { familiarRepository, parseReference } from './reference.js';
import type { ImageStore } from './store.js';

export interface ImageSummary {
  id: Digest;
  repository: string;
  tag: string;
  digest: string;
  created: string;
  size: number;
}

export interface ListOptions {
  all?: boolean;
  /** Positional REPOSITORY[:TAG] argument: same as a reference filter. */
  reference?: string;
  filters?: string[];
  /** Untagged images that are not images to the user (the build cache's step images): shown only with `all`. */
  hidden?: ReadonlySet<Digest>;
}

/** Docker's reference filter: a glob over the familiar name, with or without the tag. */
function globMatcher(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${escaped}$`);
}

interface Filters {
  reference: RegExp[];
  dangling?: boolean;
  label: [string, string | undefined][];
  before?: string;
  since?: string;
}

function parseFilters(list: string[]): Filters {
  const filters: Filters = { reference: [], label: [] };
  for (const filter of list) {
    const eq = filter.indexOf('=');
    if (eq <= 0) throw invalidArgument(`bad format of filter (expected name=value): ${filter}`);
    const [key, value] = [filter.slice(0, eq), filter.slice(eq + 1)];
    switch (key) {
      case 'reference':
        filters.reference.push(globMatcher(value));
        break;
      case 'dangling':
        if (value !== 'true' && value !== 'false') throw invalidArgument(`invalid filter 'dangling=${value}'`);
        filters.dangling = value === 'true';
        break;
      case 'label': {
        const [k, v] = value.split('=', 2) as [string, string | undefined];
        filters.label.push([k, v]);
        break;
      }
      case 'before':
        filters.before = value;
        break;
      case 'since':
        filters.since = value;
        break;
      default:
        throw invalidArgument(`invalid filter '${key}'`);
    }
  }
  return filters;
}

/** How many images use each layer: the basis of shared and unique sizes. */
function layerUsers(images: ImageStore, records: ImageRecord[]): Map<Digest, number> {
  const users = new Map<Digest, number>();
  for (const image of records) {
    for (const layer of images.layerChain(image)) users.set(layer.chainId, (users.get(layer.chainId) ?? 0) + 1);
  }
  return users;
}

function sharedSize(images: ImageStore, image: ImageRecord, users: Map<Digest, number>): number {
  return images.layerChain(image).reduce((sum, layer) => sum + ((users.get(layer.chainId) ?? 0) > 1 ? layer.size : 0), 0);
}

/** `images`: one row per tag; untagged images as <none>; intermediate images (untagged parents, build steps) only with `all`. */
export function listImages(images: ImageStore, options: ListOptions = {}): ImageSummary[] {
  const filters = parseFilters([...(options.filters ?? []), ...(options.reference ? [`reference=${options.reference}`] : [])]);
  const records = images.records.all();
  const tagsByImage = images.records.allTags();
  const hasChildren = new Set(records.map((r) => r.parent).filter((p): p is Digest => p !== null));
  const createdOf = (name: string) => Date.parse(images.resolve(name).created);
  const before = filters.before !== undefined ? createdOf(filters.before) : undefined;
  const since = filters.since !== undefined ? createdOf(filters.since) : undefined;

  const rows: ImageSummary[] = [];
  for (const image of records) {
    const tags = tagsByImage.get(image.id) ?? [];
    if (tags.length === 0 && (hasChildren.has(image.id) || options.hidden?.has(image.id)) && !options.all) continue;
    if (filters.dangling !== undefined && (tags.length === 0) !== filters.dangling) continue;
    const created = Date.parse(image.created);
    if (before !== undefined && !(created < before)) continue;
    if (since !== undefined && !(created > since)) continue;
    if (filters.label.length > 0) {
      const labels = images.config(image.id).config?.Labels ?? {};
      if (!filters.label.every(([k, v]) => k in labels && (v === undefined || labels[k] === v))) continue;
    }
    const base = { id: image.id, digest: images.records.repoDigestsOf(image.id)[0]?.digest ?? '<none>', created: image.created, size: image.size };
    const named = tags.map((tag) => parseReference(tag));
    const visible = filters.reference.length === 0 ? named : named.filter((ref) => filters.reference.some((re) => re.test(familiarRepository(ref)) || re.test(`${familiarRepository(ref)}:${ref.tag}`)));
    if (filters.reference.length > 0 && visible.length === 0) continue;
    if (visible.length === 0) rows.push({ ...base, repository: '<none>', tag: '<none>' });
    for (const ref of visible) rows.push({ ...base, repository: familiarRepository(ref), tag: ref.tag ?? '<none>' });
  }
  return rows.sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || compareText(a.repository, b.repository) || compareText(a.tag, b.tag));
}

export interface HistoryRow {
  id: string;
  created: string | undefined;
  createdBy: string;
  size: number;
  comment: string;
  emptyLayer: boolean;
  /** The chain ID of the layer this entry made, when it made one. */
  layer?: Digest;
  tags: string[];
}

/** `history`: one row per history entry, newest first, image IDs filled in along the local parent chain (as moby does). */
export function imageHistory(images: ImageStore, name: string): HistoryRow[] {
  const record = images.resolve(name);
  const config = images.config(record.id);
  const chain = images.layerChain(record);
  const history = config.history?.length
    ? config.history
    : chain.map(() => ({ created: config.created, created_by: '', comment: '', empty_layer: false }));
  const rows: HistoryRow[] = [];
  let layerIndex = 0;
  for (const entry of history) {
    const layer: LayerRecord | undefined = entry.empty_layer ? undefined : chain[layerIndex++];
    rows.unshift({
      id: '<missing>',
      created: entry.created,
      createdBy: entry.created_by ?? '',
      size: layer?.size ?? 0,
      comment: entry.comment ?? '',
      emptyLayer: entry.empty_layer === true,
      ...(layer && { layer: layer.chainId }),
      tags: [],
    });
  }
  let current: ImageRecord | undefined = record;
  for (const row of rows) {
    if (!current) break;
    row.id = current.id;
    row.tags = images.records.tagsOf(current.id);
    current = current.parent ? images.records.get(current.parent) : undefined;
  }
  return rows;
}

/** `inspect`: Docker's image inspect object. */
export function inspectImage(images: ImageStore, name: string) {
  const record = images.resolve(name);
  const config = images.config(record.id);
  const tags = images.records.tagsOf(record.id).map((tag) => {
    const ref = parseReference(tag);
    return `${familiarRepository(ref)}:${ref.tag}`;
  });
  const chain = images.layerChain(record);
  return {
    Id: record.id,
    RepoTags: tags,
    RepoDigests: images.records.repoDigestsOf(record.id).map(({ repository, digest }) => `${familiarRepository(parseReference(repository))}@${digest}`),
    Parent: record.parent ?? '',
    Comment: config.history?.at(-1)?.comment ?? '',
    Created: config.created ?? '',
    Author: config.author ?? '',
    Config: config.config ?? {},
    Architecture: config.architecture,
    Variant: config.variant,
    Os: config.os,
    Size: record.size,
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: record.added ? new Date(record.added).toISOString() : '' },
    Descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: record.manifest, size: images.content.size(record.manifest) },
    Strata: { ChainIDs: chainIds(config.rootfs.diff_ids), LayerDirs: chain.map((layer) => images.layers.path(layer.dir)) },
  };
}

export interface DiskUsage {
  images: (ImageSummary & { tags: string[]; sharedSize: number; uniqueSize: number })[];
  totalImages: number;
  /** Bytes of all stored layers, each counted once. */
  layersSize: number;
  reclaimable: number;
  activeImages: number;
}

/** `system df`: shared layers are counted once in the total; per image, shared vs unique. */
export function diskUsage(images: ImageStore, inUse: (id: Digest) => boolean = () => false): DiskUsage {
  const records = images.records.all();
  const users = layerUsers(images, records);
  const tagsByImage = images.records.allTags();
  const layerSizes = new Map<Digest, number>();
  const activeLayers = new Set<Digest>();
  const rows = records.map((image) => {
    const chain = images.layerChain(image);
    for (const layer of chain) {
      layerSizes.set(layer.chainId, layer.size);
      if (inUse(image.id)) activeLayers.add(layer.chainId);
    }
    const shared = sharedSize(images, image, users);
    const tags = tagsByImage.get(image.id) ?? [];
    const ref = tags[0] ? parseReference(tags[0]) : undefined;
    return {
      id: image.id,
      repository: ref ? familiarRepository(ref) : '<none>',
      tag: ref?.tag ?? '<none>',
      tags,
      digest: '<none>',
      created: image.created,
      size: image.size,
      sharedSize: shared,
      uniqueSize: image.size - shared,
    };
  });
  const layersSize = [...layerSizes.values()].reduce((a, b) => a + b, 0);
  const activeSize = [...activeLayers].reduce((sum, id) => sum + (layerSizes.get(id) ?? 0), 0);
  return {
    images: rows,
    totalImages: records.length,
    layersSize,
    reclaimable: layersSize - activeSize,
    activeImages: records.filter((image) => inUse(image.id)).length,
  };
}
