import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { failedPrecondition, isNodeError } from '../errors.js';
import type { LayerStore } from '../layers/store.js';
import { fsExtras, MNT_DETACH } from '../layers/fsx.js';
import type { LayerRecord } from '../layers/records.js';
import { makeInitDir, type Snapshotter, type Usage, writeInitFiles } from './types.js';
import { dirUsage, isMountPoint } from './usage.js';

/**
 * Overlayfs snapshots: lowerdir = the image's unpacked layer dirs (shared by every container of every image that
 * has them), upperdir + workdir per container. Mount options are limited to one page, so lower dirs are named
 * through short links (layers/l/<26 chars>) relative to the layer store, as Docker's overlay2 does: an image
 * can be about 150 layers deep instead of about 50.
 */
export class OverlaySnapshotter implements Snapshotter {
  readonly name = 'overlay';
  private readonly dir: string;
  private readonly linkDir: string;

  constructor(
    root: string,
    private readonly layers: LayerStore,
  ) {
    this.dir = path.join(root, 'snapshots');
    this.linkDir = path.join(layers.dir, 'l');
    fs.mkdirSync(this.dir, { recursive: true });
    fs.mkdirSync(this.linkDir, { recursive: true });
  }

  private path(key: string, part: 'upper' | 'work' | 'merged' | 'init'): string {
    return path.join(this.dir, key, part);
  }

  prepare(key: string, options: { init?: boolean } = {}): void {
    fs.mkdirSync(path.join(this.dir, key));
    for (const part of ['upper', 'work', 'merged'] as const) fs.mkdirSync(this.path(key, part), 0o755);
    if (options.init === false) fs.mkdirSync(this.path(key, 'init'), 0o755);
    else makeInitDir(this.path(key, 'init'));
  }

  /** A short, stable name for a layer dir: sha256 of its name in base32, 26 characters (130 bits). */
  private link(layer: LayerRecord): string {
    const name = base32(createHash('sha256').update(layer.dir).digest()).slice(0, 26);
    const linkPath = path.join(this.linkDir, name);
    const target = `../${layer.dir}`;
    try {
      fs.symlinkSync(target, linkPath);
    } catch (error) {
      if (!isNodeError(error, 'EEXIST') || fs.readlinkSync(linkPath) !== target) throw error;
    }
    return `l/${name}`;
  }

  async mount(key: string, lowers: readonly LayerRecord[]): Promise<string> {
    const merged = this.path(key, 'merged');
    if (this.isMounted(key)) return merged;
    const lowerDirs = [path.relative(this.layers.dir, this.path(key, 'init')), ...[...lowers].reverse().map((layer) => this.link(layer))];
    const data = `lowerdir=${lowerDirs.join(':')},upperdir=${this.path(key, 'upper')},workdir=${this.path(key, 'work')},index=off,redirect_dir=off,metacopy=off`;
    if (data.length >= 4096) throw failedPrecondition(`image has too many layers (${lowers.length}) for an overlay mount`);
    // index/redirect_dir/metacopy off: upper dirs must stay plain files and whiteouts to become layers.
    // Relative lower dirs resolve against the caller's cwd at mount(2) time.
    const cwd = process.cwd();
    process.chdir(this.layers.dir);
    try {
      fsExtras().mount('overlay', merged, 'overlay', 0, data);
    } finally {
      process.chdir(cwd);
    }
    return merged;
  }

  unmount(key: string): void {
    const merged = this.path(key, 'merged');
    try {
      fsExtras().umount(merged, MNT_DETACH);
    } catch (error) {
      if (!['EINVAL', 'ENOENT'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
  }

  isMounted(key: string): boolean {
    return isMountPoint(this.path(key, 'merged'));
  }

  addInitFiles(key: string, files: readonly string[], dirs: readonly string[] = []): void {
    writeInitFiles(this.path(key, 'init'), files, dirs);
  }

  upperDir(key: string): string {
    return this.path(key, 'upper');
  }

  usage(key: string): Usage {
    return dirUsage(this.path(key, 'upper'));
  }

  remove(key: string): void {
    this.unmount(key);
    fs.rmSync(path.join(this.dir, key), { recursive: true, force: true });
  }
}

function base32(bytes: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}
