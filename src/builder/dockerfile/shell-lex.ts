/**
 * The Dockerfile's own shell-word lexer (after BuildKit's frontend/dockerfile/shell): quotes, the escape token and
 * `$VAR` / `${VAR...}` substitution, the way Docker expands ENV, WORKDIR, COPY and the others. It is not a shell:
 * no globbing, command substitution or arithmetic; RUN is expanded by the shell in the container instead.
 * `${...}` nests at most `maxExpansionDepth` deep, so that no word can overflow the stack.
 */
import { excerpt } from '../../util/text.js';

/** Variables visible to an expansion; a name that is absent is unset (which differs from set to ""). */
export type Env = ReadonlyMap<string, string>;

export interface LexOptions {
  /** `\` (default) or `` ` `` (after `# escape=`). */
  escapeToken?: string;
  /** Keep quote characters in the result (used to tell quoted heredoc delimiters apart). */
  rawQuotes?: boolean;
  /** Keep escape tokens in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of making them empty. */
  skipUnsetEnv?: boolean;
}

export interface LexResult {
  /** The word with quotes removed and variables substituted; spaces between words kept. */
  result: string;
  /** The same, split into words on unquoted whitespace (after substitution, as the shell would). */
  words: string[];
  /** Variables referenced and found, and referenced but unset. */
  matched: Set<string>;
  unmatched: Set<string>;
}

export class ShellLexError extends Error {}

/** How deep `${...}` may nest inside `${...}` (BuildKit has no limit; JavaScript's stack has one). */
export const maxExpansionDepth = 100;

const EOF = '';

export function processWord(word: string, env: Env, options: LexOptions = {}): string {
  return lex(word, env, options).result;
}

export function processWords(word: string, env: Env, options: LexOptions = {}): string[] {
  return lex(word, env, options).words;
}

/** Lexes `word`; throws ShellLexError with BuildKit's message (`failed to process "..": ...`). */
export function lex(word: string, env: Env, options: LexOptions = {}): LexResult {
  const lexer = new Lexer(word, env, options);
  try {
    const { text, words } = lexer.processStopOn(EOF, lexer.rawEscapes);
    return { result: text, words, matched: lexer.matched, unmatched: lexer.unmatched };
  } catch (error) {
    if (error instanceof ShellLexError) throw new ShellLexError(`failed to process ${excerpt(word, 80)}: ${error.message}`, { cause: error });
    throw error;
  }
}

