import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { conflict, failedPrecondition, invalidArgument, isNodeError, StrataError, unsupported } from '../errors.js';
import { formatPort, type PortMapping, type PublishedPort } from './ports.js';
import { findCommand } from '../util/process.js';

/*
 * A container's own network namespace with outbound connectivity and published ports, without a daemon, a
 * bridge or iptables: a user-mode network stack process (slirp4netns) holds the namespace's tap device and
 * turns its traffic into ordinary sockets on the host, as Podman's slirp4netns mode does (containers/common
 * libnetwork/slirp4netns, port_handler=slirp4netns). Inside, the container sees Podman's slirp4netns network:
 *
 *   eth0 10.0.2.100/24, default route via 10.0.2.2, DNS 10.0.2.3 (forwarded to the host's first nameserver),
 *   MTU 65520; the host's own loopback is not reachable through 10.0.2.2 (--disable-host-loopback).
 *
 * Why not pasta (Debian bookworm's passt 0.0~git20230309, which Podman 5 prefers): measured on Linux 6.18 it
 * needs `--runas 0` to join a namespace as root at all, and then it never completes an inbound TCP connection
 * that comes from another machine (it leaves the container's SYN-ACK unanswered until the client gives up), nor
 * one to the host's own address; published UDP ports that change the port number get no replies from the host's
 * loopback. Loopback TCP, UDP from other machines, outbound traffic and DNS worked. slirp4netns 1.2 does all of
 * these but two: host addresses are IPv4 only, and a published UDP port does not answer clients on the host's
 * loopback (with --disable-host-loopback; TCP does, and clients on any other address get UDP too).
 *
 * On disk, under the caller's state directory (the container's bundle, say), for container ID <id>:
 *
 *   <id>.netns             an empty file with the namespace bind-mounted on it (nsfs): it keeps the namespace
 *                          alive without a process, and it is what runc's spec names (linux.namespaces[].path)
 *   <id>.slirp4netns.pid   the slirp4netns process; it runs in a session of its own and outlives its creator
 *   <id>.slirp4netns.log   its messages
 *
 * Nothing else is kept in memory, so `releaseNetwork(id, stateDir)` can tear a network down from any process
 * later (`rm` after the monitor died, a reconcile after a crash left the files behind).
 */

/** The container's side of the network slirp4netns sets up (its defaults, and Podman's). */
export const slirpNetwork = { address: '10.0.2.100', prefixLength: 24, gateway: '10.0.2.2', dns: '10.0.2.3', mtu: 65520, interface: 'eth0' };

export interface Network {
  /** The bind-mounted namespace: give it to runc as the network namespace's path. */
  netnsPath: string;
  /** Every mapping with its host address and port, in the order given. */
  ports: PublishedPort[];
  /** The container's address (Docker's NetworkSettings.IPAddress), gateway and nameserver for /etc/resolv.conf. */
  ipAddress: string;
  gateway: string;
  dnsServer: string;
  /** The slirp4netns process. */
  pid: number;
  /** Kills slirp4netns and removes the namespace: releaseNetwork(id, stateDir). Safe to call again. */
  release(): void;
}

export function networkPaths(id: string, stateDir: string): { netns: string; pidFile: string; logFile: string } {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw invalidArgument(`invalid network id: ${JSON.stringify(id)}`);
  let dir = path.resolve(stateDir);
  try {
    dir = fs.realpathSync(dir); // mountinfo shows the real path
  } catch {
    // Not made yet.
  }
  const file = (suffix: string) => path.join(dir, `${id}.${suffix}`);
  return { netns: file('netns'), pidFile: file('slirp4netns.pid'), logFile: file('slirp4netns.log') };
}


/** Whether a port can be bound on the host now (in this process's network namespace): the bound port, or undefined. */
function canBind(protocol: 'tcp' | 'udp', hostIp: string, port: number): Promise<number | undefined> {
  if (protocol === 'tcp') {
    return new Promise((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(undefined));
      server.listen({ port, host: hostIp }, () => {
        const bound = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(bound));
      });
    });
  }
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ port, address: hostIp }, () => {
      const bound = socket.address().port;
      socket.close(() => resolve(bound));
    });
  });
}

/**
 * Checks what slirp4netns can publish and chooses the host port of each mapping that leaves it open: a free one
 * from its range, or one the kernel picks from its ephemeral range (Docker's allocator uses that range too).
 * Podman chooses the same way before it starts its port forwarder; the port is free when chosen and bound
 * moments later.
 */
