/**
 * The content store (src/content/store.ts) on its own, no CLI: blobs addressed by digest, written through
 * ingest/ so that a partial, wrong or abandoned write is never visible under blobs/.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ContentStore } from '../src/content/store.js';
import { StrataError } from '../src/errors.js';
import { type Digest, digestOf as sha256 } from '../src/util/digest.js';
import { tempDir } from './helpers.js';

const freshStore = () => new ContentStore(tempDir('strata-content-'));

/** The store holds exactly these blobs and no write is left in ingest/. */
function assertHolds(store: ContentStore, digests: Digest[]): void {
  assert.deepEqual(store.list().sort(), [...digests].sort());
  assert.deepEqual(store.leftoverIngests(), [], 'ingest/ is empty');
}

const isCode = (code: string, message?: RegExp) => (error: unknown) =>
  error instanceof StrataError && error.code === code && (message === undefined || message.test(error.message));

async function readStream(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const contents: [string, Buffer][] = [
  ['an empty blob', Buffer.alloc(0)],
  ['a short text', Buffer.from('hello, blob\n')],
  ['3 MiB of random bytes (several read chunks)', randomBytes(3 << 20)],
];

test('a written blob is readable by its digest with the same bytes', async () => {
  const store = freshStore();
  for (const [what, data] of contents) {
    const { digest, size } = store.putBytes(data);
    assert.equal(digest, sha256(data), what);
    assert.equal(size, data.length, what);
    assert.ok(store.has(digest), what);
    assert.equal(store.size(digest), data.length, what);
    assert.ok(store.read(digest).equals(data), what);
    assert.ok((await readStream(store.openRead(digest))).equals(data), `${what}: streamed`);
    assert.equal(store.path(digest), path.join(store.blobDir, digest.slice('sha256:'.length)), what);
    assert.equal(await store.verify(digest), true, what);
  }
  assertHolds(store, contents.map(([, data]) => sha256(data)));
});

test('a writer hashes what it is given chunk by chunk; the blob appears under blobs/ only at commit', () => {
  const store = freshStore();
  const data = randomBytes(100_000);
  const writer = store.writer();
  for (let offset = 0; offset < data.length; offset += 7_000) writer.write(data.subarray(offset, offset + 7_000));
  assert.equal(writer.size, data.length);
  assert.equal(path.dirname(writer.currentPath), store.ingestDir, 'while writing, the bytes are in ingest/');

  const staged = writer.stage();
  assert.deepEqual(staged, { digest: sha256(data), size: data.length });
  assert.ok(fs.readFileSync(writer.currentPath).equals(data), 'a staged blob is readable at its temp path');
  assert.equal(store.has(staged.digest), false, 'but not in the store yet');
  assert.deepEqual(store.list(), []);
  assert.throws(() => writer.write(Buffer.from('more')), /closed/, 'a staged writer takes no more bytes');

  assert.deepEqual(writer.commit(), staged);
  assert.equal(writer.currentPath, store.path(staged.digest));
  assert.deepEqual(writer.commit(), staged, 'a second commit is a no-op');
  writer.abort(); // after commit: nothing to undo
  assert.ok(store.read(staged.digest).equals(data));
  assertHolds(store, [staged.digest]);
});

test('writeSoon and stageSoon write in the background and give the same blob', async () => {
  const store = freshStore();
  const data = randomBytes(5 << 20);
  const writer = store.writer();
  for (let offset = 0; offset < data.length; offset += 1 << 20) await writer.writeSoon(data.subarray(offset, offset + (1 << 20)));
  assert.deepEqual(await writer.stageSoon({ digest: sha256(data), size: data.length }), { digest: sha256(data), size: data.length });
  writer.commit();
  assert.ok(store.read(sha256(data)).equals(data));
  assertHolds(store, [sha256(data)]);
});

test('a writer whose digest or size does not match the expected one commits nothing and leaves no ingest file', async () => {
  const data = Buffer.from('the real content');
  const other = sha256('other content');
  const cases: [string, { digest?: Digest; size?: number }, RegExp][] = [
    ['wrong digest', { digest: other }, /digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:/],
    ['too few bytes', { size: data.length + 1 }, /size mismatch .*expected 17 bytes, got 16/],
    ['too many bytes', { size: data.length - 1 }, /size mismatch .*expected 15 bytes, got 16/],
    ['right size, wrong digest', { digest: other, size: data.length }, /digest mismatch/],
    ['right digest, wrong size', { digest: sha256(data), size: 3 }, /size mismatch/],
  ];
  const ways: [string, (store: ContentStore, expected: { digest?: Digest; size?: number }) => Promise<unknown>][] = [
    ['putBytes', async (store, expected) => store.putBytes(data, expected)],
    [
      'stage',
      async (store, expected) => {
        const writer = store.writer();
        writer.write(data);
        writer.stage(expected);
        writer.commit();
      },
    ],
    [
      'commit',
      async (store, expected) => {
        const writer = store.writer();
        writer.write(data);
        writer.commit(expected);
      },
    ],
    [
      'stageSoon',
      async (store, expected) => {
        const writer = store.writer();
        await writer.writeSoon(data);
        await writer.stageSoon(expected);
        writer.commit();
      },
    ],
  ];
  for (const [way, write] of ways) {
    for (const [what, expected, message] of cases) {
      const store = freshStore();
      await assert.rejects(write(store, expected), isCode('data-corrupt', message), `${way}, ${what}`);
      assert.equal(store.has(sha256(data)), false, `${way}, ${what}: no blob`);
      assertHolds(store, []);
    }
  }
});

test('a blob whose expected digest and size match is committed', () => {
  const store = freshStore();
  const data = Buffer.from('expected');
  assert.deepEqual(store.putBytes(data, { digest: sha256(data), size: data.length }), { digest: sha256(data), size: data.length });
  assertHolds(store, [sha256(data)]);
});

test(
  'commit checks the expected digest even after an unchecked stage',
  () => {
    const store = freshStore();
    const writer = store.writer();
    writer.write(Buffer.from('the real content'));
    writer.stage();
    assert.throws(() => writer.commit({ digest: sha256('other content') }), isCode('data-corrupt'));
    writer.abort();
    assertHolds(store, []);
  },
);

test('an aborted writer leaves nothing, whenever it is aborted', async () => {
  const aborts: [string, (store: ContentStore) => Promise<void>][] = [
    ['before any byte', async (store) => store.writer().abort()],
    [
      'after writes',
      async (store) => {
        const writer = store.writer();
        writer.write(Buffer.from('half a blob'));
        writer.abort();
      },
    ],
    [
      'after background writes still in flight',
      async (store) => {
        const writer = store.writer();
        await writer.writeSoon(randomBytes(1 << 20));
        writer.abort();
      },
    ],
    [
      'after stage',
      async (store) => {
        const writer = store.writer();
        writer.write(Buffer.from('staged, never committed'));
        writer.stage();
        writer.abort();
        // (It fails with the rename's ENOENT: the staged result outlives the abort.)
        assert.throws(() => writer.commit(), 'an aborted writer cannot be committed');
      },
    ],
    [
      'twice',
      async (store) => {
        const writer = store.writer();
        writer.write(Buffer.from('x'));
        writer.abort();
        writer.abort();
      },
    ],
  ];
  for (const [what, abort] of aborts) {
    const store = freshStore();
    await abort(store);
    // Background writes settle on the thread pool before the descriptor is closed.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assertHolds(store, []);
    assert.deepEqual(fs.readdirSync(store.blobDir), [], what);
  }
});

test('a writer still writing shows as a leftover ingest until it ends', () => {
  const store = freshStore();
  const writer = store.writer();
  writer.write(Buffer.from('in progress'));
  assert.deepEqual(store.leftoverIngests(), [writer.tempPath]);
  writer.commit();
  assertHolds(store, [sha256('in progress')]);
});

test('writing content the store already has keeps one blob with the same bytes', () => {
  const store = freshStore();
  const data = Buffer.from('stored once');
  const first = store.putBytes(data);
  for (let i = 0; i < 3; i++) assert.deepEqual(store.putBytes(data), first);
  assert.ok(store.read(first.digest).equals(data));
  assertHolds(store, [first.digest]);
});

test('an existing blob is not replaced by a writer that claims its digest with other bytes', () => {
  const store = freshStore();
  const data = Buffer.from('the genuine blob');
  const { digest } = store.putBytes(data);
  assert.throws(() => store.putBytes(Buffer.from('an impostor blob'), { digest }), isCode('data-corrupt'));
  assert.ok(store.read(digest).equals(data));
  assertHolds(store, [digest]);
});

test('verify detects a blob whose bytes changed on disk', async () => {
  const damages: [string, (file: string) => void][] = [
    ['one byte flipped', (file) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length >> 1]! ^= 0xff;
      fs.writeFileSync(file, bytes);
    }],
    ['truncated', (file) => fs.truncateSync(file, 10)],
    ['emptied', (file) => fs.writeFileSync(file, '')],
    ['bytes appended', (file) => fs.appendFileSync(file, 'x')],
  ];
  for (const [what, damage] of damages) {
    const store = freshStore();
    const { digest } = store.putBytes(randomBytes(64 << 10));
    assert.equal(await store.verify(digest), true, `${what}: before`);
    damage(store.path(digest));
    assert.equal(await store.verify(digest), false, what);
  }
});

