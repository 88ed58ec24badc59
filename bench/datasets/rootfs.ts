import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Prng } from './prng.js';

export interface RootfsSpec {
  totalBytes: number;
  files: number;
  symlinks: number;
  seed: number;
}

export interface Rootfs {
  dir: string;
  tarball: string;
  bytes: number;
  files: number;
  /** "200MB/5000 files", for result lines. */
  label: string;
}

const maxDepth = 6;

/**
 * File sizes shaped like a distribution's rootfs: three quarters small files (config, scripts), a quarter
 * medium ones (modules, small libraries), 1% large ones (big libraries, binaries) that take whatever bytes
 * remain, so the total is exact.
 */
function fileSizes(prng: Prng, spec: RootfsSpec): number[] {
  const large = Math.max(1, Math.round(spec.files / 100));
  const medium = Math.round(spec.files / 4);
  const small = spec.files - medium - large;
  const sizes = [
    ...Array.from({ length: small }, () => Math.round(prng.logUniform(64, 16 << 10))),
    ...Array.from({ length: medium }, () => Math.round(prng.logUniform(16 << 10, 256 << 10))),
  ];
  const remaining = Math.max(0, spec.totalBytes - sizes.reduce((a, b) => a + b, 0));
  const weights = Array.from({ length: large }, () => 0.5 + prng.float());
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const largeSizes = weights.map((w) => Math.floor((remaining * w) / weightSum));
  largeSizes[0]! += remaining - largeSizes.reduce((a, b) => a + b, 0);
  sizes.push(...largeSizes);
  // Shuffle so that large files land anywhere in the tree, not in the last directories made.
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = prng.int(0, i + 1);
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

/** Directories nested up to `maxDepth`, each a child of a random shallower one. */
function directories(prng: Prng, count: number): string[] {
  const dirs = [{ path: '.', depth: 0 }];
  while (dirs.length < count) {
    const parent = prng.pick(dirs.filter((d) => d.depth < maxDepth));
    dirs.push({ path: path.join(parent.path, `dir${dirs.length}`), depth: parent.depth + 1 });
  }
  return dirs.map((d) => d.path);
}

/** Writes a deterministic rootfs under `dir` (regular files of PRNG bytes, nested dirs, relative symlinks). */
export function writeRootfs(dir: string, spec: RootfsSpec): { bytes: number; files: number } {
  const prng = new Prng(spec.seed);
  const dirs = directories(prng, Math.ceil(spec.files / 16));
  for (const d of dirs) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const files: string[] = [];
  let bytes = 0;
  for (const [i, size] of fileSizes(prng, spec).entries()) {
    const file = path.join(prng.pick(dirs), `file${i}${prng.pick(['', '.so', '.conf', '.py', '.txt'])}`);
    fs.writeFileSync(path.join(dir, file), prng.bytes(size), { mode: prng.float() < 0.1 ? 0o755 : 0o644 });
    files.push(file);
    bytes += size;
  }
  for (let i = 0; i < spec.symlinks; i++) {
    const link = path.join(prng.pick(dirs), `link${i}`);
    const target = i % 5 === 0 ? prng.pick(dirs) : prng.pick(files);
    fs.symlinkSync(path.relative(path.dirname(link), target) || '.', path.join(dir, link));
  }
  return { bytes, files: files.length };
}

/** Generates the rootfs under `workDir` and tars it once (GNU tar, reproducible: sorted, fixed owner and mtime). */
export function makeRootfs(workDir: string, spec: RootfsSpec): Rootfs {
  const dir = path.join(workDir, 'rootfs');
  fs.mkdirSync(dir);
  const { bytes, files } = writeRootfs(dir, spec);
  const tarball = path.join(workDir, 'rootfs.tar');
  execFileSync('tar', ['-C', dir, '--sort=name', '--mtime=@1700000000', '--owner=0', '--group=0', '--numeric-owner', '-cf', tarball, '.']);
  return { dir, tarball, bytes, files, label: `${Math.round(bytes / 1e6)}MB/${files} files` };
}
