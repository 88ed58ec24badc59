/**
 * Go's text/template, as Docker's `--format` uses it: the lexer, parser and executor ported from Go's
 * text/template and text/template/parse, with their error messages (`template: :1: unclosed action`,
 * `template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type ...`), and Go's built-in functions.
 * Pure: the caller gives the functions beyond the built-ins (Docker's `json`, `join`, ...) and the data.
 *
 * Data is JavaScript's (see gofmt.ts for how values map to Go's): an object is a map (a missing key is
 * `<no value>`, or an error with `missingKey: 'error'`), or a struct when tagged with `withGoType` (an unknown
 * field is an error); a function-valued field is a method, called with the action's arguments.
 *
 * Nesting is bounded (blocks and parentheses, template calls): a deep template fails with a short error
 * instead of overflowing the stack.
 */
import { invalidArgument, StrataError } from '../errors.js';
import { formatV, goType, goTypeOf, isNil, isStruct, printValue, quote, sortedKeys, sprint, sprintf, sprintln } from './gofmt.js';

/** How deep blocks ({{if}}, {{range}}, {{with}}, {{define}}, {{block}}) and parentheses may nest in a template. */
export const maxNesting = 100;
/** How deep {{template}} calls may nest at execution. */
export const maxTemplateDepth = 100;

// ---------------------------------------------------------------------------------------------------------------
// Lexer (text/template/parse/lex.go)

type ItemType =
  | 'error'
  | 'bool'
  | 'char'
  | 'charConstant'
  | 'comment'
  | 'complex'
  | 'assign'
  | 'declare'
  | 'eof'
  | 'field'
  | 'identifier'
  | 'leftDelim'
  | 'leftParen'
  | 'number'
  | 'pipe'
  | 'rawString'
  | 'rightDelim'
  | 'rightParen'
  | 'space'
  | 'string'
  | 'text'
  | 'variable'
  // keywords
  | 'block'
  | 'break'
  | 'continue'
  | 'dot'
  | 'define'
  | 'else'
  | 'end'
  | 'if'
  | 'nil'
  | 'range'
  | 'template'
  | 'with';

const keywords: Record<string, ItemType> = {
  '.': 'dot',
  block: 'block',
  break: 'break',
  continue: 'continue',
  define: 'define',
  else: 'else',
  end: 'end',
  if: 'if',
  range: 'range',
  nil: 'nil',
  template: 'template',
  with: 'with',
};
const keywordTypes = new Set(Object.values(keywords));

interface Item {
  type: ItemType;
  pos: number;
  val: string;
  line: number;
}

/** An item as the parser names it in "unexpected ... in ...". */
function itemString(item: Item): string {
  if (item.type === 'eof') return 'EOF';
  if (item.type === 'error') return item.val;
  if (keywordTypes.has(item.type)) return `<${item.val}>`;
  const chars = [...item.val];
  if (chars.length > 10) return `${quote(chars.slice(0, 10).join(''))}...`;
  return quote(item.val);
}

const EOF = '';
const spaceChars = ' \t\r\n';
const isSpace = (r: string) => r !== EOF && spaceChars.includes(r);
const isAlphaNumeric = (r: string) => r === '_' || /^[\p{L}\p{Nd}]$/u.test(r);
const hasLeftTrimMarker = (s: string) => s.length >= 2 && s[0] === '-' && isSpace(s[1]!);
const hasRightTrimMarker = (s: string) => s.length >= 2 && isSpace(s[0]!) && s[1] === '-';
const rightTrimLength = (s: string) => s.length - s.replace(/[ \t\r\n]+$/, '').length;
const leftTrimLength = (s: string) => s.length - s.replace(/^[ \t\r\n]+/, '').length;
const countNewlines = (s: string) => s.split('\n').length - 1;

/** `%#U`: U+0023 '#'. */
function unicodeName(r: string): string {
  const code = r.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(r) ? `${hex} '${r}'` : hex;
}

const leftDelim = '{{';
const rightDelim = '}}';
const leftComment = '/*';
const rightComment = '*/';

type StateFn = (l: Lexer) => StateFn | null;

class Lexer {
  pos = 0;
  start = 0;
  atEOF = false;
  parenDepth = 0;
  line = 1;
  startLine = 1;
  item!: Item;
  insideAction = false;

  constructor(
    public input: string,
    readonly options: { breakOK: boolean; continueOK: boolean },
  ) {}

  next(): string {
    if (this.pos >= this.input.length) {
      this.atEOF = true;
      return EOF;
    }
    const code = this.input.codePointAt(this.pos)!;
    const r = String.fromCodePoint(code);
    this.pos += r.length;
    if (r === '\n') this.line++;
    return r;
  }

  peek(): string {
    const r = this.next();
    this.backup();
    return r;
  }

  backup(): void {
    if (!this.atEOF && this.pos > 0) {
      const low = this.input.charCodeAt(this.pos - 1);
      const width = low >= 0xdc00 && low <= 0xdfff && this.pos > 1 ? 2 : 1;
      if (this.input[this.pos - 1] === '\n') this.line--;
      this.pos -= width;
    }
  }

  thisItem(type: ItemType): Item {
    const item = { type, pos: this.start, val: this.input.slice(this.start, this.pos), line: this.startLine };
    this.start = this.pos;
    this.startLine = this.line;
    return item;
  }

  emit(type: ItemType): null {
    return this.emitItem(this.thisItem(type));
  }

  emitItem(item: Item): null {
    this.item = item;
    return null;
  }

  ignore(): void {
    this.line += countNewlines(this.input.slice(this.start, this.pos));
    this.start = this.pos;
    this.startLine = this.line;
  }

  accept(valid: string): boolean {
    const r = this.next();
    if (r !== EOF && valid.includes(r)) return true;
    this.backup();
    return false;
  }

  acceptRun(valid: string): void {
    for (let r = this.next(); r !== EOF && valid.includes(r); r = this.next()) {
      // absorb
    }
    this.backup();
  }

  errorf(message: string): null {
    this.item = { type: 'error', pos: this.start, val: message, line: this.startLine };
    this.start = 0;
    this.pos = 0;
    this.input = '';
    return null;
  }

  nextItem(): Item {
    this.item = { type: 'eof', pos: this.pos, val: 'EOF', line: this.startLine };
    let state: StateFn | null = this.insideAction ? lexInsideAction : lexText;
    while (state) state = state(this);
    return this.item;
  }

  atRightDelim(): { delim: boolean; trimSpaces: boolean } {
    const rest = this.input.slice(this.pos);
    if (hasRightTrimMarker(rest) && rest.startsWith(rightDelim, 2)) return { delim: true, trimSpaces: true };
    if (rest.startsWith(rightDelim)) return { delim: true, trimSpaces: false };
    return { delim: false, trimSpaces: false };
  }

  atTerminator(): boolean {
    const r = this.peek();
    if (isSpace(r)) return true;
    if (r === EOF || '.,|:)('.includes(r)) return true;
    return this.input.startsWith(rightDelim, this.pos);
  }

