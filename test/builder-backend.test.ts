/**
 * The builder against a backend of the test's own (moby's builder tests run on a mock backend the same way):
 * the real image store, layer store and build cache on a temp root, but RUN steps in a stand-in container that
 * understands two commands (`touch PATH` writes a file into its read-write layer, `fail N` exits N). What is
 * tested is the builder's side of the seam: which containers it asks for, what it commits, what it caches.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { BuildBackend, StepContainer } from '../src/builder/backend.js';
import { build, type BuildReporter } from '../src/builder/builder.js';
import type { CreateOptions } from '../src/containers/service.js';
import { ImageEngine } from '../src/image-engine.js';
import type { Digest } from '../src/util/digest.js';
import { busyboxTar, tempDir } from './helpers.js';

interface Made {
  image: Digest;
  args: string[];
  removed: boolean;
}

/** A backend whose RUN containers are directories and a tiny interpreter. */
function fakeBackend(engine: ImageEngine): BuildBackend & { made: Made[] } {
  const made: Made[] = [];
  return {
    images: engine.images,
    cache: engine.buildCache,
    made,
    cacheMountsDir: tempDir('strata-fake-cache-mounts-'),
    async mountImage() {
      throw new Error('this backend has no root filesystems to mount (RUN --mount=from= is tested on the engine)');
    },
    async createContainer(image: Digest, settings: CreateOptions['settings']): Promise<StepContainer> {
      const upper = tempDir('strata-fake-upper-');
      const entry: Made = { image, args: settings.args, removed: false };
      made.push(entry);
      const id = `fake${made.length}`.padEnd(64, '0');
      return {
        id,
        async run(output) {
          const script = settings.args.at(-1) ?? '';
          const failing = /^fail (\d+)$/.exec(script);
          if (failing) return Number(failing[1]);
          const touched = /^touch (\S+)$/.exec(script);
          if (touched) fs.writeFileSync(path.join(upper, touched[1]!), 'made\n');
          output.write(`ran ${script}\n`);
          return 0;
        },
        upperDir: () => upper,
        async remove() {
          entry.removed = true;
        },
      };
    },
  };
}

function recorder() {
  const events: string[] = [];
  let output = '';
  const reporter: BuildReporter = {
    contextSize: () => undefined,
    step: (index, total, text) => events.push(`step ${index}/${total} ${text}`),
    triggers: () => undefined,
    usingCache: () => events.push('cache'),
    runningIn: (id) => events.push(`running ${id.slice(0, 5)}`),
    removingContainer: (id) => events.push(`removing ${id.slice(0, 5)}`),
    stepResult: () => undefined,
    warning: (text) => events.push(`warning ${text}`),
    output: new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    }),
  };
  return { reporter, events, output: () => output };
}

async function storeWithBase(): Promise<ImageEngine> {
  const engine = new ImageEngine(tempDir('strata-backend-'));
  await engine.importImage(fs.createReadStream(busyboxTar()), { reference: 'base' });
  return engine;
}

function contextWith(dockerfile: string): string {
  const dir = tempDir('strata-backend-ctx-');
  fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

test('a RUN step asks the backend for one container of the previous step, commits its read-write layer and removes it', async () => {
  const engine = await storeWithBase();
  try {
    const backend = fakeBackend(engine);
    const { reporter, events, output } = recorder();
    const result = await build(backend, { context: { spec: contextWith('FROM base\nRUN touch /made\nENV A=1\n') }, tags: ['app'] }, reporter);
    assert.equal(backend.made.length, 1);
    assert.equal(backend.made[0]!.image, engine.images.resolve('base').id);
    assert.deepEqual(backend.made[0]!.args, ['/bin/sh', '-c', 'touch /made']);
    assert.equal(backend.made[0]!.removed, true);
    assert.deepEqual(events, ['step 1/3 FROM base', 'step 2/3 RUN touch /made', 'running fake1', 'removing fake1', 'step 3/3 ENV A=1']);
    assert.equal(output(), 'ran touch /made\n');
    const image = engine.images.resolve('app');
    assert.equal(image.id, result.id);
    const top = engine.images.layerChain(image).at(-1)!;
    assert.equal(fs.readFileSync(path.join(engine.layers.path(top.dir), 'made'), 'utf8'), 'made\n');
    assert.deepEqual(
      engine.history('app').map((row) => row.createdBy).slice(0, 2),
      ['/bin/sh -c #(nop)  ENV A=1', '/bin/sh -c touch /made'],
    );
  } finally {
    engine.close();
  }
});

test('a rebuild takes every step from the cache without asking the backend for a container', async () => {
  const engine = await storeWithBase();
  try {
    const context = { spec: contextWith('FROM base\nRUN touch /made\nRUN touch /second\n') };
    const first = await build(fakeBackend(engine), { context }, recorder().reporter);
    const backend = fakeBackend(engine);
    const { reporter, events } = recorder();
    const second = await build(backend, { context }, reporter);
    assert.equal(second.id, first.id);
    assert.equal(backend.made.length, 0);
    assert.deepEqual(events.filter((e) => e === 'cache'), ['cache', 'cache']);
    const uncached = fakeBackend(engine);
    await build(uncached, { context, noCache: true }, recorder().reporter);
    assert.equal(uncached.made.length, 2);
  } finally {
    engine.close();
  }
});

test('a RUN that exits non-zero fails the build with its exit code, removes its container and tags nothing', async () => {
  const engine = await storeWithBase();
  try {
    const backend = fakeBackend(engine);
    const before = engine.images.records.all().length;
    await assert.rejects(build(backend, { context: { spec: contextWith('FROM base\nRUN fail 3\n') }, tags: ['broken'] }, recorder().reporter), (error: Error & { exitCode?: number }) => {
      assert.equal(error.message, "The command '/bin/sh -c fail 3' returned a non-zero code: 3");
      assert.equal(error.exitCode, 3);
      return true;
    });
    assert.equal(backend.made[0]!.removed, true);
    assert.equal(engine.images.find('broken'), undefined);
    assert.equal(engine.images.records.all().length, before);
  } finally {
    engine.close();
  }
});