async function choosePorts(ports: PortMapping[]): Promise<PublishedPort[]> {
  const key = (protocol: string, hostIp: string, port: number) => `${protocol}/${hostIp}/${port}`;
  const published: PublishedPort[] = [];
  for (const mapping of ports) {
    const protocol = mapping.protocol;
    if (protocol === 'sctp') throw unsupported("can't forward protocol: sctp");
    if (net.isIPv6(mapping.hostIp)) throw unsupported(`cannot publish on IPv6 address ${mapping.hostIp}: slirp4netns publishes on IPv4 host addresses only`);
    published.push({ containerPort: mapping.containerPort, protocol, hostIp: mapping.hostIp || '0.0.0.0', hostPort: mapping.hostPort });
  }
  const taken = new Set(published.filter((p, i) => p.hostPort !== 0 && ports[i]!.hostPortEnd === undefined).map((p) => key(p.protocol, p.hostIp, p.hostPort)));
  for (const [i, port] of published.entries()) {
    const mapping = ports[i]!;
    if (port.hostPort !== 0 && mapping.hostPortEnd === undefined) continue;
    let chosen: number | undefined;
    if (mapping.hostPortEnd !== undefined) {
      for (let candidate = mapping.hostPort; candidate <= mapping.hostPortEnd && chosen === undefined; candidate++) {
        if (!taken.has(key(port.protocol, port.hostIp, candidate)) && (await canBind(port.protocol, port.hostIp, candidate)) !== undefined) chosen = candidate;
      }
      if (chosen === undefined) throw conflict(`Bind for ${port.hostIp}:${mapping.hostPort}-${mapping.hostPortEnd} failed: no free port in the range`);
    } else {
      for (let tries = 0; chosen === undefined && tries < 20; tries++) {
        const candidate = await canBind(port.protocol, port.hostIp, 0);
        if (candidate !== undefined && !taken.has(key(port.protocol, port.hostIp, candidate))) chosen = candidate;
      }
      if (chosen === undefined) throw conflict(`Bind for ${port.hostIp}: no free ${port.protocol} port`);
    }
    taken.add(key(port.protocol, port.hostIp, chosen));
    port.hostPort = chosen;
  }
  return published;
}

/**
 * slirp4netns's command line, after Podman's: it configures the interface (--configure), with Podman's MTU,
 * refuses the container the host's loopback through the gateway address, sandboxes itself (a mount namespace of
 * its own, every capability dropped but CAP_NET_BIND_SERVICE, a seccomp filter), writes '1' to fd 3 when the
 * network is up, and takes port forwards on the API socket.
 */
export function slirpArgs(netnsPath: string, apiSocket: string): string[] {
  return [
    '--configure',
    `--mtu=${slirpNetwork.mtu}`,
    '--disable-host-loopback',
    '--enable-sandbox',
    '--enable-seccomp',
    '--ready-fd=3',
    `--api-socket=${apiSocket}`,
    '--netns-type=path',
    netnsPath,
    slirpNetwork.interface,
  ];
}

/** One request on slirp4netns's API socket (one JSON object per connection). */
function slirpRequest(socketPath: string, request: object): Promise<{ return?: unknown; error?: { desc?: string } }> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = net.connect(socketPath, () => socket.end(JSON.stringify(request)));
    socket.setTimeout(10_000, () => socket.destroy(new Error('slirp4netns did not answer')));
    socket.setEncoding('utf8').on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      try {
        resolve(JSON.parse(reply) as { return?: unknown; error?: { desc?: string } });
      } catch (error) {
        reject(new Error(`slirp4netns answered ${JSON.stringify(reply)}`, { cause: error }));
      }
    });
  });
}

const logTail = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').filter((line) => !/^WARNING: Support for seccomp is experimental$/.test(line)).slice(-3).join('; ');
  } catch {
    return '';
  }
};

/**
 * Starts slirp4netns on the namespace in a session of its own, records its PID at once (so a failure from here
 * on is released like any network), and resolves with the PID once the network is up.
 */
