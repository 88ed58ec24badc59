import { invalidArgument } from '../errors.js';
import { parseGoDuration } from './duration.js';

/**
 * A point in time as Docker's `--since`/`--until` take it (its timetypes.GetTimestamp), in ms since the epoch:
 * a Go duration before `now` (`10m`, `1h30m`), Unix seconds with an optional fraction (`1700000000.5`), or an
 * RFC 3339 date, time or both (`2024-01-02`, `2024-01-02T15:04:05Z`, with an offset or, without one, local time).
 */
export function parseTimestamp(value: string, now = Date.now()): number {
  if (/^\d+(?:\.\d+)?$/.test(value)) return Number(value) * 1000;
  if (/^[-+]?(?:\d*\.?\d+(?:ns|us|µs|μs|ms|s|m|h))+$/.test(value)) return now - parseGoDuration(value) / 1e6;
  const date = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(\.\d+)?)?)?)?(Z|[-+]\d\d:\d\d)?$/.exec(value);
  if (!date) throw invalidArgument(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zone] = date;
  const millis = Math.floor(Number(`0${fraction || '.0'}`) * 1000);
  const parsed = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second}.${String(millis).padStart(3, '0')}${zone ?? ''}`);
  if (Number.isNaN(parsed)) throw invalidArgument(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  return parsed;
}

/** Nanoseconds since the epoch as Go marshals a time.Time (RFC 3339, in UTC, the fraction without trailing zeros). */
export function rfc3339Nano(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = String(ns % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}
