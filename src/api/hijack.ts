import type { Readable, Writable } from 'node:stream';
import type { AttachedContainer } from '../containers/attach.js';
import { DetachWatcher } from '../containers/attach.js';
import type { ContainerRecord } from '../containers/records.js';
import type { LogEntry } from '../containers/logs.js';
import { type Call, commonHeaders } from './http.js';

/** The connection of a hijacked call: what the client sends (stdin) and where the output goes. */
export interface HijackedConnection {
  input: Readable;
  output: Writable;
}

const headerLines = (lines: string[]) => `${[...lines, ...Object.entries(commonHeaders).map(([name, value]) => `${name}: ${value}`)].join('\r\n')}\r\n\r\n`;

/**
 * Takes the connection over as Docker does for attach and exec start: with `Upgrade: tcp`, a `101 UPGRADED`
 * and the raw socket both ways; without it, a 200 whose body is the raw stream (no chunking) until close.
 */
export function hijack(call: Call): HijackedConnection {
  if (call.upgrade) {
    const { socket } = call.upgrade;
    socket.write(headerLines(['HTTP/1.1 101 UPGRADED', 'Content-Type: application/vnd.docker.raw-stream', 'Connection: Upgrade', 'Upgrade: tcp']));
    // The socket stays paused until a reader is attached: stdin sent early is held, not dropped.
    return { input: socket, output: socket };
  }
  const socket = call.req.socket;
  call.res.detachSocket(socket);
  socket.write(headerLines(['HTTP/1.1 200 OK', 'Content-Type: application/vnd.docker.raw-stream', 'Connection: close']));
  return { input: call.req, output: socket };
}

/** The 8-byte header of a multiplexed stream frame: the stream (0 stdin, 1 stdout, 2 stderr), 3 zero bytes, the length. */
export function frame(stream: 'stdout' | 'stderr', data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Writes to a client, waiting when its socket's buffer is full; false once the client is gone. */
export async function send(output: Writable, data: Buffer): Promise<boolean> {
  if (output.destroyed || output.writableEnded) return false;
  if (output.write(data)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      output.off('drain', done);
      output.off('close', done);
      resolve();
    };
    output.on('drain', done);
    output.on('close', done);
  });
  return !output.destroyed;
}

/** A client's chunks larger than a frame's usual size are cut, as moby's stdcopy writes them (32 KiB). */
async function sendFramed(output: Writable, stream: 'stdout' | 'stderr', data: Buffer, tty: boolean): Promise<boolean> {
  for (let at = 0; at < data.length; at += 32 * 1024) {
    const part = data.subarray(at, at + 32 * 1024);
    if (!(await send(output, tty ? part : frame(stream, part)))) return false;
  }
  return true;
}

export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  detachKeys: Buffer;
}

/**
 * Relays a container's conmon attach to a hijacked connection: output framed (raw with a TTY), the client's
 * bytes to stdin with the detach keys watched for, the client's half-close as stdin's end. Resolves when the
 * container ends (its output closes), the client detaches or goes away.
 */
export async function relayAttach(attached: AttachedContainer, connection: HijackedConnection, streams: AttachStreams): Promise<void> {
  const { input, output } = connection;
  let detached = false;
  const clientGone = new Promise<void>((resolve) => output.once('close', () => resolve()));
  const detach = new Promise<void>((resolve) => {
    if (!streams.stdin) return;
    const watcher = new DetachWatcher(streams.detachKeys);
    input.on('data', (chunk: Buffer) => {
      const { pass, detach } = watcher.feed(chunk);
      if (pass.length > 0) void attached.write(pass).catch(() => undefined);
      if (detach) {
        detached = true;
        resolve();
      }
    });
    input.on('end', () => attached.endStdin());
    input.resume();
  });
  const relay = (async () => {
    for await (const packet of attached.output()) {
      if (!(packet.stream === 'stdout' ? streams.stdout : streams.stderr)) continue;
      if (!(await sendFramed(output, packet.stream, packet.data, streams.tty))) return;
    }
  })();
  await Promise.race([relay, detach, clientGone]);
  if (!detached) await Promise.race([relay, clientGone]);
  await attached.close();
}

/** Replays logged output to a hijacked connection (`logs=1` on attach). */
export async function replayLogs(entries: AsyncIterable<LogEntry>, output: Writable, streams: Pick<AttachStreams, 'stdout' | 'stderr' | 'tty'>): Promise<void> {
  for await (const entry of entries) {
    if (!(entry.stream === 'stdout' ? streams.stdout : streams.stderr)) continue;
    if (!(await sendFramed(output, entry.stream, Buffer.from(entry.log), streams.tty))) return;
  }
}

/**
 * Attaches that wait for their container to start: `docker run` attaches before it starts the container,
 * so the service's own start connects them after conmon created the container and before its process runs,
 * and none of the output is missed.
 */
export class Hijacks {
  private readonly waiting = new Map<string, Set<(record: ContainerRecord) => Promise<void>>>();

  /** Runs `connect` when the container starts; returns the function that withdraws it. */
  onStart(id: string, connect: (record: ContainerRecord) => Promise<void>): () => void {
    let set = this.waiting.get(id);
    if (!set) this.waiting.set(id, (set = new Set()));
    set.add(connect);
    return () => {
      set.delete(connect);
      if (set.size === 0 && this.waiting.get(id) === set) this.waiting.delete(id);
    };
  }

  /** Connects the attaches waiting for this container (called between conmon's create and the start). */
  async started(record: ContainerRecord): Promise<void> {
    const set = this.waiting.get(record.id);
    this.waiting.delete(record.id);
    await Promise.all([...(set ?? [])].map((connect) => connect(record).catch(() => undefined)));
  }
}
