import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../errors.js';
import { parseGoDuration } from '../util/duration.js';
import type { ContainerRecord } from './records.js';
import { parseSettings } from './settings.js';
import type { Containers } from './service.js';

/** A container's healthcheck, resolved at create from the image's HEALTHCHECK and the run flags. */
export interface HealthSettings {
  /** `["CMD", ...]` or `["CMD-SHELL", command]`. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
}

/** Docker's State.Health. */
export interface HealthState {
  Status: 'starting' | 'healthy' | 'unhealthy';
  FailingStreak: number;
  Log: { Start: string; End: string; ExitCode: number; Output: string }[];
}

/** The image config's (and the API's) Healthcheck: durations in nanoseconds, 0 meaning the default. */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** `--health-*` flags as `docker run` takes them. */
export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthRetries?: string;
  /** false: `--no-healthcheck`. */
  healthcheck?: boolean;
}

const second = 1000;
const defaults = { intervalMs: 30 * second, timeoutMs: 30 * second, startPeriodMs: 0, retries: 3 };

/** The flags as a HealthConfig (what `docker run` sends the daemon), refusing what Docker's CLI refuses. */
export function healthConfigFromFlags(flags: HealthFlags): HealthConfig | undefined {
  const durationFlag = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const ns = parseGoDuration(value);
    if (ns < 0) throw invalidArgument(`--${name} cannot be negative`);
    return ns;
  };
  const interval = durationFlag('health-interval', flags.healthInterval);
  const timeout = durationFlag('health-timeout', flags.healthTimeout);
  const startPeriod = durationFlag('health-start-period', flags.healthStartPeriod);
  const retries = flags.healthRetries === undefined ? undefined : Number(flags.healthRetries);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw invalidArgument('--health-retries cannot be negative');
  const any = flags.healthCmd !== undefined || interval !== undefined || timeout !== undefined || startPeriod !== undefined || retries !== undefined;
  if (flags.healthcheck === false) {
    if (any) throw invalidArgument('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  return {
    ...(flags.healthCmd !== undefined && { Test: ['CMD-SHELL', flags.healthCmd] }),
    ...(interval !== undefined && { Interval: interval }),
    ...(timeout !== undefined && { Timeout: timeout }),
    ...(startPeriod !== undefined && { StartPeriod: startPeriod }),
    ...(retries !== undefined && { Retries: retries }),
  };
}

/**
 * The healthcheck a container runs: the run's fields over the image's, field by field (moby's merge), Docker's
 * defaults for what neither sets; none for `["NONE"]` or no test at all.
 */
export function resolveHealth(image: HealthConfig | undefined, requested: HealthConfig | undefined): HealthSettings | undefined {
  const test = requested?.Test?.length ? requested.Test : image?.Test;
  if (!test?.length || test[0] === 'NONE') return undefined;
  if (test[0] !== 'CMD' && test[0] !== 'CMD-SHELL') throw invalidArgument(`unknown healthcheck type "${test[0]}": use CMD, CMD-SHELL or NONE`);
  const pick = (field: 'Interval' | 'Timeout' | 'StartPeriod' | 'Retries') => requested?.[field] || image?.[field] || undefined;
  const ms = (ns: number | undefined, fallback: number) => (ns ? Math.round(ns / 1e6) : fallback);
  return {
    test,
    intervalMs: ms(pick('Interval'), defaults.intervalMs),
    timeoutMs: ms(pick('Timeout'), defaults.timeoutMs),
    startPeriodMs: ms(pick('StartPeriod'), defaults.startPeriodMs),
    retries: pick('Retries') ?? defaults.retries,
  };
}

