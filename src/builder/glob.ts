/**
 * Go's filepath.Match on `/`-separated paths, and moby/patternmatcher's `**` on top of it (for .dockerignore):
 * one parser for the syntax (Go's, with its ErrBadPattern cases) and one matcher, a linear-time simulation of
 * the pattern as an automaton, so that no pattern, however long or starry, can take exponential time.
 */
import { StrataError } from '../errors.js';

/** One piece of a pattern. */
type Token =
  | { kind: 'char'; char: string }
  /** `?`: one character but `/`. */
  | { kind: 'any' }
  /** `*`: any run of characters but `/`. */
  | { kind: 'star' }
  /** `[...]`: one character (a `/` too, as Go's) in the ranges, or not in them. */
  | { kind: 'class'; negated: boolean; ranges: [number, number][] }
  /** moby's `**` followed by more of the pattern: nothing, or anything that ends in a slash. */
  | { kind: 'dirs' }
  /** moby's `**` at the end: anything (`.*`). */
  | { kind: 'rest' };

/** Go's filepath.ErrBadPattern. */
export class GlobSyntaxError extends StrataError {
  constructor() {
    super('invalid-argument', 'syntax error in pattern');
    this.name = 'GlobSyntaxError';
  }
}

export interface ParsedGlob {
  tokens: Token[];
  /** Escapes or classes were used (moby then compiles a regular expression, never a plain comparison). */
  special: boolean;
  /** `**` came first (moby's position 0). */
  leadingDirs: boolean;
}

/** Go's getEsc: one character of a class, `\`-escaped or not; `-` and `]` cannot start one, it must not end the pattern. */
function classChar(chars: string[], i: number): [number, number] {
  let j = i;
  if (j >= chars.length || chars[j] === '-' || chars[j] === ']') throw new GlobSyntaxError();
  if (chars[j] === '\\') {
    j++;
    if (j >= chars.length) throw new GlobSyntaxError();
  }
  const code = chars[j]!.codePointAt(0)!;
  if (j + 1 >= chars.length) throw new GlobSyntaxError();
  return [code, j + 1];
}

/**
 * Parses a pattern with Go's filepath.Match syntax (a bad pattern throws GlobSyntaxError, wherever the fault is,
 * as Go since 1.16 checks the whole pattern); with `doubleStar`, `**` is moby's (`**` then `/` counts as one).
 */
export function parseGlob(pattern: string, doubleStar = false): ParsedGlob {
  const chars = [...pattern];
  const tokens: Token[] = [];
  let special = false;
  let leadingDirs = false;
  for (let i = 0; i < chars.length; ) {
    const char = chars[i]!;
    if (char === '*') {
      if (doubleStar && chars[i + 1] === '*') {
        if (i === 0) leadingDirs = true;
        i += 2;
        if (chars[i] === '/') i++;
        tokens.push({ kind: i >= chars.length ? 'rest' : 'dirs' });
      } else {
        tokens.push({ kind: 'star' });
        i++;
      }
    } else if (char === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (char === '\\') {
      if (i + 1 >= chars.length) throw new GlobSyntaxError();
      tokens.push({ kind: 'char', char: chars[i + 1]! });
      special = true;
      i += 2;
    } else if (char === '[') {
      let j = i + 1;
      let negated = false;
      if (chars[j] === '^') {
        negated = true;
        j++;
      }
      const ranges: [number, number][] = [];
      for (;;) {
        if (chars[j] === ']' && ranges.length > 0) {
          j++;
          break;
        }
        const [lo, afterLo] = classChar(chars, j);
        j = afterLo;
        let hi = lo;
        if (chars[j] === '-') [hi, j] = classChar(chars, j + 1);
        ranges.push([lo, hi]);
      }
      tokens.push({ kind: 'class', negated, ranges });
      special = true;
      i = j;
    } else {
      tokens.push({ kind: 'char', char });
      i++;
    }
  }
  return { tokens, special, leadingDirs };
}

/** Whether a token (not `**`) can consume `char`. */
function consumes(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'char':
      return token.char === char;
    case 'any':
    case 'star':
      return char !== '/';
    case 'class': {
      const code = char.codePointAt(0)!;
      return token.ranges.some(([lo, hi]) => lo <= code && code <= hi) !== token.negated;
    }
    case 'dirs':
    case 'rest':
      return true;
  }
}

