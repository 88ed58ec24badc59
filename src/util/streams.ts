import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Digest } from './digest.js';

/** Passes chunks through while hashing and counting them; `digest()` is valid once the source is drained. */
export class Tap {
  private readonly hash = createHash('sha256');
  bytes = 0;
  private result: Digest | undefined;

  async *through(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      yield chunk;
    }
  }

  digest(): Digest {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}

/** The stream has received all its data (Node has no public flag for this before 'end' is emitted). */
function endOfData(stream: Readable): boolean {
  return (stream as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended === true;
}

/** Reads the first bytes of a stream without consuming them. */
export async function peek(stream: Readable, length: number): Promise<Buffer> {
  // A stream that failed before we got here (a download dropped while modules loaded) emits nothing more.
  if (stream.errored) throw stream.errored;
  if (stream.destroyed) throw new Error('stream closed before it could be read');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = () => {
      cleanup();
      const head = Buffer.concat(chunks);
      if (head.length > 0) stream.unshift(head);
      resolve(head.subarray(0, length));
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while (total < length && (chunk = stream.read() as Buffer | null) !== null) {
        chunks.push(chunk);
        total += chunk.length;
      }
      // At the end of a short stream, put the bytes back now: after 'end' has been emitted, unshift fails.
      if (total >= length || endOfData(stream)) finish();
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', finish);
      stream.off('error', onError);
    };
    stream.on('readable', onReadable);
    stream.on('end', finish);
    stream.on('error', onError);
  });
}

/** Writes wait for the output to drain; one that closes first (a client gone) fails the write, which stops the tar. */
export const sinkTo = (out: Writable) => (chunk: Buffer) =>
  new Promise<void>((resolve, reject) => {
    if (out.destroyed) return reject(new Error('the output closed before the tar was written'));
    if (out.write(chunk)) return resolve();
    const settle = () => {
      out.off('drain', settle);
      out.off('close', settle);
      if (out.destroyed) reject(new Error('the output closed before the tar was written'));
      else resolve();
    };
    out.on('drain', settle);
    out.on('close', settle);
  });

/** A tar (or any bytes) to a stream, or to a file written whole and then renamed into place. */
export async function writeTo(output: string | Writable, produce: (sink: (chunk: Buffer) => Promise<void>) => Promise<unknown>): Promise<void> {
  if (typeof output !== 'string') {
    await produce(sinkTo(output));
    return;
  }
  const temp = `${output}.tmp-${process.pid}`;
  const out = fs.createWriteStream(temp);
  try {
    await produce(sinkTo(out));
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    fs.renameSync(temp, output);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
