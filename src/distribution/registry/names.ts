import { type Digest, isDigest } from '../../util/digest.js';
import { registryError } from './errors.js';

// The spec's grammar for <name> and for tags (distribution-spec, "Pulling manifests").
const namePattern = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// Clients limit host + "/" + name to 255 characters; 255 leaves room for no host at all, the most we can allow.
const maxNameLength = 255;

export function isRepositoryName(name: string): boolean {
  return name.length <= maxNameLength && namePattern.test(name);
}

export function isTag(value: string): boolean {
  return tagPattern.test(value);
}

export function checkRepositoryName(name: string): string {
  if (!isRepositoryName(name)) throw registryError('NAME_INVALID', `invalid repository name "${name}"`, { name });
  return name;
}

/** A blob or manifest digest from a URL: sha256 only; anything else is the client's mistake (400). */
export function checkDigest(value: string): Digest {
  if (isDigest(value)) return value;
  const algorithm = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):/.exec(value)?.[1];
  const message = algorithm && algorithm !== 'sha256' ? `unsupported digest algorithm "${algorithm}": only sha256 is supported` : `invalid digest "${value}"`;
  throw registryError('DIGEST_INVALID', message, { digest: value });
}

export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest's <tag-or-digest>: "MUST NOT be in any other format". */
export function parseReference(value: string): ManifestReference {
  if (value.includes(':')) return { kind: 'digest', digest: checkDigest(value) };
  if (!isTag(value)) throw registryError('MANIFEST_INVALID', `invalid tag "${value}"`, { tag: value });
  return { kind: 'tag', tag: value };
}
