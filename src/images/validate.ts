import { dataCorrupt } from '../errors.js';
import { isDigest } from '../util/digest.js';
import type { Descriptor } from '../content/store.js';
import type { ImageConfig, Index, Manifest } from './model.js';

/** A JSON object, or a one-line error naming `what` (never the parser's message, which quotes the bytes it choked on). */
/**
 * How deep a document's arrays and objects may nest. Go's encoding/json, which Docker reads them with, stops at
 * 10,000; real configs and manifests nest a handful of levels, and every later JSON.stringify of the document
 * (inspect, save) recurses once per level.
 */
export const maxJsonDepth = 1000;

/** The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i++; // the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (code === 0x7d || code === 0x5d) depth--;
  }
  return deepest;
}

export function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  const text = bytes.toString('utf8');
  if (jsonDepth(text) > maxJsonDepth) throw dataCorrupt(`${what} is nested too deeply (more than ${maxJsonDepth} levels)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw dataCorrupt(`${what} is not valid JSON`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw dataCorrupt(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** A value from a document, for a one-line error: as JSON (escaped, so never two lines), cut at 100 characters. */
const shown = (value: unknown) => JSON.stringify(value)?.slice(0, 100) ?? 'undefined';

export function parseDescriptor(value: unknown, what: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !isDigest(d.digest) || !Number.isSafeInteger(d.size) || d.size! < 0) {
    throw dataCorrupt(`${what}: invalid descriptor ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return d as Descriptor;
}

export function parseConfig(bytes: Buffer, what = 'image config'): ImageConfig {
  const config = parseJsonObject(bytes, what) as unknown as ImageConfig;
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && isDigest(d))) {
    throw dataCorrupt(`${what}: rootfs.diff_ids must be a list of sha256 digests`);
  }
  if (config.history !== undefined && !Array.isArray(config.history)) throw dataCorrupt(`${what}: history must be a list`);
  return config;
}

export function parseManifest(bytes: Buffer, what = 'image manifest'): Manifest {
  const manifest = parseJsonObject(bytes, what);
  if (manifest.schemaVersion !== 2) throw dataCorrupt(`${what}: unsupported schemaVersion ${shown(manifest.schemaVersion)}`);
  if (!Array.isArray(manifest.layers)) throw dataCorrupt(`${what}: layers must be a list`);
  return {
    ...(manifest as unknown as Manifest),
    config: parseDescriptor(manifest.config, `${what} config`),
    layers: manifest.layers.map((layer, i) => parseDescriptor(layer, `${what} layer ${i}`)),
  };
}

export function parseIndex(bytes: Buffer, what = 'image index'): Index {
  const index = parseJsonObject(bytes, what);
  if (index.schemaVersion !== 2) throw dataCorrupt(`${what}: unsupported schemaVersion ${shown(index.schemaVersion)}`);
  if (!Array.isArray(index.manifests)) throw dataCorrupt(`${what}: manifests must be a list`);
  return { ...(index as unknown as Index), manifests: index.manifests.map((m, i) => parseDescriptor(m, `${what} manifest ${i}`)) };
}
