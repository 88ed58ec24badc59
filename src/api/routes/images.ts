import type { Credentials } from '../../distribution/client/auth.js';
import type { Progress } from '../../distribution/client/progress.js';
import { invalidArgument, isNotFound, notFound, unsupported } from '../../errors.js';
import { parsePlatform } from '../../images/platform.js';
import { familiarString, parseReference } from '../../images/reference.js';
import type { Digest } from '../../util/digest.js';
import { boolParam, checkFilters, JsonStream, matchesLabels, parseFilters, sendJson, sendStatus } from '../http.js';
import type { ImageRecord } from '../../images/records.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';

/** X-Registry-Auth: base64url JSON of the client's credentials (`e30=`, `{}`, when it has none). */
export function registryAuth(header: string | string[] | undefined): Credentials | undefined {
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    const auth = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { username?: string; password?: string };
    return auth.username ? { username: auth.username, password: auth.password ?? '' } : undefined;
  } catch {
    throw invalidArgument('invalid X-Registry-Auth header: expected base64url-encoded JSON');
  }
}

/** Docker's progress bar text beside a progressDetail, as the CLI prints it for non-terminal output. */
function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}`;
  return `[${bar}] ${humanBytes(current)}/${humanBytes(total)}`;
}

function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 3 : value < 100 ? 2 : 1).replace(/\.?0+$/, '')}${units[unit]}`;
}

/** Pull and push progress as Docker's JSON messages: `{"status","id","progressDetail","progress"}` per update. */
function jsonProgress(stream: JsonStream): Progress {
  return {
    update(id, status, bytes) {
      stream.write({ status, progressDetail: bytes ? { current: bytes.current, total: bytes.total } : {}, ...(bytes && { progress: progressBar(bytes.current, bytes.total) }), id });
    },
    line(text) {
      const pulling = /^([^:\s]+(?::[0-9a-f]{64})?): (Pulling from .*)$/.exec(text);
      if (pulling) stream.write({ status: pulling[2], id: pulling[1] });
      else stream.write({ status: text });
    },
  };
}

