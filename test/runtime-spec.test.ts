import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { defaultPathEnv, type EnvDefaults, mergeEnv, parseCpus, parseEnvFile, parseMemory, parseVolume, resolveCommand, type VolumeSpec } from '../src/containers/run-flags.js';
import { type RuntimeOptions, runtimeSpec } from '../src/containers/runtime-spec.js';
import { readContainerFile, resolveUser } from '../src/containers/user.js';
import type { ContainerConfig } from '../src/images/model.js';
import { hasCommand, tempDir } from './helpers.js';

const PATH = `PATH=${defaultPathEnv}`;

test('resolveCommand combines Entrypoint and Cmd with Docker rules', () => {
  const shell: ContainerConfig = { Cmd: ['sh'] };
  const server: ContainerConfig = { Entrypoint: ['/entry.sh'], Cmd: ['--serve'] };
  const cases: [ContainerConfig, { entrypoint?: string; cmd?: string[] }, string[] | RegExp][] = [
    [shell, {}, ['sh']],
    [shell, { cmd: ['echo', 'hi'] }, ['echo', 'hi']],
    [shell, { cmd: [] }, ['sh']],
    [shell, { entrypoint: 'id' }, ['id']],
    [server, {}, ['/entry.sh', '--serve']],
    [server, { cmd: ['--debug'] }, ['/entry.sh', '--debug']],
    // --entrypoint drops the image's Cmd; only a command line gives it arguments.
    [server, { entrypoint: 'sh' }, ['sh']],
    [server, { entrypoint: 'sh', cmd: ['-c', 'id'] }, ['sh', '-c', 'id']],
    [server, { entrypoint: '', cmd: ['ls', '/'] }, ['ls', '/']],
    [server, { entrypoint: '' }, /^no command specified$/],
    [{ Entrypoint: ['a', 'b'], Cmd: null }, {}, ['a', 'b']],
    [{ Entrypoint: [''], Cmd: ['x'] }, {}, ['x']],
    [{}, {}, /^no command specified$/],
    [{ Entrypoint: [], Cmd: [] }, {}, /^no command specified$/],
  ];
  for (const [image, overrides, want] of cases) {
    const label = JSON.stringify([image, overrides]);
    if (want instanceof RegExp) assert.throws(() => resolveCommand(image, overrides), { message: want }, label);
    else assert.deepEqual(resolveCommand(image, overrides), want, label);
  }
});

test('mergeEnv: host values for bare names, user before image, later wins, Docker defaults', () => {
  const host = { FROM_HOST: 'h', EMPTY: '', TERM: 'screen' };
  const cases: [string[] | undefined, string[], EnvDefaults, string[] | RegExp][] = [
    [undefined, [], {}, [PATH]],
    [['PATH=/bin', 'A=1'], [], {}, ['PATH=/bin', 'A=1']],
    [['A=1'], ['A=2'], {}, [PATH, 'A=2']],
    [['A=1', 'B=2'], ['C=3'], {}, [PATH, 'C=3', 'A=1', 'B=2']],
    [[], ['FROM_HOST'], {}, [PATH, 'FROM_HOST=h']],
    [[], ['EMPTY'], {}, [PATH, 'EMPTY=']],
    // Unset on the host: dropped, and it hides the image's value too.
    [['UNSET=image', 'KEEP=1'], ['UNSET'], {}, [PATH, 'KEEP=1']],
    [[], ['A=1', 'B=1', 'A=2'], {}, [PATH, 'A=2', 'B=1']],
    [['PATH=/image'], ['PATH=/cli'], {}, ['PATH=/cli']],
    [['A=x=y'], [], {}, [PATH, 'A=x=y']],
    [['A=1'], [], { hostname: 'c0ffee', tty: true }, [PATH, 'HOSTNAME=c0ffee', 'TERM=xterm', 'A=1']],
    [[], ['TERM'], { tty: true }, [PATH, 'TERM=screen']],
    [[], ['HOSTNAME=mine'], { hostname: 'c0ffee' }, [PATH, 'HOSTNAME=mine']],
    [[], [], { home: '/root' }, [PATH, 'HOME=/root']],
    [['HOME=/image'], [], { home: '/root' }, [PATH, 'HOME=/image']],
    [[], ['=x'], {}, /^invalid environment variable: =x$/],
  ];
  for (const [image, cli, defaults, want] of cases) {
    const label = JSON.stringify([image, cli, defaults]);
    if (want instanceof RegExp) assert.throws(() => mergeEnv(image, cli, host, defaults), { message: want }, label);
    else assert.deepEqual(mergeEnv(image, cli, host, defaults), want, label);
  }
});

