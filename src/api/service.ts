import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from '../engine.js';
import { alreadyExists, invalidArgument, permissionDenied } from '../errors.js';
import { closeAllConnections, createApiServer } from './server.js';

export interface ServiceOptions {
  /** `unix:///path` or `tcp://host:port`; default: the user's socket (`defaultServiceUri`). */
  uri?: string;
  /** Seconds without a request before the service exits; 0 serves until stopped (Podman's `-t`). */
  timeout?: number;
  tls?: { verify: boolean; ca?: string; cert?: string; key?: string };
  /** Lines for the operator: where the service listens, internal errors. */
  log?: (line: string) => void;
}

/** `unix:///run/strata/strata.sock` for root, else under `$XDG_RUNTIME_DIR`, as Podman places its socket. */
export function defaultServiceUri(env: NodeJS.ProcessEnv = process.env): string {
  if (process.getuid?.() === 0) return 'unix:///run/strata/strata.sock';
  const runtimeDir = env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `strata-${process.getuid?.() ?? 'user'}`);
  return `unix://${path.join(runtimeDir, 'strata', 'strata.sock')}`;
}

export type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** A service URI as Podman and Docker write them: `unix:///path`, `tcp://host:port` (`tcp://:port` is every address). */
export function parseServiceUri(uri: string): Listen {
  if (uri.startsWith('unix://')) {
    const file = uri.slice('unix://'.length);
    if (!file.startsWith('/')) throw invalidArgument(`invalid service URI ${JSON.stringify(uri)}: a unix socket needs an absolute path (unix:///run/strata/strata.sock)`);
    return { kind: 'unix', path: file };
  }
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]*):(\d{1,5})\/?$/.exec(uri);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port > 65535) throw invalidArgument(`invalid service URI ${JSON.stringify(uri)}: port out of range`);
    return { kind: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
  }
  throw invalidArgument(`invalid service URI ${JSON.stringify(uri)}: use unix:///path or tcp://host:port`);
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/**
 * `system service`: the Docker Engine API on a socket until SIGTERM/SIGINT, or until `timeout` seconds pass
 * without a request. Containers run under conmon, so they outlive the service; a new service sees them.
 */
export async function serve(engine: Engine, options: ServiceOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const listen = parseServiceUri(options.uri ?? defaultServiceUri());
  const tls = options.tls;
  if (listen.kind === 'tcp' && !isLoopback(listen.host) && !(tls?.verify && tls.ca && tls.cert && tls.key)) {
    throw permissionDenied(
      `refusing to serve the API on ${listen.host}:${listen.port} without TLS: anyone who can reach it controls this machine; listen on a loopback address or set --tlsverify --tlscacert --tlscert --tlskey`,
    );
  }
  const server = createApiServer(engine, log);
  const listener: http.Server | https.Server = tls?.cert && tls.key && listen.kind === 'tcp'
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key), ...(tls.ca && { ca: fs.readFileSync(tls.ca) }), requestCert: tls.verify, rejectUnauthorized: tls.verify })
    : server;
  if (listener !== server) {
    // TLS terminates here; the API server handles the decrypted requests as its own.
    for (const event of ['request', 'upgrade'] as const) for (const handler of server.listeners(event)) listener.on(event, handler as never);
  }

  // systemd's socket activation (contrib/systemd/strata.socket) hands the socket over as fd 3.
  const activated = process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid);
  if (listen.kind === 'unix' && !activated) await replaceStaleSocket(listen.path);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    if (activated) listener.listen({ fd: 3 }, () => resolve());
    else if (listen.kind === 'unix') listener.listen(listen.path, () => resolve());
    else listener.listen(listen.port, listen.host, () => resolve());
  });
  if (listen.kind === 'unix' && !activated) fs.chmodSync(listen.path, 0o660);
  if (activated) log('API listening on the socket systemd passed (fd 3)');
  else log(`API listening on ${listen.kind === 'unix' ? `unix://${listen.path}` : `${tls?.cert ? 'https' : 'tcp'}://${listen.host}:${(listener.address() as net.AddressInfo).port}`}`);

  const timeoutMs = (options.timeout ?? 5) * 1000;
  let active = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let stop: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const armIdle = () => {
    if (timeoutMs === 0 || active > 0) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => stop!(), timeoutMs);
  };
  const track = (socket: net.Socket) => {
    active++;
    clearTimeout(idleTimer);
    socket.once('close', () => {
      active--;
      armIdle();
    });
  };
  listener.on(tls?.cert ? 'secureConnection' : 'connection', track);
  armIdle();
  const onSignal = () => stop!();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  clearTimeout(idleTimer);
  await new Promise<void>((resolve) => {
    listener.close(() => resolve());
    listener.closeAllConnections();
    closeAllConnections(server);
  });
  if (listen.kind === 'unix' && !activated) fs.rmSync(listen.path, { force: true });
}

/** A socket file left by a service that died is removed; one a live service answers on is an error. */
async function replaceStaleSocket(file: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  if (!fs.existsSync(file)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw alreadyExists(`another service is listening on unix://${file}`);
  fs.rmSync(file, { force: true });
}