  scanNumber(): boolean {
    this.accept('+-');
    let digits = '0123456789_';
    if (this.accept('0')) {
      if (this.accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (this.accept('oO')) digits = '01234567_';
      else if (this.accept('bB')) digits = '01_';
    }
    this.acceptRun(digits);
    if (this.accept('.')) this.acceptRun(digits);
    if (digits.length === 11 && this.accept('eE')) {
      this.accept('+-');
      this.acceptRun('0123456789_');
    }
    if (digits.length === 23 && this.accept('pP')) {
      this.accept('+-');
      this.acceptRun('0123456789_');
    }
    this.accept('i');
    if (isAlphaNumeric(this.peek())) {
      this.next();
      return false;
    }
    return true;
  }
}

const lexText: StateFn = (l) => {
  const x = l.input.indexOf(leftDelim, l.pos);
  if (x >= 0) {
    if (x > l.pos) {
      l.pos = x;
      let trimLength = 0;
      const delimEnd = l.pos + leftDelim.length;
      if (hasLeftTrimMarker(l.input.slice(delimEnd))) trimLength = rightTrimLength(l.input.slice(l.start, l.pos));
      l.pos -= trimLength;
      l.line += countNewlines(l.input.slice(l.start, l.pos));
      const item = l.thisItem('text');
      l.pos += trimLength;
      l.ignore();
      if (item.val.length > 0) return l.emitItem(item);
    }
    return lexLeftDelim;
  }
  l.pos = l.input.length;
  if (l.pos > l.start) {
    l.line += countNewlines(l.input.slice(l.start, l.pos));
    return l.emit('text');
  }
  return l.emit('eof');
};

const lexLeftDelim: StateFn = (l) => {
  l.pos += leftDelim.length;
  const trimSpace = hasLeftTrimMarker(l.input.slice(l.pos));
  const afterMarker = trimSpace ? 2 : 0;
  if (l.input.startsWith(leftComment, l.pos + afterMarker)) {
    l.pos += afterMarker;
    l.ignore();
    return lexComment;
  }
  const item = l.thisItem('leftDelim');
  l.insideAction = true;
  l.pos += afterMarker;
  l.ignore();
  l.parenDepth = 0;
  return l.emitItem(item);
};

const lexComment: StateFn = (l) => {
  l.pos += leftComment.length;
  const x = l.input.indexOf(rightComment, l.pos);
  if (x < 0) return l.errorf('unclosed comment');
  l.pos = x + rightComment.length;
  const { delim, trimSpaces } = l.atRightDelim();
  if (!delim) return l.errorf('comment ends before closing delimiter');
  l.line += countNewlines(l.input.slice(l.start, l.pos));
  if (trimSpaces) l.pos += 2;
  l.pos += rightDelim.length;
  if (trimSpaces) l.pos += leftTrimLength(l.input.slice(l.pos));
  l.ignore();
  return lexText;
};

const lexRightDelim: StateFn = (l) => {
  const { trimSpaces } = l.atRightDelim();
  if (trimSpaces) {
    l.pos += 2;
    l.ignore();
  }
  l.pos += rightDelim.length;
  const item = l.thisItem('rightDelim');
  if (trimSpaces) {
    l.pos += leftTrimLength(l.input.slice(l.pos));
    l.ignore();
  }
  l.insideAction = false;
  return l.emitItem(item);
};

const lexInsideAction: StateFn = (l) => {
  if (l.atRightDelim().delim) {
    if (l.parenDepth === 0) return lexRightDelim;
    return l.errorf('unclosed left paren');
  }
  const r = l.next();
  if (r === EOF) return l.errorf('unclosed action');
  if (isSpace(r)) {
    l.backup(); // in case of " -}}"
    return lexSpace;
  }
  switch (r) {
    case '=':
      return l.emit('assign');
    case ':':
      if (l.next() !== '=') return l.errorf('expected :=');
      return l.emit('declare');
    case '|':
      return l.emit('pipe');
    case '"':
      return lexQuote;
    case '`':
      return lexRawQuote;
    case '$':
      return lexVariable;
    case "'":
      return lexChar;
    case '(':
      l.parenDepth++;
      return l.emit('leftParen');
    case ')':
      l.parenDepth--;
      if (l.parenDepth < 0) return l.errorf('unexpected right paren');
      return l.emit('rightParen');
  }
  if (r === '.') {
    const after = l.input[l.pos];
    if (after !== undefined && (after < '0' || after > '9')) return lexField;
  }
  if (r === '.' || r === '+' || r === '-' || (r >= '0' && r <= '9')) {
    l.backup();
    return lexNumber;
  }
  if (isAlphaNumeric(r)) {
    l.backup();
    return lexIdentifier;
  }
  if (r.length === 1 && r >= ' ' && r <= '~') return l.emit('char');
  return l.errorf(`unrecognized character in action: ${unicodeName(r)}`);
};

const lexSpace: StateFn = (l) => {
  let spaces = 0;
  while (isSpace(l.peek())) {
    l.next();
    spaces++;
  }
  // A trim-marked closing delimiter starts with a space.
  const rest = l.input.slice(l.pos - 1);
  if (hasRightTrimMarker(rest) && rest.startsWith(rightDelim, 2)) {
    l.backup();
    if (spaces === 1) return lexRightDelim;
  }
  return l.emit('space');
};

const lexIdentifier: StateFn = (l) => {
  for (;;) {
    const r = l.next();
    if (isAlphaNumeric(r)) continue;
    l.backup();
    const word = l.input.slice(l.start, l.pos);
    if (!l.atTerminator()) return l.errorf(`bad character ${unicodeName(r)}`);
    const keyword = Object.hasOwn(keywords, word) ? keywords[word]! : undefined;
    if (keyword) {
      if ((keyword === 'break' && !l.options.breakOK) || (keyword === 'continue' && !l.options.continueOK)) return l.emit('identifier');
      return l.emit(keyword);
    }
    if (word === 'true' || word === 'false') return l.emit('bool');
    return l.emit('identifier');
  }
};

const lexField: StateFn = (l) => lexFieldOrVariable(l, 'field');

const lexVariable: StateFn = (l) => {
  if (l.atTerminator()) return l.emit('variable');
  return lexFieldOrVariable(l, 'variable');
};

function lexFieldOrVariable(l: Lexer, type: 'field' | 'variable'): null {
  if (l.atTerminator()) return l.emit(type === 'variable' ? 'variable' : 'dot');
  let r: string;
  for (;;) {
    r = l.next();
    if (!isAlphaNumeric(r)) {
      l.backup();
      break;
    }
  }
  if (!l.atTerminator()) return l.errorf(`bad character ${unicodeName(r)}`);
  return l.emit(type);
}

const lexChar: StateFn = (l) => {
  for (;;) {
    const r = l.next();
    if (r === '\\') {
      const escaped = l.next();
      if (escaped !== EOF && escaped !== '\n') continue;
      return l.errorf('unterminated character constant');
    }
    if (r === EOF || r === '\n') return l.errorf('unterminated character constant');
    if (r === "'") break;
  }
  return l.emit('charConstant');
};

const lexNumber: StateFn = (l) => {
  if (!l.scanNumber()) return l.errorf(`bad number syntax: ${quote(l.input.slice(l.start, l.pos))}`);
  const sign = l.peek();
  if (sign === '+' || sign === '-') {
    if (!l.scanNumber() || l.input[l.pos - 1] !== 'i') return l.errorf(`bad number syntax: ${quote(l.input.slice(l.start, l.pos))}`);
    return l.emit('complex');
  }
  return l.emit('number');
};

const lexQuote: StateFn = (l) => {
  for (;;) {
    const r = l.next();
    if (r === '\\') {
      const escaped = l.next();
      if (escaped !== EOF && escaped !== '\n') continue;
      return l.errorf('unterminated quoted string');
    }
    if (r === EOF || r === '\n') return l.errorf('unterminated quoted string');
    if (r === '"') break;
  }
  return l.emit('string');
};

const lexRawQuote: StateFn = (l) => {
  for (;;) {
    const r = l.next();
    if (r === EOF) return l.errorf('unterminated raw quoted string');
    if (r === '`') break;
  }
  return l.emit('rawString');
};

// ---------------------------------------------------------------------------------------------------------------
// Go literals (strconv.Unquote, UnquoteChar, ParseInt/ParseFloat as the parser uses them)

const syntaxError = () => new Error('invalid syntax');

/** One character of a quoted literal, as strconv.UnquoteChar: its bytes (UTF-8) and the rest. */
function unquoteChar(s: string, quoteChar: string): { bytes: number[]; rune: number; tail: string } {
  const c = s[0]!;
  if (c === quoteChar && (quoteChar === "'" || quoteChar === '"')) throw syntaxError();
  if (c !== '\\') {
    const r = String.fromCodePoint(s.codePointAt(0)!);
    return { bytes: [...Buffer.from(r)], rune: r.codePointAt(0)!, tail: s.slice(r.length) };
  }
  if (s.length <= 1) throw syntaxError();
  const e = s[1]!;
  let tail = s.slice(2);
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
  if (Object.hasOwn(simple, e)) return { bytes: [simple[e]!], rune: simple[e]!, tail };
  if (e === "'" || e === '"') {
    if (e !== quoteChar) throw syntaxError();
    return { bytes: [e.charCodeAt(0)], rune: e.charCodeAt(0), tail };
  }
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
    const hex = tail.slice(0, n);
    if (hex.length < n || !/^[0-9a-fA-F]+$/.test(hex)) throw syntaxError();
    tail = tail.slice(n);
    const value = Number.parseInt(hex, 16);
    if (e === 'x') return { bytes: [value], rune: value, tail };
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) throw syntaxError();
    return { bytes: [...Buffer.from(String.fromCodePoint(value))], rune: value, tail };
  }
  if (e >= '0' && e <= '7') {
    const oct = s.slice(1, 4);
    if (!/^[0-7]{3}$/.test(oct)) throw syntaxError();
    const value = Number.parseInt(oct, 8);
    if (value > 255) throw syntaxError();
    return { bytes: [value], rune: value, tail: s.slice(4) };
  }
  throw syntaxError();
}