const isSpace = (ch: string) => /^\s$/u.test(ch);
const isLetterOrDigit = (ch: string) => /^[\p{L}\p{Nd}]$/u.test(ch);
const isDigit = (ch: string) => /^\p{Nd}$/u.test(ch);
/** POSIX special parameters; never set in a Dockerfile, but `$@` must not read as `$` followed by `@`. */
const specialParams = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** Collects the word list: unquoted whitespace splits words, quoted text never does. */
class Words {
  private buf = '';
  private inWord = false;
  readonly words: string[] = [];

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length > 0) this.flush();
    } else {
      this.addRaw(ch);
    }
  }
  addRaw(text: string): void {
    this.buf += text;
    this.inWord = true;
  }
  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }
  finish(): string[] {
    if (this.buf.length > 0) this.flush();
    return this.words;
  }
  private flush(): void {
    this.words.push(this.buf);
    this.buf = '';
    this.inWord = false;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  /** `${` levels open at the current position. */
  private depth = 0;
  private readonly escape: string;
  rawEscapes: boolean;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: Env,
    private readonly options: LexOptions,
  ) {
    this.chars = Array.from(word);
    this.escape = options.escapeToken ?? '\\';
    this.rawEscapes = options.rawEscapes ?? false;
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }
  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  /** Reads up to (and consumes) `stop`, or to the end when `stop` is EOF. */
  processStopOn(stop: string, rawEscapes: boolean): { text: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.readUntil(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private readUntil(stop: string): { text: string; words: string[] } {
    let text = '';
    const words = new Words();
    const quotes = !this.options.skipProcessQuotes;
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (stop !== EOF && ch === stop) {
        this.next();
        return { text, words: words.finish() };
      }
      if (ch === '$') {
        const value = this.processDollar();
        text += value;
        words.addString(value);
      } else if (ch === '<') {
        const value = this.processPossibleHeredoc();
        text += value;
        words.addRaw(value);
      } else if (quotes && (ch === "'" || ch === '"')) {
        const value = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        text += value;
        words.addRaw(value);
      } else {
        let c = this.next();
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRaw(c);
            text += c;
          }
          c = this.next();
          if (c === EOF) break; // an escape at the very end is dropped
          words.addRaw(c);
        } else {
          words.addChar(c);
        }
        text += c;
      }
    }
    if (stop !== EOF) throw new ShellLexError(`unexpected end of statement while looking for matching ${stop}`);
    return { text, words: words.finish() };
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a single quote cannot be escaped inside.
    let result = '';
    const open = this.next();
    if (this.options.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new ShellLexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.options.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except `$` and the escape token, which escapes only `"`, `$` and itself.
    let result = '';
    const open = this.next();
    if (this.options.rawQuotes) result += open;
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) throw new ShellLexError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        if (this.options.rawQuotes) result += ch;
        return result;
      }
      if (ch === '$') {
        result += this.processDollar();
        continue;
      }
      let c = this.next();
      if (c === this.escape) {
        if (this.rawEscapes) result += c;
        const after = this.peek();
        if (after === EOF) continue;
        if (after === '"' || after === '$' || after === this.escape) c = this.next();
      }
      result += c;
    }
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') return this.processVariable();
    if (this.depth >= maxExpansionDepth) throw new ShellLexError(`variable expansion nested too deeply (more than ${maxExpansionDepth} levels)`);
    this.depth++;
    try {
      return this.processBraces();
    } finally {
      this.depth--;
    }
  }

  /** `$NAME` (the `$` read). */
  private processVariable(): string {
    const name = this.processName();
    if (name === '') return '$';
    const value = this.getEnv(name);
    if (value === undefined && this.options.skipUnsetEnv) return `$${name}`;
    return value ?? '';
  }

  /** `${...}` (the `$` read, `{` next). */
  private processBraces(): string {
    this.next();
    const first = this.peek();
    if (first === EOF) throw new ShellLexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ShellLexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let modifier = ch;
    if (ch === '}') {
      const value = this.getEnv(name);
      if (value === undefined && this.options.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === '/') return this.processReplace(name);
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch;
    }
    if (ch === EOF) throw new ShellLexError("syntax error: missing '}'");
    if (!nullIsUnset && !'+-?#%'.includes(ch)) throw new ShellLexError(`unsupported modifier (${modifier}) in substitution`);
    const patternModifier = ch === '#' || ch === '%';
    if (nullIsUnset && patternModifier) throw new ShellLexError(`unsupported modifier (${modifier}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn('}', patternModifier).text;
    } catch (error) {
      if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'", { cause: error });
      throw error;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.options.skipUnsetEnv) return `\${${name}${modifier}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return unset ? word : value!;
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw new ShellLexError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (unset) throw new ShellLexError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        const greedy = word.startsWith(ch);
        const pattern = greedy ? word.slice(1) : word;
        return ch === '#' ? trimPrefix(pattern, value ?? '', greedy) : trimSuffix(pattern, value ?? '', greedy);
      }
      default:
        throw new ShellLexError(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    let replacement: string;
    try {
      pattern = this.processStopOn('/', true).text;
    } catch (error) {
      if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '/' in ${}", { cause: error });
      throw error;
    }
    try {
      replacement = this.processStopOn('}', true).text;
    } catch (error) {
      if (this.peek() === EOF) throw new ShellLexError("syntax error: missing '}'", { cause: error });
      throw error;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    return replacePattern(pattern, value ?? '', replacement, all);
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== EOF; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        // Positional parameters ($1, $999) are never set; read every digit so `$1x` leaves `x`.
        while (isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && specialParams.has(ch)) return this.next();
      if (!isLetterOrDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    // Keep `<< EOF` whole so the parser can still find the heredoc word in it.
    let space = '';
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === '\r') space += this.next();
    return `<<${space}`;
  }

  private getEnv(name: string): string | undefined {
    const value = this.env.get(name);
    (value === undefined ? this.unmatched : this.matched).add(name);
    return value;
  }
}

type PatternToken = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; char: string };

/** A shell pattern (`*`, `?`, `\` escapes; no brackets) as tokens; a run of stars is one star. */
function parsePattern(pattern: string): PatternToken[] {
  const chars = Array.from(pattern);
  const tokens: PatternToken[] = [];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (ch === '?') tokens.push({ kind: 'any' });
    else if (ch === '\\') {
      const next = chars[i + 1];
      // `\}` and `\/` inside ${} only protect the delimiter; they are not part of the pattern.
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new ShellLexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? ''}'`);
      }
      tokens.push({ kind: 'char', char: next });
      i++;
    } else tokens.push({ kind: 'char', char: ch });
  }
  return tokens;
}

