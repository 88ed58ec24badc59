/** Output formatting shared by every command: Docker's sizes, durations, tables and --format templates. */

import { invalidArgument, isInvalidArgument } from '../errors.js';
import { humanDuration } from '../util/duration.js';
import { isStruct, sortedKeys, withGoType } from './gofmt.js';
import { type InspectKind, typedInspect } from './inspect-view.js';
import { type FuncMap, parseTemplate, type Template } from './template.js';

const sizeUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** Docker's units.HumanSizeWithPrecision: decimal units, three significant digits (units.HumanSize: four). */
export function humanSize(bytes: number, precision = 3): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < sizeUnits.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(precision))}${sizeUnits[unit]}`;
}

export { humanDuration };

export function timeAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'N/A';
  const time = Date.parse(iso);
  if (Number.isNaN(time) || time <= 0) return 'N/A';
  return `${humanDuration(now - time)} ago`;
}

/** Go's time.Time String() form that Docker prints in CreatedAt: 2024-01-02 15:04:05 +0000 UTC */
export function goTime(iso: string | undefined): string {
  const time = iso ? new Date(iso) : undefined;
  if (!time || Number.isNaN(time.getTime())) return '';
  return `${time.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** Docker's stringutils.Ellipsis: cut to `max` characters, the last being "…". */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Go's tabwriter as Docker configures it (minwidth 10, padding 3); the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, col) => Math.max(10, ...all.map((row) => [...(row[col] ?? '')].length + 3)));
  return all
    .map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join('').trimEnd())
    .join('\n');
}

export type Row = Record<string, unknown>;

/** Docker's encoding/json of a value for `{{json .}}`: maps with sorted keys, structs in field order, no HTML escaping. */
function goJson(value: unknown, depth = 0): string {
  if (depth > 1000) throw new Error('json: value nested too deeply (more than 1000 levels)');
  if (value === undefined || value === null || typeof value === 'function' || typeof value === 'symbol') return 'null';
  if (typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => goJson(item, depth + 1)).join(',')}]`;
  if (typeof value === 'object') {
    const toJSON = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === 'function') return goJson(toJSON.call(value), depth + 1);
    const object = value as Record<string, unknown>;
    const keys = (isStruct(object) ? Object.keys(object) : sortedKeys(object)).filter((key) => object[key] !== undefined && typeof object[key] !== 'function');
    return `{${keys.map((key) => `${jsonString(key)}:${goJson(object[key], depth + 1)}`).join(',')}}`;
  }
  if (typeof value === 'string') return jsonString(value);
  return JSON.stringify(value) ?? 'null';
}

/** Go escapes U+2028 and U+2029 in JSON strings even without HTML escaping. */
const jsonString = (text: string) => JSON.stringify(text).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** strings.Title: the first letter of each word upper-cased. */
function title(text: string): string {
  let prev = ' ';
  let out = '';
  for (const char of text) {
    const separator = prev.charCodeAt(0) < 0x80 ? !/^[0-9A-Za-z_]$/.test(prev) : !/^[\p{L}\p{Nd}]$/u.test(prev) && /^\s$/u.test(prev);
    out += separator ? char.toUpperCase() : char;
    prev = char;
  }
  return out;
}

/** strings.Repeat's panic on a negative count, as text/template reports it. */
function spaces(count: number): string {
  if (count < 0) throw new Error('strings: negative Repeat count');
  return ' '.repeat(count);
}

/** Go's s[:n] on a string's bytes (a character cut in two is dropped). */
function truncateBytes(text: string, length: number): string {
  if (length < 0) throw new Error(`runtime error: slice bounds out of range [:${length}]`);
  const bytes = Buffer.from(text);
  if (bytes.length < length) return text;
  return bytes.subarray(0, length).toString('utf8').replace(/\ufffd$/, '');
}

/** Docker's template functions (docker/cli templates.basicFunctions), besides Go's built-ins. */
export const dockerFunctions: FuncMap = {
  json: { params: ['any'], call: (value: unknown) => goJson(value) },
  split: { params: ['string', 'string'], call: (text: string, sep: string) => withGoType(sep === '' ? [...text] : text.split(sep), '[]string') },
  join: { params: ['[]string', 'string'], call: (list: string[], sep: string) => list.join(sep) },
  title: { params: ['string'], call: (text: string) => title(text) },
  lower: { params: ['string'], call: (text: string) => text.toLowerCase() },
  upper: { params: ['string'], call: (text: string) => text.toUpperCase() },
  pad: { params: ['string', 'int', 'int'], call: (text: string, prefix: number, suffix: number) => (text === '' ? text : spaces(prefix) + text + spaces(suffix)) },
  truncate: { params: ['string', 'int'], call: (text: string, length: number) => truncateBytes(text, length) },
};

/** For table headers (docker/cli templates.HeaderFunctions): the header is kept as it is, only `pad` applies. */
const headerFunctions: FuncMap = {
  ...dockerFunctions,
  json: { params: ['string'], call: (text: string) => text },
  split: { params: ['string', 'string'], call: (text: string) => text },
  join: { params: ['string', 'string'], call: (text: string) => text },
  title: { params: ['string'], call: (text: string) => text },
  lower: { params: ['string'], call: (text: string) => text },
  upper: { params: ['string'], call: (text: string) => text },
  truncate: { params: ['string', 'int'], call: (text: string) => text },
};

/** Docker's Format preprocessing: the two-character escapes \t and \n become a tab and a newline. */
const unescapeFormat = (format: string) => format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');

/** Wraps a template error in Docker's words (`template parsing error: template: :1: unclosed action`). */
function wrapped<T>(prefix: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (isInvalidArgument(error)) throw invalidArgument(`${prefix}: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}

