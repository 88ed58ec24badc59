import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Cgroups, cgroupsOf, readCgroupFile, readKeyedFile, readNumberFile } from './cgroups.js';
import type { ContainerRecord } from './records.js';
import type { Containers } from './service.js';

/** Docker's CPUStats (moby api/types/container/stats.go); the optional fields are the ones Go omits when empty. */
export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** One sample of Docker's StatsJSON, without what the previous sample gives (preread, precpu_stats). */
export interface StatsSample {
  read: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<(typeof blkioFields)[number], BlkioEntry[] | null>;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; failcnt?: number; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, NetworkStats>;
}

const blkioFields = [
  'io_service_bytes_recursive',
  'io_serviced_recursive',
  'io_queue_recursive',
  'io_service_time_recursive',
  'io_wait_time_recursive',
  'io_merged_recursive',
  'io_time_recursive',
  'sectors_recursive',
] as const;

/** Go's zero time, which Docker's stats carry for a sample never taken. */
export const zeroTime = '0001-01-01T00:00:00Z';

/** The CPU figures of no sample: what Docker sends as the first precpu_stats and for a container that does not run. */
export const noCpuStats = (): CpuStats => ({
  cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
  throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
});

/** Docker's stats of a container that does not run: only its name and ID, everything else empty (not an error). */
function emptySample(record: ContainerRecord): StatsSample {
  return {
    read: zeroTime,
    pids_stats: {},
    blkio_stats: Object.fromEntries(blkioFields.map((field) => [field, null])) as StatsSample['blkio_stats'],
    num_procs: 0,
    storage_stats: {},
    cpu_stats: noCpuStats(),
    memory_stats: {},
    name: `/${record.name}`,
    id: record.id,
  };
}

/** cgroup v1 CPU times in cpuacct.stat are in USER_HZ ticks, 100 a second on Linux (as moby's system.GetClockTicks). */
const nsPerTick = 1e9 / 100;

/**
 * The host's CPU time in nanoseconds, as Docker's getSystemCPUUsage adds it up: the first seven fields of /proc/stat's
 * `cpu` line (user, nice, system, idle, iowait, irq, softirq). Clients divide a container's CPU time by it.
 */
function systemCpuUsage(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((text) => text.startsWith('cpu '));
  const ticks = (line ?? '').trim().split(/\s+/).slice(1, 8).map(Number);
  return ticks.reduce((sum, value) => sum + value, 0) * nsPerTick;
}

