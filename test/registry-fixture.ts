import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { createRegistryServer, type RegistryServerOptions } from '../src/distribution/registry/index.js';
import { tempDir } from './helpers.js';

export interface Registry {
  url: string;
  root: string;
}

/** A registry on 127.0.0.1 (or `host`) with an ephemeral port, closed (with its root removed) when the test ends. */
export async function startRegistry(t: TestContext, options: Omit<RegistryServerOptions, 'root'> = {}, host = '127.0.0.1'): Promise<Registry> {
  const root = tempDir('strata-registry-');
  const server = createRegistryServer({ root, ...options });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(root, { recursive: true, force: true });
  });
  const { port } = server.address() as AddressInfo;
  return { url: `${options.tls ? 'https' : 'http'}://${host}:${port}`, root };
}