/** strconv.Unquote of a "double-quoted" or `raw` string literal. */
function unquote(literal: string): string {
  if (literal.startsWith('`')) {
    if (!literal.endsWith('`') || literal.length < 2 || literal.slice(1, -1).includes('`')) throw syntaxError();
    return literal.slice(1, -1).replace(/\r/g, '');
  }
  if (literal.length < 2 || !literal.startsWith('"') || !literal.endsWith('"')) throw syntaxError();
  let rest = literal.slice(1, -1);
  if (rest.includes('\n')) throw syntaxError();
  const bytes: number[] = [];
  while (rest.length > 0) {
    const { bytes: b, tail } = unquoteChar(rest, '"');
    bytes.push(...b);
    rest = tail;
  }
  return Buffer.from(bytes).toString('utf8');
}

interface NumberValue {
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  value: number;
}

const int64Max = (1n << 63n) - 1n;
const uint64Max = (1n << 64n) - 1n;

/** An integer literal as strconv.ParseInt(text, 0, 64) reads it (prefixes, underscores between digits). */
function parseGoInteger(text: string): bigint | undefined {
  const negative = text.startsWith('-');
  const body = text.replace(/^[+-]/, '');
  const match = /^(0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(body);
  if (!match) return undefined;
  let digits = body.replace(/_/g, '');
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  const value = BigInt(digits);
  return negative ? -value : value;
}

function parseGoFloat(text: string): number | undefined {
  const body = text.replace(/_/g, '');
  if (/^[+-]?0[xX]/.test(body)) {
    const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(body);
    if (!hex || (hex[2] === '' && !hex[3])) return undefined;
    const mantissa = Number.parseInt(`${hex[2] || '0'}${hex[3] ?? ''}`, 16) / 16 ** (hex[3]?.length ?? 0);
    return (hex[1] === '-' ? -1 : 1) * mantissa * 2 ** Number(hex[4]);
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(body)) return undefined;
  return Number(body);
}

function parseNumber(text: string, type: ItemType): NumberValue {
  if (type === 'complex' || text.endsWith('i')) throw new Error(`complex constants are not supported: ${quote(text)}`);
  if (type === 'charConstant') {
    const { rune, tail } = unquoteChar(text.slice(1), "'");
    if (tail !== "'") throw new Error(`malformed character constant: ${text}`);
    return { isInt: true, isUint: rune >= 0, isFloat: true, value: rune };
  }
  const integer = parseGoInteger(text);
  if (integer !== undefined && integer >= -int64Max - 1n && integer <= uint64Max) {
    const isInt = integer <= int64Max;
    return { isInt, isUint: integer >= 0n, isFloat: true, value: Number(integer) };
  }
  const float = parseGoFloat(text);
  if (float !== undefined && Number.isFinite(float)) {
    if (!/[.eEpP]/.test(text)) throw new Error(`integer overflow: ${quote(text)}`);
    const integral = Number.isInteger(float) && Math.abs(float) < 2 ** 63;
    return { isInt: integral, isUint: integral && float >= 0, isFloat: true, value: float };
  }
  throw new Error(`illegal number syntax: ${quote(text)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Parse tree (text/template/parse/node.go)

export type ArgNode = FieldNode | VariableNode | DotNode | NilNode | BoolNode | NumberNode | StringNode | IdentifierNode | ChainNode | PipeNode;
export type Node = ListNode | TextNode | ActionNode | IfNode | RangeNode | WithNode | TemplateNode | BreakNode | ContinueNode | CommentNode | EndNode | ElseNode;

interface FieldNode { kind: 'field'; pos: number; ident: string[] }
interface VariableNode { kind: 'variable'; pos: number; ident: string[] }
interface DotNode { kind: 'dot'; pos: number }
interface NilNode { kind: 'nil'; pos: number }
interface BoolNode { kind: 'bool'; pos: number; value: boolean }
interface NumberNode { kind: 'number'; pos: number; text: string; number: NumberValue }
interface StringNode { kind: 'string'; pos: number; quoted: string; text: string }
interface IdentifierNode { kind: 'identifier'; pos: number; ident: string }
interface ChainNode { kind: 'chain'; pos: number; node: ArgNode; fields: string[] }
interface PipeNode { kind: 'pipe'; pos: number; line: number; isAssign: boolean; decl: VariableNode[]; cmds: CommandNode[] }
interface CommandNode { kind: 'command'; pos: number; args: ArgNode[] }
interface ListNode { kind: 'list'; pos: number; nodes: Node[] }
interface TextNode { kind: 'text'; pos: number; text: string }
interface ActionNode { kind: 'action'; pos: number; line: number; pipe: PipeNode }
interface BranchNode { pos: number; line: number; pipe: PipeNode; list: ListNode; elseList?: ListNode }
interface IfNode extends BranchNode { kind: 'if' }
interface RangeNode extends BranchNode { kind: 'range' }
interface WithNode extends BranchNode { kind: 'with' }
interface TemplateNode { kind: 'template'; pos: number; line: number; name: string; pipe?: PipeNode }
interface BreakNode { kind: 'break'; pos: number; line: number }
interface ContinueNode { kind: 'continue'; pos: number; line: number }
interface CommentNode { kind: 'comment'; pos: number; text: string }
interface EndNode { kind: 'end'; pos: number }
interface ElseNode { kind: 'else'; pos: number; line: number }

type AnyNode = Node | ArgNode | CommandNode;

/** A node as Go's String() writes it, for error messages. */
function nodeString(node: AnyNode): string {
  switch (node.kind) {
    case 'field':
      return node.ident.map((id) => `.${id}`).join('');
    case 'variable':
      return node.ident.join('.');
    case 'dot':
      return '.';
    case 'nil':
      return 'nil';
    case 'bool':
      return String(node.value);
    case 'number':
      return node.text;
    case 'string':
      return node.quoted;
    case 'identifier':
      return node.ident;
    case 'chain':
      return `${node.node.kind === 'pipe' ? `(${nodeString(node.node)})` : nodeString(node.node)}${node.fields.map((f) => `.${f}`).join('')}`;
    case 'pipe': {
      const decl = node.decl.length > 0 ? `${node.decl.map(nodeString).join(', ')}${node.isAssign ? ' = ' : ' := '}` : '';
      return decl + node.cmds.map(nodeString).join(' | ');
    }
    case 'command':
      return node.args.map((arg) => (arg.kind === 'pipe' ? `(${nodeString(arg)})` : nodeString(arg))).join(' ');
    case 'list':
      return node.nodes.map(nodeString).join('');
    case 'text':
      return node.text;
    case 'action':
      return `{{${nodeString(node.pipe)}}}`;
    case 'if':
    case 'range':
    case 'with':
      return `{{${node.kind} ${nodeString(node.pipe)}}}${nodeString(node.list)}${node.elseList ? `{{else}}${nodeString(node.elseList)}` : ''}{{end}}`;
    case 'template':
      return node.pipe ? `{{template ${quote(node.name)} ${nodeString(node.pipe)}}}` : `{{template ${quote(node.name)}}}`;
    case 'break':
      return '{{break}}';
    case 'continue':
      return '{{continue}}';
    case 'comment':
      return `{{${node.text}}}`;
    case 'end':
      return '{{end}}';
    case 'else':
      return '{{else}}';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parser (text/template/parse/parse.go)

/** Thrown (never returned) to end parsing with Go's message. */
class ParseFailure extends Error {}

class Parser {
  private readonly token: Item[] = [];
  private peekCount = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private depth = 0;
  private actionLine = 0;

  constructor(
    private readonly lex: Lexer,
    private readonly name: string,
    private readonly hasFunction: (name: string) => boolean,
    readonly trees: Map<string, ListNode>,
  ) {}

  private next(): Item {
    if (this.peekCount > 0) this.peekCount--;
    else this.token[0] = this.lex.nextItem();
    return this.token[this.peekCount]!;
  }
  private backup(): void {
    this.peekCount++;
  }
  private backup2(t1: Item): void {
    this.token[1] = t1;
    this.peekCount = 2;
  }
  private backup3(t2: Item, t1: Item): void {
    this.token[1] = t1;
    this.token[2] = t2;
    this.peekCount = 3;
  }
  private peek(): Item {
    if (this.peekCount > 0) return this.token[this.peekCount - 1]!;
    this.peekCount = 1;
    this.token[0] = this.lex.nextItem();
    return this.token[0];
  }
  private nextNonSpace(): Item {
    let token: Item;
    do token = this.next();
    while (token.type === 'space');
    return token;
  }
  private peekNonSpace(): Item {
    const token = this.nextNonSpace();
    this.backup();
    return token;
  }

  errorf(message: string): never {
    throw new ParseFailure(`template: ${this.name}:${this.token[0]?.line ?? 1}: ${message}`);
  }

  private expect(expected: ItemType, context: string): Item {
    const token = this.nextNonSpace();
    if (token.type !== expected) this.unexpected(token, context);
    return token;
  }

  private unexpected(token: Item, context: string): never {
    if (token.type === 'error') {
      let extra = '';
      if (this.actionLine !== 0 && this.actionLine !== token.line) {
        extra = ` in action started at ${this.name}:${this.actionLine}`;
        if (token.val.endsWith(' action')) extra = extra.slice(' in action'.length);
      }
      this.errorf(`${token.val}${extra}`);
    }
    this.errorf(`unexpected ${itemString(token)} in ${context}`);
  }

  private enter(): void {
    if (this.depth >= maxNesting) this.errorf(`blocks and parentheses nested too deeply (more than ${maxNesting} levels)`);
    this.depth++;
  }

  private add(name: string, root: ListNode): void {
    const existing = this.trees.get(name);
    if (existing === undefined || isEmptyTree(existing)) this.trees.set(name, root);
    else if (!isEmptyTree(root)) this.errorf(`template: multiple definition of template ${quote(name)}`);
  }

  parse(): void {
    const root: ListNode = { kind: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const delim = this.next();
        if (this.nextNonSpace().type === 'define') {
          this.parseDefinition();
          continue;
        }
        this.backup2(delim);
      }
      const node = this.textOrAction();
      if (node.kind === 'end' || node.kind === 'else') this.errorf(`unexpected ${nodeString(node)}`);
      root.nodes.push(node);
    }
    this.add(this.name, root);
  }

  /** A nested tree ({{define}}, {{block}}): parsed with its own variables, as Go's new Tree sharing the lexer. */
  private subtree<T>(parse: () => T): T {
    const saved = { vars: this.vars, rangeDepth: this.rangeDepth };
    this.vars = ['$'];
    this.rangeDepth = 0;
    this.enter();
    try {
      return parse();
    } finally {
      this.depth--;
      this.vars = saved.vars;
      this.rangeDepth = saved.rangeDepth;
    }
  }

  private parseDefinition(): void {
    const context = 'define clause';
    const token = this.nextNonSpace();
    if (token.type !== 'string' && token.type !== 'rawString') this.unexpected(token, context);
    const name = this.unquote(token.val);
    this.expect('rightDelim', context);
    this.subtree(() => {
      const { list, next } = this.itemList();
      if (next.kind !== 'end') this.errorf(`unexpected ${nodeString(next)} in ${context}`);
      this.add(name, list);
    });
  }

  private unquote(literal: string): string {
    try {
      return unquote(literal);
    } catch (error) {
      this.errorf((error as Error).message);
    }
  }

  private itemList(): { list: ListNode; next: Node } {
    const list: ListNode = { kind: 'list', pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().type !== 'eof') {
      const node = this.textOrAction();
      if (node.kind === 'end' || node.kind === 'else') return { list, next: node };
      list.nodes.push(node);
    }
    this.errorf('unexpected EOF');
  }

  private textOrAction(): Node {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'text':
        return { kind: 'text', pos: token.pos, text: token.val };
      case 'leftDelim':
        this.actionLine = token.line;
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      case 'comment':
        return { kind: 'comment', pos: token.pos, text: token.val };
      default:
        this.unexpected(token, 'input');
    }
  }

  private action(): Node {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'block':
        return this.blockControl();
      case 'break':
      case 'continue': {
        const next = this.nextNonSpace();
        if (next.type !== 'rightDelim') this.unexpected(next, `{{${token.type}}}`);
        if (this.rangeDepth === 0) this.errorf(`{{${token.type}}} outside {{range}}`);
        return { kind: token.type, pos: token.pos, line: token.line };
      }
      case 'else':
        return this.elseControl();
      case 'end':
        return { kind: 'end', pos: this.expect('rightDelim', 'end').pos };
      case 'if':
      case 'range':
      case 'with':
        return this.control(token.type);
      case 'template':
        return this.templateControl();
    }
    this.backup();
    const first = this.peek();
    return { kind: 'action', pos: first.pos, line: first.line, pipe: this.pipeline('command', 'rightDelim') };
  }

  private pipeline(context: string, end: ItemType): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { kind: 'pipe', pos: first.pos, line: first.line, isAssign: false, decl: [], cmds: [] };
    // Declarations or assignments: $x := ..., $x = ..., and range's $i, $e := ...
    for (;;) {
      const v = this.peekNonSpace();
      if (v.type !== 'variable') break;
      this.next();
      const tokenAfterVariable = this.peek();
      const next = this.peekNonSpace();
      if (next.type === 'assign' || next.type === 'declare') {
        pipe.isAssign = next.type === 'assign';
        this.nextNonSpace();
        pipe.decl.push(newVariable(v.pos, v.val));
        this.vars.push(v.val);
        break;
      }
      if (next.type === 'char' && next.val === ',') {
        this.nextNonSpace();
        pipe.decl.push(newVariable(v.pos, v.val));
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const after = this.peekNonSpace().type;
          if (after === 'variable' || after === 'rightDelim' || after === 'rightParen') continue;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      }
      if (tokenAfterVariable.type === 'space') this.backup3(v, tokenAfterVariable);
      else this.backup2(v);
      break;
    }
    for (;;) {
      const token = this.nextNonSpace();
      if (token.type === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (token.type) {
        case 'bool':
        case 'charConstant':
        case 'complex':
        case 'dot':
        case 'field':
        case 'identifier':
        case 'number':
        case 'nil':
        case 'rawString':
        case 'string':
        case 'variable':
        case 'leftParen':
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(token, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((cmd, i) => {
      if (['bool', 'dot', 'nil', 'number', 'string'].includes(cmd.args[0]!.kind)) this.errorf(`non executable command in pipeline stage ${i + 2}`);
    });
  }

  private control(context: 'if' | 'range' | 'with'): IfNode | RangeNode | WithNode {
    const mark = this.vars.length;
    this.enter();
    try {
      const pipe = this.pipeline(context, 'rightDelim');
      if (context === 'range') this.rangeDepth++;
      let { list, next } = this.itemList();
      if (context === 'range') this.rangeDepth--;
      let elseList: ListNode | undefined;
      if (next.kind === 'else') {
        // {{else if ...}} and {{else with ...}} are {{else}}{{if ...}}...{{end}}{{end}}.
        if ((context === 'if' && this.peek().type === 'if') || (context === 'with' && this.peek().type === 'with')) {
          this.next();
          elseList = { kind: 'list', pos: next.pos, nodes: [this.control(context)] };
        } else {
          ({ list: elseList, next } = this.itemList());
          if (next.kind !== 'end') this.errorf(`expected end; found ${nodeString(next)}`);
        }
      }
      return { kind: context, pos: pipe.pos, line: pipe.line, pipe, list, ...(elseList && { elseList }) };
    } finally {
      this.depth--;
      this.vars.length = mark;
    }
  }

  private elseControl(): ElseNode {
    const peek = this.peekNonSpace();
    if (peek.type === 'if' || peek.type === 'with') return { kind: 'else', pos: peek.pos, line: peek.line };
    const token = this.expect('rightDelim', 'else');
    return { kind: 'else', pos: token.pos, line: token.line };
  }

  private blockControl(): TemplateNode {
    const context = 'block clause';
    const token = this.nextNonSpace();
    const name = this.templateName(token, context);
    const pipe = this.pipeline(context, 'rightDelim');
    this.subtree(() => {
      const { list, next } = this.itemList();
      if (next.kind !== 'end') this.errorf(`unexpected ${nodeString(next)} in ${context}`);
      this.add(name, list);
    });
    return { kind: 'template', pos: token.pos, line: token.line, name, pipe };
  }

  private templateControl(): TemplateNode {
    const context = 'template clause';
    const token = this.nextNonSpace();
    const name = this.templateName(token, context);
    let pipe: PipeNode | undefined;
    if (this.nextNonSpace().type !== 'rightDelim') {
      this.backup();
      pipe = this.pipeline(context, 'rightDelim');
    }
    return { kind: 'template', pos: token.pos, line: token.line, name, ...(pipe && { pipe }) };
  }

  private templateName(token: Item, context: string): string {
    if (token.type !== 'string' && token.type !== 'rawString') this.unexpected(token, context);
    return this.unquote(token.val);
  }

  private command(): CommandNode {
    const cmd: CommandNode = { kind: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const token = this.next();
      if (token.type === 'space') continue;
      if (token.type === 'rightDelim' || token.type === 'rightParen') this.backup();
      else if (token.type !== 'pipe') this.unexpected(token, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): ArgNode | undefined {
    let node = this.term();
    if (!node) return undefined;
    if (this.peek().type === 'field') {
      const pos = this.peek().pos;
      const fields: string[] = [];
      while (this.peek().type === 'field') fields.push(this.next().val.slice(1));
      switch (node.kind) {
        case 'field':
          node = { kind: 'field', pos, ident: [...node.ident, ...fields] };
          break;
        case 'variable':
          node = { kind: 'variable', pos, ident: [...node.ident, ...fields] };
          break;
        case 'bool':
        case 'string':
        case 'number':
        case 'nil':
        case 'dot':
          this.errorf(`unexpected . after term ${quote(nodeString(node))}`);
          break;
        default:
          node = { kind: 'chain', pos, node, fields };
      }
    }
    return node;
  }

  private term(): ArgNode | undefined {
    const token = this.nextNonSpace();
    switch (token.type) {
      case 'identifier':
        if (!this.hasFunction(token.val)) this.errorf(`function ${quote(token.val)} not defined`);
        return { kind: 'identifier', pos: token.pos, ident: token.val };
      case 'dot':
        return { kind: 'dot', pos: token.pos };
      case 'nil':
        return { kind: 'nil', pos: token.pos };
      case 'variable': {
        const node = newVariable(token.pos, token.val);
        if (!this.vars.includes(node.ident[0]!)) this.errorf(`undefined variable ${quote(node.ident[0]!)}`);
        return node;
      }
      case 'field':
        return { kind: 'field', pos: token.pos, ident: token.val.slice(1).split('.') };
      case 'bool':
        return { kind: 'bool', pos: token.pos, value: token.val === 'true' };
      case 'charConstant':
      case 'complex':
      case 'number':
        try {
          return { kind: 'number', pos: token.pos, text: token.val, number: parseNumber(token.val, token.type) };
        } catch (error) {
          return this.errorf((error as Error).message);
        }
      case 'leftParen':
        this.enter();
        try {
          return this.pipeline('parenthesized pipeline', 'rightParen');
        } finally {
          this.depth--;
        }
      case 'string':
      case 'rawString':
        return { kind: 'string', pos: token.pos, quoted: token.val, text: this.unquote(token.val) };
    }
    this.backup();
    return undefined;
  }
}

const newVariable = (pos: number, name: string): VariableNode => ({ kind: 'variable', pos, ident: name.split('.') });

function isEmptyTree(node: Node): boolean {
  switch (node.kind) {
    case 'comment':
      return true;
    case 'list':
      return node.nodes.every(isEmptyTree);
    case 'text':
      return node.text.trim() === '';
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Functions

/**
 * A parameter's Go type, as text/template checks arguments against it: `any` takes anything (Go's
 * interface{} or reflect.Value), the others only a value of that type (a literal of the matching kind).
 */
export type ParamType = 'any' | 'string' | 'int' | 'bool' | '[]string';

export interface TemplateFunction {
  params: readonly ParamType[];
  /** The type of the arguments after `params` (a variadic function), if any. */
  variadic?: ParamType;
  /** Throws an Error whose message follows "error calling NAME: ". */
  call: (...args: never[]) => unknown;
}

export type FuncMap = Readonly<Record<string, TemplateFunction>>;

const fn = (params: ParamType[], call: TemplateFunction['call'], variadic?: ParamType): TemplateFunction => ({ params, call, ...(variadic && { variadic }) });

/** Go's truth: not the zero value of its type (a struct is always true). */
export function truth(value: unknown): boolean {
  if (isNil(value)) return false;
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      return value !== 0;
    case 'bigint':
      return value !== 0n;
    case 'string':
      return value.length > 0;
    case 'object':
      if (Array.isArray(value)) return value.length > 0;
      return isStruct(value) || Object.keys(value).length > 0;
    default:
      return true;
  }
}

type Kind = 'invalid' | 'bool' | 'number' | 'string' | 'other';
const basicKind = (v: unknown): Kind => (isNil(v) ? 'invalid' : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'other');

function eq(arg1: unknown, ...others: unknown[]): boolean {
  if (others.length === 0) throw new Error('missing argument for comparison');
  const k1 = basicKind(arg1);
  for (const arg of others) {
    const k2 = basicKind(arg);
    let equal = false;
    if (k1 !== k2) {
      if (k1 !== 'invalid' && k2 !== 'invalid') {
        if (k1 === 'other' || k2 === 'other') {
          throw new Error(`non-comparable types ${formatV(arg1)}: ${goTypeOf(arg1)}, ${goTypeOf(arg)}: ${formatV(arg)}`);
        }
        throw new Error(`incompatible types for comparison: ${goTypeOf(arg1)} and ${goTypeOf(arg)}`);
      }
    } else if (k1 === 'invalid') equal = true;
    else if (k1 === 'other') {
      if (Array.isArray(arg) || (!isStruct(arg) && !isStruct(arg1))) throw new Error(`non-comparable type ${formatV(arg)}: ${goTypeOf(arg)}`);
      equal = arg1 === arg;
    } else equal = arg1 === arg;
    if (equal) return true;
  }
  return false;
}

function lt(arg1: unknown, arg2: unknown): boolean {
  const k1 = basicKind(arg1);
  const k2 = basicKind(arg2);
  if (k1 === 'invalid' || k1 === 'other' || k2 === 'invalid' || k2 === 'other') throw new Error('invalid type for comparison');
  if (k1 !== k2) throw new Error(`incompatible types for comparison: ${goTypeOf(arg1)} and ${goTypeOf(arg2)}`);
  if (k1 === 'bool') throw new Error('invalid type for comparison');
  return (arg1 as number | string) < (arg2 as number | string);
}
const le = (a: unknown, b: unknown) => lt(a, b) || eq(a, b);

const utf8Length = (s: string) => Buffer.byteLength(s);

function indexArg(index: unknown, cap: number): number {
  if (isNil(index)) throw new Error('cannot index slice/array with nil');
  if (typeof index !== 'number' || !Number.isInteger(index)) throw new Error(`cannot index slice/array with type ${goTypeOf(index)}`);
  if (index < 0 || index > cap) throw new Error(`index out of range: ${index}`);
  return index;
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  if (isNil(item)) throw new Error('index of untyped nil');
  for (const key of indexes) {
    if (isNil(item)) throw new Error('index of nil pointer');
    if (typeof item === 'string' || Array.isArray(item)) {
      const bytes = typeof item === 'string' ? Buffer.from(item) : undefined;
      const length = bytes ? bytes.length : (item as unknown[]).length;
      const x = indexArg(key, length);
      if (x === length) throw new Error(`reflect: ${bytes ? 'string' : 'slice'} index out of range`);
      item = bytes ? bytes[x] : (item as unknown[])[x];
    } else if (typeof item === 'object' && !isStruct(item)) {
      if (isNil(key)) throw new Error('value is nil; should be of type string');
      if (typeof key !== 'string') throw new Error(`value has type ${goTypeOf(key)}; should be string`);
      const map = item as Record<string, unknown>;
      item = Object.hasOwn(map, key) ? map[key] : zeroOfElement(map);
    } else throw new Error(`can't index item of type ${goTypeOf(item)}`);
  }
  return item;
}

/** The zero value of a typed map's elements: "" for a map of strings, else nil. */
function zeroOfElement(map: object): unknown {
  return /\]string$/.test(goTypeOf(map)) ? '' : undefined;
}

