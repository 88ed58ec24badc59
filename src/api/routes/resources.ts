import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSettings } from '../../containers/settings.js';
import { conflict, invalidArgument, notFound, unsupported } from '../../errors.js';
import { checkFilters, matchesLabels, parseFilters, readJson, sendJson, sendStatus } from '../http.js';
import type { Router } from '../router.js';
import type { ApiContext } from '../server.js';

/**
 * The address a client on this machine reaches published ports at, for `bridge`'s gateway: Docker's is the
 * host's address on docker0, which clients in a container (testcontainers) dial; a bridge container's ports are
 * published on every address of this host, whose first external IPv4 address stands in for it.
 */
function hostGateway(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}

/** The networks a Strata container can be on: Docker's three built-in ones, by the names clients look for. */
const networks = [
  { Name: 'bridge', Driver: 'bridge', IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.2.0/24', Gateway: hostGateway() }] } },
  { Name: 'host', Driver: 'host', IPAM: { Driver: 'default', Options: null, Config: [] } },
  { Name: 'none', Driver: 'null', IPAM: { Driver: 'default', Options: null, Config: [] } },
];

const validVolumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function volumeAndNetworkRoutes(router: Router, { engine }: ApiContext): void {
  const volumesDir = path.join(engine.root, 'volumes');
  const volumeDir = (name: string) => path.join(volumesDir, name);
  const labelsFile = (name: string) => path.join(volumeDir(name), 'labels.json');

  const networkView = (network: (typeof networks)[number]) => {
    const members = engine.containers.list().filter((record) => record.state === 'running' && parseSettings(record.settings).network === network.Name);
    return {
      ...network,
      Id: network.Name,
      Created: '0001-01-01T00:00:00Z',
      Scope: 'local',
      EnableIPv6: false,
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: Object.fromEntries(members.map((record) => [record.id, { Name: record.name, EndpointID: '', MacAddress: '', IPv4Address: network.Name === 'bridge' ? '10.0.2.100/24' : '', IPv6Address: '' }])),
      Options: {},
      Labels: {},
    };
  };
  const findNetwork = (name: string) => {
    const network = networks.find((n) => n.Name === name);
    if (!network) throw notFound(`network ${name} not found`);
    return network;
  };

  router.add('GET', '/networks', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['name', 'id', 'driver', 'type', 'label', 'scope', 'dangling']);
    const any = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
    sendJson(
      res,
      200,
      networks
        .filter((n) => any('name', (v) => n.Name.includes(v)) && any('id', (v) => n.Name.startsWith(v)) && any('driver', (v) => v === n.Driver) && any('type', (v) => v === 'builtin') && !filters.has('label'))
        .map(networkView),
    );
  });
  router.add('GET', '/networks/{id}', ({ res, params }) => sendJson(res, 200, networkView(findNetwork(params.id!))));
  router.add('POST', '/networks/create', () => {
    throw unsupported('user-defined networks are not supported by Strata: containers use bridge (their own network namespace with published ports), host or none');
  });
  router.add('POST', '/networks/prune', ({ res }) => sendJson(res, 200, { NetworksDeleted: null }));
  router.add('DELETE', '/networks/{id}', ({ params }) => {
    findNetwork(params.id!);
    throw conflict(`${params.id} is a pre-defined network and cannot be removed`);
  });

  const volumeView = (name: string) => {
    let labels: Record<string, string> = {};
    try {
      labels = JSON.parse(fs.readFileSync(labelsFile(name), 'utf8')) as Record<string, string>;
    } catch {
      // A volume made by `run -v NAME:/path` has no labels.
    }
    return {
      Name: name,
      Driver: 'local',
      Mountpoint: path.join(volumeDir(name), '_data'),
      CreatedAt: new Date(fs.statSync(volumeDir(name)).birthtimeMs || fs.statSync(volumeDir(name)).mtimeMs).toISOString(),
      Labels: labels,
      Scope: 'local',
      Options: null,
    };
  };
  const volumeNames = () => (fs.existsSync(volumesDir) ? fs.readdirSync(volumesDir).filter((name) => fs.existsSync(path.join(volumeDir(name), '_data'))) : []);
  const findVolume = (name: string) => {
    if (!validVolumeName.test(name) || !fs.existsSync(path.join(volumeDir(name), '_data'))) throw notFound(`get ${name}: no such volume`);
    return name;
  };
  const usersOf = (name: string) => engine.containers.list().filter((record) => parseSettings(record.settings).mounts.some((mount) => mount.type === 'volume' && mount.source === path.join(volumeDir(name), '_data')));

  router.add('GET', '/volumes', ({ res, query }) => {
    const filters = parseFilters(query.get('filters'));
    checkFilters(filters, ['name', 'driver', 'label', 'dangling']);
    const any = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
    const volumes = volumeNames()
      .map(volumeView)
      .filter((v) => any('name', (value) => v.Name.includes(value)) && any('driver', (value) => value === 'local') && matchesLabels(v.Labels, filters.get('label')) && any('dangling', (value) => (value === 'true' || value === '1') === (usersOf(v.Name).length === 0)));
    sendJson(res, 200, { Volumes: volumes, Warnings: null });
  });

  router.add('POST', '/volumes/create', async ({ req, res }) => {
    const body = await readJson<{ Name?: string; Driver?: string; Labels?: Record<string, string> | null }>({ req });
    if (body.Driver && body.Driver !== 'local') throw notFound(`plugin "${body.Driver}" not found`);
    const name = body.Name || randomBytes(32).toString('hex');
    if (!validVolumeName.test(name)) throw invalidArgument(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    fs.mkdirSync(path.join(volumeDir(name), '_data'), { recursive: true });
    if (body.Labels && Object.keys(body.Labels).length > 0 && !fs.existsSync(labelsFile(name))) fs.writeFileSync(labelsFile(name), JSON.stringify(body.Labels));
    engine.events.record('volume', 'create', name, { driver: 'local' });
    sendJson(res, 201, volumeView(name));
  });

  router.add('POST', '/volumes/prune', ({ res }) => {
    let reclaimed = 0;
    const deleted: string[] = [];
    for (const name of volumeNames()) {
      if (usersOf(name).length > 0) continue;
      reclaimed += treeSize(volumeDir(name));
      fs.rmSync(volumeDir(name), { recursive: true, force: true });
      engine.events.record('volume', 'destroy', name, { driver: 'local' });
      deleted.push(name);
    }
    sendJson(res, 200, { VolumesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: reclaimed });
  });

  router.add('GET', '/volumes/{name}', ({ res, params }) => sendJson(res, 200, volumeView(findVolume(params.name!))));

  router.add('DELETE', '/volumes/{name}', ({ res, params, query }) => {
    const name = findVolume(params.name!);
    const users = usersOf(name);
    if (users.length > 0 && query.get('force') !== '1' && query.get('force') !== 'true') {
      throw conflict(`remove ${name}: volume is in use - [${users.map((record) => record.id).join(', ')}]`);
    }
    fs.rmSync(volumeDir(name), { recursive: true, force: true });
    engine.events.record('volume', 'destroy', name, { driver: 'local' });
    sendStatus(res, 204);
  });
}

function treeSize(dir: string): number {
  let size = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) size += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return size;
}
