import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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


/** Debian's docker-registry (the CNCF distribution registry) on a random loopback port, storing under `dir`; its host:port. */
export async function startDockerRegistry(dir: string, cleanups: (() => void)[]): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    fs.writeFileSync(path.join(dir, 'config.yml'), `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok).catch(() => false);
      if (ok) {
        cleanups.push(() => child.kill());
        return `127.0.0.1:${port}`;
      }
      if (child.exitCode !== null) break;
    }
    child.kill();
  }
  throw new Error('docker-registry did not start');
}
