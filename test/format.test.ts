import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ellipsis, formatRows, humanDuration, humanSize, renderTemplate, table } from '../src/cli/format.js';

test('sizes print like Docker (decimal units, 3 significant digits)', () => {
  const cases: [number, string][] = [
    [0, '0B'],
    [12, '12B'],
    [578, '578B'],
    [6300, '6.3kB'],
    [129_000, '129kB'],
    [1_982_286, '1.98MB'],
    [36_800_000, '36.8MB'],
    [659_000_000, '659MB'],
    [1_500_000_000, '1.5GB'],
  ];
  for (const [bytes, want] of cases) assert.equal(humanSize(bytes), want, String(bytes));
});

test('durations print like Docker', () => {
  const s = 1000;
  const h = 3600 * s;
  const cases: [number, string][] = [
    [500, 'Less than a second'],
    [s, '1 second'],
    [45 * s, '45 seconds'],
    [61 * s, 'About a minute'],
    [22 * 60 * s, '22 minutes'],
    [h, 'About an hour'],
    [5 * h, '5 hours'],
    [3 * 24 * h, '3 days'],
    [5 * 7 * 24 * h, '5 weeks'],
    [23 * 30 * 24 * h, '23 months'],
    [3 * 365 * 24 * h, '3 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, String(ms));
});

test('ellipsis cuts to 45 characters as docker history does', () => {
  const createdBy = '/bin/sh -c #(nop) ADD file:07cdbabf782942af0dd3c6e2d6c5b5e8f2a6';
  assert.equal(ellipsis(createdBy, 45), '/bin/sh -c #(nop) ADD file:07cdbabf782942af0…');
  assert.equal(ellipsis('short', 45), 'short');
});

test('tables align like Go tabwriter with padding 3 and min width 10', () => {
  assert.equal(
    table(['REPOSITORY', 'TAG', 'SIZE'], [['busybox', 'latest', '1.98MB']]),
    'REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB',
  );
});

test('templates render fields, json and Go-style values', () => {
  const data = { ID: 'abc', Config: { Cmd: ['sh', '-c', 'x'], Labels: { b: '2', a: '1' } } };
  const cases: [string, string][] = [
    ['{{.ID}}', 'abc'],
    ['{{.Config.Cmd}}', '[sh -c x]'],
    ['{{json .Config.Cmd}}', '["sh","-c","x"]'],
    ['{{.Config.Labels}}', 'map[a:1 b:2]'],
    ['{{join .Config.Cmd ","}}', 'sh,-c,x'],
    ['{{.ID}}\\t{{upper .ID}}', 'abc\tABC'],
    ['{{.Missing}}', '<no value>'],
  ];
  for (const [template, want] of cases) assert.equal(renderTemplate(template, data), want, template);
});

test('formatRows: json lines, custom table, plain template', () => {
  const rows = [{ Repository: 'busybox', Tag: 'latest' }];
  const columns = [
    { header: 'REPOSITORY', field: 'Repository' },
    { header: 'TAG', field: 'Tag' },
  ];
  assert.equal(formatRows(rows, columns, 'json'), '{"Repository":"busybox","Tag":"latest"}');
  assert.equal(formatRows(rows, columns, '{{.Repository}}:{{.Tag}}'), 'busybox:latest');
  assert.equal(formatRows(rows, columns, 'table {{.Tag}}'), 'TAG\nlatest');
});
