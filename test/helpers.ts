import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Path of the CLI as installed, package.json's bin (tests run from dist/test): the bundle once `npm run build` made it. */
export const cliPath = fileURLToPath(new URL('../src/strata-bin.cjs', import.meta.url));

const madeDirs: string[] = [];

/** Mount points under `dir` (a container or overlay left mounted): such a tree is left alone, not deleted through. */
function hasMounts(dir: string): boolean {
  try {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((line) => {
        const point = line.split(' ')[4] ?? '';
        return point === dir || point.startsWith(`${dir}/`);
      });
  } catch {
    return true;
  }
}

// Each test file runs in its own process: what it made in /tmp goes when it exits.
process.on('exit', () => {
  for (const dir of madeDirs) if (!hasMounts(dir)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system temp dir, removed when this test process exits. */
export function tempDir(prefix = 'strata-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** A directory holding `files` (path -> content; a path ending in `/` is an empty directory): a build context. */
export function contextDir(files: Record<string, string>, prefix = 'strata-ctx-'): string {
  const dir = tempDir(prefix);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (name.endsWith('/')) fs.mkdirSync(file, { recursive: true });
    else fs.writeFileSync(file, content);
  }
  return dir;
}

/** Runs the real `strata` CLI against a storage root. */
export function strata(root: string, args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const result: SpawnSyncReturns<string> = spawnSync(process.execPath, [cliPath, '--root', root, ...args], {
    encoding: 'utf8',
    input: options.input,
    env: { ...process.env, ...options.env },
    maxBuffer: 1 << 30,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The CLI run asynchronously: for tests whose registry or HTTP server lives in this process, which a
 * synchronous spawn would block while the CLI waits for its answers.
 */
export function strataAsync(root: string, args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, '--root', root, ...args], { env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(options.input ?? '');
    child.on('close', (status) => resolve({ status: status ?? -1, stdout, stderr }));
  });
}

/** Like `strata`, but throws with the CLI's stderr when it fails. */
export function strataOk(root: string, args: string[], options: { input?: Buffer | string } = {}): string {
  const result = strata(root, args, options);
  if (result.status !== 0) throw new Error(`strata ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

export function sh(command: string, options: { cwd?: string } = {}): string {
  const result = spawnSync('sh', ['-c', command], { encoding: 'utf8', cwd: options.cwd, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`${command} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

export function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

const busyboxPath = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
const applets = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'mkdir', 'rm', 'env', 'id', 'sleep', 'ln', 'head', 'hostname', 'pwd', 'touch', 'grep', 'wc', 'cp', 'mv', 'chmod', 'stat', 'test'];

/**
 * A small busybox root filesystem (Debian's busybox-static), built at test time: /bin/busybox with hardlinks for
 * the applets tests use, /etc/passwd and /etc/group, and an empty /tmp. Returns the directory.
 */
export function busyboxRootfs(dir = tempDir('strata-rootfs-')): string {
  if (!busyboxPath) throw new Error('busybox is not installed: apt-get install busybox-static');
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  fs.copyFileSync(busyboxPath, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  for (const applet of applets) fs.linkSync(path.join(dir, 'bin', 'busybox'), path.join(dir, 'bin', applet));
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}

/** tar of a directory's contents (GNU tar, as `docker import` users make them). */
export function tarOf(dir: string, out: string, extra = ''): string {
  sh(`tar -C '${dir}' ${extra} -cf '${out}' .`);
  return out;
}

/** A busybox rootfs tarball, built once per test process. */
let cachedTar: string | undefined;
export function busyboxTar(): string {
  cachedTar ??= tarOf(busyboxRootfs(), path.join(tempDir('strata-bbtar-'), 'busybox.tar'));
  return cachedTar;
}

/** A TCP server on loopback that hands each connection to `handle` (and destroys them all when closed). */
export async function rawServer(handle: (socket: net.Socket) => void): Promise<{ origin: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
