import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { HtpasswdAuth } from './auth.js';
import { registryError } from './errors.js';
import { FsRegistryStorage } from './fs-storage.js';
import { hasBody, sendError } from './http.js';
import { route } from './routes.js';
import type { RegistryStorage } from './storage.js';

export interface RegistryServerOptions {
  /** Storage root: blobs, repositories and uploads live under it. */
  root: string;
  /** Basic auth against an htpasswd file of bcrypt entries. */
  auth?: { htpasswd: string };
  /** Serve HTTPS with this PEM certificate and key. */
  tls?: { cert: string; key: string };
  /** One line per request (method, path, status), for an access log. */
  log?: (line: string) => void;
  /** Another storage behind the same routes (the filesystem one over `root` by default). */
  storage?: RegistryStorage;
}

/**
 * An OCI distribution spec v1.1 registry. The server is not listening yet: call `listen()` on it, and
 * `close()` when done.
 */
export function createRegistryServer(options: RegistryServerOptions): http.Server | https.Server {
  const storage = options.storage ?? new FsRegistryStorage(options.root);
  const auth = options.auth ? new HtpasswdAuth(options.auth.htpasswd) : undefined;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    void handle(req, res).finally(() => options.log?.(`${req.method} ${req.url} ${res.statusCode}`));
  };
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    try {
      if (auth && !(await auth.check(req.headers.authorization))) {
        res.setHeader('WWW-Authenticate', `Basic realm="${auth.realm}"`);
        throw registryError('UNAUTHORIZED', 'authentication required: send the credentials of an htpasswd user (Basic)');
      }
      await route(storage, req, res);
    } catch (error) {
      if (!req.complete) {
        // Answering before a body was read: drain it, and do not reuse a connection in an unknown state.
        if (hasBody(req)) res.setHeader('Connection', 'close');
        req.resume();
      }
      if (res.headersSent) res.destroy();
      else sendError(res, error);
    }
  };
  // Node's default 5-minute limit per request would cut off a large layer on a slow link; headers still time out.
  const limits = { requestTimeout: 0 };
  if (options.tls) {
    return https.createServer({ ...limits, cert: fs.readFileSync(options.tls.cert), key: fs.readFileSync(options.tls.key) }, handler);
  }
  return http.createServer(limits, handler);
}
