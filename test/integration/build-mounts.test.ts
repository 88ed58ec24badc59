/**
 * RUN --mount, end to end in real builds: cache mounts that persist across builds and never enter a layer, binds
 * of the context and of a stage, secrets and SSH agents passed for one step only, tmpfs; what enters the cache
 * key and what does not; bad mounts as one line with file:line. Needs root and runc.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, cliPath, contextDir, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc');
const skip = { skip: canRun ? false : 'needs root and runc' };

function store(): string {
  const root = tempDir('strata-mounts-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  return root;
}

const context = (files: Record<string, string>) => contextDir(files, 'strata-mounts-ctx-');

/** Every byte of every layer of an image, as `save` writes them: what a secret must never be part of. */
function savedBytes(root: string, image: string): Buffer {
  const file = path.join(tempDir('strata-mounts-save-'), 'image.tar');
  strataOk(root, ['save', '-o', file, image]);
  return fs.readFileSync(file);
}

const cacheUse = (out: string) => out.split('\n').filter((line) => line.startsWith(' ---> Using cache')).length;

test('a cache mount keeps its contents across builds, even --no-cache ones, and never enters a layer; builder prune clears it', skip, () => {
  const root = store();
  const dir = context({ Dockerfile: "FROM busybox\nRUN --mount=type=cache,target=/var/cache/app sh -c 'echo run >> /var/cache/app/log; echo runs: $(wc -l < /var/cache/app/log)'\n" });
  assert.match(strataOk(root, ['build', '-t', 'cached', dir]), /^runs: 1$/m);
  assert.match(strataOk(root, ['build', '--no-cache', '-t', 'cached', dir]), /^runs: 2$/m);
  // The image has no /var/cache/app of its own: neither the file nor the mount target is in its layers.
  assert.equal(strata(root, ['run', '--rm', 'cached', 'ls', '/var/cache/app']).status, 1);
  assert.match(strataOk(root, ['history', '--format', '{{.Size}}', 'cached']).split('\n')[0]!, /^0B$/);
  // The cached RUN step (active: the tagged image stands on it) and the cache mount.
  assert.match(strataOk(root, ['system', 'df']), /^Build Cache\s+2\s+1\s+\d+B/m);
  assert.match(strataOk(root, ['builder', 'prune', '-f']), /Total reclaimed space: [1-9]/);
  assert.match(strataOk(root, ['build', '--no-cache', '-t', 'cached', dir]), /^runs: 1$/m);
});

test('a new cache mount with from= starts with what the stage has at source', skip, () => {
  const root = store();
  const dir = context({
    Dockerfile: ['FROM busybox AS seed', 'RUN mkdir /seed && echo seeded > /seed/a', 'FROM busybox', 'RUN --mount=type=cache,id=seeded,target=/c,from=seed,source=/seed cat /c/a', ''].join('\n'),
  });
  assert.match(strataOk(root, ['build', dir]), /^seeded$/m);
});

