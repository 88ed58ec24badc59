import { exitCodeFor, StrataError } from '../errors.js';
import type { Engine } from '../engine.js';

export interface GlobalOptions {
  root?: string;
  debug?: boolean;
}

/** Opens the engine for one command, closes it after, and turns any error into Docker's one-line form. */
export async function withEngine(globals: GlobalOptions, action: (engine: Engine) => Promise<void> | void): Promise<void> {
  const { Engine, defaultRoot } = await import('../engine.js');
  let engine: Engine | undefined;
  try {
    engine = new Engine(globals.root ?? defaultRoot());
    await action(engine);
  } catch (error) {
    reportError(error, globals.debug);
  } finally {
    engine?.close();
  }
}

export function reportError(error: unknown, debug = false): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Error: ${message}\n`);
  if (debug && error instanceof Error && !(error instanceof StrataError)) process.stderr.write(`${error.stack}\n`);
  process.exitCode = exitCodeFor(error);
}

export function print(text: string): void {
  if (text !== '') process.stdout.write(`${text}\n`);
}
