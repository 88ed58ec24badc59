import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { StrataError, dataCorrupt, unsupported } from '../errors.js';
import { peek } from '../util/streams.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'xz' | 'bzip2';

const magics: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['bzip2', [0x42, 0x5a, 0x68]],
];

export function detectCompression(head: Buffer): Compression {
  for (const [kind, magic] of magics) {
    if (head.length >= magic.length && magic.every((byte, i) => head[i] === byte)) return kind;
  }
  return 'none';
}

/** Debian's tools decompress what Node 20's zlib cannot; they stream through a pipe. */
const tools: Record<'zstd' | 'xz' | 'bzip2', { command: string; package: string }> = {
  zstd: { command: 'zstd', package: 'zstd' },
  xz: { command: 'xz', package: 'xz-utils' },
  bzip2: { command: 'bzip2', package: 'bzip2' },
};

function throughTool(source: Readable, kind: 'zstd' | 'xz' | 'bzip2'): Readable {
  const tool = tools[kind];
  const child = spawn(tool.command, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new PassThrough({ highWaterMark: 1 << 20 });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('error', (error: NodeJS.ErrnoException) => {
    output.destroy(error.code === 'ENOENT' ? unsupported(`${kind} decompression needs the '${tool.command}' command: apt-get install ${tool.package}`, { cause: error }) : error);
  });
  child.stdout.pipe(output, { end: false });
  child.on('close', (code) => {
    if (code === 0) output.end();
    else output.destroy(dataCorrupt(`corrupt ${kind} data: ${stderr.trim().split('\n').at(-1) ?? `exit ${code}`}`));
  });
  source.on('error', (error) => {
    child.kill();
    output.destroy(error);
  });
  child.stdin.on('error', () => {
    // The tool exited early (corrupt input); its exit status reports the problem.
  });
  source.pipe(child.stdin);
  output.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return output;
}

/** Returns the uncompressed bytes of `source`, whatever its compression, and which compression it had. */
export async function decompress(source: Readable): Promise<{ stream: Readable; compression: Compression }> {
  const compression = detectCompression(await peek(source, 6));
  switch (compression) {
    case 'none':
      return { stream: source, compression };
    case 'gzip': {
      // 1 MiB of output per trip to the thread pool (zlib's default is 16 KiB): the trips, not the bytes, cost.
      const gunzip = createGunzip({ chunkSize: 1 << 20 });
      source.on('error', (error) => gunzip.destroy(error));
      gunzip.on('error', () => source.destroy());
      return { stream: source.pipe(gunzip), compression };
    }
    default:
      return { stream: throughTool(source, compression), compression };
  }
}

/** Turns zlib and tar-parsing failures into one-line data errors; other errors (disk full, ...) pass through. */
export function asDataError(error: unknown, what: string): unknown {
  if (error instanceof StrataError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code.startsWith('Z_') || /Unexpected end of data|Invalid tar header|Invalid header|Header exceeds/.test(error.message)) {
    return dataCorrupt(`${what}: corrupt or truncated data (${error.message.replace(/\.? Maybe.*$/, '')})`, { cause: error });
  }
  return error;
}