test('binds: the context read-only by default, rw writes thrown away, a stage by from=, a source outside the context refused', skip, () => {
  const root = store();
  const dir = context({
    Dockerfile: [
      'FROM busybox AS tools',
      'RUN mkdir /tools && echo "from the tools stage" > /tools/note',
      'FROM busybox',
      'RUN --mount=type=bind,source=data,target=/data cat /data/input.txt',
      'RUN --mount=type=bind,source=data,target=/data sh -c "echo x > /data/new 2>/dev/null && echo wrote || echo read-only"',
      'RUN --mount=type=bind,source=data,target=/data,rw sh -c "echo x > /data/new && echo wrote"',
      'RUN --mount=type=bind,from=tools,source=/tools,target=/t cat /t/note',
      '',
    ].join('\n'),
    'data/input.txt': 'context input\n',
  });
  const out = strataOk(root, ['build', '-t', 'binds', dir]);
  assert.match(out, /^context input$/m);
  assert.match(out, /^read-only$/m);
  assert.match(out, /^wrote$/m);
  assert.match(out, /^from the tools stage$/m);
  assert.equal(fs.existsSync(path.join(dir, 'data', 'new')), false, 'the rw bind wrote to a copy');
  assert.equal(strata(root, ['run', '--rm', 'binds', 'ls', '/data']).status, 1, 'no mount target in the image');

  // The bound files are part of the cache key; a changed one reruns the step.
  assert.equal(cacheUse(strataOk(root, ['build', '-t', 'binds', dir])), 5);
  fs.writeFileSync(path.join(dir, 'data', 'input.txt'), 'changed input\n');
  const rebuilt = strataOk(root, ['build', '-t', 'binds', dir]);
  assert.match(rebuilt, /^changed input$/m);

  const outside = context({ Dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=../../etc,target=/x ls /x\n' });
  const refused = strata(root, ['build', outside]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^Error: Dockerfile:2: bind source "..\/..\/etc" does not exist in the build context\n$|^Error: Dockerfile:2: bind source "..\/..\/etc" is outside the build context\n$/);
});

test('secrets: a file or a variable, for one step only, in no layer, history or log; a missing required one names its id', skip, () => {
  const root = store();
  const secretFile = path.join(tempDir('strata-mounts-secret-'), 'token');
  const secret = `s3cr3t-${process.pid}-value`;
  fs.writeFileSync(secretFile, secret);
  // The step sees the secret (its length and its first characters, checked inside); the image never holds it.
  const dir = context({
    Dockerfile: [
      'FROM busybox',
      `RUN --mount=type=secret,id=token sh -c 'test $(cat /run/secrets/token | wc -c) = ${secret.length} && grep -q "^s3cr3t-" /run/secrets/token && echo file ok'`,
      `RUN --mount=type=secret,id=token,env=TOKEN,target=/etc/token sh -c 'test \${#TOKEN} = ${secret.length} && test -f /etc/token && echo env ok'`,
      `RUN --mount=type=secret,id=absent sh -c 'ls /run/secrets 2>/dev/null || echo no secrets dir'`,
      '',
    ].join('\n'),
  });
  const out = spawnSync(process.execPath, [cliPath, '--root', root, 'build', '--secret', `id=token,src=${secretFile}`, '-t', 'secretive', dir], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /^file ok$/m);
  assert.match(out.stdout, /^env ok$/m);
  assert.match(out.stdout, /^no secrets dir$/m);
  assert.equal(out.stdout.includes(secret), false, 'the secret is not in the transcript');
  assert.equal(savedBytes(root, 'secretive').includes(secret), false, 'the secret is in no layer or config');
  assert.equal(strataOk(root, ['history', '--no-trunc', 'secretive']).includes(secretFile), false);

  // From the environment, by id; a changed secret is no cache miss (BuildKit keeps secrets out of keys too).
  const envDir = context({ Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=API_KEY,env=KEY sh -c "echo key has ${#KEY} characters"\n' });
  const first = spawnSync(process.execPath, [cliPath, '--root', root, 'build', '--secret', 'id=API_KEY', envDir], { encoding: 'utf8', env: { ...process.env, API_KEY: 'abcdef' } });
  assert.match(first.stdout, /^key has 6 characters$/m, first.stderr);
  const second = spawnSync(process.execPath, [cliPath, '--root', root, 'build', '--secret', 'id=API_KEY', envDir], { encoding: 'utf8', env: { ...process.env, API_KEY: 'other' } });
  assert.equal(cacheUse(second.stdout), 1);

  const required = context({ Dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=npmrc,required=true cat /run/secrets/npmrc\n' });
  const missing = strata(root, ['build', required]);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, 'Error: Dockerfile:2: secret npmrc: not found (pass it with --secret id=npmrc,src=FILE or env=VAR)\n');
  assert.equal(strataOk(root, ['ps', '-aq']), '', 'no step container is left');
});

test('ssh: the agent socket is mounted and SSH_AUTH_SOCK points at it; tmpfs writes stay out of the layer', skip, async () => {
  const root = store();
  const socketPath = path.join(tempDir('strata-mounts-ssh-'), 'agent.sock');
  const agent = net.createServer((socket) => socket.end('agent\n'));
  await new Promise<void>((resolve) => agent.listen(socketPath, resolve));
  try {
    const dir = context({
      Dockerfile: [
        'FROM busybox',
        'RUN --mount=type=ssh sh -c "test -S $SSH_AUTH_SOCK && echo agent at $SSH_AUTH_SOCK"',
        'RUN --mount=type=tmpfs,target=/scratch,size=2m sh -c "echo x > /scratch/file && df /scratch | tail -1"',
        '',
      ].join('\n'),
    });
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      // Asynchronous: the agent answers in this process while the build runs.
      const child = spawn(process.execPath, [cliPath, '--root', root, 'build', '--ssh', `default=${socketPath}`, '-t', 'ssh', dir]);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^agent at \/run\/buildkit\/ssh_agent\.0$/m);
    assert.match(result.stdout, /^tmpfs\s+2048\s/m);
    assert.equal(strata(root, ['run', '--rm', 'ssh', 'ls', '/scratch']).status, 1);
  } finally {
    agent.close();
  }
});

test('bad mounts and networks: one line with file:line, nothing left behind', skip, () => {
  const root = store();
  const rows: [string, RegExp][] = [
    ['RUN --mount=type=volume,target=/x true', /^Error: Dockerfile:2: unsupported mount type "volume"\n$/],
    ['RUN --mount=type=cache,target=/x,colour=red true', /^Error: Dockerfile:2: unexpected key 'colour' for a cache mount\n$/],
    ['RUN --mount=type=cache,target=/x,sharing=sometimes true', /^Error: Dockerfile:2: unsupported sharing value "sometimes": use shared, private or locked\n$/],
    ['RUN --mount=type=cache,id=c,target=/a --mount=type=cache,id=c,target=/b,sharing=locked true', /^Error: Dockerfile:2: cache mount "c" is used with sharing=shared and sharing=locked\n$/],
    ['RUN --mount=type=bind true', /^Error: Dockerfile:2: a bind mount needs a target\n$/],
    ['RUN --network=bridge true', /^Error: Dockerfile:2: unsupported network mode "bridge": use default, none or host\n$/],
  ];
  for (const [line, expected] of rows) {
    const result = strata(root, ['build', context({ Dockerfile: `FROM busybox\n${line}\n` })]);
    assert.equal(result.status, 1, line);
    assert.match(result.stderr, expected, line);
  }
  assert.equal(strataOk(root, ['ps', '-aq']), '');
  assert.doesNotMatch(strataOk(root, ['images', '-a']), /<none>/);
  const none = strataOk(root, ['build', context({ Dockerfile: 'FROM busybox\nRUN --network=none sh -c "ls /sys/class/net"\n' })]);
  assert.match(none, /^lo$/m);
});
