import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Command {
  file: string;
  args: string[];
}

export const shell = (script: string): Command => ({ file: 'sh', args: ['-c', script] });

const gnuTime = '/usr/bin/time';
export const canMeasureRss = fs.existsSync(gnuTime);

/** Runs a command to completion; throws with its stderr's last line when it fails. */
export function run(command: Command): string {
  const result = spawnSync(command.file, command.args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command.file}: ${result.error.message}`);
  if (result.status !== 0) {
    const why = result.stderr.trim().split('\n').pop() || `exit status ${result.status}`;
    throw new Error(`${[command.file, ...command.args].join(' ')}: ${why}`);
  }
  return result.stdout;
}

/** Runs `action`; returns its error instead of throwing it (a peer whose setup fails drops out, not the bench). */
export function attempt(action: () => void): Error | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** Wall-clock seconds of one run; with `rss`, also the peak RSS in KiB that GNU time reports (%M). */
function timeOnce(command: Command, rss: boolean): { seconds: number; rssKiB?: number } {
  const rssFile = path.join(os.tmpdir(), `strata-bench-rss-${process.pid}`);
  const wrapped = rss ? { file: gnuTime, args: ['-f', '%M', '-o', rssFile, command.file, ...command.args] } : command;
  const start = process.hrtime.bigint();
  run(wrapped);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (!rss) return { seconds };
  const rssKiB = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  fs.rmSync(rssFile, { force: true });
  return { seconds, rssKiB };
}

/** One tool's part in a workload: `before` and `after` prepare and clean up around each timed run, untimed. */
export interface Contender {
  name: string;
  command: () => Command;
  before?: () => void;
  after?: () => void;
  /** Measure peak RSS too (needs GNU time). */
  rss?: boolean;
}

export interface Samples {
  seconds: number[];
  rssKiB: number[];
  /** Why the tool dropped out, when a run failed. */
  error?: string;
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Runs every contender `runs` times, alternating A B C A B C: write-heavy work drifts slower over a sitting
 * here, and alternating spreads that drift over all tools instead of penalising the last one. A first,
 * untimed round warms caches and lazy initialisation. A tool whose run fails drops out with the reason.
 */
export function measureAlternating(workload: string, contenders: Contender[], runs: number): Map<string, Samples> {
  const samples = new Map(contenders.map((c) => [c.name, { seconds: [], rssKiB: [] } as Samples]));
  for (let round = 0; round <= runs; round++) {
    progress(`${workload}: ${round === 0 ? 'warm-up' : `run ${round}/${runs}`}`);
    for (const contender of contenders) {
      const sample = samples.get(contender.name)!;
      if (sample.error) continue;
      try {
        contender.before?.();
        const { seconds, rssKiB } = timeOnce(contender.command(), Boolean(contender.rss && canMeasureRss));
        if (round > 0) sample.seconds.push(seconds);
        if (round > 0 && rssKiB !== undefined) sample.rssKiB.push(rssKiB);
      } catch (error) {
        sample.error = (error as Error).message;
      }
      try {
        contender.after?.();
      } catch (error) {
        sample.error ??= (error as Error).message;
      }
      // Flush what this run left dirty, so that its writeback does not slow the next tool's timed run.
      spawnSync('sync');
    }
  }
  progress('');
  return samples;
}

/** A progress note on a terminal's stderr, overwritten by the next; nothing when stderr is a file or pipe. */
export function progress(message: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${message}`);
}
