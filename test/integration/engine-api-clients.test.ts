/**
 * The Engine API with the real clients (no mocks): `strata system service` on a unix socket, driven by the docker
 * CLI (28.x at /usr/local/bin/docker and Debian's 20.10 at /usr/bin/docker, each that is installed), dockerode,
 * testcontainers 10 and docker-py (Debian's python3-docker). Each client's cases are skipped when it is missing.
 * Needs root, runc and conmon, as the container tests do; nothing is pulled (busybox is imported).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type Dockerode from 'dockerode';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc') && hasCommand('conmon');
const needs = canRun ? false : 'needs root, runc and conmon';

const dockerBinaries = ['/usr/local/bin/docker', '/usr/bin/docker'].filter((bin) => fs.existsSync(bin));
const pythonScript = fileURLToPath(new URL('../../../test/integration/engine-api-clients.py', import.meta.url));

/** Python interpreters with docker-py: Debian's (python3-docker) first, then another python3 on the PATH. */
const pythons = (() => {
  const found = new Map<string, { bin: string; version: string }>();
  for (const bin of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(bin, ['-c', 'import os, sys, docker; print(os.path.realpath(sys.executable), docker.__version__)'], { encoding: 'utf8', timeout: 20_000 });
    if (probe.status !== 0) continue;
    const [real = bin, version = '?'] = probe.stdout.trim().split(' ');
    if (!found.has(real)) found.set(real, { bin, version });
  }
  return [...found.values()];
})();

let root = '';
let work = '';
let socketPath = '';
let dockerHost = '';
let service: { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } | undefined;

// ---------------------------------------------------------------------------------------------------------------
// Processes and the service

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  output: Buffer;
}

/**
 * Runs a command without blocking the test runner, killed with SIGKILL after `timeoutMs` (the docker CLI relays
 * SIGTERM to its container instead of exiting).
 */
function run(command: string, args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const output = Buffer.concat(out);
      resolve({ status, signal, stdout: output.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), output });
    });
    if (options.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(options.input);
    }
  });
}

/** The environment a client gets: this service's socket, no user config or context, the classic builder. */
function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_CONFIG: path.join(work, 'docker-config'), DOCKER_BUILDKIT: '0', ...extra };
  for (const name of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_API_VERSION']) delete env[name];
  return env;
}