export function imageRoutes(router: Router, { engine }: ApiContext): void {
  router.add('GET', '/images/json', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['reference', 'dangling', 'label', 'before', 'since']);
    const filterArgs = [...filters].flatMap(([name, values]) => (name === 'label' ? [] : values.map((value) => `${name}=${value}`)));
    const rows = engine.listImages({ all: boolParam(query, 'all'), filters: filterArgs });
    const byId = new Map<Digest, { tags: string[]; digests: string[] }>();
    for (const row of rows) {
      const entry = byId.get(row.id) ?? { tags: [], digests: [] };
      if (row.tag !== '<none>') entry.tags.push(`${row.repository}:${row.tag}`);
      if (row.digest !== '<none>' && row.digest !== '') entry.digests.push(`${row.repository}@${row.digest}`);
      byId.set(row.id, entry);
    }
    const containers = engine.containers.list();
    const summaries = [...byId].flatMap(([id, names]) => {
      const record = engine.images.records.get(id);
      if (!record) return [];
      const config = engine.images.config(id);
      const labels = config.config?.Labels ?? {};
      if (!matchesLabels(labels, filters.get('label'))) return [];
      const untagged = names.tags.length === 0 && names.digests.length === 0;
      return [
        {
          Containers: containers.filter((c) => c.imageId === id).length,
          Created: Math.floor(Date.parse(config.created ?? '') / 1000) || 0,
          Id: id,
          Labels: config.config?.Labels ?? null,
          ParentId: record.parent ?? '',
          RepoDigests: untagged ? ['<none>@<none>'] : [...new Set(names.digests)],
          RepoTags: untagged ? ['<none>:<none>'] : names.tags,
          SharedSize: -1,
          Size: record.size,
          VirtualSize: record.size,
        },
      ];
    });
    sendJson(res, 200, summaries);
  });

  router.add('GET', '/images/search', () => {
    throw unsupported('search is not supported by Strata: no registry index is configured');
  });

  router.add('GET', '/images/get', async ({ res, query }) => {
    await sendArchive(res, query.getAll('names'));
  });

  router.add('POST', '/images/create', async ({ req, res, query }) => {
    const fromSrc = query.get('fromSrc');
    if (fromSrc !== null) {
      if (fromSrc !== '-') throw unsupported('import from a URL is not supported: send the tarball as the request body (fromSrc=-)');
      const repo = query.get('repo');
      const tag = query.get('tag');
      const reference = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
      const changes = query.getAll('changes');
      const message = query.get('message');
      const stream = new JsonStream(res);
      try {
        const { id } = await engine.importImage(req, { ...(reference && { reference }), ...(message && { message }), changes });
        stream.write({ status: id });
      } catch (error) {
        stream.error(error);
      }
      stream.end();
      return;
    }
    const fromImage = query.get('fromImage');
    if (!fromImage) throw invalidArgument('fromImage or fromSrc is required');
    const tag = query.get('tag');
    const name = tag ? (tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
    const platform = query.get('platform');
    const credentials = registryAuth(req.headers['x-registry-auth']);
    const options = { ...(platform && { platform: parsePlatform(platform) }), ...(credentials && { credentials }) };
    // A name the registry does not know is a 404 before any stream (clients act on the status): the stream
    // begins with the first progress message, so an error before it is still an ordinary answer.
    let stream: JsonStream | undefined;
    const begin = () => (stream ??= new JsonStream(res));
    const progress: Progress = {
      update: (...args) => jsonProgress(begin()).update(...args),
      line: (text) => jsonProgress(begin()).line(text),
    };
    try {
      const result = await engine.pull(name, progress, options);
      const shown = familiarString(result.reference);
      begin().write({ status: `Digest: ${result.digest}` });
      begin().write({ status: result.upToDate ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}` });
      begin().end();
    } catch (error) {
      if (!stream) {
        if (isNotFound(error)) throw notFound(`pull access denied for ${fromImage}, repository does not exist or may require 'docker login': ${(error as Error).message}`, { cause: error });
        throw error;
      }
      stream.error(error);
      stream.end();
    }
  });

  router.add('POST', '/images/load', async ({ req, res }) => {
    const loaded = await engine.loadImages(req);
    const stream = new JsonStream(res);
    for (const image of loaded) {
      const lines = image.tags.length > 0 ? image.tags.map((tag) => `Loaded image: ${familiarString(parseReference(tag))}`) : [`Loaded image ID: ${image.id}`];
      for (const line of lines) stream.write({ stream: `${line}\n` });
    }
    stream.end();
  });

  router.add('POST', '/images/prune', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['dangling', 'until', 'label']);
    const all = filters.get('dangling')?.some((value) => value === 'false' || value === '0') ?? false;
    const result = engine.pruneImages({ all });
    sendJson(res, 200, {
      ImagesDeleted: [...result.untagged.map((name) => ({ Untagged: familiarString(parseReference(name)) })), ...result.deleted.map((id) => ({ Deleted: id }))],
      SpaceReclaimed: result.reclaimed,
    });
  });

  router.add('POST', '/build', async (call) => {
    const { buildRoute } = await import('./build.js');
    await buildRoute(call, engine);
  });

  // `docker builder prune`: the filters and keep-storage of BuildKit's prune (until=DURATION), all=true the same here.
  router.add('POST', '/build/prune', async ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['until']);
    const keep = query.get('keep-storage') ?? query.get('reserved-space');
    const { parseTimestamp } = await import('../../util/time.js');
    const until = filters.get('until')?.[0];
    const result = await engine.pruneBuildCache({
      ...(until !== undefined && { olderThan: parseTimestamp(until) }),
      ...(keep !== null && keep !== '' && keep !== '0' && { keepStorage: Number(keep) }),
    });
    sendJson(res, 200, { CachesDeleted: result.deleted.map((id) => id.replace(/^sha256:/, '')), SpaceReclaimed: result.reclaimed });
  });

  router.add('GET', '/images/{name*}/json', ({ res, params }) => {
    sendJson(res, 200, dockerInspect(engine.inspectImage(noSuchImage(params.name!))));
  });

  router.add('GET', '/images/{name*}/history', ({ res, params }) => {
    const rows = engine.history(noSuchImage(params.name!));
    sendJson(
      res,
      200,
      rows.map((row) => ({
        Id: row.id,
        Created: Math.floor(Date.parse(row.created ?? '') / 1000) || 0,
        CreatedBy: row.createdBy,
        Tags: row.tags.length > 0 ? row.tags.map((tag) => familiarString(parseReference(tag))) : null,
        Size: row.size,
        Comment: row.comment,
      })),
    );
  });

  router.add('GET', '/images/{name*}/get', async ({ res, params }) => {
    await sendArchive(res, [params.name!]);
  });

  router.add('POST', '/images/{name*}/tag', ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalidArgument('repository name must have at least one component');
    const tag = query.get('tag');
    engine.tag(noSuchImage(params.name!), tag ? `${repo}:${tag}` : repo);
    sendStatus(res, 201);
  });

  router.add('POST', '/images/{name*}/push', async ({ req, res, params, query }) => {
    const tag = query.get('tag');
    const name = tag ? `${params.name}:${tag}` : params.name!;
    const reference = parseReference(name);
    engine.images.resolve(name); // a missing image is a 404 before the stream
    const credentials = registryAuth(req.headers['x-registry-auth']);
    const stream = new JsonStream(res);
    try {
      const result = await engine.push(name, jsonProgress(stream), { ...(credentials && { credentials }) });
      stream.write({ progressDetail: {}, aux: { Tag: reference.tag ?? 'latest', Digest: result.digest, Size: result.size } });
    } catch (error) {
      stream.error(error);
    }
    stream.end();
  });

  router.add('DELETE', '/images/{name*}', ({ res, params, query }) => {
    const [result] = engine.removeImages([params.name!], { force: boolParam(query, 'force'), prune: !boolParam(query, 'noprune') });
    if (!result) throw notFound(`No such image: ${params.name}`);
    if ('error' in result) throw result.error;
    sendJson(res, 200, [...result.untagged.map((name) => ({ Untagged: familiarString(parseReference(name)) })), ...result.deleted.map((id) => ({ Deleted: id }))]);
  });

  async function sendArchive(res: Parameters<typeof sendJson>[0], names: string[]): Promise<void> {
    if (names.length === 0) throw invalidArgument('no image names given');
    for (const name of names) engine.images.resolve(noSuchImage(name));
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await engine.saveImages(names, 'docker', res);
  }

  /** The name as given, checked to exist, so a miss is Docker's `No such image: x:latest`. */
  function noSuchImage(name: string): string {
    resolveImage(engine, name);
    return name;
  }
}

/** An image by the name a client sent; a miss is Docker's `No such image: x:latest` (an ID as given). */
export function resolveImage(engine: ApiContext['engine'], name: string): ImageRecord {
  try {
    return engine.images.resolve(name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    const shown = /^[a-f0-9]{1,64}$|^sha256:/.test(name) ? name : familiarString(parseReference(name));
    throw notFound(`No such image: ${shown}`, { cause: error });
  }
}

/** Image inspect as the Engine API returns it: Strata's own fields left out, Docker's defaults filled in. */
function dockerInspect(inspect: ReturnType<ApiContext['engine']['inspectImage']>) {
  const { Strata: _strata, Descriptor: _descriptor, ...docker } = inspect;
  return {
    ...docker,
    ContainerConfig: {},
    DockerVersion: '',
    VirtualSize: docker.Size,
    GraphDriver: { Name: 'overlay2', Data: null },
    RepoTags: docker.RepoTags,
  };
}
