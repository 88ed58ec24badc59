import fs from 'node:fs';
import os from 'node:os';
import { familiarString, parseReference } from '../../images/reference.js';
import type { EngineEvent } from '../../metadata/events.js';
import { listEntry } from './containers.js';
import { invalidArgument } from '../../errors.js';
import { apiVersion, checkFilters, JsonStream, matchesLabels, minApiVersion, parseFilters, readJson, sendJson, timeParam } from '../http.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';

const serverVersion = '0.1.0';

function cgroupVersion(): '1' | '2' {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

/** Docker's event JSON: the old `status`/`id`/`from` fields too, for containers and images, as clients still read them. */
export function dockerEvent(event: EngineEvent): Record<string, unknown> {
  const legacy = event.type === 'container' || event.type === 'image' ? { status: event.action, id: event.actor, ...(event.type === 'container' && event.attributes.image && { from: event.attributes.image }) } : {};
  return {
    ...legacy,
    Type: event.type,
    Action: event.action,
    Actor: { ID: event.actor, Attributes: event.attributes },
    scope: 'local',
    time: Math.floor(event.time / 1000),
    timeNano: event.time * 1e6,
  };
}

/** Whether an event passes `docker events`' filters (each filter name: any of its values; all names must match). */
export function eventMatches(event: EngineEvent, filters: Map<string, string[]>): boolean {
  const any = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
  const name = event.attributes.name;
  return (
    any('type', (type) => type === event.type) &&
    any('event', (action) => action === event.action || event.action.startsWith(`${action}:`)) &&
    any('container', (value) => event.type === 'container' && (event.actor.startsWith(value) || name === value)) &&
    any('image', (value) => event.actor === value || event.attributes.image === value || name === value) &&
    any('volume', (value) => event.type === 'volume' && event.actor === value) &&
    any('network', (value) => event.type === 'network' && event.actor === value) &&
    matchesLabels(event.attributes, filters.get('label'))
  );
}

export function systemRoutes(router: Router, { engine }: ApiContext): void {
  router.add('GET', '/_ping', ({ res, req }) => {
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      'Builder-Version': '1',
      'Content-Length': 2,
    });
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  });

  router.add('GET', '/version', ({ res }) => {
    const kernel = os.release();
    sendJson(res, 200, {
      Platform: { Name: 'Strata' },
      Components: [{ Name: 'Engine', Version: serverVersion, Details: { ApiVersion: apiVersion, MinAPIVersion: minApiVersion, Os: 'linux', Arch: goArch(), KernelVersion: kernel } }],
      Version: serverVersion,
      ApiVersion: apiVersion,
      MinAPIVersion: minApiVersion,
      GitCommit: '',
      GoVersion: `node${process.versions.node}`,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: kernel,
      BuildTime: '',
    });
  });

  router.add('GET', '/info', ({ res }) => {
    const containers = engine.containers.list();
    const count = (state: string) => containers.filter((c) => c.state === state).length;
    sendJson(res, 200, {
      ID: 'strata',
      Containers: containers.length,
      ContainersRunning: count('running'),
      ContainersPaused: 0,
      ContainersStopped: containers.length - count('running'),
      Images: engine.images.records.all().length,
      Driver: engine.containers.defaultSnapshotter === 'overlay' ? 'overlay2' : 'vfs',
      DriverStatus: [],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
      MemoryLimit: true,
      SwapLimit: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: cgroupVersion(),
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: operatingSystem(),
      OSVersion: '',
      OSType: 'linux',
      Architecture: os.machine(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { IndexConfigs: {}, InsecureRegistryCIDRs: ['127.0.0.0/8'], Mirrors: [] },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      DockerRootDir: engine.root,
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: serverVersion,
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      SecurityOptions: [],
      Warnings: [],
    });
  });

  router.add('GET', '/system/df', ({ res }) => {
    const containers = engine.containers.list();
    const usage = engine.diskUsage();
    const buildCache = engine.buildCacheEntries();
    sendJson(res, 200, {
      LayersSize: usage.layersSize,
      Images: usage.images.map((image) => ({
        Id: image.id,
        ParentId: engine.images.records.get(image.id)?.parent ?? '',
        RepoTags: image.tags.length > 0 ? image.tags.map((tag) => familiarString(parseReference(tag))) : ['<none>:<none>'],
        RepoDigests: [],
        Created: Math.floor(Date.parse(image.created) / 1000) || 0,
        Size: image.size,
        SharedSize: image.sharedSize,
        VirtualSize: image.size,
        Labels: engine.images.config(image.id).config?.Labels ?? null,
        Containers: containers.filter((c) => c.imageId === image.id).length,
      })),
      Containers: containers.map((record) => listEntry(engine, record, true)),
      Volumes: [],
      BuildCache: buildCache.map((entry) => ({
        ID: entry.id.replace(/^sha256:/, ''),
        Parent: '',
        Type: entry.kind === 'mount' ? 'exec.cachemount' : 'regular',
        Description: entry.kind === 'mount' ? 'RUN --mount=type=cache contents' : 'a cached build step',
        InUse: entry.inUse,
        Shared: false,
        Size: entry.size,
        CreatedAt: new Date(entry.lastUsed).toISOString(),
        LastUsedAt: new Date(entry.lastUsed).toISOString(),
        UsageCount: 1,
      })),
      BuilderSize: buildCache.reduce((sum, entry) => sum + entry.size, 0),
    });
  });

  router.add('POST', '/auth', async ({ req, res }) => {
    const body = await readJson<{ username?: string; password?: string; serveraddress?: string }>({ req });
    if (!body.username || body.password === undefined) throw invalidArgument('Must provide username and password');
    const { login } = await import('../../distribution/client/registry.js');
    const host = (body.serveraddress || 'docker.io').replace(/^https?:\/\//, '').replace(/\/v[12]\/?$/, '').replace(/\/$/, '');
    await login(host === 'index.docker.io' ? 'docker.io' : host, { username: body.username, password: body.password });
    sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });

  router.add('GET', '/events', async ({ req, res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['container', 'event', 'image', 'label', 'type', 'volume', 'network', 'daemon', 'plugin', 'node', 'service', 'secret', 'config', 'scope']);
    const since = timeParam(query.get('since'));
    const until = timeParam(query.get('until'));
    if (since !== undefined && until !== undefined && until < since) throw invalidArgument('since time must be before until time');
    const stream = new JsonStream(res);
    let closed = false;
    req.on('close', () => (closed = true));
    let last = engine.events.lastId();
    if (since !== undefined) {
      for (const event of engine.events.since(since)) {
        if (event.id > last) break;
        if (until !== undefined && event.time > until) break;
        if (eventMatches(event, filters)) stream.write(dockerEvent(event));
      }
    }
    while (!closed && !stream.closed && (until === undefined || Date.now() <= until)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const event of engine.events.after(last)) {
        last = event.id;
        if (until !== undefined && event.time > until) break;
        if (eventMatches(event, filters)) stream.write(dockerEvent(event));
      }
    }
    stream.end();
  });
}

function goArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

function operatingSystem(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}
