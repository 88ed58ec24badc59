/**
 * Dockerfile text -> AST (after BuildKit's frontend/dockerfile/parser): parser directives, line continuations
 * (comment and empty lines inside them are skipped), heredoc bodies, and per-instruction argument splitting.
 * Nothing here knows what an instruction means; an unknown keyword still makes a node.
 */
import { type AstResult, type Directive, DockerfileError, type Heredoc, LineError, type Node, type ParseWarning } from './ast.js';
import { heredocsFromLine } from './heredoc.js';
import { splitLine } from './line-parsers.js';
import { escapeRegExp } from '../../util/text.js';

const validDirectives = new Set(['syntax', 'escape', 'check']);
const directivePattern = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const heredocInstructions = new Set(['add', 'copy', 'run']);

/** Reads `# key=value` lines until the first line that is not one. */
class DirectiveReader {
  private done = false;
  readonly found: Directive[] = [];

  /** The directive on this line, if the file is still in its directive header. */
  read(line: string, lineNumber: number): Directive | undefined {
    if (this.done) return undefined;
    const match = line.startsWith('#') ? directivePattern.exec(line.slice(1).trimStart()) : null;
    const name = match?.[1]?.toLowerCase();
    if (!match || name === undefined || !validDirectives.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.found.some((d) => d.name === name)) throw new LineError(`only one ${name} parser directive can be used`);
    const directive = { name, value: match[2]!, line: lineNumber };
    this.found.push(directive);
    return directive;
  }
}

/** Lines with their endings kept, so heredoc content is byte-faithful. */
function splitLines(text: string): string[] {
  const lines = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  if (lines.length > 0) lines[0] = lines[0]!.replace(/^\uFEFF/, '');
  return lines;
}

const trimNewline = (line: string) => line.replace(/[\r\n]+$/, '');
const isComment = (line: string) => line.trimStart().startsWith('#');
const isBlank = (line: string) => trimNewline(line).trimStart() === '';

function continuationPattern(escape: string): RegExp {
  const e = escapeRegExp(escape);
  // The escape token as the last non-blank character continues the line, unless it is itself escaped.
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

export function parseAst(text: string, fileName = 'Dockerfile'): AstResult {
  const lines = splitLines(text);
  const directives = new DirectiveReader();
  const nodes: Node[] = [];
  const warnings: ParseWarning[] = [];
  let escape = '\\';
  let continuation = continuationPattern(escape);
  const fail = (line: number, message: string, cause?: Error): never => {
    throw new DockerfileError(fileName, line, message, 'parse', cause && { cause });
  };

  /** A raw line without its newline, comment lines blanked; directives recorded on the way. */
  const processLine = (index: number, stripLeft: boolean): string => {
    let line = trimNewline(lines[index]!);
    if (stripLeft) line = line.trimStart();
    try {
      const directive = directives.read(line, index + 1);
      if (directive?.name === 'escape') {
        if (directive.value !== '`' && directive.value !== '\\') {
          throw new LineError(`invalid escape token '${directive.value}' does not match \` or \\`);
        }
        escape = directive.value;
        continuation = continuationPattern(escape);
      }
    } catch (error) {
      if (error instanceof LineError) fail(index + 1, error.message, error);
      throw error;
    }
    return isComment(line) ? '' : line;
  };
  const trimContinuation = (line: string): [string, boolean] =>
    continuation.test(line) ? [line.replace(continuation, '$1'), false] : [line, true];

  let i = 0;
  while (i < lines.length) {
    const startLine = i + 1;
    let [joined, ended] = trimContinuation(processLine(i, true));
    i++;
    if (ended && joined === '') continue;
    let emptyContinuation = false;
    while (!ended && i < lines.length) {
      const processed = processLine(i, false);
      const raw = lines[i]!;
      i++;
      if (isComment(raw)) continue;
      if (isBlank(processed)) {
        emptyContinuation = true;
        continue;
      }
      let part: string;
      [part, ended] = trimContinuation(processed);
      joined += part;
    }
    if (emptyContinuation) warnings.push({ message: `Empty continuation line found in: ${joined}`, line: i });

    let node: Node;
    try {
      node = makeNode(joined, escape, startLine, i);
    } catch (error) {
      if (error instanceof LineError) fail(startLine, error.message, error);
      throw error;
    }
    const holder = node.trigger ?? node;
    if (heredocInstructions.has(holder.keyword.toLowerCase()) && !holder.json && joined.includes('<<')) {
      for (const doc of heredocsFromLine(joined)) {
        const read = readHeredoc(lines, i, doc.name, doc.chomp);
        if (!read) fail(startLine, 'unterminated heredoc');
        holder.heredocs.push({ ...doc, content: read!.content });
        i = read!.next;
      }
      node.endLine = i;
      if (node.trigger) node.trigger.endLine = i;
    }
    nodes.push(node);
  }
  if (nodes.length === 0) fail(Math.max(lines.length, 1), 'file with no instructions');
  return { directives: directives.found, escapeToken: escape, nodes, warnings };
}

/** Content lines from `start` up to the delimiter line; undefined when the file ends first. */
function readHeredoc(lines: string[], start: number, name: string, chomp: boolean): { content: string; next: number } | undefined {
  let content = '';
  for (let j = start; j < lines.length; j++) {
    let candidate = trimNewline(lines[j]!);
    if (chomp) candidate = candidate.replace(/^\t+/, '');
    if (candidate === name) return { content, next: j + 1 };
    content += lines[j]!;
  }
  return undefined;
}

function makeNode(line: string, escape: string, startLine: number, endLine: number): Node {
  const split = splitLine(line, escape);
  const node: Node = {
    keyword: split.keyword,
    flags: split.flags,
    args: split.args,
    json: split.json,
    heredocs: [] as Heredoc[],
    original: line,
    startLine,
    endLine,
  };
  if (split.keyword.toLowerCase() === 'onbuild' && split.rest !== '') {
    const trigger = makeNode(split.rest, escape, startLine, endLine);
    node.trigger = trigger;
    node.args = [trigger.keyword, ...trigger.args];
    node.json = trigger.json;
  }
  return node;
}
