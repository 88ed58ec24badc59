/**
 * Private networks through slirp4netns: `-p` parsing after Docker, and for real (root, slirp4netns, util-linux)
 * a namespace whose published port answers on the host's loopback, released from this or another process, and
 * runc running a container in it. Every connection made here goes to 127.0.0.1 on this machine or stays inside
 * sandbox namespaces the test builds (linked only to each other by veth pairs), so nothing leaves the machine.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createNetwork, networkPaths, releaseNetwork, slirpArgs } from '../src/containers/network.js';
import { formatPort, type PortMapping, parsePublish } from '../src/containers/ports.js';
import { runtimeSpec } from '../src/containers/runtime-spec.js';
import { busyboxRootfs, hasCommand, tempDir } from './helpers.js';

const tcp = (containerPort: number, hostPort = 0, hostIp = ''): PortMapping => ({ containerPort, protocol: 'tcp', hostIp, hostPort });

test('parsePublish takes Docker -p forms', () => {
  const cases: [string, PortMapping[]][] = [
    ['80', [tcp(80)]],
    ['8080:80', [tcp(80, 8080)]],
    ['8080:80/udp', [{ ...tcp(80, 8080), protocol: 'udp' }]],
    ['8080:80/UDP', [{ ...tcp(80, 8080), protocol: 'udp' }]],
    ['8080:80/', [tcp(80, 8080)]],
    ['80/sctp', [{ ...tcp(80), protocol: 'sctp' }]],
    ['127.0.0.1:8080:80', [tcp(80, 8080, '127.0.0.1')]],
    ['127.0.0.1::80', [tcp(80, 0, '127.0.0.1')]],
    ['0.0.0.0:8080:80/udp', [{ ...tcp(80, 8080, '0.0.0.0'), protocol: 'udp' }]],
    ['[::1]:8080:80', [tcp(80, 8080, '::1')]],
    ['::1:8080:80', [tcp(80, 8080, '::1')]],
    ['[::]::80', [tcp(80, 0, '::')]],
    ['0:80', [tcp(80, 0)]],
    [':80', [tcp(80)]],
    ['+8080:80', [tcp(80, 8080)]],
    ['8000-8001:80-81', [tcp(80, 8000), tcp(81, 8001)]],
    ['80-81', [tcp(80), tcp(81)]],
    ['8000-8010:80', [{ ...tcp(80, 8000), hostPortEnd: 8010 }]],
    ['8080-8080:80', [tcp(80, 8080)]],
    ['80-80', [tcp(80)]],
    // docker/cli's long form.
    ['published=8080,target=80', [tcp(80, 8080)]],
    ['target=53,published=5353,protocol=udp', [{ ...tcp(53, 5353), protocol: 'udp' }]],
    ['target=80', [tcp(80)]],
  ];
  for (const [spec, want] of cases) assert.deepEqual(parsePublish(spec), want, spec);
});

test('parsePublish refuses bad specs with Docker messages', () => {
  const cases: [string, string][] = [
    ['', 'no port specified: <empty>'],
    ['8080:', 'no port specified: 8080:<empty>'],
    ['/udp', 'no port specified: /udp<empty>'],
    ['80/icmp', 'invalid proto: icmp'],
    ['8080:80/udp/x', 'invalid proto: udp/x'],
    ['abc', 'invalid containerPort: abc'],
    ['65536', 'invalid containerPort: 65536'],
    ['8080:abc', 'invalid containerPort: abc'],
    ['81-80', 'invalid containerPort: 81-80'],
    ['80-', 'invalid containerPort: 80-'],
    ['0', 'invalid containerPort: 0'],
    ['abc:80', 'invalid hostPort: abc'],
    ['70000:80', 'invalid hostPort: 70000'],
    ['localhost:8080:80', 'invalid IP address: localhost'],
    ['1.2.3.4.5:8080:80', 'invalid IP address: 1.2.3.4.5'],
    ['fe80::1%eth0:8080:80', 'invalid IP address: fe80::1%eth0'],
    ['[::1:8080:80', "invalid IP address [::1: address [::1:: missing ']' in address"],
    ['[::1]x:8080:80', 'invalid IP address [::1]x: address [::1]x:: missing port in address'],
    ['8000-8002:80-81', 'invalid ranges specified for container and host Ports: 80-81 and 8000-8002'],
    ['published=8080,target', "invalid publish opts format (should be name=value but got 'target')"],
    ['published=8080,=80', "invalid publish opts format (should be name=value but got '=80')"],
    // The long form is checked as the short one it becomes.
    ['published=8080', 'no port specified: 8080:/tcp<empty>'],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parsePublish(spec), (error: Error) => error.message === message && (error as { code?: string }).code === 'invalid-argument', spec);
  }
});

test('slirp4netns arguments follow Podman; PORTS notation', () => {
  const args = ['--configure', '--mtu=65520', '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp', '--ready-fd=3'];
  assert.deepEqual(slirpArgs('/s/x.netns', '/tmp/a/api.sock'), [...args, '--api-socket=/tmp/a/api.sock', '--netns-type=path', '/s/x.netns', 'eth0']);
  assert.equal(formatPort({ containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080 }), '0.0.0.0:8080->80/tcp');
  assert.equal(formatPort({ containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353 }), '127.0.0.1:5353->53/udp');
  assert.throws(() => networkPaths('../x', '/tmp'), /invalid network id/);
});

// ------------------------------------------------------------------------------------------------ for real

const canRun = process.getuid?.() === 0 && ['slirp4netns', 'unshare', 'nsenter', 'umount'].every(hasCommand);
const skip = { skip: canRun ? false : 'needs root, slirp4netns, unshare, nsenter', timeout: 120_000 };
const moduleUrl = new URL('../src/containers/network.js', import.meta.url).href;
const portsUrl = new URL('../src/containers/ports.js', import.meta.url).href;
const dirs: string[] = [];
const cleanups: (() => void)[] = [];

after(() => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // Best effort.
    }
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function stateDir(): string {
  const dir = tempDir('strata-net-');
  dirs.push(dir);
  return dir;
}

const newId = () => `t${process.pid}${Math.random().toString(16).slice(2, 10)}`;

/** A node script run inside a network namespace; resolves with its first line once it prints one. */
function inNamespace(netnsPath: string, script: string, args: string[] = []): Promise<{ line: string; pid: number; stop(): void }> {
  const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const stop = () => child.kill('SIGKILL');
  cleanups.push(stop);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve({ line: out.slice(0, newline), pid: child.pid!, stop });
    });
    child.on('close', (code) => reject(new Error(`namespace script exited ${code}: ${err}`)));
  });
}