function cpuStats(cgroups: Cgroups): CpuStats {
  const cpuacct = cgroups.v1.get('cpuacct');
  const cpu = cgroups.v1.get('cpu') ?? cgroups.v2;
  const common = { system_cpu_usage: systemCpuUsage(), online_cpus: os.cpus().length };
  const throttled = readKeyedFile(path.join(cpu ?? '', 'cpu.stat'));
  if (cpuacct) {
    const times = readKeyedFile(path.join(cpuacct, 'cpuacct.stat'));
    const percpu = (readCgroupFile(path.join(cpuacct, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    return {
      cpu_usage: {
        total_usage: readNumberFile(path.join(cpuacct, 'cpuacct.usage')) ?? 0,
        ...(percpu.length > 0 && { percpu_usage: percpu }),
        usage_in_kernelmode: (times.system ?? 0) * nsPerTick,
        usage_in_usermode: (times.user ?? 0) * nsPerTick,
      },
      ...common,
      throttling_data: { periods: throttled.nr_periods ?? 0, throttled_periods: throttled.nr_throttled ?? 0, throttled_time: throttled.throttled_time ?? 0 },
    };
  }
  // v2: one cpu.stat in microseconds, no per-CPU figures (Docker leaves percpu_usage out there too).
  return {
    cpu_usage: { total_usage: (throttled.usage_usec ?? 0) * 1000, usage_in_kernelmode: (throttled.system_usec ?? 0) * 1000, usage_in_usermode: (throttled.user_usec ?? 0) * 1000 },
    ...common,
    throttling_data: { periods: throttled.nr_periods ?? 0, throttled_periods: throttled.nr_throttled ?? 0, throttled_time: (throttled.throttled_usec ?? 0) * 1000 },
  };
}

/** Usage, limit and memory.stat; a limit above the machine's memory (none set) is the machine's, as in Docker. */
function memoryStats(cgroups: Cgroups): StatsSample['memory_stats'] {
  const machine = os.totalmem();
  const v1 = cgroups.v1.get('memory');
  if (v1) {
    return {
      usage: readNumberFile(path.join(v1, 'memory.usage_in_bytes')) ?? 0,
      max_usage: readNumberFile(path.join(v1, 'memory.max_usage_in_bytes')) ?? 0,
      stats: readKeyedFile(path.join(v1, 'memory.stat')),
      failcnt: readNumberFile(path.join(v1, 'memory.failcnt')) ?? 0,
      limit: Math.min(readNumberFile(path.join(v1, 'memory.limit_in_bytes')) ?? machine, machine),
    };
  }
  if (!cgroups.v2) return {};
  return {
    usage: readNumberFile(path.join(cgroups.v2, 'memory.current')) ?? 0,
    stats: readKeyedFile(path.join(cgroups.v2, 'memory.stat')),
    limit: Math.min(readNumberFile(path.join(cgroups.v2, 'memory.max')) ?? machine, machine),
  };
}

function pidsStats(cgroups: Cgroups): StatsSample['pids_stats'] {
  const dir = cgroups.v1.get('pids') ?? cgroups.v2;
  if (!dir) return {};
  const current = readNumberFile(path.join(dir, 'pids.current'));
  const limit = readNumberFile(path.join(dir, 'pids.max'));
  return { ...(current !== undefined && { current }), ...(limit !== undefined && { limit }) };
}

/** Bytes and operations per device: v1's blkio.throttle.* files (`8:0 Read 4096`), v2's io.stat (`8:0 rbytes=.. wbytes=.. rios=..`). */
function blkioStats(cgroups: Cgroups): StatsSample['blkio_stats'] {
  const stats = Object.fromEntries(blkioFields.map((field) => [field, null])) as StatsSample['blkio_stats'];
  const v1 = cgroups.v1.get('blkio');
  if (v1) {
    const entries = (file: string) =>
      (readCgroupFile(path.join(v1, file)) ?? '').split('\n').flatMap((line) => {
        const device = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line);
        return device ? [{ major: Number(device[1]), minor: Number(device[2]), op: device[3]!, value: Number(device[4]) }] : [];
      });
    stats.io_service_bytes_recursive = entries('blkio.throttle.io_service_bytes_recursive');
    stats.io_serviced_recursive = entries('blkio.throttle.io_serviced_recursive');
    return stats;
  }
  if (!cgroups.v2) return stats;
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of (readCgroupFile(path.join(cgroups.v2, 'io.stat')) ?? '').split('\n')) {
    const [device = '', ...fields] = line.split(' ');
    const [major, minor] = device.split(':').map(Number);
    if (major === undefined || minor === undefined || Number.isNaN(minor)) continue;
    const values = Object.fromEntries(fields.map((field) => field.split('=')).map(([key, value]) => [key, Number(value)]));
    bytes.push({ major, minor, op: 'read', value: values.rbytes ?? 0 }, { major, minor, op: 'write', value: values.wbytes ?? 0 });
    ios.push({ major, minor, op: 'read', value: values.rios ?? 0 }, { major, minor, op: 'write', value: values.wios ?? 0 });
  }
  stats.io_service_bytes_recursive = bytes;
  stats.io_serviced_recursive = ios;
  return stats;
}

/** The container's interfaces but lo, from /proc/PID/net/dev; none when it shares the host's network namespace. */
function networkStats(pid: number): StatsSample['networks'] {
  try {
    if (fs.readlinkSync(`/proc/${pid}/ns/net`) === fs.readlinkSync('/proc/self/ns/net')) return undefined;
    const networks: Record<string, NetworkStats> = {};
    for (const line of fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
      const [name = '', counters = ''] = line.split(':');
      const interfaceName = name.trim();
      if (interfaceName === '' || interfaceName === 'lo') continue;
      const [rxBytes, rxPackets, rxErrors, rxDropped, , , , , txBytes, txPackets, txErrors, txDropped] = counters.trim().split(/\s+/).map(Number);
      networks[interfaceName] = {
        rx_bytes: rxBytes ?? 0,
        rx_packets: rxPackets ?? 0,
        rx_errors: rxErrors ?? 0,
        rx_dropped: rxDropped ?? 0,
        tx_bytes: txBytes ?? 0,
        tx_packets: txPackets ?? 0,
        tx_errors: txErrors ?? 0,
        tx_dropped: txDropped ?? 0,
      };
    }
    return Object.keys(networks).length > 0 ? networks : undefined;
  } catch {
    return undefined; // the process ended while it was read
  }
}

/**
 * `stats`: one sample of the container's cgroup (v1 or v2) in Docker's shape. A container that does not run
 * (created, exited, or ending while it is read) gives Docker's empty sample, not an error.
 */
export function sampleStats(containers: Containers, nameOrId: string): StatsSample {
  const record = containers.reconcileOne(containers.resolve(nameOrId));
  const cgroups = record.state === 'running' && record.pid !== null ? cgroupsOf(record.pid) : undefined;
  if (!cgroups || record.pid === null) return emptySample(record);
  const networks = networkStats(record.pid);
  return {
    read: new Date().toISOString(),
    pids_stats: pidsStats(cgroups),
    blkio_stats: blkioStats(cgroups),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(cgroups),
    memory_stats: memoryStats(cgroups),
    name: `/${record.name}`,
    id: record.id,
    ...(networks && { networks }),
  };
}
