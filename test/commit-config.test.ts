import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeCommitConfig } from '../src/containers/commit.js';

const container = { Cmd: ['sh', '-c', 'run'], Env: ['PATH=/bin', 'A=1'], User: 'app', WorkingDir: '/srv', Labels: { a: '1' }, ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGINT' };

test('mergeCommitConfig: the given fields win, the rest come from the container, lists and maps are added to', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['nothing given', {}, container],
    ['a new Cmd', { Cmd: ['serve'] }, { ...container, Cmd: ['serve'] }],
    ['an Entrypoint drops the container\'s Cmd', { Entrypoint: ['/init'] }, { ...container, Cmd: undefined, Entrypoint: ['/init'] }],
    ['Env added to by key', { Env: ['A=2', 'B=3'] }, { ...container, Env: ['A=2', 'B=3', 'PATH=/bin'] }],
    ['Labels and ports added to', { Labels: { b: '2' }, ExposedPorts: { '443/tcp': {} } }, { ...container, Labels: { a: '1', b: '2' }, ExposedPorts: { '80/tcp': {}, '443/tcp': {} } }],
    ['User and WorkingDir given', { User: 'root', WorkingDir: '/' }, { ...container, User: 'root', WorkingDir: '/' }],
  ];
  for (const [name, given, expected] of cases) {
    const want = Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined));
    assert.deepEqual(mergeCommitConfig(given, container), want, name);
  }
});
