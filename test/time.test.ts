/** Docker's `--since`/`--until` values (timetypes.GetTimestamp), table-driven. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTimestamp } from '../src/util/time.js';

const now = Date.parse('2026-06-15T12:00:00Z');

test('relative durations, Unix seconds and RFC 3339 times become ms since the epoch', () => {
  const cases: [string, number][] = [
    ['10m', now - 10 * 60_000],
    ['1h30m', now - 90 * 60_000],
    ['1.5s', now - 1500],
    ['500ms', now - 500],
    ['0s', now],
    ['1700000000', 1_700_000_000_000],
    ['1700000000.25', 1_700_000_000_250],
    ['2024-01-02T15:04:05Z', Date.UTC(2024, 0, 2, 15, 4, 5)],
    ['2024-01-02T15:04:05.123456789Z', Date.UTC(2024, 0, 2, 15, 4, 5, 123)],
    ['2024-01-02T15:04:05+02:00', Date.UTC(2024, 0, 2, 13, 4, 5)],
    ['2024-01-02T15:04Z', Date.UTC(2024, 0, 2, 15, 4)],
    ['2024-01-02T15:04:05', new Date(2024, 0, 2, 15, 4, 5).getTime()],
    ['2024-01-02', new Date(2024, 0, 2).getTime()],
  ];
  for (const [input, want] of cases) assert.equal(parseTimestamp(input, now), want, input);
});

test('anything else is an invalid-argument error naming the value', () => {
  for (const input of ['', 'yesterday', '10x', '2024-13-45T00:00:00Z', '2024/01/02', '1h-', '--1s']) {
    assert.throws(() => parseTimestamp(input, now), { code: 'invalid-argument', message: `failed to parse value as time or duration: ${JSON.stringify(input)}` }, input);
  }
});