test('parseEnvFile reads docker/cli env files', () => {
  const host = { DEFINED_VAR: 'defined-value' };
  const cases: [string, string[] | RegExp][] = [
    ['# comment=\nVAR=VAR_VALUE\nEMPTY_VAR=\nUNDEFINED_VAR\nDEFINED_VAR\n', ['VAR=VAR_VALUE', 'EMPTY_VAR=', 'DEFINED_VAR=defined-value']],
    [
      'foo=bar\n    baz=quux\n# comment\n\n_foobar=foobaz\nwith.dots=working\nand_underscore=working too\n\n    \t  ',
      ['foo=bar', 'baz=quux', '_foobar=foobaz', 'with.dots=working', 'and_underscore=working too'],
    ],
    ['\ufeffA=1\r\nB="quoted" \r\n  # indented comment\nC', ['A=1', 'B="quoted" ']],
    ['', []],
    ['foo=bar\n    f   =quux\n', /^variable 'f   ' contains whitespaces$/],
    ['first line\nanother invalid line', /^variable 'first line' contains whitespaces$/],
    ['# comment=\n=blank variable names are an error case\n', /^no variable name on line '=blank variable names are an error case'$/],
  ];
  for (const [text, want] of cases) {
    if (want instanceof RegExp) assert.throws(() => parseEnvFile(text, host), { message: want }, text);
    else assert.deepEqual(parseEnvFile(text, host), want, text);
  }
  assert.throws(() => parseEnvFile('a b=c', host, 'app.env'), { message: /^invalid env file \(app\.env\): variable 'a b' contains whitespaces$/ });
});

test('parseMemory: go-units RAMInBytes and the daemon minimum', () => {
  const MiB = 1024 * 1024;
  const cases: [string, number | string][] = [
    ['512m', 512 * MiB],
    ['512M', 512 * MiB],
    ['64mb', 64 * MiB],
    ['64MiB', 64 * MiB],
    ['1g', 1024 * MiB],
    ['1.5g', 1536 * MiB],
    ['6m', 6 * MiB],
    ['8 m', 8 * MiB],
    ['1t', 2 ** 40],
    ['10000000', 10_000_000],
    ['10000000b', 10_000_000],
    ['1e7', 10_000_000],
    ['0', 0],
    ['abc', `invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`],
    ['512x', `invalid argument "512x" for "-m, --memory" flag: invalid suffix: 'x'`],
    ['1mm', `invalid argument "1mm" for "-m, --memory" flag: invalid suffix: 'mm'`],
    ['1KIBX', `invalid argument "1KIBX" for "-m, --memory" flag: invalid suffix: 'KIBX'`],
    ['1bb', `invalid argument "1bb" for "-m, --memory" flag: invalid suffix: 'bb'`],
    ['-1m', `invalid argument "-1m" for "-m, --memory" flag: invalid size: '-1m'`],
    ['1.2.3m', `invalid argument "1.2.3m" for "-m, --memory" flag: strconv.ParseFloat: parsing "1.2.3": invalid syntax`],
    ['5m', 'Minimum memory limit allowed is 6MB'],
    ['4096', 'Minimum memory limit allowed is 6MB'],
  ];
  for (const [value, want] of cases) {
    if (typeof want === 'string') assert.throws(() => parseMemory(value), { message: want }, value);
    else assert.equal(parseMemory(value), want, value);
  }
});