/** In a container's namespace: TCP 80 answers 'hello', UDP 53 answers 'hello ' + the datagram; prints the interfaces. */
const helloServers = `
const net = require('net'), dgram = require('dgram');
net.createServer((s) => s.end('hello\\n')).listen(80, () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send('hello ' + m, r.port, r.address));
  u.bind(53, () => console.log(JSON.stringify(require('os').networkInterfaces())));
});`;

/** A client: reads a TCP answer and a UDP answer from HOST (ports as arguments), prints both as JSON. */
const askBoth = `
const [host, tcpPort, udpPort] = process.argv.slice(1);
const net = require('net'), dgram = require('dgram');
const tcp = new Promise((resolve) => {
  let data = '';
  const c = net.connect(Number(tcpPort), host);
  c.setTimeout(10000, () => c.destroy(new Error('timed out')));
  c.on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', (e) => resolve('error ' + e.message));
});
const udp = new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  const t = setTimeout(() => { s.close(); resolve('no answer'); }, 10000);
  s.on('message', (m) => { clearTimeout(t); s.close(); resolve(String(m)); });
  s.send('query', Number(udpPort), host);
});
Promise.all([tcp, udp]).then((answers) => console.log(JSON.stringify(answers)));`;

function tcpRead(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const socket = net.connect(port, host);
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
const mounted = (file: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === file);

function assertReleased(id: string, dir: string, pid: number) {
  const paths = networkPaths(id, dir);
  assert.equal(alive(pid), false, 'slirp4netns is gone');
  assert.equal(mounted(paths.netns), false, 'the namespace is unmounted');
  for (const file of [paths.netns, paths.pidFile, paths.logFile]) assert.equal(fs.existsSync(file), false, `${file} is removed`);
}

test('a published TCP port answers on the host loopback; release leaves nothing', skip, async () => {
  const dir = stateDir();
  const id = newId();
  const network = await createNetwork(id, parsePublish('127.0.0.1::80'), dir);
  cleanups.push(network.release);
  assert.equal(network.netnsPath, networkPaths(id, dir).netns);
  assert.ok(mounted(network.netnsPath));
  assert.deepEqual([network.ipAddress, network.gateway, network.dnsServer], ['10.0.2.100', '10.0.2.2', '10.0.2.3']);
  const [port] = network.ports;
  assert.deepEqual([port!.containerPort, port!.protocol, port!.hostIp], [80, 'tcp', '127.0.0.1']);
  assert.ok(port!.hostPort > 0);
  assert.ok(alive(network.pid));
  assert.equal(fs.readFileSync(networkPaths(id, dir).pidFile, 'utf8').trim(), String(network.pid));

  const server = await inNamespace(network.netnsPath, helloServers);
  const interfaces = JSON.parse(server.line) as Record<string, { address: string; family: string }[]>;
  assert.deepEqual(Object.keys(interfaces).sort(), ['eth0', 'lo'], server.line);
  assert.ok(interfaces.eth0!.some((a) => a.address === '10.0.2.100'), server.line);

  assert.equal(await tcpRead(port!.hostPort), 'hello\n');

  const pid = network.pid;
  network.release();
  assertReleased(id, dir, pid);
  await assert.rejects(tcpRead(port!.hostPort), /ECONNREFUSED/);
  network.release(); // again: nothing to do
  server.stop();
});

test('releaseNetwork works from another process, and a new network replaces a stale one of the same id', skip, async () => {
  const dir = stateDir();
  const id = newId();
  const first = await createNetwork(id, parsePublish('127.0.0.1::80'), dir);
  cleanups.push(first.release);
  // A monitor that died left this network behind: creating it again releases the old one first, ports too.
  const second = await createNetwork(id, parsePublish(`127.0.0.1:${first.ports[0]!.hostPort}:80`), dir);
  cleanups.push(second.release);
  assert.equal(alive(first.pid), false);
  assert.ok(alive(second.pid));
  assert.equal(second.ports[0]!.hostPort, first.ports[0]!.hostPort);
  const server = await inNamespace(second.netnsPath, helloServers);
  assert.equal(await tcpRead(second.ports[0]!.hostPort), 'hello\n');
  server.stop();

  const script = `import { releaseNetwork } from ${JSON.stringify(moduleUrl)}; releaseNetwork(${JSON.stringify(id)}, ${JSON.stringify(dir)});`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 0, result.stderr);
  assertReleased(id, dir, second.pid);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a host port in use, sctp and IPv6 host addresses fail and leave nothing behind', skip, async () => {
  const dir = stateDir();
  const id = newId();
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    await assert.rejects(createNetwork(id, parsePublish(`127.0.0.1:${port}:80`), dir), { message: `Bind for 127.0.0.1:${port} failed: port is already allocated` });
    await assert.rejects(createNetwork(id, parsePublish('80/sctp'), dir), { message: "can't forward protocol: sctp" });
    await assert.rejects(createNetwork(id, parsePublish('[::1]:8080:80'), dir), /IPv4 host addresses only/);
  } finally {
    busy.close();
  }
  assert.deepEqual(fs.readdirSync(dir), []);
  assert.ok(!mounted(networkPaths(id, dir).netns));
  assert.equal(fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('strata-slirp-')).length, 0, 'no API socket directory left');
});

