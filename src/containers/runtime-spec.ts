import os from 'node:os';
import path from 'node:path';
import { invalidArgument } from '../errors.js';

/*
 * The OCI runtime spec (config.json) Docker writes for runc, after moby's daemon/pkg/oci/defaults.go,
 * daemon/pkg/oci/caps/defaults.go and daemon/oci_linux.go. Pure, but for the host's CPU count as a default.
 * The `run` flags it is made from are parsed in run-flags.ts.
 */

/** Go's path.Clean for absolute paths: no '.', '..', doubled or trailing slashes. */
export function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/$/, '$1');
}

/** A mount's propagation, as runc takes it (a bind's options, the root's rootfsPropagation). */
export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave';

/** A mount the caller asks for: a bind of a host path, a volume's directory, or a tmpfs (source ignored). */
export interface RuntimeMount {
  source: string;
  destination: string;
  readonly: boolean;
  type: 'bind' | 'volume' | 'tmpfs';
  /** tmpfs: its size limit in bytes. */
  size?: number;
  /** Binds default to rprivate, as Docker's do; volumes get none. */
  propagation?: Propagation;
}

export interface RuntimeOptions {
  rootfsPath: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  terminal: boolean;
  mounts: RuntimeMount[];
  /** host: the host's network stack; none: a new namespace with only lo; private: a new one, or the one at netnsPath. */
  network: { mode: 'host' | 'none' | 'private'; netnsPath?: string };
  memoryBytes?: number;
  /** The memory cgroup can limit swap (v1: memory.memsw.* exists); Docker then sets memory+swap to twice --memory. */
  swapLimit?: boolean;
  /** --cpus; 0 or absent: no limit. */
  cpus?: number;
  /** runc's cgroup, a cgroupfs path such as /strata/<id>; runc makes one from the container ID when absent. */
  cgroupsPath?: string;
  /** Docker's default is private on cgroup v2 and host on v1 (the default here). */
  cgroupns?: 'host' | 'private';
  /** Read-only binds as `rro` (runc >= 1.1, Linux >= 5.12), as Docker >= 25 does there; false: plain `ro`. Default true. */
  recursiveReadonly?: boolean;
  /** The host's CPU count, for Docker's per-CPU thermal_throttle masks. Default: this host's. */
  hostCpus?: number;
}

interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

/** moby daemon/pkg/oci/caps/defaults.go: mask 0x00000000a80425fb. */
export const defaultCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Docker's --shm-size default, 64 MiB. */
const defaultShmSize = 64 * 1024 * 1024;

