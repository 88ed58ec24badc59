import type { Progress } from '../distribution/client/progress.js';
import { humanSize } from './format.js';

/** Docker's plain output when stdout is not a terminal: one line per status change, none per byte. */
export class PlainProgress implements Progress {
  private readonly last = new Map<string, string>();

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  update(id: string, status: string): void {
    if (this.last.get(id) === status) return;
    this.last.set(id, status);
    this.out.write(`${id}: ${status}\n`);
  }

  line(text: string): void {
    this.out.write(`${text}\n`);
  }
}

/** Byte counts redraw the bars at most this often; status changes redraw at once. */
const barIntervalMs = 100;

/** On a terminal: one line per layer, redrawn in place, with Docker's progress bar while bytes move. */
export class TerminalProgress implements Progress {
  private readonly rows: string[] = [];
  private readonly text = new Map<string, string>();
  private drawn = 0;
  private lastDraw = 0;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
    private readonly now: () => number = Date.now,
  ) {}

  update(id: string, status: string, bytes?: { current: number; total: number }): void {
    if (!this.text.has(id)) this.rows.push(id);
    this.text.set(id, bytes ? `${status} ${bar(bytes.current, bytes.total)}` : status);
    if (!bytes || this.now() - this.lastDraw >= barIntervalMs) this.redraw();
    else this.pending ??= setTimeout(() => this.redraw(), barIntervalMs).unref();
  }

  line(text: string): void {
    this.rows.push(`\0${text}`);
    this.redraw();
  }

  private redraw(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
    this.lastDraw = this.now();
    let output = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const row of this.rows) output += `\x1b[2K${row.startsWith('\0') ? row.slice(1) : `${row}: ${this.text.get(row)}`}\n`;
    this.drawn = this.rows.length;
    this.out.write(output);
  }
}

function bar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]  ${humanSize(current)}/${humanSize(total)}`;
}

export function progressFor(out: NodeJS.WriteStream = process.stdout): Progress {
  return out.isTTY ? new TerminalProgress(out) : new PlainProgress(out);
}
