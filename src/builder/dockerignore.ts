/**
 * .dockerignore as Docker reads and matches it (moby/patternmatcher and its ignorefile.ReadAll): one pattern a
 * line, `#` comments, patterns trimmed and cleaned as Go's filepath.Clean (a leading `/` dropped), `!` for an
 * exception; a path is excluded when the last pattern that matches it or one of its parent directories is not an
 * exception. Matching is Go's filepath.Match, case-sensitive, with `**` for any number of directories. Pure.
 */
import { invalidArgument } from '../errors.js';
import { excerpt } from '../util/text.js';
import { GlobSyntaxError, type MobyPattern, mobyPattern } from './glob.js';

export interface IgnorePattern {
  /** The cleaned pattern, without its `!`. */
  pattern: string;
  /** `!pattern`: an exception, re-including what earlier patterns excluded. */
  exclusion: boolean;
  /** Its line in the file (1-based). */
  line: number;
  matcher: MobyPattern;
}

/** bufio.Scanner's limit on a line, which Docker's reader fails on. */
const maxLineBytes = 64 * 1024 - 1;

/** unicode.IsSpace, for strings.TrimSpace. */
const goSpace = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const trimSpace = (text: string) => text.replace(new RegExp(`^${goSpace}+|${goSpace}+$`, 'gu'), '');

/** Go's path.Clean: `.` and empty segments dropped, `..` resolved where it can be, no trailing `/`. */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(segment);
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

/**
 * The patterns of a .dockerignore file, as ignorefile.ReadAll and patternmatcher.New take them; a bad one is a
 * one-line error naming it and its line.
 */
export function parseDockerignore(text: string, file = '.dockerignore'): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    let pattern = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && pattern.startsWith('\ufeff')) pattern = pattern.slice(1);
    if (Buffer.byteLength(pattern) > maxLineBytes) throw invalidArgument(`error reading ${file}: line ${line} is longer than 64 KiB`);
    if (pattern.startsWith('#')) return;
    pattern = trimSpace(pattern);
    if (pattern === '') return;
    // ReadAll: an absolute path is relative to the context; then patternmatcher.New cleans it once more.
    const invert = pattern.startsWith('!');
    if (invert) pattern = trimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    pattern = cleanPath(trimSpace(invert ? `!${pattern}` : pattern));
    const where = `error checking context: ${file}, line ${line}`;
    const exclusion = pattern.startsWith('!');
    if (exclusion) {
      if (pattern.length === 1) throw invalidArgument(`${where}: illegal exclusion pattern: "!"`);
      pattern = pattern.slice(1);
    }
    let matcher: MobyPattern;
    try {
      matcher = mobyPattern(pattern);
    } catch (error) {
      if (error instanceof GlobSyntaxError) throw invalidArgument(`${where}: syntax error in pattern ${excerpt(pattern)}`, { cause: error });
      throw error;
    }
    patterns.push({ pattern, exclusion, line, matcher });
  });
  return patterns;
}

/**
 * Which patterns match a path or one of its parent directories: what a directory passes to its children, so
 * that a walk tests each path against each pattern once.
 */
export type Matches = readonly boolean[];

export class DockerIgnore {
  readonly hasExceptions: boolean;

  constructor(readonly patterns: readonly IgnorePattern[]) {
    this.hasExceptions = patterns.some((p) => p.exclusion);
  }

  static parse(text: string, file?: string): DockerIgnore {
    return new DockerIgnore(parseDockerignore(text, file));
  }

  /** The patterns matching `rel` or a parent, given those matching its parent directory (`parent`). */
  matches(rel: string, parent?: Matches): boolean[] {
    const parents = parent ? undefined : ancestors(rel);
    return this.patterns.map((p, i) => (parent ? parent[i]! : parents!.some((dir) => p.matcher.test(dir))) || p.matcher.test(rel));
  }

  /** Whether the last pattern among `matches` is an exclusion one (patternmatcher's MatchesOrParentMatches). */
  excluded(matches: Matches): boolean {
    for (let i = this.patterns.length - 1; i >= 0; i--) if (matches[i]) return !this.patterns[i]!.exclusion;
    return false;
  }

  /** Whether a path of the context (`/`-separated, relative) is left out. */
  ignores(rel: string): boolean {
    return this.excluded(this.matches(rel));
  }

  /** Whether something below an excluded directory could be re-included by an exception, so it must be walked. */
  mayReinclude(dir: string): boolean {
    return this.patterns.some((p) => p.exclusion && p.matcher.couldMatchUnder(`${dir}/`));
  }
}

/** `a/b/c` -> `a`, `a/b`. */
function ancestors(rel: string): string[] {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}
