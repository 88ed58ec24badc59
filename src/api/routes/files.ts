import { PassThrough } from 'node:stream';
import type { PathStat } from '../../containers/files.js';
import { invalidArgument, isDataCorrupt } from '../../errors.js';
import { boolParam, readJson, sendJson, sendStatus } from '../http.js';
import type { ContainerConfig } from '../../images/model.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';
import { statsRoutes } from './stats.js';

/** Docker's `kind` numbers for `GET /containers/{id}/changes`. */
const changeKinds = { C: 0, A: 1, D: 2 } as const;

/** The stat header of Docker's archive endpoints: the stat's JSON, base64 (standard alphabet). */
const pathStatHeader = (stat: PathStat) => Buffer.from(JSON.stringify(stat)).toString('base64');

/** The `path` every archive request needs (moby's ArchiveFormValues). */
function archivePathParam(query: URLSearchParams): string {
  const path = query.get('path');
  if (!path) throw invalidArgument('bad parameter: path cannot be empty');
  return path;
}

/**
 * The container filesystem endpoints: the archive (`docker cp`: HEAD stats a path, GET fetches it as a tar,
 * PUT unpacks a tar into a directory), export, changes (`docker diff`) and commit; with them, top and stats
 * (stats.ts), so that the server registers one module.
 */
export function fileRoutes(router: Router, context: ApiContext): void {
  const { engine } = context;
  statsRoutes(router, context);

  router.add('GET', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const path = archivePathParam(query);
    if (req.method === 'HEAD') {
      const stat = await engine.statPath(params.id!, path);
      res.writeHead(200, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat), 'Content-Length': 0 });
      res.end();
      return;
    }
    try {
      await engine.archivePath(params.id!, path, (stat) => {
        res.writeHead(200, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat), 'Content-Type': 'application/x-tar' });
        return res;
      });
      res.end();
    } catch (error) {
      if (!res.destroyed) throw error; // a client that went away needs no answer
    }
  });

  router.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const path = archivePathParam(query);
    // Through a pass-through: a refused tar must not destroy the request, and with it the connection its 400
    // goes back on; what the client still sends is read and dropped.
    const upload = req.pipe(new PassThrough());
    try {
      await engine.extractToDir(params.id!, path, upload, { noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'), copyUIDGID: boolParam(query, 'copyUIDGID') });
    } catch (error) {
      req.unpipe(upload);
      req.resume();
      // A tar it cannot read is the client's error (Docker answers 500).
      if (isDataCorrupt(error)) throw invalidArgument((error as Error).message, { cause: error });
      throw error;
    }
    sendStatus(res, 200);
  });

  router.add('GET', '/containers/{id}/export', async ({ res, params }) => {
    engine.containers.resolve(params.id!); // a 404 while it can still be one
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    try {
      await engine.export(params.id!, res);
    } catch (error) {
      if (!res.destroyed) throw error;
    }
    res.end();
  });

  router.add('GET', '/containers/{id}/changes', async ({ res, params }) => {
    const changes = await engine.diff(params.id!);
    sendJson(res, 200, changes.length > 0 ? changes.map((change) => ({ Path: change.path, Kind: changeKinds[change.kind] })) : null);
  });

  router.add('POST', '/commit', async ({ req, res, query }) => {
    const repo = query.get('repo');
    const tag = query.get('tag');
    // The body is a container config whose set fields replace the container's (docker-py's conf=).
    const config = await readJson<ContainerConfig>({ req });
    const id = await engine.commit(query.get('container') ?? '', {
      ...(Object.keys(config).length > 0 && { config }),
      // Docker takes the tag only with a repository (httputils.RepoTagReference).
      ...(repo && { reference: tag ? `${repo}:${tag}` : repo }),
      ...(query.get('comment') && { message: query.get('comment')! }),
      ...(query.get('author') && { author: query.get('author')! }),
      changes: query.getAll('changes').filter((change) => change !== ''),
      pause: boolParam(query, 'pause', true),
    });
    sendJson(res, 201, { Id: id });
  });
}
