import { exitCodeFor, StrataError } from '../errors.js';
import type { Engine } from '../engine.js';

export interface GlobalOptions {
  root?: string;
  storageDriver?: string;
  debug?: boolean;
}

/**
 * Opens the engine for one command, closes it after, and turns any error into Docker's one-line form.
 * `failureExitCode` is what Strata's own errors exit with (`run` uses 125, as Docker does, keeping 126/127
 * for a command that could not be executed in the container).
 */
export async function withEngine(globals: GlobalOptions, action: (engine: Engine) => Promise<void> | void, options: { failureExitCode?: number } = {}): Promise<void> {
  const { Engine, defaultRoot } = await import('../engine.js');
  let engine: Engine | undefined;
  try {
    engine = new Engine(globals.root ?? defaultRoot(), globals.storageDriver ?? process.env.STRATA_STORAGE_DRIVER);
    await action(engine);
  } catch (error) {
    reportError(error, globals.debug, options.failureExitCode);
  } finally {
    engine?.close();
  }
}

export function reportError(error: unknown, debug = false, failureExitCode?: number): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Error: ${message}\n`);
  if (debug && error instanceof Error && !(error instanceof StrataError)) process.stderr.write(`${error.stack}\n`);
  process.exitCode = (error as { exitCode?: number }).exitCode ?? failureExitCode ?? exitCodeFor(error);
}

export function print(text: string): void {
  if (text !== '') process.stdout.write(`${text}\n`);
}