/**
 * The leftmost match of a pattern in `chars` at or after `from` (at `from` only when anchored), the longest
 * (greedy) or the shortest from that start: [start, end]. A simulation of the pattern's automaton, every start at
 * once (Pike's VM), so the time is linear in the text times the pattern, where a backtracking regular expression
 * of `*a*a*a*b` over a long value takes exponential time.
 */
function findPattern(tokens: PatternToken[], chars: string[], from: number, anchored: boolean, greedy: boolean): [number, number] | undefined {
  const states = tokens.length + 1;
  let starts = new Int32Array(states).fill(-1);
  let best: [number, number] | undefined;
  const add = (set: Int32Array, state: number, start: number) => {
    for (let s = state; s < states; s++) {
      if (set[s] !== -1 && set[s]! <= start) return;
      set[s] = start;
      if (tokens[s]?.kind !== 'star') return; // a star also matches nothing: the next state is reached too
    }
  };
  for (let at = from; ; at++) {
    if (!best && (!anchored || at === from)) add(starts, 0, at);
    const accepted = starts[states - 1]!;
    if (accepted !== -1 && (!best || accepted < best[0] || (greedy && accepted === best[0]))) best = [accepted, at];
    if (best) for (let s = 0; s < states; s++) if (starts[s]! > best[0]) starts[s] = -1;
    const alive = starts.some((start, s) => start !== -1 && s < states - 1 && (!best || (greedy ? start <= best[0] : start < best[0])));
    if (at === chars.length || !alive) return best;
    const next = new Int32Array(states).fill(-1);
    for (let s = 0; s < states - 1; s++) {
      const start = starts[s]!;
      if (start === -1) continue;
      const token = tokens[s]!;
      if (token.kind === 'star') add(next, s, start);
      else if (token.kind === 'any' || token.char === chars[at]) add(next, s + 1, start);
    }
    starts = next;
  }
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const chars = Array.from(value);
  const match = findPattern(parsePattern(pattern), chars, 0, true, greedy);
  return match ? chars.slice(match[1]).join('') : value;
}

/** `${name/pattern/replacement}`: the first match (every match with `all`) replaced; an empty match advances by one character. */
function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const tokens = parsePattern(pattern);
  const chars = Array.from(value);
  let out = '';
  let at = 0;
  while (at <= chars.length) {
    const match = findPattern(tokens, chars, at, false, true);
    if (!match) break;
    out += chars.slice(at, match[0]).join('') + replacement;
    at = match[1];
    if (match[1] === match[0]) {
      if (at < chars.length) out += chars[at];
      at++;
    }
    if (!all) break;
  }
  return out + chars.slice(at).join('');
}

/** Shortest or longest suffix match: reverse the pattern (keeping escapes before their character) and the value. */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const chars = Array.from(pattern);
  const tokens: string[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (chars[i] === '\\' && i + 1 < chars.length) tokens.push(chars[i]! + chars[++i]!);
    else tokens.push(chars[i]!);
  }
  const reversed = tokens.reverse().join('');
  const reverse = (text: string) => Array.from(text).reverse().join('');
  return reverse(trimPrefix(reversed, reverse(value), greedy));
}
