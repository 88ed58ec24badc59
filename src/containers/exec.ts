import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { conflict } from '../errors.js';
import { lastRuntimeError, startFailureExitCode } from './runtime.js';
import { mergeEnv } from './run-flags.js';
import type { RuntimeSpec } from './runtime-spec.js';
import { readContainerFile, resolveUser } from './user.js';
import type { Containers } from './service.js';

export interface ExecOptions {
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  workdir?: string;
  user?: string;
  detach?: boolean;
}

/**
 * `exec`: a new process in a running container, from the container's own process settings (env, user, caps)
 * with the overrides given, run by `runc exec`. Resolves with the process's exit code.
 */
export async function execInContainer(containers: Containers, name: string, command: string[], options: ExecOptions = {}): Promise<number> {
  const record = containers.reconcileOne(containers.resolve(name));
  if (record.state !== 'running') throw conflict(`container ${record.id} is not running`);
  const bundle = containers.bundle(record.id);
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as RuntimeSpec;
  const rootfs = spec.root.path;
  const processSpec = {
    ...spec.process,
    args: command,
    terminal: options.tty ?? false,
    env: mergeEnv(spec.process.env, options.env ?? []),
    cwd: options.workdir ?? spec.process.cwd,
    ...(options.user !== undefined && {
      user: (({ uid, gid, additionalGids }) => ({ uid, gid, additionalGids }))(
        resolveUser(options.user, readContainerFile(rootfs, '/etc/passwd') ?? '', readContainerFile(rootfs, '/etc/group') ?? ''),
      ),
    }),
  };
  const base = path.join(bundle, `exec-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(`${base}.json`, JSON.stringify(processSpec));
  try {
    const child = containers
      .runtime(record)
      .exec(record.id, `${base}.json`, `${base}.log`, { tty: options.tty ?? false, ...(options.detach && { detach: true }) }, [options.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit']);
    const code = await new Promise<number>((resolve) => child.on('close', (status, signal) => resolve(status ?? (signal === 'SIGKILL' ? 137 : 128))));
    // runc exits 255 when the process could not be started; Docker says 126 or 127 then.
    const failure = code === 255 ? lastRuntimeError(`${base}.log`) : undefined;
    return failure?.startsWith('exec failed') ? startFailureExitCode(failure) : code;
  } finally {
    fs.rmSync(`${base}.json`, { force: true });
    fs.rmSync(`${base}.log`, { force: true });
  }
}
