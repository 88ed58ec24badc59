import { type Digest, isDigest } from '../../util/digest.js';
import { registryError } from './errors.js';

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export interface ManifestDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What the registry needs to know of a manifest: what it must already hold, and what it says about referrers. */
export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** Config and layers (image) that must be blobs of the repository. */
  blobs: Digest[];
  /** Child manifests (index) that must be manifests of the repository. */
  manifests: Digest[];
  subject?: Digest;
  /** The referrers API's artifactType: the manifest's own, else (for an image) its config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function descriptorDigest(value: unknown, where: string): Digest {
  if (!isObject(value) || typeof value.digest !== 'string' || !isDigest(value.digest) || typeof value.size !== 'number') {
    throw registryError('MANIFEST_INVALID', `manifest ${where} is not a valid descriptor (digest sha256:<hex> and size required)`);
  }
  return value.digest;
}

/** Layers that live elsewhere (Windows foreign layers) are not pushed to the registry, so they are not required. */
function isExternal(value: unknown): boolean {
  return isObject(value) && typeof value.mediaType === 'string' && /foreign|nondistributable/.test(value.mediaType) && Array.isArray(value.urls);
}

/** The media type without parameters; empty and the generic binary type say nothing. */
function concreteType(contentType: string | undefined): string | undefined {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type && type !== 'application/octet-stream' && type !== 'application/json' ? type : undefined;
}

/**
 * Parses manifest bytes as pushed. The stored media type is the pushed Content-Type when it names one, else the
 * manifest's own mediaType, else OCI's; the two must agree when both are given (the spec requires clients to send
 * the manifest's mediaType as Content-Type, and a mismatch would make every later pull inconsistent).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw registryError('MANIFEST_INVALID', 'manifest is not valid JSON');
  }
  if (!isObject(json)) throw registryError('MANIFEST_INVALID', 'manifest is not a JSON object');
  if (json.schemaVersion === 1) throw registryError('MANIFEST_INVALID', 'Docker schema 1 manifests are not supported');
  const declared = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  const header = concreteType(contentType);
  if (declared !== undefined && header !== undefined && declared !== header) {
    throw registryError('MANIFEST_INVALID', `Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  }
  const isIndex = Array.isArray(json.manifests);
  if (!isIndex && !isObject(json.config) && !Array.isArray(json.layers)) {
    throw registryError('MANIFEST_INVALID', 'manifest is neither an image manifest (config, layers) nor an index (manifests)');
  }
  const mediaType = header ?? declared ?? (isIndex ? mediaTypes.ociIndex : mediaTypes.ociManifest);
  const annotations = isObject(json.annotations) ? (json.annotations as Record<string, string>) : undefined;
  const subject = json.subject === undefined ? undefined : descriptorDigest(json.subject, 'subject');
  const ownArtifactType = typeof json.artifactType === 'string' && json.artifactType !== '' ? json.artifactType : undefined;
  if (isIndex) {
    const children = json.manifests as unknown[];
    return {
      mediaType,
      kind: 'index',
      blobs: [],
      manifests: children.map((child, i) => descriptorDigest(child, `manifests[${i}]`)),
      subject,
      artifactType: ownArtifactType,
      annotations,
    };
  }
  const blobs: Digest[] = [];
  if (json.config !== undefined) blobs.push(descriptorDigest(json.config, 'config'));
  const layers = Array.isArray(json.layers) ? json.layers : [];
  layers.forEach((layer, i) => {
    const digest = descriptorDigest(layer, `layers[${i}]`);
    if (!isExternal(layer)) blobs.push(digest);
  });
  const configType = isObject(json.config) && typeof json.config.mediaType === 'string' ? json.config.mediaType : undefined;
  return { mediaType, kind: 'image', blobs, manifests: [], subject, artifactType: ownArtifactType ?? configType, annotations };
}