function defaultMounts(): SpecMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${defaultShmSize}`] },
  ];
}

/**
 * Docker's mounts: its defaults less any a user mount replaces (all of /dev's when the user mounts /dev), then
 * the user's, shallowest destination first so /a is mounted before /a/b (a stable sort: Docker's sort.Sort keeps
 * small lists in order too).
 */
function specMounts(options: RuntimeOptions): SpecMount[] {
  const user = options.mounts.map((m) => ({ ...m, destination: cleanPath(m.destination) }));
  const userDestinations = new Set(user.map((m) => m.destination));
  const defaults = defaultMounts().filter((m) => !userDestinations.has(m.destination) && !(userDestinations.has('/dev') && m.destination.startsWith('/dev/')));
  const depth = (destination: string) => destination.split('/').length;
  const sorted = [...user].sort((a, b) => depth(a.destination) - depth(b.destination));
  const readonly = options.recursiveReadonly === false ? 'ro' : 'rro';
  // --read-only would add ro to the defaults other than /proc and /dev*: /sys and /sys/fs/cgroup have it already.
  return [
    ...defaults,
    ...sorted.map((m): SpecMount => {
      if (m.type === 'tmpfs') {
        return { destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'nosuid', 'nodev', 'rprivate', ...(m.size !== undefined ? [`size=${m.size}`] : []), ...(m.readonly ? ['ro'] : [])] };
      }
      const propagation = m.propagation ?? (m.type === 'bind' ? 'rprivate' : undefined);
      return { destination: m.destination, type: 'bind', source: m.source, options: ['rbind', ...(m.readonly ? [readonly] : []), ...(propagation ? [propagation] : [])] };
    }),
  ];
}

/** A shared bind needs a shared root, a slave one at least rslave (daemon/oci_linux.go withMounts). */
function rootfsPropagation(mounts: RuntimeMount[]): string | undefined {
  const modes = new Set(mounts.map((m) => m.propagation));
  if (modes.has('shared') || modes.has('rshared')) return 'shared';
  if (modes.has('slave') || modes.has('rslave')) return 'rslave';
  return undefined;
}

function namespaces(options: RuntimeOptions): { type: string; path?: string }[] {
  const { mode, netnsPath } = options.network;
  if (netnsPath !== undefined && mode !== 'private') throw invalidArgument(`a network namespace path needs network mode "private", not "${mode}"`);
  const network = mode === 'host' ? [] : [netnsPath !== undefined ? { type: 'network', path: netnsPath } : { type: 'network' }];
  // moby now also adds a time namespace where the kernel has one; runc 1.1 does not know that type.
  return [{ type: 'mount' }, ...network, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }, ...(options.cgroupns === 'private' ? [{ type: 'cgroup' }] : [])];
}

/**
 * The cgroup device rules of moby's default spec: deny all, then allow zero, null, urandom, random, tty,
 * console, and deny fuse explicitly. runc itself allows its standard devices (full, ptmx, /dev/pts/*) on top.
 */
const deviceRules = [
  { allow: false, access: 'rwm' },
  ...[
    [1, 5],
    [1, 3],
    [1, 9],
    [1, 8],
    [5, 0],
    [5, 1],
  ].map(([major, minor]) => ({ allow: true, type: 'c', major: major!, minor: minor!, access: 'rwm' })),
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
];

function maskedPaths(hostCpus: number): string[] {
  return [
    '/proc/acpi',
    '/proc/asound',
    '/proc/interrupts',
    '/proc/kcore',
    '/proc/keys',
    '/proc/latency_stats',
    '/proc/sched_debug',
    '/proc/scsi',
    '/proc/timer_list',
    '/proc/timer_stats',
    '/sys/devices/virtual/powercap',
    '/sys/firmware',
    // Docker lists only the CPUs' thermal_throttle dirs that exist; runc skips masks of missing paths anyway.
    ...Array.from({ length: hostCpus }, (_, cpu) => `/sys/devices/system/cpu/cpu${cpu}/thermal_throttle`),
  ];
}

const readonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * The config.json Docker writes for runc (moby's DefaultLinuxSpec with daemon/oci_linux.go's options), with
 * field names and order as Go marshals them. Left out as Docker's defaults but not needed for runc: the seccomp
 * profile (runc runs without one; Docker's is a large syscall allowlist), the AppArmor profile, rlimits (Docker
 * sets none without --ulimit, so the container inherits runc's), and /etc/hosts, /etc/hostname,
 * /etc/resolv.conf, which are ordinary binds the caller adds to `mounts`.
 */
export function runtimeSpec(options: RuntimeOptions) {
  // Docker's network sysctls apply in any namespace of the container's own, made by runc or joined by path.
  const newNetns = options.network.mode !== 'host';
  const nanoCpus = Math.round((options.cpus ?? 0) * 1e9);
  const propagation = rootfsPropagation(options.mounts);
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: options.terminal,
      user: { uid: options.user.uid, gid: options.user.gid, additionalGids: options.user.additionalGids },
      args: options.args,
      env: options.env,
      cwd: options.cwd,
      capabilities: { bounding: [...defaultCapabilities], effective: [...defaultCapabilities], permitted: [...defaultCapabilities] },
      noNewPrivileges: false,
      oomScoreAdj: 0,
    },
    root: { path: options.rootfsPath, readonly: options.readonlyRootfs },
    hostname: options.hostname,
    mounts: specMounts(options),
    linux: {
      // Only in a namespace of its own: ping without CAP_NET_RAW, ports below 1024 without CAP_NET_BIND_SERVICE.
      ...(newNetns && { sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' } }),
      resources: {
        devices: deviceRules,
        ...(options.memoryBytes && { memory: { limit: options.memoryBytes, ...(options.swapLimit && { swap: 2 * options.memoryBytes }) } }),
        // CFS bandwidth over Docker's fixed 100ms period.
        ...(nanoCpus > 0 && { cpu: { quota: Math.floor(nanoCpus / 10_000), period: 100_000 } }),
      },
      ...(options.cgroupsPath !== undefined && { cgroupsPath: options.cgroupsPath }),
      namespaces: namespaces(options),
      devices: [],
      ...(propagation && { rootfsPropagation: propagation }),
      maskedPaths: maskedPaths(options.hostCpus ?? os.availableParallelism()),
      readonlyPaths,
    },
  };
}

export type RuntimeSpec = ReturnType<typeof runtimeSpec>;
