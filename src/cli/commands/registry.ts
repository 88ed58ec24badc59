import type { AddressInfo } from 'node:net';
import { invalidArgument } from '../../errors.js';
import { collectGarbage } from '../../distribution/registry/gc.js';
import { createRegistryServer } from '../../distribution/registry/server.js';
import { humanSize } from '../format.js';
import { print } from '../run.js';

export interface RegistryServeOptions {
  addr: string;
  root: string;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** `HOST:PORT`, `:PORT` (all interfaces, as Go's net.Listen reads it) or `[IPv6]:PORT`. */
export function parseListenAddress(addr: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw invalidArgument(`invalid --addr "${addr}": expected HOST:PORT, :PORT or [IPv6]:PORT`);
  const host = match[1] ?? match[2];
  return { host: host === '' ? undefined : host, port };
}

/**
 * `strata registry serve`: runs the registry until SIGINT or SIGTERM, then stops accepting connections and
 * resolves once the open ones are done.
 */
export async function registryServeCommand(opts: RegistryServeOptions): Promise<void> {
  const { host, port } = parseListenAddress(opts.addr);
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) throw invalidArgument('TLS needs both --tls-cert and --tls-key');
  const tls = opts.tlsCert && opts.tlsKey ? { cert: opts.tlsCert, key: opts.tlsKey } : undefined;
  const server = createRegistryServer({ root: opts.root, auth: opts.htpasswd ? { htpasswd: opts.htpasswd } : undefined, tls });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  print(`Strata registry listening on ${tls ? 'https' : 'http'}://${shown}:${address.port} (storage ${opts.root}${opts.htpasswd ? ', htpasswd auth' : ''})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeIdleConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** `strata registry gc`: deletes blobs no manifest references. Run it while no push is in flight. */
export function registryGcCommand(opts: { root: string; dryRun?: boolean }): void {
  const report = collectGarbage(opts.root, { dryRun: opts.dryRun });
  for (const digest of report.deleted) print(`${opts.dryRun ? 'would delete' : 'deleted'} ${digest}`);
  print(`${report.deleted.length} blobs ${opts.dryRun ? 'to delete' : 'deleted'} (${humanSize(report.bytesFreed)}), ${report.kept} kept${report.uploadsRemoved ? `, ${report.uploadsRemoved} abandoned uploads removed` : ''}`);
}
