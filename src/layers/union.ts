/**
 * An image's root filesystem read straight from its layer dirs, as an overlay mount of them would show it, but
 * without mounting: where the builder places a COPY (the destination resolved through the image's symlinks,
 * its existing directories, /etc/passwd for --chown) and what it copies from another stage. A plain directory
 * is a view of one layer.
 */
import fs from 'node:fs';
import { resolvePath } from '../util/rootpath.js';
import { type LowerEntry, lowerEntry, lowerNames } from './overlay-entries.js';

export class UnionView {
  /** `layers`: layer dirs, topmost first; none is an empty root. */
  constructor(private readonly layers: readonly string[]) {}

  /** The entry at `rel` (relative, with no symlink or `..` among its parents), or undefined where there is none. */
  entry(rel: string): LowerEntry | undefined {
    if (this.layers.length === 0) return undefined;
    // The root merges every layer (overlay ignores an opaque mark on it).
    if (rel === '') return { file: this.layers[0]!, stat: fs.lstatSync(this.layers[0]!, { bigint: true }), layers: [...this.layers] };
    const parts = rel.split('/');
    let below = [...this.layers];
    let entry: LowerEntry | undefined;
    for (let i = 1; i <= parts.length; i++) {
      entry = lowerEntry(below, parts.slice(0, i).join('/'));
      if (!entry) return undefined;
      if (i < parts.length) {
        if (!entry.stat.isDirectory()) return undefined;
        below = entry.layers;
      }
    }
    return entry;
  }

  /** A path resolved as the container will see it (resolveInRoot's rules); relative, '' for the root. */
  resolve(unsafePath: string): string {
    return resolvePath(unsafePath, (rel) => {
      const entry = this.entry(rel);
      return entry?.stat.isSymbolicLink() ? fs.readlinkSync(entry.file) : undefined;
    });
  }

  /** Names in a directory of the view, sorted. */
  names(rel: string): string[] {
    const entry = this.entry(rel);
    return entry?.stat.isDirectory() ? lowerNames(entry.layers, rel).sort() : [];
  }

  /** A file's text, found through the image's symlinks; undefined when it is not there. */
  readFile(unsafePath: string): string | undefined {
    const entry = this.entry(this.resolve(unsafePath));
    return entry?.stat.isFile() ? fs.readFileSync(entry.file, 'utf8') : undefined;
  }
}