test('delete removes a blob; reading a missing blob is a not-found error', async () => {
  const store = freshStore();
  const kept = store.putBytes(Buffer.from('kept')).digest;
  const gone = store.putBytes(Buffer.from('deleted')).digest;
  store.delete(gone);
  store.delete(gone); // deleting again is no error
  store.delete(sha256('never stored'));
  assert.equal(store.has(gone), false);
  assertHolds(store, [kept]);
  for (const [what, read] of [
    ['read', () => store.read(gone)],
    ['size', () => store.size(gone)],
    ['openRead', () => store.openRead(gone)],
  ] as const) {
    assert.throws(read, isCode('not-found', /blob sha256:[0-9a-f]{64} not found/), what);
  }
  await assert.rejects(store.verify(gone), 'verify of a missing blob fails');
  assert.ok(store.read(kept).equals(Buffer.from('kept')));
});

test('list names only digests, not stray files in the blob directory', () => {
  const store = freshStore();
  const { digest } = store.putBytes(Buffer.from('a blob'));
  fs.writeFileSync(path.join(store.blobDir, 'not-a-digest'), 'junk');
  fs.writeFileSync(path.join(store.blobDir, 'abc'), 'junk');
  assert.deepEqual(store.list(), [digest]);
});

test('concurrent writers of the same content give one blob with those bytes', async () => {
  const root = tempDir('strata-content-');
  // Two stores on one root, as two processes have them, and several writers in each.
  const stores = [new ContentStore(root), new ContentStore(root)];
  const data = randomBytes(2 << 20);
  const chunk = 64 << 10;
  const writers = stores.flatMap((store) => [store.writer(), store.writer(), store.writer()]);
  assert.equal(new Set(writers.map((writer) => writer.tempPath)).size, writers.length, 'every writer has its own ingest file');
  // Interleaved: each writer writes one chunk in turn, half of them in the background.
  for (let offset = 0; offset < data.length; offset += chunk) {
    await Promise.all(writers.map((writer, i) => (i % 2 ? writer.writeSoon(data.subarray(offset, offset + chunk)) : writer.write(data.subarray(offset, offset + chunk)))));
  }
  const staged = await Promise.all(writers.map((writer, i) => (i % 2 ? writer.stageSoon({ digest: sha256(data) }) : writer.stage({ digest: sha256(data) }))));
  for (const writer of writers) writer.commit();
  for (const result of staged) assert.deepEqual(result, { digest: sha256(data), size: data.length });
  for (const store of stores) {
    assert.ok(store.read(sha256(data)).equals(data));
    assertHolds(store, [sha256(data)]);
    assert.equal(await store.verify(sha256(data)), true);
  }
});

test('concurrent writers of different content each commit their own blob', async () => {
  const store = freshStore();
  const blobs = Array.from({ length: 8 }, (_, i) => Buffer.from(`blob number ${i}\n`.repeat(1000 * (i + 1))));
  const written = await Promise.all(
    blobs.map(async (data) => {
      const writer = store.writer();
      for (let offset = 0; offset < data.length; offset += 4096) await writer.writeSoon(data.subarray(offset, offset + 4096));
      await writer.stageSoon({ size: data.length });
      return writer.commit().digest;
    }),
  );
  assert.deepEqual(written, blobs.map((data) => sha256(data)));
  for (const [i, digest] of written.entries()) assert.ok(store.read(digest).equals(blobs[i]!));
  assertHolds(store, written);
});
