import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

/** A content digest in OCI form: `sha256:<64 lowercase hex>`. */
export type Digest = `sha256:${string}`;

const digestPattern = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return digestPattern.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) throw invalidArgument(`invalid digest "${value}": expected sha256:<64 hex digits>`);
  return value;
}

export function digestOf(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function hexOf(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The 12-character form Docker prints for image IDs. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * ChainID per the OCI image spec: ChainID(L0) = DiffID(L0); ChainID(L0|...|Ln) = sha256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln)).
 * Returns one chain ID per layer, bottom first.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const chain: Digest[] = [];
  for (const diffId of diffIds) {
    const parent = chain.at(-1);
    chain.push(parent === undefined ? diffId : digestOf(`${parent} ${diffId}`));
  }
  return chain;
}
