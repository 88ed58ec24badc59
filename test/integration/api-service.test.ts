/**
 * `strata system service` as a process: where it listens and with what permissions, what it refuses, how it
 * stops (SIGTERM, idle timeout) and that containers outlive it; systemd socket activation. Driven over raw HTTP
 * and, where installed, the docker CLI. Needs root, runc and conmon for the container cases.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxTar, cliPath, hasCommand, strata, strataOk, tempDir } from '../helpers.js';

const canRun = process.getuid?.() === 0 && hasCommand('runc') && hasCommand('conmon');
const needsContainers = { skip: canRun ? false : 'needs root, runc and conmon' };
const dockerCli = ['/usr/local/bin/docker', '/usr/bin/docker'].find((file) => fs.existsSync(file));
const roots: string[] = [];

after(() => {
  for (const root of roots) {
    const ids = strata(root, ['ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) strata(root, ['rm', '-f', ...ids]);
  }
});

function store(): string {
  const root = tempDir('strata-service-');
  roots.push(root);
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox:latest']);
  return root;
}

interface Service {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startService(root: string, args: string[], command: string[] = [process.execPath, cliPath]): Service {
  const child = spawn(command[0]!, [...command.slice(1), '--root', root, 'system', 'service', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => stderr, exited };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function get(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: url }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const answers = (socketPath: string) => get(socketPath, '/_ping').then((a) => a.status === 200, () => false);

test('unix socket: mode 0660, a stale socket file replaced, a live one refused, SIGTERM removes it and exits 0', async () => {
  const root = store();
  const socketPath = path.join(root, 'run', 'api.sock');
  // A service killed with SIGKILL leaves its socket file behind, with nothing listening on it.
  const killed = startService(root, ['-t', '0', `unix://${socketPath}`]);
  await until(() => answers(socketPath), 'the first service to answer');
  killed.child.kill('SIGKILL');
  await killed.exited;
  assert.ok(fs.existsSync(socketPath), 'the stale socket file is there');
  const service = startService(root, ['-t', '0', `unix://${socketPath}`]);
  await until(() => answers(socketPath), 'the service to answer');
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o660);
  assert.match(service.stderr(), /API listening on unix:\/\//);

  const second = startService(root, ['-t', '0', `unix://${socketPath}`]);
  assert.equal(await second.exited, 1);
  assert.match(second.stderr(), /^Error: another service is listening on unix:\/\/.*\n$/);

  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
  assert.equal(fs.existsSync(socketPath), false);
});

test('tcp beyond loopback without TLS is refused in one line; loopback is served', async () => {
  const root = store();
  const refused = startService(root, ['tcp://0.0.0.0:0']);
  assert.equal(await refused.exited, 1);
  assert.match(refused.stderr(), /^Error: refusing to serve the API on 0\.0\.0\.0:0 without TLS.*--tlsverify --tlscacert --tlscert --tlskey\n$/);
  const service = startService(root, ['-t', '0', 'tcp://127.0.0.1:0']);
  await until(() => /API listening on tcp:\/\/127\.0\.0\.1:\d+/.test(service.stderr()), 'the address line');
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(service.stderr())![1]);
  const version = await new Promise<string>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/v1.41/version' }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
  assert.equal(JSON.parse(version).ApiVersion, '1.41');
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
});

test('beyond loopback with TLS: a client certificate the CA signed is served, none is refused', { skip: hasCommand('openssl') ? false : 'needs openssl' }, async () => {
  const root = store();
  const dir = tempDir('strata-service-tls-');
  const ssl = (...args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=strata-test-ca');
  for (const name of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'localhost' : 'client'}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), name === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  }
  const file = (name: string) => path.join(dir, name);
  const service = startService(root, ['-t', '0', '--tlsverify', '--tlscacert', file('ca.pem'), '--tlscert', file('server.pem'), '--tlskey', file('server.key'), 'tcp://0.0.0.0:0']);
  await until(() => /API listening on https:\/\/0\.0\.0\.0:\d+/.test(service.stderr()), 'the address line');
  const port = Number(/0\.0\.0\.0:(\d+)/.exec(service.stderr())![1]);
  const get = (withCert: boolean) =>
    new Promise<string>((resolve, reject) => {
      const options = { host: '127.0.0.1', port, path: '/_ping', ca: fs.readFileSync(file('ca.pem')), ...(withCert && { cert: fs.readFileSync(file('client.pem')), key: fs.readFileSync(file('client.key')) }) };
      https.get(options, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
  assert.equal(await get(true), 'OK');
  await assert.rejects(get(false), 'no client certificate: the handshake fails');
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
});

test('-t: the service exits after the idle seconds, not while a stream is open', async () => {
  const root = store();
  const socketPath = path.join(root, 'idle.sock');
  const service = startService(root, ['-t', '1', `unix://${socketPath}`]);
  await until(() => answers(socketPath), 'the service to answer');
  // An events stream keeps a connection open: the service stays.
  const events = http.get({ socketPath, path: '/events' });
  events.on('error', () => undefined);
  await sleep(1500);
  assert.equal(service.child.exitCode, null, 'still serving with a stream open');
  events.destroy();
  assert.equal(await service.exited, 0);
});

test('containers outlive a stopped service, and a new service sees them (docker ps agrees with strata ps)', needsContainers, async () => {
  const root = store();
  const socketPath = path.join(root, 'api.sock');
  let service = startService(root, ['-t', '0', `unix://${socketPath}`]);
  await until(() => answers(socketPath), 'the service to answer');
  const create = await new Promise<string>((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: '/containers/create?name=survivor', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(JSON.parse(body).Id));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '60'] }));
  });
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path: `/containers/${create}/start` }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
  assert.match(strataOk(root, ['ps', '--format', '{{.Names}} {{.State}}']), /^survivor running$/m);

  service = startService(root, ['-t', '0', `unix://${socketPath}`]);
  await until(() => answers(socketPath), 'the service to answer again');
  const listed = JSON.parse((await get(socketPath, '/containers/json')).body) as { Id: string; State: string }[];
  assert.deepEqual(listed.map((c) => [c.Id, c.State]), [[create, 'running']]);
  if (dockerCli) {
    const ps = spawnSync(dockerCli, ['ps', '--format', '{{.Names}} {{.Status}}'], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${socketPath}` } });
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^survivor Up /m);
  }
  strataOk(root, ['rm', '-f', 'survivor']);
  assert.deepEqual(JSON.parse((await get(socketPath, '/containers/json?all=1')).body), []);
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0);
});

test('socket activation: the socket systemd passes as fd 3 is served', { skip: hasCommand('systemd-socket-activate') ? false : 'needs systemd-socket-activate' }, async () => {
  const root = store();
  const socketPath = path.join(root, 'activated.sock');
  const service = startService(root, ['-t', '0'], ['systemd-socket-activate', '-l', socketPath, process.execPath, cliPath]);
  await until(() => fs.existsSync(socketPath), 'systemd-socket-activate to listen');
  assert.equal((await get(socketPath, '/_ping')).body, 'OK');
  await until(() => /socket systemd passed/.test(service.stderr()), 'the activation line');
  service.child.kill('SIGTERM');
  await service.exited;
});
