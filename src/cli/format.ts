/** Output formatting shared by every command: Docker's sizes, durations, tables and --format templates. */

import { compareText } from '../util/text.js';

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

/** Docker's units.HumanDuration, as in "About a minute", "5 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

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

/** Renders a value as Go's text/template prints it: slices as [a b], maps as map[k:v]. */
function goString(value: unknown): string {
  if (value === null || value === undefined) return '<no value>';
  if (Array.isArray(value)) return `[${value.map(goString).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareText(a, b));
    return `map[${entries.map(([k, v]) => `${k}:${goString(v)}`).join(' ')}]`;
  }
  return String(value);
}

function lookup(data: unknown, path: string): unknown {
  if (path === '.') return data;
  let value: unknown = data;
  for (const key of path.slice(1).split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * The part of Go's text/template that `--format` is used with: {{.Field.Sub}}, {{json .Field}}, {{.}},
 * {{upper .X}}, {{lower .X}}, {{join .X ","}}, and \t \n escapes.
 */
export function renderTemplate(template: string, data: unknown): string {
  return template
    .replace(/\\t/g, '\t')
    .replace(/\\n/g, '\n')
    .replace(/{{\s*(.*?)\s*}}/g, (_, expression: string) => {
      const words = expression.match(/"[^"]*"|\S+/g) ?? [];
      const [fn, arg, extra] = words;
      if (fn === 'json' && arg) return JSON.stringify(lookup(data, arg) ?? null);
      if (fn === 'upper' && arg) return goString(lookup(data, arg)).toUpperCase();
      if (fn === 'lower' && arg) return goString(lookup(data, arg)).toLowerCase();
      if (fn === 'join' && arg && extra) {
        const list = lookup(data, arg);
        return Array.isArray(list) ? list.map(goString).join(JSON.parse(extra) as string) : goString(list);
      }
      if (fn?.startsWith('.')) return goString(lookup(data, fn));
      throw new Error(`template: unsupported expression "{{${expression}}}"`);
    });
}

/**
 * Prints rows the way Docker's list commands do: a table by default, `json` as one object per line,
 * `table TEMPLATE` as a table with the template's columns, any other TEMPLATE as one line per row.
 */
export function formatRows(rows: Row[], columns: { header: string; field: string }[], format?: string): string {
  const cells = (row: Row) => columns.map((c) => String(row[c.field] ?? ''));
  if (!format || format === 'table') return table(columns.map((c) => c.header), rows.map(cells));
  if (format === 'json') return rows.map((row) => JSON.stringify(row)).join('\n');
  if (format.startsWith('table ')) {
    const template = format.slice('table '.length);
    const headerOf = new Map(columns.map((c) => [c.field, c.header]));
    const headers = renderTemplate(template, new Proxy({}, { get: (_, key) => headerOf.get(String(key)) ?? String(key).toUpperCase() })).split('\t');
    return table(headers, rows.map((row) => renderTemplate(template, row).split('\t')));
  }
  return rows.map((row) => renderTemplate(format, row)).join('\n');
}
