/**
 * `build --explain`: why a step missed the cache, in one line, from what the step saw this time and the last
 * time a build of the same context, Dockerfile and target ran it. Pure.
 */

/** What a step saw: its parent, its instruction as it keys the cache, and what fed it. */
export interface StepInputs {
  parent: string;
  /** The expanded instruction (a RUN's command, a COPY's sources and destination, a config change). */
  text: string;
  /** Build args a RUN sees. */
  args?: Record<string, string>;
  /** The config's Env after a config step. */
  env?: string[];
  /** COPY/ADD: each source file's path (as the layer has it), its type and mode bits and its content digest. */
  files?: Record<string, string>;
}

/** How the build reached this step: --no-cache, and which step of this build made the parent, if one missed. */
export interface MissContext {
  noCache: boolean;
  /** The step (its number in the transcript) whose miss made this step's parent, if the parent is new. */
  parentMissedAt?: string;
}

/** Files listed by name, at most this many; the rest counted. */
const shownFiles = 5;

export function explainMiss(previous: StepInputs | undefined, current: StepInputs, context: MissContext): string {
  if (context.noCache) return '--no-cache';
  if (context.parentMissedAt !== undefined) return `the parent changed (step ${context.parentMissedAt} was rebuilt)`;
  if (!previous) return 'no cache entry (this step has not been built here before)';
  if (previous.parent !== current.parent) return `the parent image changed (${short(previous.parent)} -> ${short(current.parent)})`;
  const args = changedKeys(previous.args ?? {}, current.args ?? {});
  if (args.length > 0) return `build-arg ${args.map(([key, before, after]) => `${key} changed (${shown(before)} -> ${shown(after)})`).join(', ')}`;
  const env = changedKeys(envMap(previous.env ?? []), envMap(current.env ?? []));
  if (env.length > 0) return `env ${env.map(([key, before, after]) => `${key} changed (${shown(before)} -> ${shown(after)})`).join(', ')}`;
  if (previous.files && current.files) {
    const files = fileChanges(previous.files, current.files);
    if (files.length > 0) return `context files changed: ${files.slice(0, shownFiles).join(', ')}${files.length > shownFiles ? ` and ${files.length - shownFiles} more` : ''}`;
  }
  if (previous.text !== current.text) return `the instruction changed (was: ${clip(previous.text)})`;
  return 'no cache entry (the step built before is no longer in the store)';
}

/** Keys whose values differ, with both values (undefined: not set), in key order. */
function changedKeys(before: Record<string, string>, after: Record<string, string>): [string, string | undefined, string | undefined][] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((key) => before[key] !== after[key]).map((key) => [key, before[key], after[key]]);
}

function envMap(env: readonly string[]): Record<string, string> {
  return Object.fromEntries(env.map((entry) => (entry.includes('=') ? [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] : [entry, ''])));
}

/** `a.txt (added)`, `b.txt (removed)`, `c.txt (content)`, `d.sh (mode)`, in path order. */
export function fileChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changes: string[] = [];
  for (const file of paths) {
    const was = before[file];
    const now = after[file];
    if (was === now) continue;
    if (was === undefined) changes.push(`${file} (added)`);
    else if (now === undefined) changes.push(`${file} (removed)`);
    else {
      const [wasMode, wasDigest] = [was.slice(0, was.indexOf(' ')), was.slice(was.indexOf(' ') + 1)];
      const [nowMode, nowDigest] = [now.slice(0, now.indexOf(' ')), now.slice(now.indexOf(' ') + 1)];
      changes.push(`${file} (${[...(wasDigest !== nowDigest ? ['content'] : []), ...(wasMode !== nowMode ? ['mode'] : [])].join(', ')})`);
    }
  }
  return changes;
}

const short = (id: string) => (id.startsWith('sha256:') ? id.slice(7, 19) : id);
const shown = (value: string | undefined) => (value === undefined ? 'unset' : JSON.stringify(value));
const clip = (text: string) => (text.length > 80 ? `${text.slice(0, 77)}...` : text);
