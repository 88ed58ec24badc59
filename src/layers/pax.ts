import { createRequire } from 'node:module';
import { dataCorrupt } from '../errors.js';
import { fsExtras } from './fsx.js';

const xattrPrefix = 'SCHILY.xattr.';

/**
 * tar-stream decodes every PAX record as UTF-8, which mangles binary xattr values such as security.capability.
 * Its extractor looks decodePax up on its headers module at each call, so replacing it there (once) makes xattr
 * values arrive as latin1 strings: one char per byte, turned back into exact bytes by `xattrsOf`.
 */
function installBinaryXattrDecoding(): void {
  const require = createRequire(import.meta.url);
  const headers = require(require.resolve('tar-stream').replace(/index\.js$/, 'headers.js')) as { decodePax: (buf: Buffer) => Record<string, string> };
  headers.decodePax = (input: Buffer) => {
    const result: Record<string, string> = {};
    let buf = input;
    while (buf.length) {
      const space = buf.indexOf(32);
      const length = Number.parseInt(buf.subarray(0, space === -1 ? buf.length : space).toString(), 10);
      if (!length || space === -1) return result;
      const record = buf.subarray(space + 1, length - 1);
      const eq = record.indexOf(61);
      if (eq === -1) return result;
      const key = record.subarray(0, eq).toString('utf8');
      result[key] = record.subarray(eq + 1).toString(key.startsWith(xattrPrefix) ? 'latin1' : 'utf8');
      buf = buf.subarray(length);
    }
    return result;
  };
}

installBinaryXattrDecoding();

/**
 * Extended attributes a tar entry carries, minus overlayfs' own (trusted.overlay.*, and user.overlay.* that
 * rootless overlay reads): a layer must not forge overlay metadata.
 */
export function xattrsOf(pax: Record<string, string> | null | undefined): [string, Buffer][] {
  if (!pax) return [];
  return Object.entries(pax)
    .filter(([key]) => key.startsWith(xattrPrefix) && !/^(trusted|user)\.overlay\./.test(key.slice(xattrPrefix.length)))
    .map(([key, value]) => [key.slice(xattrPrefix.length), Buffer.from(value, 'latin1')]);
}

/** Sets a layer entry's xattrs. Like Docker, skips those the filesystem does not support; other failures name the entry. */
export function applyXattrs(file: string, xattrs: readonly [string, Buffer][], entry: string): void {
  for (const [name, value] of xattrs) {
    try {
      fsExtras().lsetxattr(file, name, value);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTSUP') continue;
      throw dataCorrupt(`layer entry "${entry}": cannot set xattr ${name} (${(error as Error).message.split(':')[1]?.trim() ?? 'invalid'})`, { cause: error });
    }
  }
}