/** The health a check's result leads to (moby's handleProbeResult): pure, so the rules are tested on their own. */
export function nextHealth(
  previous: HealthState,
  result: HealthState['Log'][number],
  settings: Pick<HealthSettings, 'retries' | 'startPeriodMs'>,
  startedAt: number,
): HealthState {
  const log = [...previous.Log, result].slice(-5);
  if (result.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log: log };
  // Failures in the start period do not count, unless the container was already healthy.
  if (previous.Status === 'starting' && Date.parse(result.Start) - startedAt < settings.startPeriodMs) return { ...previous, Log: log };
  const streak = previous.FailingStreak + 1;
  return { Status: streak >= settings.retries ? 'unhealthy' : previous.Status, FailingStreak: streak, Log: log };
}

const healthFile = (containers: Containers, id: string) => path.join(containers.bundle(id), 'health.json');

export function readHealth(containers: Containers, id: string): HealthState | undefined {
  try {
    return JSON.parse(fs.readFileSync(healthFile(containers, id), 'utf8')) as HealthState;
  } catch {
    return undefined;
  }
}

function writeHealth(containers: Containers, id: string, state: HealthState): void {
  const file = healthFile(containers, id);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state));
  fs.renameSync(`${file}.tmp`, file);
}

/** A started container with a healthcheck begins `starting`, as Docker shows it. */
export function resetHealth(containers: Containers, record: ContainerRecord): void {
  if (parseSettings(record.settings).health) writeHealth(containers, record.id, { Status: 'starting', FailingStreak: 0, Log: [] });
}

/** Output a check keeps, as Docker's maxOutputLen. */
const outputLimit = 4096;

/** Runs a container's healthcheck once, in the container (as exec), and records the outcome and its event. */
export async function checkHealth(containers: Containers, record: ContainerRecord): Promise<HealthState | undefined> {
  const settings = parseSettings(record.settings).health;
  if (!settings) return undefined;
  const { spawnExec } = await import('./exec.js');
  const command = settings.test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', settings.test[1] ?? ''] : settings.test.slice(1);
  const start = new Date();
  let output = '';
  let exitCode: number;
  try {
    const exec = spawnExec(containers, record.id, command, {}, ['ignore', 'pipe', 'pipe']);
    const keep = (chunk: Buffer) => {
      if (output.length < outputLimit) output = (output + chunk.toString('utf8')).slice(0, outputLimit);
    };
    exec.child.stdout?.on('data', keep);
    exec.child.stderr?.on('data', keep);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        exec.child.kill('SIGKILL');
        output = `Health check exceeded timeout (${settings.timeoutMs / 1000}s)`;
        resolve(-1);
      }, settings.timeoutMs);
    });
    exitCode = await Promise.race([exec.exited, timedOut]);
    clearTimeout(timer);
  } catch (error) {
    exitCode = -1;
    output = error instanceof Error ? error.message : String(error);
  }
  const current = containers.records.get(record.id);
  if (current?.state !== 'running') return undefined;
  const previous = readHealth(containers, record.id) ?? { Status: 'starting', FailingStreak: 0, Log: [] };
  const next = nextHealth(previous, { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: exitCode, Output: output }, settings, current.startedAt ?? 0);
  writeHealth(containers, record.id, next);
  if (next.Status !== previous.Status) containers.event(current, `health_status: ${next.Status}`);
  return next;
}

/**
 * Runs the healthchecks of running containers at their intervals while it is started (the Engine API
 * service starts one): one check at a time per container, as Docker's prober.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private readonly lastRun = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(private readonly containers: Containers) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = Date.now();
    for (const record of this.containers.records.all()) {
      if (record.state !== 'running' || this.inFlight.has(record.id)) continue;
      const settings = parseSettings(record.settings).health;
      if (!settings) continue;
      const last = Math.max(this.lastRun.get(record.id) ?? 0, record.startedAt ?? 0);
      if (now - last < settings.intervalMs) continue;
      this.inFlight.add(record.id);
      this.lastRun.set(record.id, now);
      void checkHealth(this.containers, record)
        .catch(() => undefined)
        .finally(() => this.inFlight.delete(record.id));
    }
  }
}
