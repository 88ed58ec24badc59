import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { invalidArgument } from '../errors.js';
import { fsExtras } from '../layers/fsx.js';

/** conmon's attach socket for a container: `<socketDir>/<cuuid>/attach`, the cuuid being the short ID (conmon.ts). */
export const attachSocketPath = (socketDir: string, id: string) => path.join(socketDir, id.slice(0, 12), 'attach');

export interface AttachedContainer {
  /** The container's output as conmon relays it, packet by packet, until the container ends or `close`. */
  output(): AsyncGenerator<{ stream: 'stdout' | 'stderr'; data: Buffer }>;
  /** Bytes for the container's stdin (a container started with -i). */
  write(data: Buffer): Promise<void>;
  /** The end of stdin: a container made with StdinOnce sees its stdin close; others keep it open. */
  endStdin(): void;
  /** The terminal's size, for a container with a pty (conmon's ctl fifo, as Podman resizes). */
  resize(rows: number, columns: number): void;
  close(): Promise<void>;
}

/**
 * Connects to a running container's conmon, as `podman attach` does: a SOCK_SEQPACKET socket whose packets
 * are one byte naming the stream (2 stdout, 3 stderr) and the data; what is written to it is the container's
 * stdin. The native helper relays it to a stream socket (see `seqpacketBridge`), so an attach costs no thread
 * of Node's pool however long it lasts.
 */
export function attachToConmon(socketDir: string, bundle: string, id: string): AttachedContainer {
  const socket = new net.Socket({ fd: fsExtras().seqpacketBridge(attachSocketPath(socketDir, id)), readable: true, writable: true });
  socket.on('error', () => undefined); // a container gone mid-write: its output's end says so
  return {
    async *output() {
      let pending: Buffer = Buffer.alloc(0);
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
          const length = pending.readUInt32BE(0);
          if (length > 0) yield { stream: pending[4] === 3 ? 'stderr' : 'stdout', data: pending.subarray(5, 4 + length) };
          pending = pending.subarray(4 + length);
        }
      }
    },
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (socket.writableEnded || socket.destroyed) return resolve();
        socket.write(data, (error) => (error ? reject(error) : resolve()));
      }),
    endStdin() {
      if (!socket.destroyed) socket.end();
    },
    resize: (rows, columns) => resizeTerminal(bundle, rows, columns),
    async close() {
      socket.destroy();
    },
  };
}

/** Resizes the pty conmon holds for a container started with -t (its ctl fifo, as Podman resizes). */
export function resizeTerminal(bundle: string, rows: number, columns: number): void {
  try {
    fs.writeFileSync(path.join(bundle, 'ctl'), `1 ${rows} ${columns}\n`, { flag: 'a' });
  } catch {
    // conmon is gone with its container: nothing to resize.
  }
}

/**
 * Docker's `--detach-keys` (`ctrl-p,ctrl-q` by default): a comma-separated list of single characters and
 * `ctrl-X` for X in a-z, @, [, \, ], ^, _; the bytes that end an attach without stopping the container.
 */
export function parseDetachKeys(spec: string): Buffer {
  const bytes: number[] = [];
  for (const key of spec.split(',')) {
    const ctrl = /^ctrl-(.)$/.exec(key);
    if (ctrl) {
      const code = ctrl[1]!.toLowerCase().charCodeAt(0);
      if (code >= 0x61 && code <= 0x7a) bytes.push(code - 0x60);
      else if ('@[\\]^_'.includes(ctrl[1]!)) bytes.push(ctrl[1]!.charCodeAt(0) - 0x40);
      else throw invalidArgument(`Unknown character: '${ctrl[1]}'`);
    } else if (key.length === 1) {
      bytes.push(key.charCodeAt(0));
    } else {
      throw invalidArgument(`Unknown character: '${key}'`);
    }
  }
  return Buffer.from(bytes);
}

/**
 * Watches stdin for the detach sequence: returns what to pass on to the container and whether the sequence
 * completed. Bytes that begin the sequence are held back until it is complete or broken (then passed on), as
 * Docker's escape proxy does.
 */
export class DetachWatcher {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  feed(chunk: Buffer): { pass: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      if (this.matched > 0) out.push(...this.keys.subarray(0, this.matched));
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