function slice(item: unknown, ...indexes: unknown[]): unknown {
  if (isNil(item)) throw new Error('slice of untyped nil');
  if (indexes.length > 3) throw new Error(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new Error('cannot 3-index slice a string');
    length = utf8Length(item);
  } else if (Array.isArray(item)) length = item.length;
  else throw new Error(`can't slice item of type ${goTypeOf(item)}`);
  const idx = [0, length, length];
  indexes.forEach((key, i) => {
    idx[i] = indexArg(key, length);
  });
  if (idx[0]! > idx[1]!) throw new Error(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) throw new Error(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (typeof item === 'string') return Buffer.from(item).subarray(idx[0], idx[1]).toString('utf8');
  const sliced = (item as unknown[]).slice(idx[0], idx[1]);
  const type = (item as { [goType]?: string })[goType];
  return type ? Object.defineProperty(sliced, goType, { value: type }) : sliced;
}

function length(item: unknown): number {
  if (isNil(item)) throw new Error('len of nil pointer');
  if (typeof item === 'string') return utf8Length(item);
  if (Array.isArray(item)) return item.length;
  if (typeof item === 'object' && !isStruct(item)) return Object.keys(item).length;
  throw new Error(`len of type ${goTypeOf(item)}`);
}

/** The arguments of html, js and urlquery as one string (fmt.Sprint, a nil one as "<no value>"). */
function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((arg) => (isNil(arg) ? '<no value>' : arg)));
}

