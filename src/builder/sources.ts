/**
 * COPY and ADD sources: which files a source list names (Docker's rules for wildcards, directories and
 * symlinks), and a checksum of them for the build cache (paths, types, modes, link targets and content; never
 * times). No tar code here: a cached COPY needs only this.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { invalidArgument, notFound } from '../errors.js';
import { UnionView } from '../layers/union.js';
import type { Digest } from '../util/digest.js';
import { type BuildContext, hashFile } from './context.js';
import type { AddInstruction, CopyInstruction } from './dockerfile/index.js';
import { joinRelative as join, resolvePath } from '../util/rootpath.js';
import { excerpt } from '../util/text.js';
import { DockerIgnore } from './dockerignore.js';
import { isGitSource } from './git-source.js';
import { type GlobMatcher, GlobSyntaxError, goMatch } from './glob.js';

export { goMatch } from './glob.js';
import { typeBits } from '../util/file-mode.js';

/** Where sources are looked up: the build context (.dockerignore applied) or another stage's or image's root. */
export interface SourceTree {
  /** lstat of a path inside the tree ('' is its root); undefined when absent or excluded. */
  stat(rel: string): fs.BigIntStats | undefined;
  /** Names directly inside a directory of the tree, sorted. */
  list(rel: string): string[];
  /** Every path of the tree, for wildcard matching. */
  all(): Iterable<string>;
  /** A path resolved inside the tree, symlinks followed (resolveInRoot's rules); '' for the root. */
  resolve(unsafePath: string): string;
  /** Where the entry at `rel` is on this machine, to be read. */
  file(rel: string): string;
}

/** A tree over an image's layers (or a plain directory, a view of one layer), read without a mount. */
export function viewTree(view: UnionView): SourceTree {
  const stat = (rel: string) => view.entry(rel)?.stat;
  const all = function* (rel: string): Generator<string> {
    for (const name of view.names(rel)) {
      const child = join(rel, name);
      yield child;
      if (stat(child)?.isDirectory()) yield* all(child);
    }
  };
  return { stat, list: (rel) => view.names(rel), all: () => all(''), resolve: (p) => view.resolve(p), file: (rel) => view.entry(rel)!.file };
}

export const directoryTree = (dir: string): SourceTree => viewTree(new UnionView([dir]));

/**
 * A tree over a stat walk already made (the build context's), so matching sources costs no system call. An
 * entry whose directory was left out (a `!` exception inside an excluded directory) still has its parents, as
 * Docker's context has once unpacked: directories of mode 0755 (archive's MkdirAll).
 */
export function listedTree(dir: string, entries: readonly { rel: string; stat: fs.BigIntStats }[]): SourceTree {
  const stats = new Map<string, fs.BigIntStats>([['', fs.lstatSync(dir, { bigint: true })]]);
  const children = new Map<string, string[]>();
  const add = (rel: string, stat: fs.BigIntStats) => {
    stats.set(rel, stat);
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '' : rel.slice(0, slash);
    const list = children.get(parent) ?? [];
    list.push(rel.slice(slash + 1));
    children.set(parent, list);
    if (!stats.has(parent)) add(parent, impliedDirectory(path.join(dir, parent)));
  };
  for (const { rel, stat } of entries) add(rel, stat);
  return {
    stat: (rel) => stats.get(rel),
    list: (rel) => (children.get(rel) ?? []).sort(),
    all: () => stats.keys(),
    resolve: (p) => resolvePath(p, (rel) => (stats.get(rel)?.isSymbolicLink() ? fs.readlinkSync(path.join(dir, rel)) : undefined)),
    file: (rel) => path.join(dir, rel),
  };
}

/** The stat of a directory the context tar would not hold but its extraction makes: the real one's, mode 0755. */
function impliedDirectory(file: string): fs.BigIntStats {
  const real = fs.lstatSync(file, { bigint: true });
  return Object.assign(Object.create(Object.getPrototypeOf(real) as object) as fs.BigIntStats, real, { mode: BigInt(fs.constants.S_IFDIR | 0o755) });
}

export interface SourceFile {
  /** Path below the source ('' for the source itself). */
  rel: string;
  /** Where it is on this machine. */
  file: string;
  stat: fs.BigIntStats;
}

