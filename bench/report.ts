import { median, type Samples } from './measure.js';

/** A goal for strata's time divided by another tool's: "<1x" is "faster than", "≤3x" is "at most three times". */
export interface Target {
  op: '<' | '≤';
  limit: number;
}

export const fasterThan: Target = { op: '<', limit: 1 };
export const atMost = (limit: number): Target => ({ op: '≤', limit });
export const rssLimitMB = 150;

/** A tool's median seconds, or why it has none (skipped or failed). */
type Outcome = { seconds: number } | { reason: string };

export interface Comparison {
  tool: string;
  outcome: Outcome;
  target?: Target;
}

export interface WorkloadResult {
  label: string;
  strata: Outcome;
  /** The floor first, then the peers. */
  comparisons: Comparison[];
  /** Highest peak RSS over strata's runs, when measured. */
  peakRssMB?: number;
  /** The workload's own RSS target, when its issue names one other than the default. */
  rssLimitMB?: number;
  /** Lines of figures that are not times (memory that stays behind, ...), printed after the others. */
  notes?: string[];
}

const outcomeOf = (samples: Samples | undefined, skipped?: string): Outcome => {
  if (skipped !== undefined) return { reason: skipped };
  if (!samples || samples.error) return { reason: `failed: ${samples?.error ?? 'not run'}` };
  return { seconds: median(samples.seconds) };
};

/** Turns a workload's samples into its result; `tools` lists what strata is compared with, floor first. */
export function summarize(label: string, samples: Map<string, Samples>, tools: { tool: string; target?: Target; skipped?: string }[], options: { rssLimitMB?: number } = {}): WorkloadResult {
  const rss = samples.get('strata')?.rssKiB ?? [];
  return {
    label,
    ...(options.rssLimitMB !== undefined && { rssLimitMB: options.rssLimitMB }),
    strata: outcomeOf(samples.get('strata')),
    comparisons: tools.map(({ tool, target, skipped }) => ({ tool, target, outcome: outcomeOf(samples.get(tool), skipped) })),
    ...(rss.length > 0 && { peakRssMB: Math.max(...rss) / 1024 }),
  };
}

const seconds = (s: number) => (s >= 1 ? `${s.toFixed(2)}s` : `${Math.round(s * 1000)}ms`).padStart(7);
const ratioText = (r: number) => `${r < 10 ? r.toFixed(2) : r.toFixed(1)}x`;
const targetText = (t: Target) => `${t.op}${t.limit}x`;
const isMet = (ratio: number, t: Target) => (t.op === '<' ? ratio < t.limit : ratio <= t.limit);
const verdict = (ratio: number, target?: Target) => (target ? `(target ${targetText(target)}: ${isMet(ratio, target) ? 'met' : 'missed'})` : '(no target)');

const labelWidth = 26;
const secondsOf = (outcome: Outcome) => ('seconds' in outcome ? outcome.seconds : undefined);
const timeOrReason = (tool: string, outcome: Outcome) => ('seconds' in outcome ? `${tool} ${seconds(outcome.seconds)}` : `${tool}: ${outcome.reason}`);

/** "  ratio 2.7x (target ≤3x: met)", when both times exist. */
function ratioPart(name: string, strata: number | undefined, { outcome, target }: Comparison): string {
  const other = secondsOf(outcome);
  if (strata === undefined || other === undefined) return '';
  const ratio = strata / other;
  return `  ${name} ${ratioText(ratio).padStart(5)} ${verdict(ratio, target)}`;
}

/** The strata line (time, floor, ratio, peak RSS), then one line per other tool. */
export function formatResult(result: WorkloadResult): string[] {
  const label = result.label.padEnd(labelWidth);
  const strata = secondsOf(result.strata);
  const [floor, ...others] = result.comparisons;
  let main = `${label}  ${timeOrReason('strata', result.strata)}`;
  if (floor) main += `  ${timeOrReason('floor', floor.outcome)}${ratioPart('ratio', strata, floor)}`;
  if (result.peakRssMB !== undefined) {
    const limit = result.rssLimitMB ?? rssLimitMB;
    main += `  peak RSS ${Math.round(result.peakRssMB)}MB (target ≤${limit}MB: ${result.peakRssMB <= limit ? 'met' : 'missed'})`;
  }
  return [main, ...others.map((c) => `${label}  ${timeOrReason(c.tool, c.outcome)}${ratioPart(`strata/${c.tool}`, strata, c)}`), ...(result.notes ?? []).map((note) => `${label}  ${note}`)];
}

/** The whole run as one JSON line, for scripts that track results over time. */
export function jsonSummary(results: WorkloadResult[], context: Record<string, unknown>): string {
  return JSON.stringify({
    ...context,
    workloads: results.map((r) => {
      const strata = secondsOf(r.strata);
      return {
        label: r.label,
        strataSeconds: strata ?? null,
        ...('reason' in r.strata && { strataError: r.strata.reason }),
        comparisons: r.comparisons.map(({ tool, outcome, target }) => {
          if ('reason' in outcome) return { tool, skipped: outcome.reason };
          const ratio = strata === undefined ? null : strata / outcome.seconds;
          return { tool, seconds: outcome.seconds, ratio, target: target ? targetText(target) : null, met: target && ratio !== null ? isMet(ratio, target) : null };
        }),
        ...(r.peakRssMB !== undefined && { peakRssMB: Math.round(r.peakRssMB), rssTargetMB: r.rssLimitMB ?? rssLimitMB, rssMet: r.peakRssMB <= (r.rssLimitMB ?? rssLimitMB) }),
        ...(r.notes && { notes: r.notes }),
      };
    }),
  });
}
