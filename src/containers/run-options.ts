import fs from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../errors.js';
import type { ContainerConfig } from '../images/model.js';
import { parsePublish } from './ports.js';
import type { CreateOptions } from './service.js';
import type { RequestedConfig } from './settings.js';
import { type HealthConfig, type HealthFlags, healthConfigFromFlags, resolveHealth } from './health.js';
import { parseRestartPolicy } from './restart.js';
import { configEnv, mergeEnv, parseCpus, parseEnvFile, parseMemory, parseVolume, resolveEntrypoint } from './run-flags.js';

/** A container's options as `docker run` and `docker create` take them: strings, with Docker's syntax. */
export interface RunOptions extends HealthFlags {
  name?: string;
  rm?: boolean;
  detach?: boolean;
  interactive?: boolean;
  /** Docker's StdinOnce: stdin closes when the attach that writes to it ends. */
  stdinOnce?: boolean;
  tty?: boolean;
  /** `KEY=VALUE`, or `KEY` to take the host's value. */
  env?: string[];
  /** Files of `KEY=VALUE` lines. */
  envFile?: string[];
  workdir?: string;
  user?: string;
  /** The CLI's `--entrypoint` (one word), or the API's array. */
  entrypoint?: string | string[];
  /** `HOST:CONTAINER[:ro]` binds and `NAME:CONTAINER` named volumes. */
  volume?: string[];
  hostname?: string;
  /** host, none or bridge (the default when ports are published). */
  network?: string;
  /** `[IP:]HOST:CONTAINER[/udp]`. */
  publish?: string[];
  /** `512m`, `1g`, ... */
  memory?: string;
  cpus?: string;
  readOnly?: boolean;
  runtime?: string;
  /** `KEY=VALUE`. */
  label?: string[];
  stopSignal?: string;
  /** Seconds. */
  stopTimeout?: string;
  /** `--restart`: no, always, unless-stopped, on-failure[:N]. */
  restart?: string;
  /** The Engine API's Healthcheck (the CLI gives the `--health-*` flags instead). */
  healthConfig?: HealthConfig;
  /** The Engine API's create body as the client sent it (Config and HostConfig), kept for inspect. */
  requested?: RequestedConfig;
}

/**
 * Turns run options and the image's config into the container's settings, with Docker's rules. `warn` hears what
 * Docker prints as a warning; named volumes live under `root`.
 */
export function settingsFromRunOptions(root: string, config: ContainerConfig, command: string[], options: RunOptions, warn: (text: string) => void = () => undefined): CreateOptions['settings'] {
  const ports = (options.publish ?? []).flatMap(parsePublish);
  // Docker's default is a private network; ours is the host's unless ports are published.
  const network = options.network ?? (ports.length > 0 ? 'bridge' : 'host');
  if (network !== 'host' && network !== 'none' && network !== 'bridge') throw invalidArgument(`network "${network}" is not supported: use bridge, host or none`);
  if (network === 'host' && ports.length > 0) warn('WARNING: Published ports are discarded when using host network mode');
  const fileEnv = (options.envFile ?? []).flatMap((file) => parseEnvFile(fs.readFileSync(file, 'utf8')));
  const mounts = (options.volume ?? []).map((spec) => {
    const volume = parseVolume(spec);
    return volume.type === 'volume' ? { ...volume, source: path.join(root, 'volumes', volume.source, '_data') } : volume;
  });
  const restart = options.restart !== undefined ? parseRestartPolicy(options.restart) : undefined;
  if (restart && restart.name !== 'no' && options.rm) throw invalidArgument('Conflicting options: --restart and --rm');
  const health = resolveHealth(config.Healthcheck as HealthConfig | undefined, options.healthConfig ?? healthConfigFromFlags(options));
  const { entrypoint, cmd } = resolveEntrypoint(config, { ...(options.entrypoint !== undefined && { entrypoint: options.entrypoint }), ...(command.length > 0 && { cmd: command }) });
  const cliEnv = [...fileEnv, ...(options.env ?? [])];
  const labels = Object.fromEntries((options.label ?? []).map((label) => [label.split('=')[0]!, label.slice(label.indexOf('=') + 1)]));
  const { Entrypoint: _entrypoint, Cmd: _cmd, ...imageRest } = config;
  return {
    // Docker's container.Config: the image's, with what the run changed (commit makes it the new image's).
    config: {
      ...imageRest,
      Env: configEnv(config.Env, cliEnv),
      ...(cmd.length > 0 && { Cmd: cmd }),
      ...(entrypoint.length > 0 && { Entrypoint: entrypoint }),
      ...((options.workdir ?? config.WorkingDir) !== undefined && { WorkingDir: options.workdir ?? config.WorkingDir }),
      ...((options.user ?? config.User) !== undefined && { User: options.user ?? config.User }),
      ...(Object.keys({ ...config.Labels, ...labels }).length > 0 && { Labels: { ...config.Labels, ...labels } }),
      // A published port is an exposed one too, as Docker's create adds it.
      ...(ports.length > 0 && { ExposedPorts: { ...config.ExposedPorts, ...Object.fromEntries(ports.map((port) => [`${port.containerPort}/${port.protocol}`, {}])) } }),
    },
    ...(health && { health }),
    ...(restart && restart.name !== 'no' && { restart }),
    args: [...entrypoint, ...cmd],
    env: mergeEnv(config.Env, cliEnv, process.env, { tty: options.tty ?? false }),
    cwd: options.workdir ?? config.WorkingDir ?? '/',
    user: options.user ?? config.User ?? '',
    ...(options.hostname !== undefined && { hostname: options.hostname }),
    tty: options.tty ?? false,
    interactive: options.interactive ?? false,
    ...(options.stdinOnce && { stdinOnce: true }),
    autoRemove: options.rm ?? false,
    readonlyRootfs: options.readOnly ?? false,
    mounts,
    network,
    ...(network === 'bridge' && { ports }),
    ...(options.memory !== undefined && { memoryBytes: parseMemory(options.memory) }),
    ...(options.cpus !== undefined && { cpus: parseCpus(options.cpus) }),
    stopSignal: (options.stopSignal ?? config.StopSignal ?? 'TERM').replace(/^SIG/i, '').toUpperCase(),
    stopTimeout: options.stopTimeout !== undefined ? Number(options.stopTimeout) : 10,
    runtime: options.runtime ?? 'runc',
    ...(options.requested && { requested: options.requested }),
    labels,
  };
}
