import type { ContainerConfig } from '../images/model.js';
import type { HealthSettings } from './health.js';
import type { PortMapping } from './ports.js';
import type { RestartPolicy } from './restart.js';

/** What a container was created with: kept as JSON in its metadata row, turned into a runtime spec at start. */
export interface ContainerSettings {
  /** The command, Entrypoint and Cmd already combined (Docker's rules). */
  args: string[];
  env: string[];
  cwd: string;
  /** As given (`name`, `uid:gid`, ...): resolved against the container's /etc/passwd at start. */
  user: string;
  hostname: string;
  tty: boolean;
  interactive: boolean;
  /** Docker's StdinOnce: stdin closes when the first attach that writes to it ends (`docker run -i`). */
  stdinOnce?: boolean;
  autoRemove: boolean;
  readonlyRootfs: boolean;
  mounts: SettingsMount[];
  /** bridge: a namespace of its own with slirp4netns for outbound traffic and published ports. */
  network: 'host' | 'none' | 'bridge';
  /** `-p` mappings (bridge only). */
  ports?: PortMapping[];
  memoryBytes?: number;
  cpus?: number;
  stopSignal: string;
  /** Seconds `stop` waits before SIGKILL. */
  stopTimeout: number;
  runtime: string;
  labels: Record<string, string>;
  /** The healthcheck the container runs (while the Engine API service runs). */
  health?: HealthSettings;
  restart?: RestartPolicy;
  /** The container's own config (Docker's container.Config: the image's with the run's command, env, workdir, user and labels): what `commit` gives the new image. Older containers lack it. */
  config?: ContainerConfig;
  /** What an Engine API client asked for, as it sent it: inspect returns these fields (ExposedPorts, PortBindings, RestartPolicy, ...). */
  requested?: RequestedConfig;
}

export interface SettingsMount {
  source: string;
  destination: string;
  readonly: boolean;
  type: 'bind' | 'volume' | 'tmpfs';
  /** tmpfs: its size limit in bytes. */
  size?: number;
  /** The target is made in the init layer (RUN --mount): the container's own layer never holds it. */
  inInit?: boolean;
}

export interface RequestedConfig {
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
}

export function parseSettings(json: string): ContainerSettings {
  return JSON.parse(json) as ContainerSettings;
}

/** The COMMAND column of `ps`: the command line, quoted, cut to 20 characters as Docker does. */
export function commandLine(settings: ContainerSettings): string {
  return settings.args.join(' ');
}
