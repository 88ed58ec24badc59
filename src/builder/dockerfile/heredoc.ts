/** Finding here-documents in an instruction line (`<<EOF`, `<<-EOF`, `3<<EOF`, `<<"EOF"`, `<<'EOF'`). */
import type { Heredoc } from './ast.js';
import { lex, ShellLexError } from './shell-lex.js';

const heredocWord = /^(\d*)<<(-?)\s*([^<]*)$/;
const noEnv: ReadonlyMap<string, string> = new Map();

/**
 * The heredoc a word starts, if it is one (`<<EOF`), without content. A delimiter with any quoted part turns
 * expansion of the content off, as in the shell. Heredoc words always use `\` as their escape.
 */
export function parseHeredocWord(word: string): Omit<Heredoc, 'content'> | undefined {
  const match = heredocWord.exec(word);
  if (!match || match[3] === '') return undefined;
  const rest = match[3]!;
  let plain: string[];
  let raw: string[];
  try {
    plain = lex(rest, noEnv, { skipUnsetEnv: true }).words;
    raw = lex(rest, noEnv, { skipUnsetEnv: true, rawQuotes: true }).words;
  } catch (error) {
    if (error instanceof ShellLexError) return undefined;
    throw error;
  }
  if (plain.length !== 1) return undefined;
  const quotes = (text: string) => (text.match(/['"]/g) ?? []).length;
  return {
    name: plain[0]!,
    fileDescriptor: match[1] === '' ? 0 : Number(match[1]),
    expand: quotes(plain[0]!) === quotes(raw[0] ?? ''),
    chomp: match[2] === '-',
  };
}

/** Every heredoc an instruction line opens, in order. A line that does not lex has none. */
export function heredocsFromLine(line: string): Omit<Heredoc, 'content'>[] {
  let words: string[];
  try {
    words = lex(line, noEnv, { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).words;
  } catch (error) {
    if (error instanceof ShellLexError) return [];
    throw error;
  }
  const docs: Omit<Heredoc, 'content'>[] = [];
  for (const word of words) {
    const doc = parseHeredocWord(word);
    if (doc) docs.push(doc);
  }
  return docs;
}

/** `<<-` content: leading tabs removed from every line. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}
