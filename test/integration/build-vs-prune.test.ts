/**
 * Builds beside `image prune -a`, bounded in time: a build's images are held by its lease while it runs, so no
 * build fails with a raw SQLite error or a layer missing from under it, no prune fails, and the store checks
 * clean afterwards with nothing left over. COPY-only builds: no container runs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { busyboxTar, cliPath, strataOk, tempDir } from '../helpers.js';

function run(root: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, '--root', root, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stderr })));
}

test('builds and prunes at once: clean errors only, the store intact, nothing left over', async () => {
  const root = tempDir('strata-race-');
  strataOk(root, ['import', '-c', 'CMD ["sh"]', busyboxTar(), 'busybox']);
  // A container of the base keeps it from `prune -a`: what is at stake is the builds' own images.
  strataOk(root, ['create', '--name', 'keeper', 'busybox', 'true']);
  const context = tempDir('strata-race-ctx-');
  for (const name of ['a', 'b', 'c']) fs.writeFileSync(path.join(context, name), `${name}\n`.repeat(1000));
  const deadline = Date.now() + 12_000;
  const failures: string[] = [];
  let builds = 0;
  let prunes = 0;
  const builder = async () => {
    for (let i = 0; Date.now() < deadline; i++) {
      // A new last step each round: the earlier steps come from the cache, whose images a prune may be removing.
      fs.writeFileSync(path.join(context, `Dockerfile.${i}`), `FROM busybox\nCOPY a /a\nCOPY b /b\nENV ROUND=${i}\nCOPY c /c\n`);
      const result = await run(root, ['build', '-q', '-t', `race:${i % 3}`, '-f', path.join(context, `Dockerfile.${i}`), context]);
      builds++;
      if (result.status !== 0) failures.push(`build: ${result.stderr.trim()}`);
    }
  };
  const pruner = async () => {
    while (Date.now() < deadline) {
      const result = await run(root, ['image', 'prune', '-a', '-f']);
      prunes++;
      if (result.status !== 0) failures.push(`prune: ${result.stderr.trim()}`);
    }
  };
  await Promise.all([builder(), builder(), pruner()]);
  assert.ok(builds >= 4 && prunes >= 2, `${builds} builds, ${prunes} prunes ran`);
  assert.deepEqual(failures, []);
  const check = strataOk(root, ['system', 'check']);
  assert.match(check, /: 0 problems, 0 unreferenced items$/m);
});