/** Waits until a process has entered the network namespace bind-mounted at `netns`. */
async function waitInNamespace(pid: number, netns: string): Promise<void> {
  const want = `net:[${fs.statSync(netns).ino}]`;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (fs.readlinkSync(`/proc/${pid}/ns/net`) === want) return;
  }
  throw new Error(`process ${pid} did not enter ${netns}`);
}

/**
 * Hermetically, what a loopback test cannot show: outbound TCP, DNS, and published TCP and UDP ports reached from
 * another machine. The "host" is a sandbox namespace (its default route goes into a veth pair with both ends in
 * it); a "remote" server is an address on its loopback device, the resolver another; the "other machine" is a
 * second namespace linked to it by a veth pair.
 */
test('outbound TCP, DNS, and ports published to another machine (sandbox namespaces stand for host and LAN)', skip, async (t) => {
  const dir = stateDir();
  const host = path.join(dir, 'host');
  const lan = path.join(dir, 'lan');
  for (const file of [host, lan]) {
    fs.writeFileSync(file, '');
    cleanups.push(() => {
      spawnSync('umount', ['--lazy', file]);
      fs.rmSync(file, { force: true });
    });
  }
  const resolver = /^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/m.exec(fs.readFileSync('/etc/resolv.conf', 'utf8'))?.[1];
  const sh = (netns: string, script: string) => spawnSync('nsenter', [`--net=${netns}`, 'sh', '-ec', script], { encoding: 'utf8' });
  let setup = spawnSync('sh', ['-ec', `unshare --net=${host} true; unshare --net=${lan} true`], { encoding: 'utf8' });
  if (setup.status === 0) {
    setup = sh(
      host,
      'ip link set lo up; ip link add eth0 type veth peer name eth0p; ip link set eth0 up; ip link set eth0p up; ' +
        'ip addr add 192.0.2.2/24 dev eth0; ip route add default via 192.0.2.1; ip addr add 198.51.100.7/32 dev lo; ' +
        'ip link add lan0 type veth peer name lan1; ip addr add 10.99.0.1/24 dev lan0; ip link set lan0 up' +
        (resolver && !resolver.startsWith('127.') ? `; ip addr add ${resolver}/32 dev lo` : ''),
    );
  }
  if (setup.status !== 0) {
    t.skip(`cannot build the sandbox namespaces (needs ip and veth): ${setup.stderr.trim()}`);
    return;
  }
  const holder = await inNamespace(lan, "console.log('in'); setTimeout(() => {}, 60000)");
  await waitInNamespace(holder.pid, lan);
  assert.equal(sh(host, `ip link set lan1 netns ${holder.pid}`).status, 0);
  holder.stop();
  assert.equal(sh(lan, 'ip link set lo up; ip addr add 10.99.0.2/24 dev lan1; ip link set lan1 up').status, 0);

  // Servers on the "host": a "remote" TCP service, and the resolver slirp4netns forwards DNS to.
  const remote = await inNamespace(
    host,
    `const net = require('net'), dgram = require('dgram');
net.createServer((s) => s.end('from outside\\n')).listen(8080, '198.51.100.7', () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send('answer to ' + m, r.port, r.address));
  u.bind(53, process.argv[1] || '127.0.0.1', () => console.log('ready'));
});`,
    [resolver ?? ''],
  );
  assert.equal(remote.line, 'ready');

  // The network is made by a process on the "host" that exits at once: slirp4netns must outlive it.
  const id = newId();
  const script = `import { createNetwork } from ${JSON.stringify(moduleUrl)};
import { parsePublish } from ${JSON.stringify(portsUrl)};
const n = await createNetwork(${JSON.stringify(id)}, [...parsePublish('80'), ...parsePublish('53/udp')], ${JSON.stringify(dir)});
console.log(JSON.stringify(n));`;
  const created = spawnSync('nsenter', [`--net=${host}`, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(created.status, 0, created.stderr);
  cleanups.push(() => releaseNetwork(id, dir));
  const network = JSON.parse(created.stdout) as { netnsPath: string; pid: number; dnsServer: string; ports: { hostPort: number; hostIp: string }[] };
  assert.ok(alive(network.pid));
  assert.deepEqual(network.ports.map((p) => p.hostIp), ['0.0.0.0', '0.0.0.0']);

  const servers = await inNamespace(network.netnsPath, helloServers);
  // Out of the container: TCP to the "remote" server, DNS through slirp4netns to the "host's" resolver.
  const out = await inNamespace(network.netnsPath, askBoth.replace("s.send('query', Number(udpPort), host)", 's.send("query", 53, process.argv[4])'), [
    '198.51.100.7',
    '8080',
    '0',
    network.dnsServer,
  ]);
  const [tcpOut, dnsOut] = JSON.parse(out.line) as [string, string];
  assert.equal(tcpOut, 'from outside\n');
  // libslirp forwards to the host's first nameserver; one on the host's loopback is out of bounds here.
  if (resolver && !resolver.startsWith('127.')) assert.equal(dnsOut, 'answer to query');
  // Into the container from another machine: both published ports, with the client's own address seen inside.
  const fromLan = await inNamespace(lan, askBoth, ['10.99.0.1', String(network.ports[0]!.hostPort), String(network.ports[1]!.hostPort)]);
  assert.deepEqual(JSON.parse(fromLan.line), ['hello\n', 'hello query']);
  // The host's loopback is not the container's to reach through the gateway address.
  const loopback = await inNamespace(host, "require('net').createServer((s) => s.end('loopback\\n')).listen(8081, '127.0.0.1', () => console.log('ready'))");
  assert.equal(loopback.line, 'ready');
  const probe = await inNamespace(
    network.netnsPath,
    "const c = require('net').connect(8081, '10.0.2.2'); c.setTimeout(5000, () => c.destroy(new Error('timed out'))); c.on('data', (d) => console.log('reached ' + d)).on('error', (e) => console.log('error ' + e.message))",
  );
  assert.match(probe.line, /^error /);
  for (const child of [servers, remote, loopback]) child.stop();

  releaseNetwork(id, dir);
  assertReleased(id, dir, network.pid);
});

test('runc runs a container in the namespace (runtimeSpec netnsPath) and its port is published', { ...skip, skip: skip.skip || (hasCommand('runc') ? false : 'needs runc') }, async () => {
  const dir = stateDir();
  const id = newId();
  const network = await createNetwork(id, parsePublish('127.0.0.1::80'), dir);
  cleanups.push(network.release);
  const bundle = path.join(dir, 'bundle');
  const rootfs = busyboxRootfs(path.join(bundle, 'rootfs'));
  const spec = runtimeSpec({
    rootfsPath: rootfs,
    readonlyRootfs: false,
    args: ['/bin/busybox', 'nc', '-l', '-p', '80', '-e', '/bin/echo', 'hello from runc'],
    env: ['PATH=/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    hostname: id,
    terminal: false,
    mounts: [],
    network: { mode: 'private', netnsPath: network.netnsPath },
  });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const runcRoot = path.join(dir, 'runc');
  const pidFile = path.join(dir, 'container.pid');
  const runc = spawn('runc', ['--root', runcRoot, 'run', '--bundle', bundle, '--pid-file', pidFile, id], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  cleanups.push(() => {
    spawnSync('runc', ['--root', runcRoot, 'kill', id, 'KILL']);
    spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id]);
  });
  let stderr = '';
  runc.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => runc.on('close', resolve));

  // Connect once the container listens: its namespace's TCP tables have port 80 (0050) in LISTEN (0A).
  const listening = () => {
    try {
      const pid = fs.readFileSync(pidFile, 'utf8').trim();
      const tables = ['tcp', 'tcp6'].map((table) => fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8')).join('');
      return / [0-9A-F]+:0050 [0-9A-F]+:[0-9A-F]+ 0A /.test(tables);
    } catch {
      return false;
    }
  };
  for (const deadline = Date.now() + 20_000; !listening() && runc.exitCode === null && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(listening(), `the container listens on port 80 ${stderr}`);
  assert.equal(await tcpRead(network.ports[0]!.hostPort), 'hello from runc\n');
  assert.equal(await exited, 0, stderr);
  const pid = network.pid;
  network.release();
  assertReleased(id, dir, pid);
});