/** Parses a `--format` template with Docker's functions; a bad one is `template parsing error: ...`. */
export function parseFormat(format: string, prefix = 'template parsing error'): Template {
  return wrapped(prefix, () => parseTemplate(unescapeFormat(format), dockerFunctions));
}

/**
 * Go's text/template with Docker's functions (see template.ts), and the \t \n escapes. Objects in `data` are
 * maps (a missing key prints `<no value>`) unless tagged as structs with `withGoType`.
 */
export function renderTemplate(template: string, data: unknown): string {
  const parsed = parseFormat(template);
  return wrapped('template parsing error', () => parsed.execute(data, { funcs: dockerFunctions }));
}

/**
 * An inspect template on one object, as docker inspect runs it: on Docker's typed value first, and when that
 * fails on the raw JSON with missingkey=error (so `{{.Foo}}` is `map has no entry for key "Foo"`, while a
 * missing label is `<no value>` and `{{index . "Id"}}` works).
 */
export function renderInspect(template: Template, item: unknown, kind?: InspectKind): string {
  const typed = template.run(typedInspect(item, kind), { funcs: dockerFunctions });
  if (!typed.error) return typed.output;
  return wrapped('template parsing error', () => template.execute(item, { funcs: dockerFunctions, missingKey: 'error' }));
}

export interface FormatOptions {
  /** The Go type of a row as Docker's formatter names it (`*formatter.imageContext`), for unknown fields. */
  type?: string | ((row: Row) => string);
}

/**
 * Prints rows the way Docker's list commands do: a table by default, `json` as one object per line,
 * `table TEMPLATE` as a table with the template's columns, any other TEMPLATE as one line per row. A row is
 * a struct, as Docker's are: a field it does not have is an error (`template parsing error: ... can't evaluate
 * field Foo in type ...`), and so is a bad template, before anything is printed.
 */
export function formatRows(rows: Row[], columns: { header: string; field: string }[], format?: string, options: FormatOptions = {}): string {
  const cells = (row: Row) => columns.map((c) => String(row[c.field] ?? ''));
  if (!format || format === 'table') return table(columns.map((c) => c.header), rows.map(cells));
  if (format === 'json') return rows.map((row) => JSON.stringify(row)).join('\n');
  const isTable = format.startsWith('table ');
  const template = parseFormat(isTable ? format.slice('table '.length) : format);
  const typeOf = options.type ?? 'row';
  const rendered = rows.map((row) =>
    wrapped('template parsing error', () => template.execute(withGoType({ ...row }, typeof typeOf === 'string' ? typeOf : typeOf(row)), { funcs: dockerFunctions })),
  );
  if (!isTable) return rendered.join('\n');
  // The header: the same template over the column names (a field no column has is named by its key, upper-cased).
  const headerOf = new Map(columns.map((c) => [c.field, c.header]));
  const header = (key: string | symbol) => (typeof key === 'string' ? (headerOf.get(key) ?? key.toUpperCase()) : undefined);
  const headers = new Proxy({} as Record<string, unknown>, {
    get: (_, key) => header(key),
    getOwnPropertyDescriptor: (_, key) => (typeof key === 'string' ? { value: header(key), enumerable: true, configurable: true, writable: false } : undefined),
  });
  // As Docker's, a header the template cannot render is left as far as it got.
  const headerLine = template.run(headers, { funcs: headerFunctions }).output;
  return table(headerLine.split('\t'), rendered.map((line) => line.split('\t')));
}

/**
 * Docker's check of a `--format` template before listing (docker ps): it must parse and run on an empty row
 * of the command's fields, so that a bad template fails even when there is nothing to list.
 */
export function checkFormat(format: string, fields: readonly string[], type: string): void {
  if (format === '' || format === 'json' || format === 'table') return;
  const template = parseFormat(format, 'failed to parse template');
  const row = withGoType(Object.fromEntries(fields.map((field) => [field, ''])), type);
  wrapped('failed to execute template', () => template.execute(row, { funcs: dockerFunctions }));
}
