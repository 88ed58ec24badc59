import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyChange, splitWords } from '../src/images/changes.js';
import type { ContainerConfig } from '../src/images/model.js';

test('changes apply like docker commit -c / import -c', () => {
  const cases: [string, ContainerConfig][] = [
    ['CMD ["node", "app.js"]', { Cmd: ['node', 'app.js'] }],
    ['CMD node app.js', { Cmd: ['/bin/sh', '-c', 'node app.js'] }],
    ['ENTRYPOINT ["/bin/sh"]', { Entrypoint: ['/bin/sh'] }],
    ['ENV A=1 B="two words"', { Env: ['A=1', 'B=two words'] }],
    ['ENV PATH /usr/bin:/bin', { Env: ['PATH=/usr/bin:/bin'] }],
    ['EXPOSE 8080 53/udp', { ExposedPorts: { '8080/tcp': {}, '53/udp': {} } }],
    ['LABEL a=b "c d"=e', { Labels: { a: 'b', 'c d': 'e' } }],
    ['USER nobody', { User: 'nobody' }],
    ['WORKDIR /app', { WorkingDir: '/app' }],
    ['VOLUME ["/data", "/logs"]', { Volumes: { '/data': {}, '/logs': {} } }],
    ['VOLUME /data', { Volumes: { '/data': {} } }],
    ['STOPSIGNAL SIGINT', { StopSignal: 'SIGINT' }],
    ['ONBUILD RUN echo hi', { OnBuild: ['RUN echo hi'] }],
    ['cmd ["lower"]', { Cmd: ['lower'] }],
  ];
  for (const [change, want] of cases) assert.deepEqual(applyChange({}, change), want, change);
});

test('ENV replaces an existing variable in place', () => {
  assert.deepEqual(applyChange({ Env: ['A=1', 'B=2'] }, 'ENV A=3'), { Env: ['A=3', 'B=2'] });
});

test('bad changes are refused', () => {
  for (const [change, message] of [
    ['FROM busybox', /not a valid change command/],
    ['RUN true', /not a valid change command/],
    ['EXPOSE notaport', /invalid containerPort/],
    ['ENV', /requires at least one argument/],
    ['ENV =x', /names can not be blank/],
    ['LABEL "unterminated', /unterminated quote/],
  ] as const) {
    assert.throws(() => applyChange({}, change), message, change);
  }
});

test('splitWords honours quotes and escapes', () => {
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', '']);
});
