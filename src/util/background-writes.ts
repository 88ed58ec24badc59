import fs from 'node:fs';

/** Chunks are gathered up to this size and written with one call: each trip to the thread pool costs the main thread. */
const batchBytes = 1 << 20;

/**
 * Appends to an open file on libuv's thread pool, in order, while the caller goes on: the copy into the page
 * cache runs on another core than the one parsing and hashing. At most `limit` bytes wait at a time; `write`
 * resolves once the caller may send more. The first failure is kept and thrown by `flush`.
 */
export class BackgroundWrites {
  /** The writes not finished yet, oldest first (they finish in order). */
  private readonly queued: Promise<void>[] = [];
  private tail: Promise<void> = Promise.resolve();
  private pendingBytes = 0;
  private batch: Buffer[] = [];
  private batched = 0;
  private failure: unknown;

  constructor(
    private readonly fd: number,
    private readonly limit = 16 << 20,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched >= batchBytes) this.submit();
    // Wait for the oldest writes only until the rest fits: the pool keeps working while the caller refills it.
    while (this.pendingBytes > this.limit) await this.queued[0];
  }

  /** Waits for every write (a batch still gathering is sent first); never rejects, for closing the descriptor after them. */
  settled(): Promise<void> {
    this.submit();
    return this.tail;
  }

  /** Waits for every write and throws the first failure. */
  async flush(): Promise<void> {
    await this.settled();
    if (this.failure !== undefined) throw this.failure;
  }

  private submit(): void {
    if (this.batched === 0) return;
    const chunks = this.batch;
    const bytes = this.batched;
    this.batch = [];
    this.batched = 0;
    this.pendingBytes += bytes;
    this.tail = this.tail
      .then(() => (this.failure === undefined ? writeAll(this.fd, chunks) : undefined))
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.pendingBytes -= bytes;
        this.queued.shift();
      });
    this.queued.push(this.tail);
  }
}

/** writev until every byte is written (a short write continues where it stopped). */
async function writeAll(fd: number, chunks: Buffer[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    let written = await new Promise<number>((resolve, reject) => fs.writev(fd, rest, null, (error, bytes) => (error ? reject(error) : resolve(bytes))));
    let i = 0;
    while (i < rest.length && written >= rest[i]!.length) written -= rest[i++]!.length;
    rest = rest.slice(i);
    if (written > 0) rest[0] = rest[0]!.subarray(written);
  }
}
