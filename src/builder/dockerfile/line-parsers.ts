/**
 * Per-instruction splitting of a joined line into keyword, flags and arguments (BuildKit's line parsers). Nothing
 * here expands variables or removes quotes from arguments; that is the instruction step's job.
 */
import { LineError } from './ast.js';

const whitespace = /[\t\v\f\r ]+/;
const isSpace = (ch: string) => /^\s$/u.test(ch);

export interface SplitLine {
  keyword: string;
  flags: string[];
  args: string[];
  json: boolean;
  /** The argument text after the flags (ONBUILD parses it again as an instruction). */
  rest: string;
}

type LineParser = (rest: string, escape: string) => { args: string[]; json: boolean };

const parsers: Record<string, LineParser> = {
  add: maybeJsonToList,
  arg: (rest, escape) => ({ args: parseWords(rest, escape), json: false }),
  cmd: maybeJson,
  copy: maybeJsonToList,
  entrypoint: maybeJson,
  env: (rest, escape) => ({ args: parseNameVal(rest, 'ENV', escape), json: false }),
  expose: (rest) => ({ args: splitWhitespace(rest), json: false }),
  from: (rest) => ({ args: splitWhitespace(rest), json: false }),
  healthcheck: parseHealthConfig,
  label: (rest, escape) => ({ args: parseNameVal(rest, 'LABEL', escape), json: false }),
  maintainer: wholeString,
  run: maybeJson,
  shell: maybeJson,
  stopsignal: wholeString,
  user: wholeString,
  volume: maybeJsonToList,
  workdir: wholeString,
};

/** Splits one joined instruction line. Unknown keywords get no arguments; the instruction step rejects them. */
export function splitLine(line: string, escape: string): SplitLine {
  const trimmed = line.trim();
  const match = whitespace.exec(trimmed);
  const keyword = match ? trimmed.slice(0, match.index) : trimmed;
  const afterKeyword = match ? trimmed.slice(match.index + match[0].length) : '';
  const { rest, flags } = extractFlags(afterKeyword, escape);
  const args = rest.trim();
  const lower = keyword.toLowerCase();
  if (lower === 'onbuild') return { keyword, flags, args: [], json: false, rest: args };
  const parser = parsers[lower];
  const parsed = parser ? parser(args, escape) : { args: [], json: false };
  return { keyword, flags, ...parsed, rest: args };
}

/** Leading `--flag[=value]` words; a bare `--` ends them. Quotes and escapes in flags are removed here. */
export function extractFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isSpace(line[pos]!)) pos++;
    if (pos >= line.length) return { rest: '', flags };
    if (!line.startsWith('--', pos)) return { rest: line.slice(pos), flags };
    let word = '';
    let quote = '';
    let quoted = false;
    for (; pos < line.length; pos++) {
      let ch = line[pos]!;
      if (quote === '' && isSpace(ch)) break;
      if (quote === '' && (ch === "'" || ch === '"')) {
        quote = ch;
        quoted = true;
        continue;
      }
      if (quote !== '' && ch === quote) {
        quote = '';
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) {
          quote = '';
          continue;
        }
        ch = line[++pos]!;
      }
      word += ch;
    }
    if (word === '--') return { rest: line.slice(pos), flags };
    if (quoted || word.length > 0) flags.push(word);
  }
}

/**
 * Splits on unquoted whitespace, keeping quotes and escape tokens in the words (they are removed when the
 * words are expanded). An escape token at the very end of the line is dropped.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOk = false;
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i]!;
    if (quote === '') {
      if (isSpace(ch)) {
        if (inWord && (blankOk || word.length > 0)) words.push(word);
        word = '';
        inWord = false;
        blankOk = false;
        continue;
      }
      inWord = true;
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (i + 1 === chars.length) continue;
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) {
      quote = '';
    } else if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) {
        quote = '';
        continue;
      }
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  if (inWord && (blankOk || word.length > 0)) words.push(word);
  return words;
}

/** `KEY name=value ...` or the legacy `KEY name value`, as triples of name, value and `=` (or `` for legacy). */
function parseNameVal(rest: string, key: string, escape: string): string[] {
  const words = parseWords(rest, escape);
  if (words.length === 0) return [];
  if (!words[0]!.includes('=')) {
    const match = whitespace.exec(rest);
    if (!match) throw new LineError(`${key} must have two arguments`);
    return [rest.slice(0, match.index), rest.slice(match.index + match[0].length), ''];
  }
  const triples: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) throw new LineError(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    triples.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return triples;
}

function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(whitespace);
}

function wholeString(rest: string): { args: string[]; json: boolean } {
  return { args: rest === '' ? [] : [rest], json: false };
}

class NotStringArray extends LineError {}

/** A JSON array of strings, or undefined when the text is not JSON at all (then it is shell form). */
function parseJsonArray(rest: string): string[] | undefined {
  const text = rest.trimStart();
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((item) => typeof item === 'string')) {
    throw new NotStringArray('when using JSON array syntax, arrays must be comprised of strings only');
  }
  return value as string[];
}

function maybeJson(rest: string): { args: string[]; json: boolean } {
  if (rest === '') return { args: [], json: false };
  const array = parseJsonArray(rest);
  return array ? { args: array, json: true } : { args: [rest], json: false };
}

function maybeJsonToList(rest: string): { args: string[]; json: boolean } {
  const array = parseJsonArray(rest);
  return array ? { args: array, json: true } : { args: splitWhitespace(rest), json: false };
}

/** `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD command`: the type word, then the command in either form. */
function parseHealthConfig(rest: string): { args: string[]; json: boolean } {
  const match = /\s+/.exec(rest);
  const type = match ? rest.slice(0, match.index) : rest;
  if (type === '') return { args: [], json: false };
  const command = maybeJson(match ? rest.slice(match.index + match[0].length) : '');
  return { args: [type, ...command.args], json: command.json };
}
