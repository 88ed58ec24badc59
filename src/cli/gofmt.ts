/**
 * Go's fmt as text/template prints with it: `%v` for values (slices `[a b]`, maps `map[k:v]` sorted by key), and
 * Sprint, Sprintln and Sprintf with their verbs, flags, widths, precisions and their `%!d(string=x)` complaints.
 * Values are JavaScript's: a string, a number (an int when integral, else a float64), a boolean, an array (a
 * slice), an object (a map, or a struct when tagged with its Go type, see `withGoType`), null or undefined (nil).
 */
import { compareText } from '../util/text.js';

/** The Go type of a value, when it is not what its JavaScript shape says (a struct, a `[]string`, a typed map). */
export const goType = Symbol('strata.goType');

type Tagged = { [goType]?: string };

/** `value` tagged with a Go type name: `*formatter.imageContext` (a struct), `map[string]string`, `[]string`. */
export function withGoType<T extends object>(value: T, type: string): T {
  Object.defineProperty(value, goType, { value: type, enumerable: false, configurable: true });
  return value;
}

/** The Go type name of a value, for messages (`string`, `int`, `[]interface {}`, `map[string]interface {}`). */
export function goTypeOf(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float64';
    case 'bigint':
      return 'int64';
    case 'function':
      return 'func';
    case 'object':
      if (value === null) return 'interface {}';
      return (value as Tagged)[goType] ?? (Array.isArray(value) ? '[]interface {}' : 'map[string]interface {}');
    default:
      return 'interface {}';
  }
}

/** A Go struct: an object tagged with a type name that is not a map's. */
export function isStruct(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const type = (value as Tagged)[goType];
  return type !== undefined && !type.startsWith('map[');
}

export const isNil = (value: unknown): value is null | undefined => value === null || value === undefined;

/** A map's keys in fmt's order (sorted). */
export const sortedKeys = (map: object): string[] => Object.keys(map).sort(compareText);

/** `%v`, the way text/template prints an action's value: nil at the top is `<no value>`, inside a value `<nil>`. */
export function printValue(value: unknown): string {
  return isNil(value) ? '<no value>' : formatV(value);
}

/** fmt's `%v` of a value. */
export function formatV(value: unknown): string {
  return formatVerb(value, 'v', defaultFlags());
}

/** fmt.Sprint: spaces between operands when neither is a string. */
export function sprint(args: readonly unknown[]): string {
  let out = '';
  args.forEach((arg, i) => {
    if (i > 0 && typeof arg !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatV(arg);
  });
  return out;
}

/** fmt.Sprintln: spaces between every operand, a newline at the end. */
export function sprintln(args: readonly unknown[]): string {
  return `${args.map(formatV).join(' ')}\n`;
}

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width?: number;
  precision?: number;
}

const defaultFlags = (): Flags => ({ plus: false, minus: false, sharp: false, space: false, zero: false });

/** fmt.Sprintf. */
export function sprintf(format: string, args: readonly unknown[]): string {
  let out = '';
  let argNum = 0;
  const end = format.length;
  let i = 0;
  while (i < end) {
    const start = i;
    while (i < end && format[i] !== '%') i++;
    out += format.slice(start, i);
    if (i >= end) break;
    i++; // the %
    const flags = defaultFlags();
    for (; i < end; i++) {
      const c = format[i];
      if (c === '#') flags.sharp = true;
      else if (c === '0') flags.zero = !flags.minus;
      else if (c === '+') flags.plus = true;
      else if (c === '-') {
        flags.minus = true;
        flags.zero = false;
      } else if (c === ' ') flags.space = true;
      else break;
    }
    // Width: digits or `*` (an int operand; a negative one means `-`).
    if (format[i] === '*') {
      i++;
      const width = args[argNum++];
      if (typeof width !== 'number' || !Number.isInteger(width)) out += '%!(BADWIDTH)';
      else {
        flags.width = Math.abs(width);
        if (width < 0) {
          flags.minus = true;
          flags.zero = false;
        }
      }
    } else {
      const digits = /^\d+/.exec(format.slice(i))?.[0];
      if (digits) {
        flags.width = Number(digits);
        i += digits.length;
      }
    }
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const precision = args[argNum++];
        if (typeof precision !== 'number' || !Number.isInteger(precision)) out += '%!(BADPREC)';
        else if (precision >= 0) flags.precision = precision;
      } else {
        const digits = /^\d*/.exec(format.slice(i))![0];
        flags.precision = digits === '' ? 0 : Number(digits);
        i += digits.length;
      }
    }
    if (i >= end) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatVerb(args[argNum++], verb, flags);
  }
  if (argNum < args.length) {
    const extra = args.slice(argNum).map((arg) => (isNil(arg) ? '<nil>' : `${goTypeOf(arg)}=${formatV(arg)}`));
    out += `%!(EXTRA ${extra.join(', ')})`;
  }
  return out;
}