function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function startService(): Promise<void> {
  const child = spawn(process.execPath, [cliPath, '--root', root, 'system', 'service', '-t', '0', `unix://${socketPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  service = { child, exited, stderr: () => stderr };
  for (let i = 0; i < 200; i++) {
    if (await ping()) return;
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`the service did not answer GET /_ping: ${stderr}`);
}

/** SIGTERM, then the exit code (null when it had to be killed after `limitMs`). */
async function stopService(limitMs = 20_000): Promise<number | null> {
  const current = service;
  if (!current) return 0;
  service = undefined;
  current.child.kill('SIGTERM');
  const timer = setTimeout(() => current.child.kill('SIGKILL'), limitMs);
  const code = await current.exited;
  clearTimeout(timer);
  return current.child.signalCode === 'SIGKILL' ? null : code;
}

before(async () => {
  if (!canRun) return;
  root = tempDir('strata-clients-');
  work = tempDir('strata-clients-work-');
  fs.mkdirSync(path.join(work, 'docker-config'));
  socketPath = path.join(work, 'api.sock');
  dockerHost = `unix://${socketPath}`;
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox:latest']);
  await startService();
});

after(async () => {
  if (!canRun || !root) return;
  const ids = strata(root, ['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) {
    if (dockerBinaries[0] && service) await run(dockerBinaries[0], ['rm', '-f', ...ids], { env: clientEnv(), timeoutMs: 60_000 });
    strata(root, ['rm', '-f', ...ids]);
  }
  if (service) {
    const code = await stopService();
    assert.equal(code, 0, 'the service exits 0 on SIGTERM');
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Small helpers for the cases

async function connectAndRead(port: number, send = ''): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        let data = '';
        socket.setTimeout(5000, () => socket.destroy(new Error('read timed out')));
        socket.on('connect', () => (send ? socket.write(send) : undefined));
        socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const lines = (text: string) => text.split('\n').filter(Boolean);

// ---------------------------------------------------------------------------------------------------------------
// The docker CLI, each version installed

if (dockerBinaries.length === 0) test('docker CLI', { skip: 'no docker CLI: apt-get install docker.io' }, () => undefined);
for (const bin of dockerBinaries) {
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const major = /version (\d+)/.exec(version)?.[1] ?? 'x';
  const p = `cli${major}`; // a prefix for this binary's names

  describe(`docker CLI: ${version} (${bin})`, { skip: needs }, () => {
    const docker = (args: string[], options: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) =>
      run(bin, args, { ...options, env: clientEnv(options.env) });
    const dockerOk = async (args: string[], options: { input?: string | Buffer; timeoutMs?: number } = {}) => {
      const result = await docker(args, options);
      assert.equal(result.status, 0, `docker ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}`);
      return result.stdout;
    };
    /** Removes the named containers whatever their state; errors are ignored (the case has failed already). */
    const removeAll = async (...names: string[]) => {
      await docker(['rm', '-f', ...names], { timeoutMs: 20_000 });
    };

    test('version and info: API 1.41, linux', { timeout: 30_000 }, async () => {
      assert.equal((await dockerOk(['version', '--format', '{{.Server.APIVersion}}'])).trim(), '1.41');
      assert.equal((await dockerOk(['version', '--format', '{{.Client.APIVersion}}'])).trim(), '1.41');
      const info = JSON.parse(await dockerOk(['info', '--format', '{{json .}}'])) as Record<string, unknown>;
      assert.equal(info.OSType, 'linux');
      assert.equal((info.Swarm as { LocalNodeState: string }).LocalNodeState, 'inactive');
      assert.ok(Number(info.NCPU) > 0);
      assert.ok(Number(info.Images) >= 1);
    });

    test('images, inspect, history, tag, rmi', { timeout: 30_000 }, async () => {
      const id = (await dockerOk(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      assert.ok(lines(await dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}}'])).includes('busybox:latest'));
      const history = lines(await dockerOk(['history', '--no-trunc', '--format', '{{.ID}}\t{{.Comment}}', 'busybox']));
      assert.deepEqual(history, [`${id}\tImported from -`]);
      await dockerOk(['tag', 'busybox', `${p}-tagged:1`]);
      assert.equal((await dockerOk(['image', 'inspect', '-f', '{{.Id}}', `${p}-tagged:1`])).trim(), id);
      assert.ok(lines(await dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}}'])).includes(`${p}-tagged:1`));
      await dockerOk(['rmi', `${p}-tagged:1`]);
      const gone = await docker(['image', 'inspect', `${p}-tagged:1`]);
      assert.equal(gone.status, 1);
      assert.match(gone.stderr, /No such image/i);
      // busybox itself stays.
      assert.equal((await dockerOk(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim(), id);
    });

    test('rmi prints the name as given (Untagged: NAME:TAG)', { timeout: 30_000 }, async () => {
      await dockerOk(['tag', 'busybox', `${p}-untag:1`]);
      try {
        assert.equal((await dockerOk(['rmi', `${p}-untag:1`])).trim(), `Untagged: ${p}-untag:1`);
      } finally {
        await docker(['rmi', `${p}-untag:1`]);
      }
    });

    test('run --rm: the output and exit code 0; exit code 3 propagated; stderr apart from stdout', { timeout: 60_000 }, async () => {
      const hello = await docker(['run', '--rm', 'busybox', 'echo', 'hello']);
      assert.deepEqual([hello.status, hello.stdout], [0, 'hello\n']);
      const three = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']);
      assert.deepEqual([three.status, three.stdout], [3, '']);
      const split = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2']);
      assert.equal(split.status, 0);
      assert.equal(split.stdout, 'to-out\n');
      assert.equal(split.stderr, 'to-err\n');
    });

    test('run -i: piped stdin reaches the container and its end ends cat', { timeout: 30_000 }, async () => {
      const name = `${p}-stdin`;
      try {
        const result = await docker(['run', '--rm', '-i', '--name', name, 'busybox', 'cat'], { input: 'hi\n', timeoutMs: 10_000 });
        assert.equal(result.signal, null, 'docker run -i hung (killed after 10 s)');
        assert.deepEqual([result.status, result.stdout], [0, 'hi\n']);
      } finally {
        await removeAll(name);
      }
    });

    describe('a detached container: ps, logs, exec, stop, rm', () => {
      const name = `${p}-detached`;
      before(async () => {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'i=0; while true; do echo line$i; echo err$i >&2; i=$((i+1)); sleep 0.2; done']);
        await until('three lines of output', async () => ((await docker(['logs', name])).stdout.includes('line2') ? true : undefined));
      });
      after(() => removeAll(name));

      test('ps lists it as running', { timeout: 20_000 }, async () => {
        const rows = lines(await dockerOk(['ps', '--filter', `name=${name}`, '--format', '{{.Names}}\t{{.Image}}\t{{.State}}\t{{.Status}}']));
        assert.equal(rows.length, 1);
        const [listed, image, state, status] = rows[0]!.split('\t');
        assert.deepEqual([listed, image, state], [name, 'busybox', 'running']);
        assert.match(status!, /^Up /);
      });

      test('logs: stdout and stderr apart, --tail, -t', { timeout: 20_000 }, async () => {
        const all = await docker(['logs', name]);
        assert.match(all.stdout, /^line0\nline1\nline2\n/);
        assert.doesNotMatch(all.stdout, /err/);
        assert.match(all.stderr, /^err0\nerr1\nerr2\n/);
        const tail = await docker(['logs', '--tail', '1', name]);
        assert.equal(lines(tail.stdout).length + lines(tail.stderr).length, 1);
        const stamped = await docker(['logs', '-t', '--tail', '2', name]);
        for (const line of [...lines(stamped.stdout), ...lines(stamped.stderr)]) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z (line|err)\d+$/);
      });

      test('logs -f streams new lines (stopped after 3 s)', { timeout: 20_000 }, async () => {
        const followed = await docker(['logs', '-f', '--tail', '0', name], { timeoutMs: 3000 });
        assert.equal(followed.signal, 'SIGKILL', 'logs -f of a running container keeps following');
        assert.match(followed.stdout, /^line\d+\n/, 'lines written after the follow began arrived');
      });

      test('exec: the exit code, output, and piped stdin with -i', { timeout: 20_000 }, async () => {
        const five = await docker(['exec', name, 'sh', '-c', 'echo in-exec; exit 5']);
        assert.deepEqual([five.status, five.stdout], [5, 'in-exec\n']);
        const piped = await docker(['exec', '-i', name, 'cat'], { input: 'piped\n', timeoutMs: 10_000 });
        assert.equal(piped.signal, null, 'exec -i hung');
        assert.deepEqual([piped.status, piped.stdout], [0, 'piped\n']);
      });

      test('stop: the shell ignores SIGTERM as pid 1, so it is killed; ps -a shows Exited (137)', { timeout: 30_000 }, async () => {
        assert.equal((await dockerOk(['stop', '-t', '1', name])).trim(), name);
        const status = (await dockerOk(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).trim();
        assert.match(status, /^Exited \((137|143)\)/);
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.ExitCode}}', name])).trim().replace('143', '137'), '137');
      });

      test('rm', { timeout: 20_000 }, async () => {
        assert.equal((await dockerOk(['rm', name])).trim(), name);
        assert.equal((await dockerOk(['ps', '-a', '-q', '--filter', `name=${name}`])).trim(), '');
      });
    });

    test('logs -f of a container that exits ends with it', { timeout: 30_000 }, async () => {
      const name = `${p}-follow`;
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'echo first; sleep 1; echo second']);
        const followed = await docker(['logs', '-f', name], { timeoutMs: 15_000 });
        assert.deepEqual([followed.signal, followed.status, followed.stdout], [null, 0, 'first\nsecond\n']);
      } finally {
        await removeAll(name);
      }
    });

    test('create, then start -a: the output and the exit code', { timeout: 30_000 }, async () => {
      const name = `${p}-created`;
      try {
        const id = (await dockerOk(['create', '--name', name, 'busybox', 'sh', '-c', 'echo from-created; exit 4'])).trim();
        assert.match(id, /^[0-9a-f]{64}$/);
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'created');
        const started = await docker(['start', '-a', name]);
        assert.deepEqual([started.status, started.stdout], [4, 'from-created\n']);
        assert.equal((await dockerOk(['wait', name])).trim(), '4');
      } finally {
        await removeAll(name);
      }
    });

    test('wait: blocks until the exit and prints its code', { timeout: 30_000 }, async () => {
      const name = `${p}-wait`;
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sh', '-c', 'sleep 1; exit 6']);
        assert.equal((await dockerOk(['wait', name])).trim(), '6');
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).trim(), 'exited 6');
      } finally {
        await removeAll(name);
      }
    });

    test('run --rm -p 0:80: nc answers on the published host port; docker port shows it', { timeout: 60_000 }, async () => {
      const name = `${p}-nc`;
      const running = docker(['run', '--rm', '--name', name, '-p', '0:80', 'busybox', 'busybox', 'nc', '-l', '-p', '80', '-e', 'echo', 'hello'], { timeoutMs: 40_000 });
      try {
        const port = await until('the published port', async () => {
          const shown = await docker(['port', name, '80/tcp']);
          const match = /:(\d+)\s*$/m.exec(shown.stdout);
          return shown.status === 0 && match ? Number(match[1]) : undefined;
        });
        assert.ok(port > 0 && port < 65536);
        assert.equal(await connectAndRead(port), 'hello\n');
        const result = await running;
        assert.deepEqual([result.signal, result.status], [null, 0]);
        assert.equal((await dockerOk(['ps', '-a', '-q', '--filter', `name=${name}`])).trim(), '', '--rm removed it');
      } finally {
        await removeAll(name);
        await running;
      }
    });

    test('run -d -p 80: httpd serves a file on the published port; ps shows the mapping', { timeout: 60_000 }, async () => {
      const name = `${p}-httpd`;
      try {
        await dockerOk(['run', '-d', '--name', name, '-p', '80', 'busybox', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
        const mapping = (await dockerOk(['port', name])).trim();
        const match = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/m.exec(mapping);
        assert.ok(match, mapping);
        const port = Number(match[1]);
        assert.match(await dockerOk(['ps', '--filter', `name=${name}`, '--format', '{{.Ports}}']), new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp`));
        const page = await connectAndRead(port, 'GET /passwd HTTP/1.0\r\n\r\n');
        assert.match(page, /^HTTP\/1\.[01] 200/);
        assert.match(page, /root:x:0:0:root/);
      } finally {
        await removeAll(name);
      }
    });

    test('stop of a --rm container', { timeout: 30_000 }, async () => {
      const name = `${p}-rm-stop`;
      try {
        await dockerOk(['run', '-d', '--rm', '--name', name, 'busybox', 'sleep', '1000']);
        const stopped = await docker(['stop', '-t', '1', name]);
        assert.deepEqual([stopped.status, stopped.stderr], [0, '']);
      } finally {
        await removeAll(name);
      }
    });

    test('rm -f of a running --rm container', { timeout: 30_000 }, async () => {
      const name = `${p}-rm-force`;
      try {
        await dockerOk(['run', '-d', '--rm', '--name', name, 'busybox', 'sleep', '1000']);
        const removed = await docker(['rm', '-f', name]);
        assert.deepEqual([removed.status, removed.stdout.trim(), removed.stderr], [0, name, '']);
      } finally {
        await removeAll(name);
      }
    });

    test('run -t: the container gets a pty, for run and exec; logs of a -t container', { timeout: 30_000 }, async () => {
      const direct = await docker(['run', '--rm', '-t', 'busybox', 'sh', '-c', '[ -t 1 ] && echo is-a-tty']);
      assert.deepEqual([direct.status, direct.stdout], [0, 'is-a-tty\r\n']);
      const name = `${p}-tty`;
      try {
        await dockerOk(['run', '-d', '-t', '--name', name, 'busybox', 'sh', '-c', 'echo in-tty; sleep 1000']);
        await until('the output', async () => ((await docker(['logs', name])).stdout.includes('in-tty') ? true : undefined));
        assert.equal(await dockerOk(['logs', name]), 'in-tty\r\n');
        assert.equal(await dockerOk(['exec', '-t', name, 'sh', '-c', '[ -t 1 ] && echo exec-tty']), 'exec-tty\r\n');
      } finally {
        await removeAll(name);
      }
    });

    test('pause, unpause, restart', { timeout: 30_000 }, async () => {
      const name = `${p}-pause`;
      const status = async () => (await dockerOk(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).trim();
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
        const pid = (await dockerOk(['inspect', '-f', '{{.State.Pid}}', name])).trim();
        await dockerOk(['pause', name]);
        assert.match(await status(), /^Up .* \(Paused\)$/);
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', name])).trim(), 'paused true');
        await dockerOk(['unpause', name]);
        assert.match(await status(), /^Up .*[^)]$/);
        await dockerOk(['restart', '-t', '1', name]);
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.Status}}', name])).trim(), 'running');
        assert.notEqual((await dockerOk(['inspect', '-f', '{{.State.Pid}}', name])).trim(), pid, 'a new process');
      } finally {
        await removeAll(name);
      }
    });

    test('refusals: a name in use, rm of a running container', { timeout: 30_000 }, async () => {
      const name = `${p}-taken`;
      try {
        const id = (await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000'])).trim();
        const again = await docker(['run', '-d', '--name', name, 'busybox', 'true']);
        assert.equal(again.status, 125);
        assert.match(again.stderr, new RegExp(`Conflict\\. The container name "/${name}" is already in use by container "${id}"`));
        const rm = await docker(['rm', name]);
        assert.equal(rm.status, 1);
        assert.match(rm.stderr, /You cannot remove a running container/);
      } finally {
        await removeAll(name);
      }
    });

    test('kill, then rm at once', { timeout: 30_000 }, async () => {
      const name = `${p}-killed`;
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
        await dockerOk(['kill', name]);
        assert.equal((await dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).trim(), 'exited 137');
        await dockerOk(['rm', name]);
      } finally {
        await removeAll(name);
      }
    });

    test('volumes: create, use from two containers, inspect, ls, rm; network ls', { timeout: 30_000 }, async () => {
      const volume = `${p}-vol`;
      try {
        assert.equal((await dockerOk(['volume', 'create', volume])).trim(), volume);
        await dockerOk(['run', '--rm', '-v', `${volume}:/data`, 'busybox', 'sh', '-c', 'echo kept > /data/f']);
        assert.equal(await dockerOk(['run', '--rm', '-v', `${volume}:/data`, 'busybox', 'cat', '/data/f']), 'kept\n');
        assert.equal((await dockerOk(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}}', volume])).trim(), `${volume} local`);
        assert.ok(lines(await dockerOk(['volume', 'ls', '-q'])).includes(volume));
        assert.equal((await dockerOk(['volume', 'rm', volume])).trim(), volume);
        assert.ok(!lines(await dockerOk(['volume', 'ls', '-q'])).includes(volume));
      } finally {
        await docker(['volume', 'rm', '-f', volume]);
      }
      assert.deepEqual(lines(await dockerOk(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).sort(), ['bridge bridge', 'host host', 'none null']);
    });

    test('cp both ways', { timeout: 30_000 }, async () => {
      const name = `${p}-cp`;
      const dir = tempDir('strata-clients-cp-');
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
        fs.writeFileSync(path.join(dir, 'in.txt'), 'from the host\n');
        await dockerOk(['cp', path.join(dir, 'in.txt'), `${name}:/tmp/in.txt`]);
        assert.equal(await dockerOk(['exec', name, 'cat', '/tmp/in.txt']), 'from the host\n');
        await dockerOk(['exec', name, 'sh', '-c', 'mkdir /out && echo from the container > /out/f.txt']);
        await dockerOk(['cp', `${name}:/out`, path.join(dir, 'out')]);
        assert.equal(fs.readFileSync(path.join(dir, 'out', 'f.txt'), 'utf8'), 'from the container\n');
      } finally {
        await removeAll(name);
      }
    });

    test('diff', { timeout: 30_000 }, async () => {
      const name = `${p}-diff`;
      try {
        await dockerOk(['run', '--name', name, 'busybox', 'sh', '-c', 'echo x > /added.txt; rm /bin/wc']);
        const changes = lines(await dockerOk(['diff', name]));
        assert.ok(changes.includes('A /added.txt'), changes.join('\n'));
        assert.ok(changes.includes('D /bin/wc'), changes.join('\n'));
        assert.ok(changes.includes('C /bin'), changes.join('\n'));
      } finally {
        await removeAll(name);
      }
    });

    test('commit', { timeout: 30_000 }, async () => {
      const name = `${p}-commit`;
      try {
        await dockerOk(['run', '--name', name, 'busybox', 'sh', '-c', 'echo committed > /c.txt']);
        const id = (await dockerOk(['commit', '-m', 'a message', '-c', 'CMD ["cat", "/c.txt"]', name, `${p}-committed:1`])).trim();
        assert.match(id, /^sha256:[0-9a-f]{64}$/);
        assert.equal(await dockerOk(['run', '--rm', `${p}-committed:1`]), 'committed\n');
        assert.match(await dockerOk(['history', '--format', '{{.Comment}}', `${p}-committed:1`]), /^a message$/m);
      } finally {
        await removeAll(name);
        await docker(['rmi', `${p}-committed:1`]);
      }
    });

    test('stats --no-stream', { timeout: 30_000 }, async () => {
      const name = `${p}-stats`;
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
        const row = (await dockerOk(['stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}}', name])).trim();
        assert.match(row, new RegExp(`^${name} \\d+\\.\\d+% \\S+ / \\S+$`));
      } finally {
        await removeAll(name);
      }
    });

    test('top', { timeout: 30_000 }, async () => {
      const name = `${p}-top`;
      try {
        await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
        assert.match(await dockerOk(['top', name]), /sleep 1000/);
      } finally {
        await removeAll(name);
      }
    });

    test('export', { timeout: 30_000 }, async () => {
      const name = `${p}-export`;
      try {
        await dockerOk(['create', '--name', name, 'busybox']);
        const exported = await docker(['export', name]);
        assert.equal(exported.status, 0, exported.stderr);
        const listing = spawnSync('tar', ['-t'], { input: exported.output, encoding: 'utf8' }).stdout;
        assert.match(listing, /^(\.\/)?bin\/busybox$/m);
      } finally {
        await removeAll(name);
      }
    });

    test('build (classic builder): RUN, COPY, CMD, the transcript; a second build uses the cache', { timeout: 120_000 }, async () => {
      const context = tempDir('strata-clients-ctx-');
      fs.writeFileSync(path.join(context, 'Dockerfile'), `FROM busybox\nRUN echo ${p}-ran && echo ${p}-built > /built.txt\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt", "/built.txt"]\n`);
      fs.writeFileSync(path.join(context, 'hello.txt'), `${p}-copied\n`);
      const tag = `${p}-app:1`;
      try {
        const first = await docker(['build', '-t', tag, context], { timeoutMs: 90_000 });
        assert.equal(first.status, 0, first.stderr);
        assert.match(first.stdout, /Step 1\/4 : FROM busybox\n/);
        assert.match(first.stdout, /Step 2\/4 : RUN echo /);
        assert.match(first.stdout, / ---> Running in [0-9a-f]{12}\n/);
        assert.match(first.stdout, new RegExp(`^${p}-ran$`, 'm'), 'the RUN step output is in the transcript');
        assert.match(first.stdout, /Step 3\/4 : COPY hello.txt \/hello.txt\n/);
        assert.match(first.stdout, /Step 4\/4 : CMD \["cat", "\/hello.txt", "\/built.txt"\]\n/);
        const built = /Successfully built ([0-9a-f]{12})\n/.exec(first.stdout);
        assert.ok(built, first.stdout);
        assert.match(first.stdout, new RegExp(`Successfully tagged ${tag}\\n`));
        const second = await docker(['build', '-t', tag, context], { timeoutMs: 90_000 });
        assert.equal(second.status, 0, second.stderr);
        assert.equal(second.stdout.match(/ ---> Using cache\n/g)?.length, 3, second.stdout);
        assert.match(second.stdout, new RegExp(`Successfully built ${built[1]}\\n`));
        assert.equal(await dockerOk(['run', '--rm', tag]), `${p}-copied\n${p}-built\n`);
      } finally {
        await docker(['rmi', tag]);
      }
    });

    test('save, then load: -o/-i and through a pipe', { timeout: 60_000 }, async () => {
      const tag = `${p}-saved:1`;
      const file = path.join(tempDir('strata-clients-save-'), 'saved.tar');
      try {
        await dockerOk(['tag', 'busybox', tag]);
        const id = (await dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag])).trim();
        await dockerOk(['save', '-o', file, tag]);
        const manifest = JSON.parse(spawnSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' }).stdout) as { RepoTags: string[] }[];
        assert.deepEqual(manifest.map((entry) => entry.RepoTags), [[tag]]);
        await dockerOk(['rmi', tag]);
        assert.equal((await dockerOk(['load', '-i', file])).trim(), `Loaded image: ${tag}`);
        assert.equal((await dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), id);
        const piped = await docker(['save', tag]);
        assert.equal(piped.status, 0, piped.stderr);
        await dockerOk(['rmi', tag]);
        assert.equal((await dockerOk(['load'], { input: piped.output })).trim(), `Loaded image: ${tag}`);
        assert.equal((await dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), id);
      } finally {
        await docker(['rmi', tag]);
      }
    });

    test('push to and pull from the embedded registry: Docker\'s progress, the same image ID back', { timeout: 60_000 }, async (t) => {
      const port = 20000 + Math.floor(Math.random() * 20000);
      const registry = spawn(process.execPath, [cliPath, '--root', tempDir('strata-clients-reg-root-'), 'registry', 'serve', '--addr', `127.0.0.1:${port}`, '--root', tempDir('strata-clients-reg-')], { stdio: 'ignore' });
      t.after(() => registry.kill());
      for (let i = 0; i < 100 && !(await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      const tag = `127.0.0.1:${port}/${p}/pushed:1`;
      await dockerOk(['tag', 'busybox', tag]);
      const id = (await dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag])).trim();
      const pushed = await dockerOk(['push', tag]);
      assert.match(pushed, /The push refers to repository \[127\.0\.0\.1:\d+\//);
      assert.match(pushed, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
      await dockerOk(['rmi', tag]);
      const pulled = await dockerOk(['pull', tag]);
      assert.match(pulled, /Pull complete|Already exists/);
      assert.match(pulled, /^Status: Downloaded newer image for 127\.0\.0\.1:\d+\/.*pushed:1$/m);
      assert.equal((await dockerOk(['image', 'inspect', '-f', '{{.Id}}', tag])).trim(), id);
      const missing = await docker(['pull', `127.0.0.1:${port}/${p}/absent:1`]);
      assert.notEqual(missing.status, 0);
      assert.match(missing.stderr, /not found|manifest unknown|does not exist/i);
      await docker(['rmi', tag]);
    });

    test('events --since --until: create, start, die, destroy of a run', { timeout: 30_000 }, async () => {
      const name = `${p}-events`;
      const since = Math.floor(Date.now() / 1000) - 1;
      await dockerOk(['run', '--rm', '--name', name, 'busybox', 'true']);
      const untilTime = (Date.now() / 1000 + 1).toFixed(3);
      const events = await docker(['events', '--since', String(since), '--until', untilTime, '--filter', `container=${name}`, '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'], { timeoutMs: 15_000 });
      assert.equal(events.signal, null, 'events --until ended');
      assert.equal(events.status, 0, events.stderr);
      // Docker also reports attach (the CLI's run attaches) and network events: only the container's life is compared.
      const actions = lines(events.stdout).filter((line) => line.startsWith('container ') && !/^container (attach|resize) /.test(line));
      assert.deepEqual(actions, ['create', 'start', 'die', 'destroy'].map((action) => `container ${action} ${name}`));
    });

    test('20 parallel run --rm true: all exit 0 and leave no container', { timeout: 180_000 }, async () => {
      const label = `interop.parallel=${p}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => docker(['run', '--rm', '--label', label, 'busybox', 'true'], { timeoutMs: 150_000 })));
      assert.deepEqual(
        results.map((result) => result.status),
        results.map(() => 0),
        results.map((result) => result.stderr).filter(Boolean).join('\n'),
      );
      assert.equal((await dockerOk(['ps', '-a', '-q', '--filter', `label=${label}`])).trim(), '');
    });

    test('a service restart: a run -d container keeps running, is listed and stoppable after it', { timeout: 60_000 }, async () => {
      const name = `${p}-survivor`;
      try {
        const id = (await dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000'])).trim();
        assert.equal(await stopService(), 0, 'the service exits 0 on SIGTERM');
        await startService();
        assert.equal((await dockerOk(['ps', '--no-trunc', '--filter', `name=${name}`, '--format', '{{.ID}} {{.State}}'])).trim(), `${id} running`);
        await dockerOk(['stop', '-t', '1', name]);
        assert.match((await dockerOk(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).trim(), /^Exited \((137|143)\)/);
      } finally {
        if (!service) await startService();
        await removeAll(name);
      }
    });

    test('docker ps and strata ps agree on a container strata run -d made', { timeout: 30_000 }, async () => {
      const name = `${p}-from-strata`;
      try {
        const id = strataOk(root, ['run', '-d', '--name', name, 'busybox', 'sleep', '1000']).trim();
        const viaDocker = lines(await dockerOk(['ps', '-q', '--no-trunc'])).sort();
        const viaStrata = lines(strataOk(root, ['ps', '-q', '--no-trunc'])).sort();
        assert.ok(viaDocker.includes(id), `${id} in ${viaDocker.join(' ')}`);
        assert.deepEqual(viaDocker, viaStrata);
        assert.equal((await dockerOk(['inspect', '-f', '{{.Name}} {{.State.Running}} {{.Config.Image}}', id])).trim(), `/${name} true busybox`);
      } finally {
        await removeAll(name);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// dockerode (and docker-modem under it)

describe('dockerode', { skip: needs }, () => {
  let docker: Dockerode;
  let loaded: string | false = false;
  before(async () => {
    try {
      const { default: Docker } = await import('dockerode');
      docker = new Docker({ socketPath });
    } catch (error) {
      loaded = `dockerode does not load: ${(error as Error).message}`;
    }
  });
  const demux = (stream: NodeJS.ReadableStream) => {
    const out = new PassThrough();
    const err = new PassThrough();
    const text = { out: '', err: '' };
    out.on('data', (chunk: Buffer) => (text.out += chunk.toString()));
    err.on('data', (chunk: Buffer) => (text.err += chunk.toString()));
    docker.modem.demuxStream(stream, out, err);
    return text;
  };
  const ended = (stream: NodeJS.ReadableStream, ms = 15_000) =>
    Promise.race([new Promise<void>((resolve) => stream.once('end', () => resolve())), sleep(ms).then(() => assert.fail('the stream did not end'))]);

  test('listImages', { timeout: 20_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const images = await docker.listImages();
    const busybox = images.find((image) => image.RepoTags?.includes('busybox:latest'));
    assert.ok(busybox, JSON.stringify(images));
    assert.match(busybox.Id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(busybox.SharedSize, -1);
  });

  test('createContainer, start, wait, logs, remove', { timeout: 30_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'echo out-line; echo err-line >&2; exit 3'], name: 'dockerode-basic' });
    try {
      await container.start();
      assert.deepEqual(await container.wait(), { Error: null, StatusCode: 3 });
      const logs = await container.logs({ stdout: true, stderr: true, follow: false });
      const stream = new PassThrough();
      stream.end(logs);
      const text = demux(stream);
      await ended(stream);
      await sleep(10);
      assert.deepEqual(text, { out: 'out-line\n', err: 'err-line\n' });
      const inspect = await container.inspect();
      assert.deepEqual([inspect.Name, inspect.State.Status, inspect.State.ExitCode], ['/dockerode-basic', 'exited', 3]);
    } finally {
      await container.remove({ force: true });
    }
    await assert.rejects(container.inspect(), (error: { statusCode?: number }) => error.statusCode === 404);
  });

  test('attach with hijack: stdin written after the start, its end closes the container stdin', { timeout: 30_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['sh', '-c', 'cat; echo cat-done'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    try {
      const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
      const text = demux(stream);
      const done = ended(stream);
      await container.start();
      stream.write('through-attach\n');
      stream.end();
      await done;
      assert.equal(text.out, 'through-attach\ncat-done\n');
      assert.equal((await container.wait()).StatusCode, 0);
    } finally {
      await container.remove({ force: true });
    }
  });

  test('attach with hijack: stdin written before the start', { timeout: 30_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    try {
      const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
      const text = demux(stream);
      const done = ended(stream, 8000);
      stream.write('early\n');
      stream.end();
      await sleep(200);
      await container.start();
      await done;
      assert.equal(text.out, 'early\n');
    } finally {
      await container.remove({ force: true });
    }
  });

  test('exec with hijack and stdin; inspect shows the ExitCode', { timeout: 30_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    try {
      await container.start();
      const exec = await container.exec({ Cmd: ['sh', '-c', 'read line; echo got:$line; echo to-err >&2; exit 7'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({ hijack: true, stdin: true });
      const text = demux(stream);
      const done = ended(stream);
      stream.write('abc\n');
      stream.end();
      await done;
      assert.deepEqual(text, { out: 'got:abc\n', err: 'to-err\n' });
      const inspect = await exec.inspect();
      assert.deepEqual([inspect.Running, inspect.ExitCode], [false, 7]);
    } finally {
      await container.remove({ force: true });
    }
  });

  test('getEvents: a live stream sees a container come and go', { timeout: 30_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const stream = (await docker.getEvents({ filters: { container: ['dockerode-events'] } })) as NodeJS.ReadableStream & { destroy(): void };
    const seen: string[] = [];
    let buffered = '';
    const destroyed = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
          const event = JSON.parse(buffered.slice(0, at)) as { Type: string; Action: string; Actor: { Attributes: Record<string, string> } };
          buffered = buffered.slice(at + 1);
          seen.push(event.Action);
          if (event.Action === 'destroy') resolve();
        }
      });
      stream.on('error', reject);
    });
    try {
      const container = await docker.createContainer({ Image: 'busybox', Cmd: ['true'], name: 'dockerode-events' });
      await container.start();
      await container.wait();
      await container.remove();
      await Promise.race([destroyed, sleep(15_000).then(() => assert.fail(`no destroy event; saw ${seen.join(',')}`))]);
      assert.deepEqual(seen, ['create', 'start', 'die', 'destroy']);
    } finally {
      stream.destroy();
    }
  });
  test('SIGTERM ends the service while an attach is open', { timeout: 60_000 }, async (t) => {
    if (loaded) return t.skip(loaded);
    const container = await docker.createContainer({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, name: 'dockerode-held' });
    try {
      await container.start();
      const stream = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
      stream.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      assert.equal(await stopService(10_000), 0, 'the service exits 0 on SIGTERM within 10 s');
      await Promise.race([closed, sleep(5000).then(() => assert.fail('the attach was not closed'))]);
    } finally {
      if (!service) await startService();
      await container.remove({ force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// testcontainers 10 (11+ need Node 22)

describe('testcontainers', { skip: needs }, () => {
  let tc: typeof import('testcontainers') | undefined;
  let loaded: string | false = false;
  const saved: Record<string, string | undefined> = {};
  const env = (): Record<string, string> => ({
    DOCKER_HOST: dockerHost,
    TESTCONTAINERS_RYUK_DISABLED: 'true',
    // The ports are published on this machine; the case below checks the host testcontainers finds by itself.
    TESTCONTAINERS_HOST_OVERRIDE: '127.0.0.1',
  });
  before(async () => {
    for (const [name, value] of Object.entries(env())) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    try {
      tc = await import('testcontainers');
    } catch (error) {
      loaded = `testcontainers does not load: ${(error as Error).message}`;
    }
  });
  after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  const listener = (port: number) => ['sh', '-c', `echo listening; exec busybox nc -ll -p ${port} -e echo hello`];

  test('GenericContainer: withExposedPorts, Wait.forLogMessage, getMappedPort, exec, stop', { timeout: 60_000 }, async (t) => {
    if (!tc) return t.skip(loaded || 'testcontainers did not load');
    const container = await new tc.GenericContainer('busybox').withCommand(listener(8080)).withExposedPorts(8080).withWaitStrategy(tc.Wait.forLogMessage('listening')).withStartupTimeout(30_000).start();
    try {
      const port = container.getMappedPort(8080);
      assert.ok(port > 0);
      assert.equal(await connectAndRead(port), 'hello\n');
      const exec = await container.exec(['sh', '-c', 'echo out; echo err >&2; exit 2']);
      assert.deepEqual([exec.exitCode, exec.stdout, exec.stderr], [2, 'out\n', 'err\n']);
    } finally {
      await container.stop({ timeout: 1 });
    }
  });

  test('GenericContainer: Wait.forListeningPorts', { timeout: 60_000 }, async (t) => {
    if (!tc) return t.skip(loaded || 'testcontainers did not load');
    const container = await new tc.GenericContainer('busybox').withCommand(listener(9090)).withExposedPorts(9090).withWaitStrategy(tc.Wait.forListeningPorts()).withStartupTimeout(30_000).start();
    try {
      assert.equal(await connectAndRead(container.getMappedPort(9090)), 'hello\n');
    } finally {
      await container.stop({ timeout: 1 });
    }
  });

  test(
    'the host testcontainers finds by itself in a container (/.dockerenv) reaches the ports',
    {
      timeout: 60_000,
      skip: fs.existsSync('/.dockerenv') ? false : 'only inside a container: elsewhere testcontainers takes localhost',
    },
    async () => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env() };
      delete childEnv.TESTCONTAINERS_HOST_OVERRIDE;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', "const { getContainerRuntimeClient } = await import('testcontainers'); console.log((await getContainerRuntimeClient()).info.containerRuntime.host)"], {
        env: childEnv,
        cwd: path.dirname(fileURLToPath(import.meta.url)),
        timeoutMs: 30_000,
      });
      const host = stdout.trim();
      const probe = net.connect(1, host);
      const reachable = await new Promise<boolean>((resolve) => {
        probe.setTimeout(2000, () => resolve(false));
        probe.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
        probe.on('connect', () => resolve(true));
      });
      probe.destroy();
      assert.ok(reachable, `testcontainers chose ${host}, which this machine cannot reach`);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// docker-py, each interpreter that has it

if (pythons.length === 0) test('docker-py', { skip: 'no python3 with docker-py: apt-get install python3-docker' }, () => undefined);
for (const python of pythons) {
  describe(`docker-py ${python.version} (${python.bin})`, { skip: needs }, () => {
    const prefix = `py${python.version.split('.')[0]}`;
    const pyCase = async (name: string): Promise<Record<string, unknown>> => {
      const result = await run(python.bin, [pythonScript, name, prefix], { env: clientEnv(), timeoutMs: 90_000 });
      assert.equal(result.signal, null, `${name} hung: ${result.stderr}`);
      assert.equal(result.status, 0, result.stderr.split('\n').slice(-3).join('\n'));
      return JSON.parse(result.stdout) as Record<string, unknown>;
    };

    test('version, info, images', { timeout: 60_000 }, async () => {
      const found = await pyCase('version');
      assert.equal(found.api, '1.41');
      assert.equal(found.os, 'linux');
      assert.ok((found.images as string[]).includes('busybox:latest'));
    });

    test('containers.run(remove=True) returns the output', { timeout: 60_000 }, async () => {
      assert.deepEqual(await pyCase('run_remove'), { out: 'hello\n', err: 'oops\n' });
    });

    test('containers.run of a failing command raises ContainerError with its exit status', { timeout: 60_000 }, async () => {
      assert.deepEqual(await pyCase('run_error'), { exit_status: 3 });
    });

    test('run detached, logs, exec_run (exit code, demux), list', { timeout: 60_000 }, async () => {
      assert.deepEqual(await pyCase('detached'), {
        status: 'running',
        logs: 'started\nwarn\n',
        stdout: 'started\n',
        exec_code: 4,
        exec_out: 'ex\n',
        demux: ['o\n', 'e\n'],
        listed: [`${prefix}-detached`],
      });
    });

    test('put_archive and get_archive', { timeout: 60_000 }, async () => {
      const found = await pyCase('archive');
      assert.deepEqual(found, { put: true, stat_name: 'from-py.txt', stat_size: 17, data: 'put by docker-py\n' });
    });

    test('diff', { timeout: 60_000 }, async () => {
      const { changes } = (await pyCase('diff')) as { changes: [number, string][] };
      assert.deepEqual(changes, [[0, '/bin'], [1, '/added.txt'], [2, '/bin/wc']].sort());
    });

    test('commit', { timeout: 60_000 }, async () => {
      const found = await pyCase('commit');
      assert.equal(found.out, 'committed\n');
    });

    test('images.build from a tar (fileobj, custom_context), cached the second time', { timeout: 120_000 }, async () => {
      const found = (await pyCase('build')) as { id: string; again: string; transcript: string; cached: string; code: number; out: string };
      assert.match(found.id, /^sha256:[0-9a-f]{64}$/);
      assert.equal(found.again, found.id);
      assert.match(found.transcript, /Step 2\/4 : RUN echo /);
      assert.match(found.transcript, /Successfully built [0-9a-f]{12}\n/);
      assert.match(found.transcript, new RegExp(`Successfully tagged ${prefix}-built:1\\n`));
      assert.equal(found.cached.match(/ ---> Using cache\n/g)?.length, 3, found.cached);
      assert.deepEqual([found.code, found.out], [0, `${prefix}-run\n${prefix}-data\n`]);
    });

    test('save and load', { timeout: 60_000 }, async () => {
      const found = (await pyCase('save_load')) as { bytes: number; tags: string[]; same_id: boolean };
      assert.ok(found.bytes > 1_000_000);
      assert.ok(found.tags.includes(`${prefix}-saved:1`), found.tags.join(' '));
      assert.equal(found.same_id, true);
    });

    test('events(decode=True): live with a timeout, and replayed with since/until', { timeout: 60_000 }, async () => {
      const found = await pyCase('events');
      assert.deepEqual(found, { seen: ['create', 'start', 'die', 'destroy'], replayed: ['create', 'start', 'die', 'destroy'] });
    });

    test('stats(stream=False)', { timeout: 60_000 }, async () => {
      const found = (await pyCase('stats')) as { keys: string[]; online_cpus: number; memory: number };
      for (const key of ['cpu_stats', 'precpu_stats', 'memory_stats', 'pids_stats']) assert.ok(found.keys.includes(key), key);
      assert.ok(found.online_cpus > 0);
      assert.ok(found.memory > 0);
    });
  });
}
