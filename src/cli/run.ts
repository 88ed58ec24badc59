import { exitCodeFor, StrataError } from '../errors.js';
import type { Engine } from '../engine.js';
import type { ImageEngine } from '../image-engine.js';

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
  await withOpened(
    async () => {
      const [{ Engine }, { defaultRoot }] = await Promise.all([import('../engine.js'), import('../image-engine.js')]);
      return new Engine(globals.root ?? defaultRoot(), { storageDriver: globals.storageDriver ?? process.env.STRATA_STORAGE_DRIVER });
    },
    action,
    globals.debug,
    options.failureExitCode,
  );
}

/** `withEngine` for image commands: the stores only, so none of the container modules load (~10 ms less). */
export async function withImageEngine(globals: GlobalOptions, action: (engine: ImageEngine) => Promise<void> | void): Promise<void> {
  await withOpened(
    async () => {
      const { ImageEngine, defaultRoot } = await import('../image-engine.js');
      return new ImageEngine(globals.root ?? defaultRoot(), { storageDriver: globals.storageDriver ?? process.env.STRATA_STORAGE_DRIVER });
    },
    action,
    globals.debug,
  );
}

async function withOpened<E extends { close(): void }>(open: () => Promise<E>, action: (engine: E) => Promise<void> | void, debug?: boolean, failureExitCode?: number): Promise<void> {
  let engine: E | undefined;
  try {
    engine = await open();
    await action(engine);
  } catch (error) {
    reportError(error, debug, failureExitCode);
  } finally {
    engine?.close();
  }
}

export function reportError(error: unknown, debug = false, failureExitCode?: number): void {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`Error: ${message}\n`);
  if (debug && error instanceof Error && !(error instanceof StrataError)) process.stderr.write(`${error.stack}\n`);
  process.exitCode = exitCodeFor(error, failureExitCode);
}

export function print(text: string): void {
  if (text !== '') process.stdout.write(`${text}\n`);
}
