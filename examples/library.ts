/**
 * Strata as a library, through its package name only: import a busybox rootfs tarball as an image, build a
 * two-step Dockerfile on it, run the image and print what the container wrote and its exit code.
 *
 *   node dist/examples/library.js ROOTFS.tar [STORE_DIR]
 *
 * (as root: RUN and containers need overlayfs and runc). The store defaults to $STRATA_ROOT or Strata's own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Engine, type BuildReporter, defaultRoot, isNotFound, StrataError } from 'strata';

const [rootfsTar, root = defaultRoot()] = process.argv.slice(2);
if (!rootfsTar) {
  process.stderr.write('usage: library ROOTFS.tar [STORE_DIR]\n');
  process.exit(2);
}

const engine = new Engine(root);
try {
  const base = await engine.importImage(fs.createReadStream(rootfsTar), { reference: 'library-base:latest' });
  console.log(`imported ${base.id}`);

  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-library-'));
  fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM library-base\nRUN echo built by a RUN step > /greeting\nCMD ["cat", "/greeting"]\n');
  // The transcript as events: print the steps, drop RUN's own output.
  const reporter: BuildReporter = {
    contextSize: () => undefined,
    step: (index, total, text) => console.log(`step ${index}/${total}: ${text}`),
    triggers: () => undefined,
    usingCache: () => console.log('  using cache'),
    runningIn: () => undefined,
    removingContainer: () => undefined,
    stepResult: () => undefined,
    warning: (text) => console.log(`  warning: ${text}`),
    output: new Writable({ write: (_chunk, _encoding, done) => done() }),
  };
  const built = await engine.build({ context: { spec: context }, tags: ['library-app:latest'] }, reporter);
  fs.rmSync(context, { recursive: true, force: true });
  console.log(`built ${built.id} as ${built.tags.join(', ')}`);

  const container = engine.createContainer('library-app');
  let output = '';
  const { exited } = await engine.runAttached(container.id, {
    stdout: new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    }),
  });
  const exitCode = await exited;
  console.log(`container output: ${output.trim()}`);
  console.log(`container exit code: ${exitCode}`);
  await engine.containers.remove(container.id);

  // Errors carry a code: a missing image is "not found", whatever the message says.
  try {
    engine.inspectImage('no-such-image');
  } catch (error) {
    if (!(error instanceof StrataError) || !isNotFound(error)) throw error;
    console.log(`lookup of a missing image: ${error.message}`);
  }
} finally {
  engine.close();
}
