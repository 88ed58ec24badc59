import type { HealthState } from './health.js';
import type { ContainerRecord } from './records.js';
import { parseSettings } from './settings.js';

/** Docker's container inspect JSON, as far as Strata keeps the fields it is made of. */
export function inspectContainer(record: ContainerRecord, logPath: string, extra: { health?: HealthState; restartCount: number; paused: boolean }) {
  const settings = parseSettings(record.settings);
  return {
    Id: record.id,
    Created: new Date(record.created).toISOString(),
    Path: settings.args[0] ?? '',
    Args: settings.args.slice(1),
    State: {
      Status: extra.paused ? 'paused' : record.state,
      Running: record.state === 'running',
      Paused: extra.paused,
      Pid: record.pid ?? 0,
      ExitCode: record.exitCode ?? 0,
      Error: record.error ?? '',
      StartedAt: record.startedAt ? new Date(record.startedAt).toISOString() : '0001-01-01T00:00:00Z',
      FinishedAt: record.finishedAt ? new Date(record.finishedAt).toISOString() : '0001-01-01T00:00:00Z',
      ...(extra.health && { Health: extra.health }),
    },
    RestartCount: extra.restartCount,
    Image: record.imageId,
    Name: `/${record.name}`,
    Driver: record.snapshotter,
    Config: {
      Hostname: settings.hostname,
      User: settings.user,
      Env: settings.env,
      Cmd: settings.args,
      Image: record.imageName,
      WorkingDir: settings.cwd,
      Labels: settings.labels,
      Tty: settings.tty,
      OpenStdin: settings.interactive,
      StdinOnce: settings.stdinOnce ?? false,
      StopSignal: settings.stopSignal,
      ...(settings.health && { Healthcheck: { Test: settings.health.test, Interval: settings.health.intervalMs * 1e6, Timeout: settings.health.timeoutMs * 1e6, StartPeriod: settings.health.startPeriodMs * 1e6, Retries: settings.health.retries } }),
    },
    HostConfig: {
      AutoRemove: settings.autoRemove,
      NetworkMode: settings.network,
      ReadonlyRootfs: settings.readonlyRootfs,
      Memory: settings.memoryBytes ?? 0,
      NanoCpus: settings.cpus ? Math.round(settings.cpus * 1e9) : 0,
      Runtime: settings.runtime,
      RestartPolicy: { Name: settings.restart?.name ?? 'no', MaximumRetryCount: settings.restart?.maxRetries ?? 0 },
    },
    Mounts: settings.mounts.map((m) => ({ Type: m.type, Source: m.source, Destination: m.destination, RW: !m.readonly })),
    LogPath: logPath,
  };
}

export type ContainerInspect = ReturnType<typeof inspectContainer>;
