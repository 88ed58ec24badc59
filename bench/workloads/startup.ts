import type { BenchContext } from '../config.js';
import { measureAlternating } from '../measure.js';
import { summarize, type WorkloadResult } from '../report.js';
import { nodeStartFloor, strataCommand } from '../tools.js';

/** `strata --version`: what every command pays before it opens the store. */
export function startupWorkload(ctx: BenchContext): WorkloadResult {
  const samples = measureAlternating('startup', [
    { name: 'strata', command: () => strataCommand('--version') },
    { name: 'floor', command: () => nodeStartFloor },
  ], ctx.config.runs);
  return summarize('startup (--version)', samples, [{ tool: 'floor' }]);
}
