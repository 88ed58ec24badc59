import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Engine } from '../engine.js';
import { httpStatusFor } from '../errors.js';
import { type Call, commonHeaders, readUpgradeBody, sendError } from './http.js';
import { Router } from './router.js';
import { containerRoutes } from './routes/containers.js';
import { fileRoutes } from './routes/files.js';
import { execRoutes } from './routes/exec.js';
import { imageRoutes } from './routes/images.js';
import { systemRoutes } from './routes/system.js';
import { volumeAndNetworkRoutes } from './routes/resources.js';
import { Hijacks } from './hijack.js';
import { HealthMonitor } from '../containers/health.js';

/** What every route module gets: the engine, and the attaches waiting for their container's start. */
export interface ApiContext {
  engine: Engine;
  hijacks: Hijacks;
  /** Where the service logs what a client should not see (internal errors), one line each. */
  log: (line: string) => void;
}

/**
 * Connections taken over by attach and exec, per server: `closeAllConnections` no longer sees a connection once
 * it is upgraded, and a server does not close while one is open.
 */
const hijackedConnections = new WeakMap<http.Server, Set<Duplex>>();

/** Ends every connection of the server, hijacked ones too (a service that stops leaves no client waiting). */
export function closeAllConnections(server: http.Server): void {
  server.closeAllConnections();
  for (const socket of hijackedConnections.get(server) ?? []) socket.destroy();
}

/** `/v1.41/containers/json` and `/containers/json` are the same route; the version does not change the shapes. */
const versionPrefix = /^\/v\d+\.\d+(?=\/)/;

/**
 * The Docker Engine API over one engine: an http.Server whose requests are routed to the handlers of
 * routes/; `Upgrade: tcp` requests (attach, exec start) reach the same handlers with the socket to take over.
 */
export function createApiServer(engine: Engine, log: (line: string) => void = () => undefined): http.Server {
  // Healthchecks run while the API is served, as Docker's run while its daemon does.
  const health = new HealthMonitor(engine.containers);
  health.start();
  const context: ApiContext = { engine, hijacks: new Hijacks(), log };
  const router = new Router();
  systemRoutes(router, context);
  imageRoutes(router, context);
  containerRoutes(router, context);
  execRoutes(router, context);
  fileRoutes(router, context);
  volumeAndNetworkRoutes(router, context);

  const dispatch = async (req: IncomingMessage, res: ServerResponse, upgrade?: Call['upgrade']) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(versionPrefix, '').replace(/\/+$/, '') || '/';
    try {
      const { handler, params } = router.match(req.method ?? 'GET', path);
      await handler({ req, res, params, query: url.searchParams, ...(upgrade && { upgrade }) });
    } catch (error) {
      if (httpStatusFor(error) >= 500) log(`${req.method} ${url.pathname}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      if (upgrade && res.headersSent) upgrade.socket.destroy();
      else sendError(res, error);
    }
  };

  const server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: 64 * 1024 }, (req, res) => {
    for (const [name, value] of Object.entries(commonHeaders)) res.setHeader(name, value);
    void dispatch(req, res);
  });
  // Node answers a request with `Upgrade` through this event, without a response object: one is made for it,
  // so a handler that refuses (a 404, a 409) answers as for any request, and one that accepts writes the 101.
  const upgraded = new Set<Duplex>();
  hijackedConnections.set(server, upgraded);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const res = new http.ServerResponse(req);
    res.assignSocket(socket as never);
    res.shouldKeepAlive = false;
    for (const [name, value] of Object.entries(commonHeaders)) res.setHeader(name, value);
    socket.on('error', () => undefined);
    socket.pause();
    void readUpgradeBody(req, socket, head).then(
      (body) => {
        if (head.length > 0 && body.length === 0) socket.unshift(head);
        return dispatch(req, res, { socket, head, body });
      },
      (error: unknown) => sendError(res, error),
    );
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy(error);
    const [status, message] = error.code === 'HPE_HEADER_OVERFLOW' ? ['431 Request Header Fields Too Large', 'request header fields too large'] : ['400 Bad Request', 'bad request'];
    const body = JSON.stringify({ message });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  server.keepAliveTimeout = 5_000;
  server.on('close', () => health.stop());
  return server;
}
