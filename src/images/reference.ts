import { invalidArgument } from '../errors.js';
import { type Digest, isDigest } from '../util/digest.js';

/** An image reference in Docker's grammar, normalized: `busybox` is docker.io/library/busybox:latest. */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: Digest;
}

const defaultDomain = 'docker.io';
const legacyDomain = 'index.docker.io';
const officialPrefix = 'library/';

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainPattern = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const pathPattern = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagPattern = /^[\w][\w.-]{0,127}$/;
const maxNameLength = 255;

function invalid(input: string, why?: string): never {
  throw invalidArgument(why ? `invalid reference format: ${why}` : `invalid reference format: "${input}"`);
}

/** Splits "host[:port]/rest" the way Docker does: the first component is a domain only if it looks like one. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first === first.toLowerCase())) {
    return { domain: defaultDomain, path: name };
  }
  return { domain: first === legacyDomain ? defaultDomain : first, path: name.slice(slash + 1) };
}

/** Parses and normalizes a reference; `latest` is added when neither tag nor digest is given. */
export function parseReference(input: string, options: { defaultTag?: boolean } = {}): Reference {
  const { defaultTag = true } = options;
  if (input === '' || /\s/.test(input)) invalid(input);
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const candidate = rest.slice(at + 1);
    if (!isDigest(candidate)) invalid(input, `invalid digest "${candidate}"`);
    digest = candidate;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagPattern.test(tag)) invalid(input);
  }
  if (/^[a-f0-9]{64}$/.test(rest)) {
    throw invalidArgument(`invalid repository name (${rest}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain, path: rawPath } = splitDomain(rest);
  if (rawPath !== rawPath.toLowerCase()) invalid(input, `repository name (${rawPath}) must be lowercase`);
  if (!domainPattern.test(domain) || !pathPattern.test(rawPath)) invalid(input);
  const path = domain === defaultDomain && !rawPath.includes('/') ? officialPrefix + rawPath : rawPath;
  if (domain.length + 1 + path.length > maxNameLength) invalid(input, `repository name must not be more than ${maxNameLength} characters`);
  if (tag === undefined && digest === undefined && defaultTag) tag = 'latest';
  return { domain, path, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** docker.io/library/busybox */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified form stored in the tag table: docker.io/library/busybox:latest */
export function formatReference(ref: Reference): string {
  let out = repositoryName(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** Docker's short form for display: busybox, user/app, localhost:5000/app */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== defaultDomain) return repositoryName(ref);
  return ref.path.startsWith(officialPrefix) ? ref.path.slice(officialPrefix.length) : ref.path;
}

export function familiarString(ref: Reference): string {
  let out = familiarRepository(ref);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}