test('parseCpus: exact decimals and fractions within the host CPUs', () => {
  const cases: [string, number | string][] = [
    ['1.5', 1.5],
    ['0.01', 0.01],
    ['.5', 0.5],
    ['3/2', 1.5],
    ['4', 4],
    ['1e-1', 0.1],
    ['0.000000001', 1e-9],
    ['0', 0],
    ['abc', 'invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number'],
    ['1/0', 'invalid argument "1/0" for "--cpus" flag: failed to parse 1/0 as a rational number'],
    ['', 'invalid argument "" for "--cpus" flag: failed to parse  as a rational number'],
    ['0.0000000001', 'invalid argument "0.0000000001" for "--cpus" flag: value is too precise'],
    ['4.5', 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available'],
    ['-1', 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available'],
  ];
  for (const [value, want] of cases) {
    if (typeof want === 'string') assert.throws(() => parseCpus(value, 4), { message: want }, value);
    else assert.equal(parseCpus(value, 4), want, value);
  }
});

test('parseVolume: binds, named and anonymous volumes, Docker errors', () => {
  const bind = (source: string, destination: string, more: Partial<VolumeSpec> = {}): VolumeSpec => ({ type: 'bind', source, destination, readonly: false, propagation: 'rprivate', ...more });
  const cases: [string, VolumeSpec | string][] = [
    ['/host:/ctr', bind('/host', '/ctr')],
    ['/host/:/ctr/:ro', bind('/host', '/ctr', { readonly: true })],
    ['/h//x/../y:/c/./d:rw', bind('/h/y', '/c/d')],
    ['/h:/c:ro,rshared', bind('/h', '/c', { readonly: true, propagation: 'rshared' })],
    ['/h:/c:z,slave', bind('/h', '/c', { propagation: 'slave' })],
    ['./rel:/c', bind(path.resolve('rel'), '/c')],
    ['data:/var/lib/data', { type: 'volume', source: 'data', destination: '/var/lib/data', readonly: false }],
    ['my_vol.1:/d:ro,nocopy', { type: 'volume', source: 'my_vol.1', destination: '/d', readonly: true }],
    ['', 'invalid empty volume spec'],
    ['/a::/b', 'invalid spec: /a::/b: empty section between colons'],
    ['/a:/b:', 'invalid spec: /a:/b:: empty section between colons'],
    ['/a:/b:ro:x', 'invalid spec: /a:/b:ro:x: too many colons'],
    ['/foo:rw', "invalid volume specification: '/foo:rw'"],
    ['/a:/b:xx', 'invalid mode: xx'],
    ['/a:/b:ro,rw', 'invalid mode: ro,rw'],
    ['/a:/', `invalid volume specification: '/a:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`],
    ['/a:rel', `invalid volume specification: '/a:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
    ['ab', `invalid volume specification: 'ab': invalid mount config for type "volume": invalid mount path: 'ab' mount path must be absolute`],
    ['name:/x:rshared', `invalid volume specification: 'name:/x:rshared': invalid mount config for type "volume": field BindOptions must not be specified`],
    ['/a:/x:nocopy', `invalid volume specification: '/a:/x:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified`],
    ['a:/x', 'create a: volume name is too short, names should be at least two alphanumeric characters'],
    [
      'my vol:/x',
      'create my vol: "my vol" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    ],
    [
      '~/x:/y',
      'create ~/x: "~/x" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    ],
  ];
  for (const [spec, want] of cases) {
    if (typeof want === 'string') assert.throws(() => parseVolume(spec), { message: want }, spec);
    else assert.deepEqual(parseVolume(spec), want, spec);
  }
  const anonymous = parseVolume('/data/');
  assert.match(anonymous.source, /^[0-9a-f]{64}$/);
  assert.deepEqual({ ...anonymous, source: '' }, { type: 'volume', source: '', destination: '/data', readonly: false, anonymous: true });
});

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '  app:x:1000:1000:App:/home/app:/bin/sh  ',
  '',
  'web:x:33:33::/var/www:/usr/sbin/nologin',
  'broken:x:notanumber',
  'app:x:1001:1001::/second/app:/bin/sh',
].join('\n');
const group = ['root:x:0:', 'wheel:x:10:root,app', 'app:x:1000:', 'www-data:x:33:', 'docker:x:999:app', '#comment:x:5:app', 'empty:x:7:'].join('\n');

test('resolveUser follows runc/Docker user resolution', () => {
  const root = { uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' };
  const app = { uid: 1000, gid: 1000, additionalGids: [1000, 10, 999], home: '/home/app' };
  const cases: [string | undefined, object | string][] = [
    [undefined, root],
    ['', root],
    ['root', root],
    ['0', root],
    ['app', app],
    ['1000', app],
    ['+1000', app],
    ['app:', app],
    ['app:docker', { ...app, gid: 999, additionalGids: [999] }],
    ['app:docker:ignored', { ...app, gid: 999, additionalGids: [999] }],
    ['1000:33', { ...app, gid: 33, additionalGids: [33] }],
    ['app:5000', { ...app, gid: 5000, additionalGids: [5000] }],
    [':wheel', { ...root, gid: 10, additionalGids: [10] }],
    ['web', { uid: 33, gid: 33, additionalGids: [33], home: '/var/www' }],
    // A uid passwd does not know: allowed, gid 0 unless given, home '/'.
    ['4242', { uid: 4242, gid: 0, additionalGids: [0], home: '/' }],
    ['4242:4242', { uid: 4242, gid: 4242, additionalGids: [4242], home: '/' }],
    ['4242:empty', { uid: 4242, gid: 7, additionalGids: [7], home: '/' }],
    ['nobody', 'unable to find user nobody: no matching entries in passwd file'],
    ['app:nogroup', 'unable to find group nogroup: no matching entries in group file'],
    ['-1', 'uids and gids must be in range 0-2147483647'],
    ['2147483648', 'uids and gids must be in range 0-2147483647'],
    ['1000:-5', 'uids and gids must be in range 0-2147483647'],
  ];
  for (const [spec, want] of cases) {
    if (typeof want === 'string') assert.throws(() => resolveUser(spec, passwd, group), { message: want }, spec);
    else assert.deepEqual(resolveUser(spec, passwd, group), want, spec);
  }
  // No passwd or group file at all (an image without /etc): numbers only.
  assert.deepEqual(resolveUser('', '', ''), { uid: 0, gid: 0, additionalGids: [0], home: '/' });
  assert.deepEqual(resolveUser('5:6', '', ''), { uid: 5, gid: 6, additionalGids: [6], home: '/' });
  assert.throws(() => resolveUser('app', '', ''), /unable to find user app/);
});

function typicalOptions(): RuntimeOptions {
  return {
    rootfsPath: '/var/lib/strata/snapshots/c0ffee/merged',
    readonlyRootfs: false,
    args: ['sh', '-c', 'echo hi'],
    env: [PATH, 'HOSTNAME=c0ffee'],
    cwd: '/',
    user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] },
    hostname: 'c0ffee',
    terminal: false,
    mounts: [
      { source: '/srv/www', destination: '/usr/share/nginx/html', readonly: true, type: 'bind' },
      { source: '/var/lib/strata/volumes/data/_data', destination: '/data', readonly: false, type: 'volume' },
    ],
    network: { mode: 'none' },
    memoryBytes: 512 * 1024 * 1024,
    cpus: 1.5,
    cgroupsPath: '/strata/c0ffee',
    hostCpus: 2,
  };
}

test('runtimeSpec writes the config.json Docker writes for a typical run', () => {
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
  const spec = runtimeSpec(typicalOptions());
  assert.deepEqual(spec, {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] },
      args: ['sh', '-c', 'echo hi'],
      env: [PATH, 'HOSTNAME=c0ffee'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: false,
      oomScoreAdj: 0,
    },
    root: { path: '/var/lib/strata/snapshots/c0ffee/merged', readonly: false },
    hostname: 'c0ffee',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
      { destination: '/data', type: 'bind', source: '/var/lib/strata/volumes/data/_data', options: ['rbind'] },
      { destination: '/usr/share/nginx/html', type: 'bind', source: '/srv/www', options: ['rbind', 'rro', 'rprivate'] },
    ],
    linux: {
      sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' },
      resources: {
        devices: [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
          { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
        ],
        memory: { limit: 536870912 },
        cpu: { quota: 150000, period: 100000 },
      },
      cgroupsPath: '/strata/c0ffee',
      namespaces: [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }],
      devices: [],
      maskedPaths: [
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
        '/sys/devices/system/cpu/cpu0/thermal_throttle',
        '/sys/devices/system/cpu/cpu1/thermal_throttle',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  });
  // Key order is Go's field order, so the file reads like Docker's.
  assert.deepEqual(Object.keys(spec), ['ociVersion', 'process', 'root', 'hostname', 'mounts', 'linux']);
  assert.deepEqual(Object.keys(spec.linux), ['sysctl', 'resources', 'cgroupsPath', 'namespaces', 'devices', 'maskedPaths', 'readonlyPaths']);
});

test('runtimeSpec: networks, cgroup namespace, limits, read-only binds', () => {
  const base = typicalOptions();
  const namespaceTypes = (options: Partial<RuntimeOptions>) => runtimeSpec({ ...base, ...options }).linux.namespaces;
  const cases: [Partial<RuntimeOptions>, { type: string; path?: string }[]][] = [
    [{ network: { mode: 'host' } }, [{ type: 'mount' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]],
    [{ network: { mode: 'private' } }, [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]],
    [{ network: { mode: 'private', netnsPath: '/run/netns/n1' } }, [{ type: 'mount' }, { type: 'network', path: '/run/netns/n1' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }]],
    [{ cgroupns: 'private' }, [{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }, { type: 'cgroup' }]],
  ];
  for (const [options, want] of cases) assert.deepEqual(namespaceTypes(options), want, JSON.stringify(options));
  assert.throws(() => runtimeSpec({ ...base, network: { mode: 'host', netnsPath: '/run/netns/n1' } }), /needs network mode "private"/);

  // Network sysctls only in a namespace of the container's own, whether runc makes it or joins it by path.
  assert.equal('sysctl' in runtimeSpec({ ...base, network: { mode: 'host' } }).linux, false);
  assert.equal('sysctl' in runtimeSpec({ ...base, network: { mode: 'private', netnsPath: '/run/netns/n1' } }).linux, true);

  const unlimited = runtimeSpec({ ...base, memoryBytes: undefined, cpus: 0, cgroupsPath: undefined }).linux;
  assert.deepEqual(Object.keys(unlimited.resources), ['devices']);
  assert.equal('cgroupsPath' in unlimited, false);
  assert.deepEqual(runtimeSpec({ ...base, swapLimit: true }).linux.resources.memory, { limit: 536870912, swap: 1073741824 });
  assert.deepEqual(runtimeSpec({ ...base, cpus: 0.333333333 }).linux.resources.cpu, { quota: 33333, period: 100000 });

  const plainRo = runtimeSpec({ ...base, recursiveReadonly: false }).mounts.at(-1);
  assert.deepEqual(plainRo?.options, ['rbind', 'ro', 'rprivate']);
  assert.deepEqual(runtimeSpec({ ...base, readonlyRootfs: true }).root, { path: base.rootfsPath, readonly: true });
});

test('runtimeSpec: user mounts replace defaults and go shallowest first', () => {
  const mounts: RuntimeOptions['mounts'] = [
    { source: '/h/deep', destination: '/a/b/c', readonly: false, type: 'bind' },
    { source: '/h/shm', destination: '/dev/shm', readonly: false, type: 'bind' },
    { source: '', destination: '/tmp/', readonly: true, type: 'tmpfs' },
    { source: '/h/a', destination: '/a', readonly: false, type: 'bind', propagation: 'rslave' },
    { source: '/h/ab', destination: '/a/b', readonly: false, type: 'bind' },
  ];
  const spec = runtimeSpec({ ...typicalOptions(), mounts });
  assert.deepEqual(
    spec.mounts.map((m) => [m.destination, m.type, m.source, m.options.join(',')]),
    [
      ['/proc', 'proc', 'proc', 'nosuid,noexec,nodev'],
      ['/dev', 'tmpfs', 'tmpfs', 'nosuid,strictatime,mode=755,size=65536k'],
      ['/dev/pts', 'devpts', 'devpts', 'nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5'],
      ['/sys', 'sysfs', 'sysfs', 'nosuid,noexec,nodev,ro'],
      ['/sys/fs/cgroup', 'cgroup', 'cgroup', 'ro,nosuid,noexec,nodev'],
      ['/dev/mqueue', 'mqueue', 'mqueue', 'nosuid,noexec,nodev'],
      ['/tmp', 'tmpfs', 'tmpfs', 'noexec,nosuid,nodev,rprivate,ro'],
      ['/a', 'bind', '/h/a', 'rbind,rslave'],
      ['/dev/shm', 'bind', '/h/shm', 'rbind,rprivate'],
      ['/a/b', 'bind', '/h/ab', 'rbind,rprivate'],
      ['/a/b/c', 'bind', '/h/deep', 'rbind,rprivate'],
    ],
  );
  assert.equal(spec.linux.rootfsPropagation, 'rslave');
  const shared = runtimeSpec({ ...typicalOptions(), mounts: [...mounts, { source: '/h/s', destination: '/s', readonly: false, type: 'bind', propagation: 'shared' }] });
  assert.equal(shared.linux.rootfsPropagation, 'shared');

  // A user /dev replaces everything Docker would mount under it.
  const dev = runtimeSpec({ ...typicalOptions(), mounts: [{ source: '/h/dev', destination: '/dev', readonly: false, type: 'bind' }] });
  assert.deepEqual(
    dev.mounts.map((m) => m.destination),
    ['/proc', '/sys', '/sys/fs/cgroup', '/dev'],
  );
});

const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const canRunContainers = hasCommand('runc') && busybox !== undefined && process.getuid?.() === 0;

test('runc runs the spec as Docker would run the container', { skip: canRunContainers ? false : 'needs root, runc and busybox-static' }, () => {
  const dir = tempDir('strata-bundle-');
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(rootfs, 'etc'));
  fs.copyFileSync(busybox!, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'id', 'cat', 'hostname', 'ls', 'grep', 'touch', 'echo', 'env', 'tr', 'sort']) fs.linkSync(path.join(rootfs, 'bin', 'busybox'), path.join(rootfs, 'bin', applet));
  fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
  fs.writeFileSync(path.join(rootfs, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:root,app\n');
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  fs.mkdirSync(data);
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(data, 'hello'), 'hello from the host\n');
  const swapLimit = fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');

  const run = (userSpec: string, script: string): string => {
    const user = resolveUser(userSpec, readContainerFile(rootfs, '/etc/passwd') ?? '', readContainerFile(rootfs, '/etc/group') ?? '');
    const id = `strata-test-${randomBytes(6).toString('hex')}`;
    const spec = runtimeSpec({
      rootfsPath: rootfs,
      readonlyRootfs: false,
      args: ['sh', '-c', script],
      env: mergeEnv(['FROM_IMAGE=1'], ['FROM_CLI=2'], {}, { hostname: 'strata-box', home: user.home }),
      cwd: '/',
      user,
      hostname: 'strata-box',
      terminal: false,
      mounts: [
        { source: data, destination: '/data', readonly: true, type: 'bind' },
        { source: out, destination: '/out', readonly: false, type: 'bind' },
      ],
      network: { mode: 'none' },
      memoryBytes: parseMemory('64m'),
      swapLimit,
      cpus: parseCpus('0.5'),
      cgroupsPath: `/${id}`,
    });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    const result = spawnSync('runc', ['--root', path.join(dir, 'state'), 'run', '--bundle', dir, id], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 0, `runc run failed: ${result.stderr}`);
    return result.stdout;
  };

  try {
    const root = run(
      '',
      [
        'id',
        'hostname',
        'grep CapEff /proc/self/status',
        'echo "dev: $(ls /dev | tr "\\n" " ")"',
        'echo "keys:[$(cat /proc/keys)] timer_list:[$(cat /proc/timer_list)] acpi:[$(ls /proc/acpi)] firmware:[$(ls /sys/firmware)]"',
        'if echo x 2>/dev/null > /proc/sys/kernel/hostname; then echo proc-sys:writable; else echo proc-sys:readonly; fi',
        'echo "memory: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"',
        swapLimit ? 'echo "memsw: $(cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes)"' : 'true',
        'echo "cfs: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
        'echo "net: $(ls /sys/class/net) unprivileged_port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"',
        'cat /data/hello',
        'if touch /data/new 2>/dev/null; then echo data:writable; else echo data:readonly; fi',
        'echo written > /out/file',
        'env | grep -E "^(PATH|HOSTNAME|HOME|FROM_IMAGE|FROM_CLI)=" | sort',
      ].join('; '),
    );
    const lines = root.split('\n');
    assert.equal(lines[0], 'uid=0(root) gid=0(root) groups=0(root),2000(extra)');
    assert.equal(lines[1], 'strata-box');
    assert.equal(lines[2], 'CapEff:\t00000000a80425fb');
    const expectedDev = ['core', 'fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].filter(
      (name) => name !== 'core' || fs.existsSync('/proc/kcore'), // runc links /dev/core only when the kernel has /proc/kcore
    );
    assert.ok(root.includes(`dev: ${expectedDev.join(' ')} `), root);
    assert.ok(root.includes('keys:[] timer_list:[] acpi:[] firmware:[]'), root);
    assert.ok(root.includes('proc-sys:readonly'), root);
    assert.ok(root.includes(`memory: ${64 * 1024 * 1024}`), root);
    if (swapLimit) assert.ok(root.includes(`memsw: ${128 * 1024 * 1024}`), root);
    assert.ok(root.includes('cfs: 50000 100000'), root);
    assert.ok(root.includes('net: lo unprivileged_port_start=0'), root);
    assert.ok(root.includes('hello from the host\ndata:readonly'), root);
    assert.ok(root.endsWith(['FROM_CLI=2', 'FROM_IMAGE=1', 'HOME=/root', 'HOSTNAME=strata-box', `${PATH}`, ''].join('\n')), root);
    assert.equal(fs.readFileSync(path.join(out, 'file'), 'utf8'), 'written\n');

    const app = run('app', 'id; grep CapEff /proc/self/status; echo "home=$HOME"');
    assert.equal(app, 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\nCapEff:\t0000000000000000\nhome=/home/app\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
