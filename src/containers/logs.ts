import fs from 'node:fs';

export type Stream = 'stdout' | 'stderr';

export interface LogEntry {
  log: string;
  stream: Stream;
  time: string;
}

/**
 * Docker's json-file log format, one JSON object per line. Output is cut into lines so `logs --tail` and `-t`
 * work per line; a partial line is flushed when it grows past 16 KiB, or at close. A log that cannot be written
 * (a full disk) stops logging, never the container or its caller: `failure` says why, for a warning.
 */
export class LogWriter {
  private readonly fd: number;
  private readonly partial: Record<Stream, string> = { stdout: '', stderr: '' };
  /** The error that stopped the log, if one did. */
  failure: Error | undefined;

  constructor(file: string) {
    this.fd = fs.openSync(file, 'a', 0o640);
  }

  write(stream: Stream, chunk: Buffer): void {
    let text = this.partial[stream] + chunk.toString('utf8');
    let newline: number;
    const lines: string[] = [];
    while ((newline = text.indexOf('\n')) !== -1) {
      lines.push(text.slice(0, newline + 1));
      text = text.slice(newline + 1);
    }
    if (text.length > 16384) {
      lines.push(text);
      text = '';
    }
    this.partial[stream] = text;
    this.append(stream, lines);
  }

  private append(stream: Stream, lines: string[]): void {
    if (lines.length === 0 || this.failure) return;
    const time = new Date().toISOString();
    try {
      fs.writeSync(this.fd, lines.map((log) => `${JSON.stringify({ log, stream, time } satisfies LogEntry)}\n`).join(''));
    } catch (error) {
      this.failure = error as Error;
    }
  }

  close(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.append(stream, [this.partial[stream]]);
      this.partial[stream] = '';
    }
    fs.closeSync(this.fd);
  }
}

/**
 * Log lines in either format a container's log may have: Docker's json-file (`{"log":...,"stream":...,"time":...}`,
 * what a foreground run writes) or CRI's k8s-file that conmon writes (`TIME STREAM F|P TEXT`: F ends a line, P is
 * part of a longer one, the newline not written).
 */
export function parseLogLines(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (line.startsWith('{')) {
      try {
        entries.push(JSON.parse(line) as LogEntry);
      } catch {
        // A line cut by a crash mid-write: skip it, as Docker's reader does.
      }
      continue;
    }
    const match = /^(\S+) (stdout|stderr) ([FP])\S* ?(.*)$/s.exec(line);
    if (!match) continue;
    const [, time, stream, tag, content] = match as unknown as [string, string, Stream, string, string];
    entries.push({ log: tag === 'F' ? `${content}\n` : content, stream, time: time.replace(/\+00:00$/, 'Z') });
  }
  return entries;
}

export function readLog(file: string, from = 0): { entries: LogEntry[]; next: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { entries: [], next: from };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= from) return { entries: [], next: from };
    const buffer = Buffer.alloc(size - from);
    fs.readSync(fd, buffer, 0, buffer.length, from);
    // Only whole lines: a line still being written is read on the next round.
    const end = buffer.lastIndexOf(10) + 1;
    return { entries: parseLogLines(buffer.subarray(0, end).toString('utf8')), next: from + end };
  } finally {
    fs.closeSync(fd);
  }
}