export interface CopySource {
  /** The name it gets inside a destination directory. */
  name: string;
  /** The source itself (a directory's own mode is given to a destination it creates). */
  root: SourceFile;
  /** A directory: everything below it, parents first; otherwise the source alone. */
  files: SourceFile[];
  /** Inline content (a heredoc). */
  content?: Buffer;
  /** ADD of a local tar archive: its entries are extracted at the destination. */
  archive?: boolean;
  /** Files a file source is read from keep the owner of their tree (COPY --from) instead of root. */
  keepOwner?: boolean;
  /** COPY --parents: the source's path (below a `/./` pivot when the pattern has one), kept under the destination. */
  parentPath?: string;
}

const wildcard = /[*?[]/;

/**
 * The sources a COPY/ADD names in `tree`: paths are taken relative to the tree's root (a leading `/` or `..`
 * cannot leave it), symlinks on the way are followed inside the tree, wildcards match as Go's filepath.Match.
 */
export function selectSources(tree: SourceTree, patterns: readonly string[], instruction: string, options: { parents?: boolean } = {}): CopySource[] {
  const out: CopySource[] = [];
  for (const pattern of patterns) {
    const cleaned = path.posix.normalize(`/${pattern}`).slice(1).replace(/\/$/, '');
    // --parents keeps the path below a `/./` pivot (the whole path without one).
    const unprefixed = `/${pattern.replace(/^(\.\/)+/, '')}`;
    const pivotAt = unprefixed.indexOf('/./');
    const pivot = pivotAt > 0 ? path.posix.normalize(unprefixed.slice(0, pivotAt)).slice(1) : '';
    const kept = (rel: string) => (options.parents ? { parentPath: pivot && rel.startsWith(`${pivot}/`) ? rel.slice(pivot.length + 1) : rel } : {});
    if (wildcard.test(cleaned)) {
      const matcher = sourceMatcher(cleaned);
      const matched = [...tree.all()].filter((rel) => rel !== '' && matcher.test(rel)).sort();
      for (const rel of matched) {
        // A matched symlink is followed inside the tree, as a named source is (Docker does the same).
        const real = tree.stat(rel)!.isSymbolicLink() ? tree.resolve(rel) : rel;
        const stat = tree.stat(real);
        if (!stat) throw notFound(`${instruction} failed: file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
        out.push({ ...sourceAt(tree, real, stat, path.posix.basename(rel)), ...kept(rel) });
      }
      continue;
    }
    // resolveInRoot never leaves the root: `resolved` is '' or a path below it.
    const resolved = tree.resolve(cleaned);
    const stat = tree.stat(resolved);
    if (!stat) throw notFound(`${instruction} failed: file not found in build context or excluded by .dockerignore: stat ${cleaned || '.'}: file does not exist`);
    out.push({ ...sourceAt(tree, resolved, stat, path.posix.basename(cleaned)), ...kept(cleaned) });
  }
  if (out.length === 0) throw notFound(`${instruction} failed: no source files were specified`);
  return out;
}

function sourceAt(tree: SourceTree, rel: string, stat: fs.BigIntStats, name = path.posix.basename(rel)): CopySource {
  const root = { rel: '', file: tree.file(rel), stat };
  if (!stat.isDirectory()) return { name, root, files: [root] };
  const files: SourceFile[] = [];
  const walk = (below: string) => {
    for (const child of tree.list(join(rel, below))) {
      const childRel = join(below, child);
      const childStat = tree.stat(join(rel, childRel));
      if (!childStat) continue;
      files.push({ rel: childRel, file: tree.file(join(rel, childRel)), stat: childStat });
      if (childStat.isDirectory()) walk(childRel);
    }
  };
  walk('');
  return { name, root, files };
}

/** Go's filepath.Match over a whole `/`-separated path (glob.ts); a bad pattern is a one-line invalid-argument error. */
function sourceMatcher(pattern: string): GlobMatcher {
  try {
    return goMatch(pattern);
  } catch (error) {
    if (error instanceof GlobSyntaxError) throw invalidArgument(`syntax error in pattern: ${excerpt(pattern)}`, { cause: error });
    throw error;
  }
}

/**
 * The checksum Docker's history shows as `file:<hex>`, `dir:<hex>` or `multi:<hex>`: a hash of every source's
 * paths, types, permission bits, link targets and content digests. `digest` gives a file's content digest.
 */
export function sourcesChecksum(sources: readonly CopySource[], digest: (source: CopySource, file: SourceFile) => Digest): string {
  const hash = createHash('sha256');
  for (const source of sources) {
    hash.update(`source ${source.name} ${source.archive ? 'archive' : ''}\n`);
    if (source.content) hash.update(`content ${createHash('sha256').update(source.content).digest('hex')}\n`);
    else {
      for (const file of source.root.stat.isDirectory() ? [source.root, ...source.files] : source.files) {
        const { stat } = file;
        const content = stat.isFile() ? digest(source, file) : '';
        const link = stat.isSymbolicLink() ? fs.readlinkSync(file.file) : '';
        const owner = source.keepOwner ? `${stat.uid}:${stat.gid}` : '';
        hash.update(`${JSON.stringify(file.rel)} ${typeBits(stat)} ${(Number(stat.mode) & 0o7777).toString(8)} ${owner} ${JSON.stringify(link)} ${content}\n`);
      }
    }
  }
  const hex = hash.digest('hex');
  const kind = sources.length > 1 ? 'multi' : sources[0]!.root.stat.isDirectory() && !sources[0]!.content ? 'dir' : 'file';
  return `${kind}:${hex}`;
}


/**
 * Each source file by its path under its source: its type and permission bits and its content digest (a link's
 * target), as `mode rest`: what `build --explain` compares with the last build's.
 */
export function sourceFiles(sources: readonly CopySource[], digest: (source: CopySource, file: SourceFile) => Digest): Record<string, string> {
  const files: Record<string, string> = {};
  for (const source of sources) {
    if (source.content) {
      files[source.name] = `content ${createHash('sha256').update(source.content).digest('hex')}`;
      continue;
    }
    for (const file of source.root.stat.isDirectory() ? [source.root, ...source.files] : source.files) {
      const { stat } = file;
      const rest = stat.isFile() ? digest(source, file) : stat.isSymbolicLink() ? fs.readlinkSync(file.file) : '';
      files[file.rel === '' ? source.name : `${source.name}/${file.rel}`] = `${(Number(stat.mode) & 0o177777).toString(8)} ${rest}`;
    }
  }
  return files;
}
/** Where a COPY/ADD takes its sources from, besides the context: `--from` stages and images. */
export interface SourceOrigins {
  context: BuildContext;
  /** file:line of the instruction, for errors. */
  where: string;
  /** `--from`: the stage's or image's ID and root filesystem. */
  fromImage(ref: string): Promise<{ id: Digest; view: UnionView }>;
  /** `--from` naming a `--build-context` directory: that context; undefined for other names. */
  namedContext?(ref: string): Promise<BuildContext> | undefined;
}

const isUrl = (source: string) => /^https?:\/\//i.test(source);

/** `ADD --checksum=sha256:...`: the downloaded file's digest must be the one given, as BuildKit checks it. */
function verifyChecksum(file: string, expected: string, source: string, where: string): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(expected)) throw invalidArgument(`${where}: invalid checksum "${expected}": expected sha256:<64 hex digits>`);
  const actual = hashFile(file);
  if (actual !== expected) throw invalidArgument(`${where}: checksum mismatch for ${source}: expected ${expected}, got ${actual}`);
}

/**
 * `--exclude=PATTERN`: .dockerignore's syntax (`**`, `!` exceptions), matched against paths below each source
 * directory, and against the name of a source that is a file; what matches is not copied.
 */
function excludeFrom(sources: CopySource[], patterns: readonly string[], where: string): CopySource[] {
  let ignore: DockerIgnore;
  try {
    ignore = DockerIgnore.parse(patterns.join('\n'), '--exclude');
  } catch (error) {
    throw invalidArgument(`${where}: ${(error as Error).message}`, { cause: error });
  }
  return sources.flatMap((source) => {
    if (source.content || !source.root.stat.isDirectory()) return ignore.ignores(source.name) ? [] : [source];
    return [{ ...source, files: source.files.filter((file) => !ignore.ignores(file.rel)) }];
  });
}

/**
 * The sources of a COPY/ADD: from the context, an earlier stage or an image (`--from`), URLs (downloaded to a
 * temp dir that `cleanup` removes), heredocs. ADD marks tar archives to be extracted: local ones unless
 * `--unpack=false`, downloaded ones with `--unpack=true` (BuildKit's rule).
 */
export async function gatherSources(inst: CopyInstruction | AddInstruction, origins: SourceOrigins): Promise<{ sources: CopySource[]; fromImage?: Digest; cleanup: () => void }> {
  const cleanups: (() => void)[] = [];
  const cleanup = () => {
    for (const fn of cleanups.reverse()) fn();
  };
  try {
    const sources: CopySource[] = [];
    let fromImage: Digest | undefined;
    const named = inst.kind === 'COPY' && inst.from !== undefined ? origins.namedContext?.(inst.from) : undefined;
    if (named) {
      const context = await named;
      sources.push(...selectSources(listedTree(context.dir, context.entries()), inst.sources, inst.kind, { parents: inst.kind === 'COPY' && inst.parents }));
    } else if (inst.kind === 'COPY' && inst.from !== undefined) {
      const image = await origins.fromImage(inst.from);
      fromImage = image.id;
      if (inst.sources.length > 0) sources.push(...selectSources(viewTree(image.view), inst.sources, inst.kind, { parents: inst.kind === 'COPY' && inst.parents }).map((s) => ({ ...s, keepOwner: true })));
    } else {
      const { context } = origins;
      const local = inst.sources.filter((s) => !isUrl(s) && !(inst.kind === 'ADD' && isGitSource(s)));
      const selected = local.length > 0 ? selectSources(listedTree(context.dir, context.entries()), local, inst.kind, { parents: inst.kind === 'COPY' && inst.parents }) : [];
      for (const source of inst.sources) {
        if (inst.kind === 'ADD' && isGitSource(source)) {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-add-git-'));
          cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
          const { cloneGitSource } = await import('./git-source.js');
          const repo = await cloneGitSource(source, dir, { keepGitDir: inst.keepGitDir ?? false, ...(inst.checksum !== undefined && { checksum: inst.checksum }), where: origins.where });
          sources.push(...selectSources(listedTree(repo.checkout, repo.entries), [repo.subdir], inst.kind));
          continue;
        }
        if (!isUrl(source)) continue;
        if (inst.kind === 'COPY') throw invalidArgument(`${origins.where}: source can't be a URL for COPY`);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-add-'));
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
        // The tar and HTTP code loads only when a COPY really runs: a cached build never needs it.
        const { downloadSource } = await import('./copy.js');
        const downloaded = await downloadSource(source, dir, inst.kind);
        if (inst.kind === 'ADD' && inst.checksum !== undefined) verifyChecksum(downloaded.root.file, inst.checksum, source, origins.where);
        // A downloaded archive is extracted only when asked (--unpack), a local one unless told not to.
        if (inst.kind === 'ADD' && inst.unpack === true && (await (await import('./copy.js')).isTarArchive(downloaded.root.file))) downloaded.archive = true;
        sources.push(downloaded);
      }
      const { isTarArchive } = inst.kind === 'ADD' && inst.unpack !== false ? await import('./copy.js') : { isTarArchive: undefined };
      for (const source of selected) {
        if (isTarArchive && source.root.stat.isFile() && (await isTarArchive(source.root.file))) source.archive = true;
        sources.push(source);
      }
    }
    for (const content of inst.contents) {
      // A heredoc has no file; the stat stands in for one (only its content and name are used).
      const stat = fs.lstatSync(origins.context.dir, { bigint: true });
      sources.push({ name: content.path, root: { rel: '', file: '', stat }, files: [], content: Buffer.from(content.data) });
    }
    return { sources: inst.exclude.length > 0 ? excludeFrom(sources, inst.exclude, origins.where) : sources, ...(fromImage && { fromImage }), cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}
