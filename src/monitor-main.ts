/**
 * The per-container monitor process (Podman's conmon, in Node): started detached by `strata start`/`run -d`,
 * it owns `runc run` for the container's whole life, so the container outlives the CLI. It reports on fd 3
 * ("ok", or "error <exit code> <message>") once the container runs, then closes it.
 */
import fs from 'node:fs';
import { startContainer } from './containers/monitor.js';
import { Engine } from './engine.js';
import { exitStatusOf } from './errors.js';

const [root, id] = process.argv.slice(2);
const report = (text: string) => {
  try {
    fs.writeSync(3, `${text}\n`);
    fs.closeSync(3);
  } catch {
    // The CLI that started us is gone; the container runs on regardless.
  }
};

// Signals meant for the CLI's terminal must not end the monitor.
for (const signal of ['SIGINT', 'SIGHUP', 'SIGPIPE'] as const) process.on(signal, () => undefined);

const engine = new Engine(root!);
try {
  const { exited } = await startContainer(engine.containers, id!);
  report('ok');
  await exited;
} catch (error) {
  const exitCode = exitStatusOf(error) ?? 125;
  report(`error ${exitCode} ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  engine.close();
}