function startSlirp(binary: string, paths: { netns: string; pidFile: string; logFile: string }, apiSocket: string): Promise<number> {
  const log = fs.openSync(paths.logFile, 'a');
  const child = spawn(binary, slirpArgs(paths.netns, apiSocket), { detached: true, stdio: ['ignore', log, log, 'pipe'] });
  fs.closeSync(log);
  if (child.pid !== undefined) fs.writeFileSync(paths.pidFile, `${child.pid}\n`);
  const ready = child.stdio[3] as Readable;
  return new Promise<number>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      const messages = logTail(paths.logFile);
      reject(new StrataError('internal', `slirp4netns ${why}${messages ? `: ${messages}` : ''}`));
    };
    const timer = setTimeout(() => fail('did not bring the network up within 10s'), 10_000);
    child.once('error', (error) => fail(`could not start: ${error.message}`));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before the network was up`));
    ready.once('data', () => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error').on('error', () => undefined);
      ready.destroy();
      child.unref(); // it runs on after its creator exits
      resolve(child.pid!);
    });
  }).finally(() => ready.destroy());
}

/**
 * Gives container `id` a network namespace of its own, bind-mounted at `<stateDir>/<id>.netns`, connected to
 * the host by a slirp4netns process that publishes `ports`. Leftovers of an earlier network of the same id (a
 * monitor that died) are released first. Needs root, slirp4netns (apt-get install slirp4netns) and util-linux's
 * unshare and umount. Errors: sctp and IPv6 host addresses (unsupported), a host port in use (conflict, Docker's
 * "port is already allocated"); any error leaves nothing behind.
 */
export async function createNetwork(id: string, ports: PortMapping[], stateDir: string): Promise<Network> {
  networkPaths(id, stateDir);
  if (process.getuid?.() !== 0) throw failedPrecondition('a private network needs root (its namespace is bind-mounted on a file)');
  const slirp = findCommand('slirp4netns');
  if (!slirp) throw failedPrecondition('slirp4netns not found: a private network needs it (apt-get install slirp4netns)');
  fs.mkdirSync(stateDir, { recursive: true });
  const paths = networkPaths(id, stateDir); // the directory's real path, now that it exists
  releaseNetwork(id, stateDir);
  const published = await choosePorts(ports);

  const release = () => releaseNetwork(id, stateDir);
  // The API socket lives in a short private directory (a socket path has at most 107 bytes) and only until the
  // ports are added.
  const apiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-slirp-'));
  try {
    fs.writeFileSync(paths.netns, '');
    // util-linux's unshare bind-mounts the new namespace on the file (what `ip netns add` does under /run/netns).
    const created = spawnSync('unshare', [`--net=${paths.netns}`, 'true'], { encoding: 'utf8' });
    if (created.status !== 0) throw new StrataError('internal', `could not create a network namespace: ${(created.stderr || String(created.error ?? '')).trim()}`);
    const apiSocket = path.join(apiDir, 'api.sock');
    const pid = await startSlirp(slirp, paths, apiSocket);
    for (const port of published) {
      const reply = await slirpRequest(apiSocket, {
        execute: 'add_hostfwd',
        arguments: { proto: port.protocol, host_addr: port.hostIp, host_port: port.hostPort, guest_port: port.containerPort },
      });
      if (reply.error) {
        if (/slirp_add_hostfwd failed/.test(reply.error.desc ?? '')) throw conflict(`Bind for ${port.hostIp}:${port.hostPort} failed: port is already allocated`);
        throw new StrataError('internal', `slirp4netns could not publish ${formatPort(port)}: ${reply.error.desc ?? JSON.stringify(reply.error)}`);
      }
    }
    return { netnsPath: paths.netns, ports: published, ipAddress: slirpNetwork.address, gateway: slirpNetwork.gateway, dnsServer: slirpNetwork.dns, pid, release };
  } catch (error) {
    release();
    throw error;
  } finally {
    fs.rmSync(apiDir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/** The arguments of a live process; undefined once it is gone or a zombie. */
function processArgs(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Mount points in this mount namespace, decoded (mountinfo escapes space, tab, newline and backslash in octal). */
function mountPoints(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

/**
 * Tears down container `id`'s network from what is on disk alone: kills its slirp4netns (only a process whose
 * command line names this namespace, so a recycled PID is left alone) and waits for it to go, so its host ports
 * are free when this returns; unmounts the namespace and removes the files. Does nothing for what is gone.
 */
export function releaseNetwork(id: string, stateDir: string): void {
  const paths = networkPaths(id, stateDir);
  const pid = readPid(paths.pidFile);
  if (pid !== undefined && processArgs(pid)?.includes(paths.netns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if (!isNodeError(error, 'ESRCH')) throw error;
    }
    for (const deadline = Date.now() + 5000; processArgs(pid) && Date.now() < deadline; ) sleepSync(10);
  }
  // Lazily: a process still inside the namespace (a container not yet reaped) keeps it alive, not the file.
  while (mountPoints().includes(paths.netns)) {
    const result = spawnSync('umount', ['--lazy', paths.netns], { encoding: 'utf8' });
    if (result.status !== 0) throw new StrataError('internal', `could not unmount ${paths.netns}: ${(result.stderr || String(result.error ?? '')).trim()}`);
  }
  for (const file of [paths.netns, paths.pidFile, paths.logFile]) fs.rmSync(file, { force: true });
}