const htmlEscapes: Record<string, string> = { '\0': '\ufffd', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' };
const htmlEscape = (s: string) => s.replace(/[\0"'&<>]/g, (c) => htmlEscapes[c]!);

function jsEscape(s: string): string {
  const named: Record<string, string> = { '\\': '\\\\', "'": "\\'", '"': '\\"', '<': '\\u003C', '>': '\\u003E', '&': '\\u0026', '=': '\\u003D' };
  let out = '';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (named[c]) out += named[c];
    else if (code < 0x20) out += `\\u00${code.toString(16).toUpperCase().padStart(2, '0')}`;
    else if (code < 0x80 || /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c)) out += c;
    else out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return out;
}

/** url.QueryEscape. */
function queryEscape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's built-in functions (and, or and call are special cases of the executor). */
const builtins: FuncMap = {
  and: fn(['any'], () => undefined, 'any'),
  or: fn(['any'], () => undefined, 'any'),
  call: fn(['any'], () => undefined, 'any'),
  html: fn([], (...args: unknown[]) => htmlEscape(evalArgs(args)), 'any'),
  index: fn(['any'], index as TemplateFunction['call'], 'any'),
  slice: fn(['any'], slice as TemplateFunction['call'], 'any'),
  js: fn([], (...args: unknown[]) => jsEscape(evalArgs(args)), 'any'),
  len: fn(['any'], length as TemplateFunction['call']),
  not: fn(['any'], ((value: unknown) => !truth(value)) as TemplateFunction['call']),
  print: fn([], (...args: unknown[]) => sprint(args), 'any'),
  printf: fn(['string'], ((format: string, ...args: unknown[]) => sprintf(format, args)) as TemplateFunction['call'], 'any'),
  println: fn([], (...args: unknown[]) => sprintln(args), 'any'),
  urlquery: fn([], (...args: unknown[]) => queryEscape(evalArgs(args)), 'any'),
  eq: fn(['any'], eq as TemplateFunction['call'], 'any'),
  ne: fn(['any', 'any'], ((a: unknown, b: unknown) => !eq(a, b)) as TemplateFunction['call']),
  lt: fn(['any', 'any'], lt as TemplateFunction['call']),
  le: fn(['any', 'any'], le as TemplateFunction['call']),
  gt: fn(['any', 'any'], ((a: unknown, b: unknown) => !le(a, b)) as TemplateFunction['call']),
  ge: fn(['any', 'any'], ((a: unknown, b: unknown) => !lt(a, b)) as TemplateFunction['call']),
};

// ---------------------------------------------------------------------------------------------------------------
// Execution (text/template/exec.go)

const missing = Symbol('missing');
const breakSignal = Symbol('break');
const continueSignal = Symbol('continue');

export interface ExecuteOptions {
  /** Functions beyond Go's built-ins; they must include every name the template was parsed with. */
  funcs?: FuncMap;
  /** `missingkey=error`: a map without the key is an error instead of `<no value>`. */
  missingKey?: 'default' | 'error';
}

/** What ends an execution: the output so far and, when it failed, the error (Go writes as it goes too). */
export interface ExecuteResult {
  output: string;
  error?: StrataError;
}

class State {
  node: AnyNode | undefined;
  vars: { name: string; value: unknown }[];
  depth = 0;
  /** The template running: "" or the name a {{template}} called (Go's `executing "name"`). */
  private current: string;
  readonly out: string[] = [];

  constructor(
    private readonly template: Template,
    private readonly funcs: FuncMap,
    private readonly missingKey: 'default' | 'error',
    data: unknown,
  ) {
    this.vars = [{ name: '$', value: data }];
    this.current = template.name;
  }

  errorf(message: string): never {
    const name = quote(this.current);
    if (!this.node) throw invalidArgument(`template: ${this.current}: ${message}`);
    const { location, context } = this.template.errorContext(this.node);
    throw invalidArgument(`template: ${location}: executing ${name} at <${context}>: ${message}`);
  }

  at(node: AnyNode): void {
    this.node = node;
  }

  setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  walk(dot: unknown, node: Node): void {
    this.at(node);
    switch (node.kind) {
      case 'action': {
        const value = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) {
          this.at(node);
          if (typeof value === 'function') this.errorf(`can't print ${nodeString(node)} of type func`);
          this.out.push(printValue(value));
        }
        return;
      }
      case 'break':
        throw breakSignal;
      case 'continue':
        throw continueSignal;
      case 'comment':
      case 'end':
      case 'else':
        return;
      case 'if':
      case 'with':
        this.walkIfOrWith(node, dot);
        return;
      case 'list':
        for (const child of node.nodes) this.walk(dot, child);
        return;
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'template':
        this.walkTemplate(dot, node);
        return;
      case 'text':
        this.out.push(node.text);
        return;
    }
  }

  private walkIfOrWith(node: IfNode | WithNode, dot: unknown): void {
    const mark = this.vars.length;
    try {
      const value = this.evalPipeline(dot, node.pipe);
      if (truth(value)) this.walk(node.kind === 'with' ? value : dot, node.list);
      else if (node.elseList) this.walk(dot, node.elseList);
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: unknown, node: RangeNode): void {
    this.at(node);
    const outer = this.vars.length;
    try {
      const value = this.evalPipeline(dot, node.pipe);
      const mark = this.vars.length;
      const { decl, isAssign } = node.pipe;
      const oneIteration = (key: unknown, elem: unknown) => {
        if (decl.length > 0) {
          if (isAssign) this.setVar(decl[decl.length > 1 ? 0 : 0]!.ident[0]!, decl.length > 1 ? key : elem);
          else this.vars[this.vars.length - 1]!.value = elem;
        }
        if (decl.length > 1) {
          if (isAssign) this.setVar(decl[1]!.ident[0]!, elem);
          else this.vars[this.vars.length - 2]!.value = key;
        }
        try {
          this.walk(elem, node.list);
        } catch (signal) {
          if (signal !== continueSignal) throw signal;
        } finally {
          this.vars.length = mark;
        }
      };
      let ran = false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) oneIteration(i, value[i]);
        ran = value.length > 0;
      } else if (typeof value === 'number' && Number.isInteger(value)) {
        if (decl.length > 1) this.errorf(`can't use ${formatV(value)} to iterate over more than one variable`);
        for (let i = 0; i < value; i++) oneIteration(undefined, i);
        ran = value > 0;
      } else if (typeof value === 'object' && value !== null && !isStruct(value)) {
        const map = value as Record<string, unknown>;
        const keys = sortedKeys(map);
        for (const key of keys) oneIteration(key, map[key]);
        ran = keys.length > 0;
      } else if (!isNil(value)) this.errorf(`range can't iterate over ${formatV(value)}`);
      if (!ran && node.elseList) this.walk(dot, node.elseList);
    } catch (signal) {
      if (signal !== breakSignal) throw signal;
    } finally {
      this.vars.length = outer;
    }
  }

  private walkTemplate(dot: unknown, node: TemplateNode): void {
    this.at(node);
    const tree = this.template.trees.get(node.name);
    if (!tree) this.errorf(`template ${quote(node.name)} not defined`);
    if (this.depth >= maxTemplateDepth) this.errorf(`exceeded maximum template depth (${maxTemplateDepth})`);
    const value = this.evalPipeline(dot, node.pipe);
    const saved = { vars: this.vars, current: this.current };
    this.vars = [{ name: '$', value }];
    this.current = node.name;
    this.depth++;
    try {
      this.walk(value, tree);
    } finally {
      this.depth--;
      this.vars = saved.vars;
      this.current = saved.current;
    }
  }

  private evalPipeline(dot: unknown, pipe: PipeNode | undefined): unknown {
    if (!pipe) return undefined;
    this.at(pipe);
    let value: unknown = missing;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    for (const variable of pipe.decl) {
      if (pipe.isAssign) this.setVar(variable.ident[0]!, value);
      else this.vars.push({ name: variable.ident[0]!, value });
    }
    return value;
  }

  private notAFunction(args: readonly ArgNode[], final: unknown): void {
    if (args.length > 1 || final !== missing) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: unknown): unknown {
    const first = cmd.args[0]!;
    switch (first.kind) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.kind) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return this.idealConstant(first);
      case 'string':
        return first.text;
    }
  }

  private idealConstant(node: NumberNode): number {
    this.at(node);
    const { number, text } = node;
    if (number.isFloat && !/^[+-]?0[xX]/.test(text) && !text.startsWith("'") && /[.eEpP]/.test(text)) return number.value;
    if (number.isInt) return number.value;
    this.errorf(`${text} overflows int`);
  }

  private evalFieldNode(dot: unknown, field: FieldNode, args: readonly ArgNode[] | undefined, final: unknown): unknown {
    this.at(field);
    return this.evalFieldChain(dot, dot, field, field.ident, args, final);
  }

  private evalChainNode(dot: unknown, chain: ChainNode, args: readonly ArgNode[] | undefined, final: unknown): unknown {
    this.at(chain);
    if (chain.node.kind === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const receiver = this.evalArg(dot, 'any', chain.node);
    return this.evalFieldChain(dot, receiver, chain, chain.fields, args, final);
  }

  private evalVariableNode(dot: unknown, variable: VariableNode, args: readonly ArgNode[] | undefined, final: unknown): unknown {
    this.at(variable);
    const value = this.varValue(variable.ident[0]!);
    if (variable.ident.length === 1) {
      this.notAFunction(args ?? [variable], final);
      return value;
    }
    return this.evalFieldChain(dot, value, variable, variable.ident.slice(1), args, final);
  }

  private evalFieldChain(dot: unknown, receiver: unknown, node: AnyNode, ident: readonly string[], args: readonly ArgNode[] | undefined, final: unknown): unknown {
    let value = receiver;
    for (let i = 0; i < ident.length - 1; i++) value = this.evalField(dot, ident[i]!, node, undefined, missing, value);
    return this.evalField(dot, ident[ident.length - 1]!, node, args, final, value);
  }

  private evalField(dot: unknown, fieldName: string, node: AnyNode, args: readonly ArgNode[] | undefined, final: unknown, receiver: unknown): unknown {
    if (receiver === undefined) {
      if (this.missingKey === 'error') this.errorf(`nil data; no entry for key ${quote(fieldName)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${fieldName}`);
    const hasArgs = (args !== undefined && args.length > 1) || final !== missing;
    if (typeof receiver === 'object' && !Array.isArray(receiver)) {
      const object = receiver as Record<string, unknown>;
      const own = Object.hasOwn(object, fieldName);
      if (own && typeof object[fieldName] === 'function') {
        const method = object[fieldName] as (...args: unknown[]) => unknown;
        const call: TemplateFunction = { params: Array.from({ length: method.length }, () => 'any' as const), call: method.bind(object) as TemplateFunction['call'] };
        return this.evalCall(dot, call, false, node, fieldName, args, final);
      }
      if (isStruct(object)) {
        if (own) {
          if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`);
          return object[fieldName];
        }
      } else {
        if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`);
        if (own) return object[fieldName];
        if (this.missingKey === 'error') this.errorf(`map has no entry for key ${quote(fieldName)}`);
        return undefined;
      }
    }
    this.errorf(`can't evaluate field ${fieldName} in type ${goTypeOf(receiver)}`);
  }

  private evalFunction(dot: unknown, node: IdentifierNode, cmd: AnyNode, args: readonly ArgNode[] | undefined, final: unknown): unknown {
    this.at(node);
    const name = node.ident;
    const own = Object.hasOwn(this.funcs, name) ? this.funcs[name] : undefined;
    const builtin = own ? undefined : Object.hasOwn(builtins, name) ? builtins[name] : undefined;
    const func = own ?? builtin;
    if (!func) this.errorf(`${quote(name)} is not a defined function`);
    return this.evalCall(dot, func, builtin !== undefined, cmd, name, args, final);
  }

  private evalCall(dot: unknown, func: TemplateFunction, isBuiltin: boolean, node: AnyNode, name: string, allArgs: readonly ArgNode[] | undefined, final: unknown): unknown {
    const args = allArgs ? allArgs.slice(1) : [];
    const numIn = args.length + (final !== missing ? 1 : 0);
    let numFixed = args.length;
    if (func.variadic !== undefined) {
      numFixed = func.params.length;
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`);
    } else if (numIn !== func.params.length) this.errorf(`wrong number of args for ${name}: want ${func.params.length} got ${numIn}`);

    if (isBuiltin && (name === 'and' || name === 'or')) {
      let value: unknown;
      for (const arg of args) {
        value = this.evalArg(dot, 'any', arg);
        if (truth(value) === (name === 'or')) return value;
      }
      if (final !== missing) value = final;
      return value;
    }

    const argv: unknown[] = [];
    let i = 0;
    for (; i < numFixed && i < args.length; i++) argv.push(this.evalArg(dot, func.params[i]!, args[i]!));
    if (func.variadic !== undefined) for (; i < args.length; i++) argv.push(this.evalArg(dot, func.variadic, args[i]!));
    if (final !== missing) {
      let type = func.params[func.params.length - 1] ?? func.variadic ?? 'any';
      if (func.variadic !== undefined) type = numIn - 1 < numFixed ? func.params[numIn - 1]! : func.variadic;
      argv.push(this.validateType(final, type));
    }
    let call = func.call as (...args: unknown[]) => unknown;
    if (isBuiltin && name === 'call') {
      const callee = args[0] ? nodeString(args[0]) : 'pipeline';
      call = (target: unknown, ...rest: unknown[]) => {
        if (isNil(target)) throw new Error('call of nil');
        if (typeof target !== 'function') throw new Error(`non-function ${callee} of type ${goTypeOf(target)}`);
        if (rest.length !== target.length) throw new Error(`wrong number of args for ${callee}: got ${rest.length} want ${target.length}`);
        return (target as (...args: unknown[]) => unknown)(...rest);
      };
    }
    try {
      return call(...argv);
    } catch (error) {
      if (error instanceof StrataError) throw error;
      this.at(node);
      this.errorf(`error calling ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private validateType(value: unknown, type: ParamType): unknown {
    if (isNil(value)) {
      if (type === 'any') return value;
      if (type === '[]string') return [];
      this.errorf(`invalid value; expected ${type}`);
    }
    const ok =
      type === 'any' ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'int' && typeof value === 'number' && Number.isInteger(value)) ||
      (type === 'bool' && typeof value === 'boolean') ||
      (type === '[]string' && Array.isArray(value) && value.every((item) => typeof item === 'string'));
    if (!ok) this.errorf(`wrong type for value; expected ${type}; got ${goTypeOf(value)}`);
    return value;
  }

  private evalArg(dot: unknown, type: ParamType, node: ArgNode): unknown {
    this.at(node);
    switch (node.kind) {
      case 'dot':
        return this.validateType(dot, type);
      case 'nil':
        if (type === 'any') return undefined;
        if (type === '[]string') return [];
        return this.errorf(`cannot assign nil to ${type}`);
      case 'field':
        return this.validateType(this.evalFieldNode(dot, node, [node], missing), type);
      case 'variable':
        return this.validateType(this.evalVariableNode(dot, node, undefined, missing), type);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, node), type);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, node, node, undefined, missing), type);
      case 'chain':
        return this.validateType(this.evalChainNode(dot, node, undefined, missing), type);
    }
    switch (type) {
      case 'bool':
        if (node.kind === 'bool') return node.value;
        return this.errorf(`expected bool; found ${nodeString(node)}`);
      case 'string':
        if (node.kind === 'string') return node.text;
        return this.errorf(`expected string; found ${nodeString(node)}`);
      case 'int':
        if (node.kind === 'number' && node.number.isInt) return node.number.value;
        return this.errorf(`expected integer; found ${nodeString(node)}`);
      case 'any':
        if (node.kind === 'bool') return node.value;
        if (node.kind === 'number') return this.idealConstant(node);
        return node.text;
      default:
        this.errorf(`can't handle ${nodeString(node)} for arg of type ${type}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The API

/** A parsed template: the main tree ("") and those {{define}} and {{block}} named. */
export class Template {
  constructor(
    readonly name: string,
    readonly text: string,
    readonly trees: ReadonlyMap<string, ListNode>,
  ) {}

  /** Go's ErrorContext: `name:line:column` (the column counts bytes from 0) and the node as written. */
  errorContext(node: AnyNode): { location: string; context: string } {
    const before = this.text.slice(0, node.pos);
    const lineStart = before.lastIndexOf('\n') + 1;
    const line = countNewlines(before) + 1;
    const column = Buffer.byteLength(before.slice(lineStart));
    let context = nodeString(node);
    // Go quotes the whole node; a long one is cut so that an error stays one readable line.
    if ([...context].length > 80) context = `${[...context].slice(0, 77).join('')}...`;
    return { location: `${this.name}:${line}:${column}`, context };
  }

  /** Runs the template on `data`; throws an invalid-argument StrataError with Go's message when it fails. */
  execute(data: unknown, options: ExecuteOptions = {}): string {
    const result = this.run(data, options);
    if (result.error) throw result.error;
    return result.output;
  }

  /** Runs the template, returning what it printed before any error along with the error. */
  run(data: unknown, options: ExecuteOptions = {}): ExecuteResult {
    const state = new State(this, options.funcs ?? {}, options.missingKey ?? 'default', data);
    const root = this.trees.get(this.name);
    try {
      if (!root) state.errorf(`${quote(this.name)} is an incomplete or empty template`);
      state.walk(data, root!);
      return { output: state.out.join('') };
    } catch (error) {
      if (error instanceof StrataError) return { output: state.out.join(''), error };
      throw error;
    }
  }
}

/**
 * Parses a template as Go's template.New(name).Funcs(funcs).Parse(text) does; `funcs` names the functions
 * beyond the built-ins. Throws an invalid-argument StrataError with Go's message (`template: :1: ...`).
 */
export function parseTemplate(text: string, funcs: FuncMap = {}, name = ''): Template {
  const hasFunction = (fname: string) => Object.hasOwn(funcs, fname) || Object.hasOwn(builtins, fname);
  const lexer = new Lexer(text, { breakOK: !hasFunction('break'), continueOK: !hasFunction('continue') });
  const parser = new Parser(lexer, name, hasFunction, new Map());
  try {
    parser.parse();
  } catch (error) {
    if (error instanceof ParseFailure) throw invalidArgument(error.message);
    throw error;
  }
  return new Template(name, text, parser.trees);
}
