/**
 * conmon's exit command: conmon runs it (`node conmon-exit.js ROOT ID RUN-TOKEN`) once a detached container has ended and
 * its exit status is written. It records the container exited, releases its runtime state, network and mount,
 * and removes it when it was run with --rm: what Podman's `podman container cleanup` does.
 */
import { Engine } from './engine.js';

const [root, id, runToken] = process.argv.slice(2);
const engine = new Engine(root!);
try {
  // A run of the container that ended long ago (it has been restarted since) is not this command's to finish.
  if (runToken === undefined || engine.containers.isCurrentRun(id!, runToken)) {
    // Opening the container service reconciles, which already finishes a container whose conmon is gone.
    const record = engine.containers.records.get(id!);
    if (record?.state === 'running') engine.containers.finish(record);
    await engine.containers.applyRestartPolicy(id!);
  }
} finally {
  engine.close();
}