function badVerb(value: unknown, verb: string): string {
  return isNil(value) ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeOf(value)}=${formatV(value)})`;
}

/** Pads to the width with spaces (zeros for numbers with the 0 flag, after the sign), left or right. */
function pad(text: string, flags: Flags, zeroAfter = -1): string {
  const length = [...text].length;
  if (flags.width === undefined || length >= flags.width) return text;
  const fill = flags.width - length;
  if (flags.minus) return text + ' '.repeat(fill);
  if (flags.zero && zeroAfter >= 0) return text.slice(0, zeroAfter) + '0'.repeat(fill) + text.slice(zeroAfter);
  return ' '.repeat(fill) + text;
}

function formatVerb(value: unknown, verb: string, flags: Flags): string {
  if (isNil(value)) return verb === 'v' ? pad('<nil>', flags) : verb === 'T' ? pad('<nil>', flags) : badVerb(value, verb);
  if (verb === 'T') return pad(goTypeOf(value), flags);
  switch (typeof value) {
    case 'boolean':
      return verb === 'v' || verb === 't' ? pad(String(value), flags) : badVerb(value, verb);
    case 'number':
      return Number.isInteger(value) && !'eEfFgG'.includes(verb) ? formatInteger(value, verb, flags) : formatFloat(value, verb, flags);
    case 'bigint':
      return formatInteger(Number(value), verb, flags);
    case 'string':
      return formatString(value, verb, flags);
    case 'object': {
      if (Array.isArray(value)) {
        return pad(`[${value.map((item) => formatVerb(item, verb, { ...flags, width: undefined })).join(' ')}]`, flags);
      }
      // A function-valued field is a method, which fmt does not print.
      const map = value as Record<string, unknown>;
      const inner = { ...flags, width: undefined };
      return pad(`map[${sortedKeys(map).filter((key) => typeof map[key] !== 'function').map((key) => `${formatVerb(key, verb, inner)}:${formatVerb(map[key], verb, inner)}`).join(' ')}]`, flags);
    }
    case 'function':
      return pad('<func>', flags);
    default:
      return badVerb(value, verb);
  }
}

function formatInteger(value: number, verb: string, flags: Flags): string {
  const negative = value < 0;
  const abs = Math.abs(value);
  let digits: string;
  let prefix = '';
  switch (verb) {
    case 'v':
    case 'd':
      digits = abs.toString(10);
      break;
    case 'b':
      digits = abs.toString(2);
      if (flags.sharp) prefix = '0b';
      break;
    case 'o':
    case 'O':
      digits = abs.toString(8);
      if (verb === 'O') prefix = '0o';
      else if (flags.sharp) prefix = '0';
      break;
    case 'x':
    case 'X':
      digits = abs.toString(16);
      if (verb === 'X') digits = digits.toUpperCase();
      if (flags.sharp) prefix = verb === 'X' ? '0X' : '0x';
      break;
    case 'c':
      return pad(String.fromCodePoint(validRune(value)), flags);
    case 'q':
      return pad(quoteRune(validRune(value)), flags);
    case 'U': {
      const hex = abs.toString(16).toUpperCase().padStart(flags.precision ?? 4, '0');
      const rune = validRune(value);
      return pad(`U+${hex}${flags.sharp && isPrint(String.fromCodePoint(rune)) ? ` '${String.fromCodePoint(rune)}'` : ''}`, flags);
    }
    default:
      return badVerb(value, verb);
  }
  if (flags.precision !== undefined) {
    digits = flags.precision === 0 && abs === 0 ? '' : digits.padStart(flags.precision, '0');
  }
  const sign = negative ? '-' : flags.plus ? '+' : flags.space ? ' ' : '';
  const text = sign + prefix + digits;
  // Zero padding goes after the sign and prefix, and never with an explicit precision.
  return pad(text, flags, flags.precision === undefined ? sign.length + prefix.length : -1);
}

const validRune = (value: number) => (value >= 0 && value <= 0x10ffff && !(value >= 0xd800 && value <= 0xdfff) ? value : 0xfffd);

/** A positive finite double's exact decimal expansion: its digits (no trailing zeros) and decimal point. */
function exactDecimal(value: number): { digits: string; point: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (biased !== 0) mantissa |= 1n << 52n;
  const exp = (biased === 0 ? 1 : biased) - 1075;
  // value = mantissa * 2^exp = (mantissa * 5^-exp) / 10^-exp when exp < 0
  const digits = (exp >= 0 ? mantissa << BigInt(exp) : mantissa * 5n ** BigInt(-exp)).toString();
  const point = exp >= 0 ? digits.length : digits.length + exp;
  return { digits: digits.replace(/0+$/, '') || '0', point };
}

/** Rounds decimal digits to the first `keep`, halves to even (strconv's rounding of the exact value). */
function roundDecimal({ digits, point }: { digits: string; point: number }, keep: number): { digits: string; point: number } {
  if (keep >= digits.length) return { digits, point };
  if (keep < 0) return { digits: '0', point };
  const next = digits[keep]!;
  const up = next > '5' || (next === '5' && (/[1-9]/.test(digits.slice(keep + 1)) || (keep > 0 && Number(digits[keep - 1]) % 2 === 1)));
  let kept = digits.slice(0, keep);
  if (up) {
    const incremented = (BigInt(kept || '0') + 1n).toString();
    if (incremented.length > keep) return { digits: incremented.replace(/0+$/, '') || '0', point: point + 1 };
    kept = incremented.padStart(keep, '0');
  }
  kept = kept.replace(/0+$/, '');
  return kept === '' ? { digits: '0', point: point } : { digits: kept, point };
}

/** The decimal digits of a positive float and its decimal point: shortest, or rounded to `significant` digits. */
function decimal(value: number, significant?: number): { digits: string; point: number } {
  if (value === 0) return { digits: '0', point: 1 };
  if (significant === undefined) {
    const [mantissa, exponent] = value.toExponential().split('e');
    return { digits: mantissa!.replace('.', ''), point: Number(exponent) + 1 };
  }
  return roundDecimal(exactDecimal(value), significant);
}

function fixed(digits: string, point: number, decimals: number): string {
  let whole: string;
  let fraction: string;
  if (point <= 0) {
    whole = '0';
    fraction = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    whole = digits + '0'.repeat(point - digits.length);
    fraction = '';
  } else {
    whole = digits.slice(0, point);
    fraction = digits.slice(point);
  }
  fraction = fraction.slice(0, decimals).padEnd(decimals, '0');
  return decimals > 0 ? `${whole}.${fraction}` : whole;
}

function exponential(digits: string, point: number, decimals: number, e: string): string {
  const exp = point - 1;
  const mantissa = decimals > 0 ? `${digits[0]}.${digits.slice(1, 1 + decimals).padEnd(decimals, '0')}` : digits[0]!;
  return `${mantissa}${e}${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** strconv.FormatFloat of a finite non-negative value for %e, %f and %g (precision undefined: shortest). */
function formatFloatAbs(value: number, verb: string, precision: number | undefined, sharp: boolean): string {
  const e = verb === 'E' || verb === 'G' ? 'E' : 'e';
  switch (verb) {
    case 'e':
    case 'E': {
      const { digits, point } = decimal(value, precision === undefined ? undefined : precision + 1);
      return exponential(digits, point, precision ?? digits.length - 1, e);
    }
    case 'f':
    case 'F': {
      if (precision !== undefined) {
        if (value === 0) return fixed('0', 1, precision);
        const exact = exactDecimal(value);
        const { digits, point } = roundDecimal(exact, exact.point + precision);
        return fixed(digits, point, precision);
      }
      const { digits, point } = decimal(value);
      return fixed(digits, point, Math.max(digits.length - point, 0));
    }
    default: {
      // %g: %e for an exponent below -4 or at least the precision (6 when shortest), else %f; no trailing zeros.
      const { digits, point } = decimal(value, precision === undefined ? undefined : Math.max(precision, 1));
      let eprec = precision === undefined ? 6 : Math.max(precision, 1);
      if (precision !== undefined && eprec > digits.length && digits.length >= point) eprec = digits.length;
      const trimmed = sharp ? digits : digits.replace(/0+$/, '') || '0';
      const exp = point - 1;
      if (exp < -4 || exp >= eprec) return exponential(trimmed, point, trimmed.length - 1, e);
      return fixed(trimmed, point, Math.max(trimmed.length - point, 0));
    }
  }
}

function formatFloat(value: number, verb: string, flags: Flags): string {
  if (!'vbeEfFgGxX'.includes(verb) || verb === 'b' || verb === 'x' || verb === 'X') return badVerb(value, verb);
  const shortestV = verb === 'v';
  const precision = flags.precision ?? ('eEfF'.includes(verb) ? 6 : undefined);
  let text: string;
  if (Number.isNaN(value)) text = 'NaN';
  else if (!Number.isFinite(value)) text = value > 0 ? (flags.plus ? '+Inf' : 'Inf') : '-Inf';
  else {
    const body = formatFloatAbs(Math.abs(value), shortestV ? 'g' : verb, shortestV ? flags.precision : precision, flags.sharp);
    const sign = value < 0 || Object.is(value, -0) ? '-' : flags.plus ? '+' : flags.space ? ' ' : '';
    return pad(sign + body, flags, sign.length);
  }
  return pad(text, { ...flags, zero: false });
}

function formatString(value: string, verb: string, flags: Flags): string {
  const text = flags.precision === undefined ? value : [...value].slice(0, flags.precision).join('');
  switch (verb) {
    case 'v':
    case 's':
      return pad(text, flags);
    case 'q':
      return pad(flags.sharp && canBackquote(text) ? `\`${text}\`` : quote(text, flags.plus), flags);
    case 'x':
    case 'X': {
      const bytes = Buffer.from(value, 'utf8');
      const hex = [...(flags.precision === undefined ? bytes : bytes.subarray(0, flags.precision))].map((byte) => byte.toString(16).padStart(2, '0'));
      const cased = (s: string) => (verb === 'X' ? s.toUpperCase() : s);
      const prefix = flags.sharp ? cased('0x') : '';
      return pad(flags.space ? hex.map((h) => prefix + cased(h)).join(' ') : prefix + cased(hex.join('')), flags);
    }
    default:
      return badVerb(value, verb);
  }
}

/** unicode.IsPrint, near enough: letters, marks, numbers, punctuation, symbols and the ASCII space. */
export const isPrint = (char: string): boolean => char === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(char);

function escapeRune(char: string, quoteChar: string, asciiOnly: boolean): string {
  const code = char.codePointAt(0)!;
  if (char === quoteChar || char === '\\') return `\\${char}`;
  if (asciiOnly ? code < 0x80 && isPrint(char) : isPrint(char)) return char;
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  if (named[char]) return named[char]!;
  if (code < 0x80 || (code >= 0xd800 && code <= 0xdfff)) return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : '\\ufffd';
  if (code < 0x10000) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/** strconv.Quote (QuoteToASCII with `asciiOnly`). */
export function quote(text: string, asciiOnly = false): string {
  let out = '"';
  for (const char of text) out += escapeRune(char, '"', asciiOnly);
  return `${out}"`;
}

/** strconv.QuoteRune. */
export function quoteRune(rune: number): string {
  return `'${escapeRune(String.fromCodePoint(rune), "'", false)}'`;
}

function canBackquote(text: string): boolean {
  for (const char of text) {
    if (char === '`' || char === '\ufeff') return false;
    if (char !== '\t' && !isPrint(char)) return false;
  }
  return true;
}