/**
 * Runs the pattern over `chars` as a set of states, each char once: O(path length x pattern length). State i is
 * "before token i" (`tokens.length`: done); a `**` token has a second state, "inside it", from which only a `/`
 * leads on. Returns the states reached after the last char (undefined when none is).
 */
function run(tokens: readonly Token[], chars: Iterable<string>): Uint8Array | undefined {
  const n = tokens.length;
  let before = new Uint8Array(n + 1);
  let inside = new Uint8Array(n);
  let nextBefore = new Uint8Array(n + 1);
  let nextInside = new Uint8Array(n);
  // Star and `**` may match nothing: one ascending pass adds the states after them (epsilon moves go forward).
  const close = (set: Uint8Array) => {
    for (let i = 0; i < n; i++) {
      const kind = tokens[i]!.kind;
      if (set[i] && (kind === 'star' || kind === 'dirs' || kind === 'rest')) set[i + 1] = 1;
    }
  };
  before[0] = 1;
  close(before);
  for (const char of chars) {
    nextBefore.fill(0);
    nextInside.fill(0);
    let alive = false;
    for (let i = 0; i < n; i++) {
      const token = tokens[i]!;
      if (token.kind === 'dirs') {
        if (!before[i] && !inside[i]) continue;
        alive = true;
        nextInside[i] = 1;
        if (char === '/') nextBefore[i + 1] = 1;
        continue;
      }
      if (!before[i] || !consumes(token, char)) continue;
      alive = true;
      if (token.kind === 'star' || token.kind === 'rest') nextBefore[i] = 1;
      else nextBefore[i + 1] = 1;
    }
    if (!alive) return undefined;
    close(nextBefore);
    [before, nextBefore] = [nextBefore, before];
    [inside, nextInside] = [nextInside, inside];
  }
  return before;
}

export interface GlobMatcher {
  /** Whether the whole of `path` matches. */
  test(path: string): boolean;
}

function matcher(tokens: readonly Token[]): GlobMatcher {
  if (tokens.every((t) => t.kind === 'char')) {
    const literal = tokens.map((t) => (t as { char: string }).char).join('');
    return { test: (path) => path === literal };
  }
  return { test: (path) => run(tokens, path)?.[tokens.length] === 1 };
}

/**
 * Go's filepath.Match(pattern, path) as a matcher: `*` and `?` never match `/`, `[...]` classes (`^` negates),
 * `\` escapes. Throws GlobSyntaxError for a bad pattern.
 */
export function goMatch(pattern: string): GlobMatcher {
  return matcher(parseGlob(pattern).tokens);
}

/**
 * A moby/patternmatcher pattern (already cleaned): filepath.Match's syntax, where `**` matches any number of
 * path segments. As moby, a pattern that starts with `**` followed by plain text matches paths ending in that
 * text (`**.log` matches `a/b.log`), and `**` alone everything.
 */
export interface MobyPattern extends GlobMatcher {
  /** Whether the pattern could match some path that starts with `prefix` (a directory and `/`). */
  couldMatchUnder(prefix: string): boolean;
}

export function mobyPattern(pattern: string): MobyPattern {
  const { tokens, special, leadingDirs } = parseGlob(pattern, true);
  const rest = tokens.slice(1);
  if (leadingDirs && !special && rest.every((t) => t.kind === 'char')) {
    // moby's suffixMatch: `**` then literal text.
    const suffix = [...pattern].slice(2).join('');
    return {
      test: (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1)),
      couldMatchUnder: () => true,
    };
  }
  const { test } = matcher(tokens);
  return { test, couldMatchUnder: (prefix) => run(tokens, prefix) !== undefined };
}
