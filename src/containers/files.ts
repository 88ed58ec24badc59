import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument, isNodeError, notFound, permissionDenied } from '../errors.js';
import { asDataError, decompress } from '../layers/compression.js';
import { writeLayerTar, writePathTar } from '../layers/diff.js';
import { extractTar } from '../layers/extract.js';
import { goFileMode } from '../util/file-mode.js';
import { sinkTo, writeTo } from '../util/streams.js';
import { resolveInRoot, resolveParentInRoot } from '../util/rootpath.js';
import { rfc3339Nano } from '../util/time.js';
import type { ContainerRecord } from './records.js';
import type { Containers } from './service.js';
import { parseSettings } from './settings.js';
import { readContainerFile, resolveUser } from './user.js';

/**
 * The roots withRootfs mounted in this process, with how many calls use each: the last one out unmounts, so
 * parallel copies into a created container (testcontainers copies several files at once) share one mount.
 */
const mountedRoots = new Map<string, { users: number; rootfs: Promise<string>; unmount: boolean }>();

/** Runs `action` on the container's merged root, mounting it for the duration when the container is not running. */
async function withRootfs<T>(containers: Containers, record: ContainerRecord, action: (rootfs: string) => Promise<T>): Promise<T> {
  const snapshotter = containers.snapshotterFor(record);
  let mounted = mountedRoots.get(record.id);
  if (!mounted) {
    const unmount = !snapshotter.isMounted(record.id);
    mounted = { users: 0, unmount, rootfs: snapshotter.mount(record.id, containers.images.layerChain(containers.images.resolve(record.imageId))) };
    mountedRoots.set(record.id, mounted);
  }
  mounted.users++;
  try {
    return await action(await mounted.rootfs);
  } finally {
    if (--mounted.users === 0) {
      mountedRoots.delete(record.id);
      if (mounted.unmount && containers.records.get(record.id)?.state !== 'running') snapshotter.unmount(record.id);
    }
  }
}


/** Docker's ContainerPathStat, which `X-Docker-Container-Path-Stat` carries: mode is a Go os.FileMode, mtime RFC 3339. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/**
 * A path of the container's as Docker's archive endpoints find it (container.ResolvePath, StatPath): absolute in
 * the container, every component but the last resolved in its root; the last is taken as it is (a symlink is
 * the link, its fully resolved path the stat's linkTarget) unless the path ends in `/` or `/.`, which follow
 * it. `name` is the path's base name (`/` for the root, `.` for `dir/.`). The root is the container's own file
 * system: below a bind mount or volume's mount point it is the root's directory there, not the mounted one.
 */
function lookUp(rootfs: string, requested: string, container: string): { file: string; stat: PathStat } {
  const absolute = path.posix.join('/', requested);
  const followLast = /\/\.?$/.test(requested);
  const file = followLast ? resolveInRoot(rootfs, absolute) : resolveParentInRoot(rootfs, absolute);
  let stat: fs.BigIntStats;
  try {
    stat = fs.lstatSync(followLast ? `${file}/` : file, { bigint: true });
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) throw notFound(`Could not find the file ${requested} in container ${container}`, { cause: error });
    if (isNodeError(error, 'ENOTDIR')) throw invalidArgument(`lstat ${requested}: not a directory`, { cause: error });
    throw error;
  }
  const name = requested.endsWith('/.') || requested === '.' ? '.' : absolute === '/' ? '/' : path.posix.basename(absolute);
  const linkTarget = stat.isSymbolicLink() ? `/${path.relative(rootfs, resolveInRoot(rootfs, absolute))}` : '';
  return { file, stat: { name, size: Number(stat.size), mode: goFileMode(Number(stat.mode)), mtime: rfc3339Nano(stat.mtimeNs), linkTarget } };
}

/** `HEAD /containers/{id}/archive`: the path's stat, for created, running and exited containers alike. */
export async function statPath(containers: Containers, name: string, requested: string): Promise<PathStat> {
  const record = containers.resolve(name);
  return withRootfs(containers, record, async (rootfs) => lookUp(rootfs, requested, name).stat);
}

/**
 * `GET /containers/{id}/archive`, `cp CONTAINER:PATH -`: the path's stat goes to `begin`, which returns where
 * the tar goes; its root entry is named by the path's base name, a symlink is archived as the link.
 */
export async function archivePath(containers: Containers, name: string, requested: string, begin: (stat: PathStat) => Writable): Promise<PathStat> {
  const record = containers.resolve(name);
  const stat = await withRootfs(containers, record, async (rootfs) => {
    const found = lookUp(rootfs, requested, name);
    await writePathTar(found.file, found.stat.name, sinkTo(begin(found.stat)));
    return found.stat;
  });
  containers.event(record, 'archive-path');
  return stat;
}

export interface ExtractToDirOptions {
  /** Refuse to replace a directory by a non-directory and the reverse (the docker CLI asks this). */
  noOverwriteDirNonDir?: boolean;
  /** Docker's copyUIDGID (`cp -a`): with a container user, every entry owned by that user's uid:gid. */
  copyUIDGID?: boolean;
}

/**
 * `PUT /containers/{id}/archive`: a tar (plain or compressed) unpacked into directory `dir` of the container,
 * created ones too (testcontainers copies files in before the start). The directory is resolved in the
 * container's root with its last symlink followed (a tar can go to a link to a directory); every entry is
 * resolved in that root by extractTar. Owners are the tar's unless copyUIDGID maps them. As for lookUp, a
 * path below a bind mount or volume reaches the root's own directory there, not the mounted one.
 */
export async function extractToDir(containers: Containers, name: string, dir: string, tar: Readable, options: ExtractToDirOptions = {}): Promise<void> {
  const record = containers.resolve(name);
  const settings = parseSettings(record.settings);
  if (settings.readonlyRootfs) throw permissionDenied('container rootfs is marked read-only');
  await withRootfs(containers, record, async (rootfs) => {
    const target = resolveInRoot(rootfs, path.posix.join('/', dir));
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch (error) {
      if (isNodeError(error, 'ENOENT') || isNodeError(error, 'ENOTDIR')) throw notFound(`Could not find the file ${dir} in container ${name}`, { cause: error });
      throw error;
    }
    if (!stat.isDirectory()) throw invalidArgument('extraction point is not a directory');
    const user = options.copyUIDGID && settings.user ? resolveUser(settings.user, readContainerFile(rootfs, '/etc/passwd') ?? '', readContainerFile(rootfs, '/etc/group') ?? '') : undefined;
    try {
      const { stream } = await decompress(tar);
      await extractTar(stream, rootfs, `/${path.relative(rootfs, target)}`, {
        noOverwriteDirNonDir: options.noOverwriteDirNonDir ?? false,
        ...(user && { owner: { uid: user.uid, gid: user.gid } }),
      });
    } catch (error) {
      throw asDataError(error, 'invalid tar archive');
    }
  });
  containers.event(record, 'extract-to-dir');
}

export async function exportContainer(containers: Containers, name: string, output: string | Writable): Promise<void> {
  const record = containers.resolve(name);
  await withRootfs(containers, record, (rootfs) => writeTo(output, (sink) => writeLayerTar(rootfs, sink)));
  containers.event(record, 'export');
}

export async function copyFromContainer(containers: Containers, name: string, source: string, destination: string): Promise<void> {
  if (destination === '-') {
    await archivePath(containers, name, source, () => process.stdout);
    return;
  }
  const record = containers.resolve(name);
  await withRootfs(containers, record, async (rootfs) => {
    const from = resolveInRoot(rootfs, source);
    if (!fs.existsSync(from)) throw notFound(`Could not find the file ${source} in container ${name}`);
    const target = fs.existsSync(destination) && fs.statSync(destination).isDirectory() && !source.endsWith('/.') ? path.join(destination, path.basename(from)) : destination;
    fs.cpSync(from, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
  });
}

/**
 * Copies a host file or tree into the container. Every destination path is resolved inside the container's root
 * on its own, so a symlink in the container (say /data -> /etc) is followed as the container sees it and can
 * never make the copy write on the host.
 */
export async function copyToContainer(containers: Containers, source: string, name: string, destination: string): Promise<void> {
  const record = containers.resolve(name);
  if (!fs.existsSync(source)) throw notFound(`could not find the file ${source}`);
  if (!destination.startsWith('/')) destination = `/${destination}`;
  await withRootfs(containers, record, async (rootfs) => {
    const resolvedDest = resolveInRoot(rootfs, destination);
    const intoDir = fs.existsSync(resolvedDest) && fs.statSync(resolvedDest).isDirectory();
    const base = intoDir && !source.endsWith('/.') ? path.posix.join(destination, path.basename(source)) : destination;
    if (!intoDir && !fs.existsSync(path.dirname(resolvedDest))) throw notFound(`no such directory: ${path.posix.dirname(destination)} in container ${name}`);
    copyTree(rootfs, source, base);
  });
}

function copyTree(rootfs: string, hostPath: string, containerPath: string): void {
  const stat = fs.lstatSync(hostPath);
  const target = resolveInRoot(rootfs, containerPath);
  if (stat.isDirectory()) {
    if (!fs.existsSync(target)) fs.mkdirSync(target, stat.mode & 0o7777);
    for (const entry of fs.readdirSync(hostPath)) copyTree(rootfs, path.join(hostPath, entry), path.posix.join(containerPath, entry));
  } else if (stat.isSymbolicLink()) {
    fs.rmSync(target, { force: true });
    fs.symlinkSync(fs.readlinkSync(hostPath), target);
  } else {
    fs.rmSync(target, { force: true });
    fs.copyFileSync(hostPath, target);
    fs.chmodSync(target, stat.mode & 0o7777);
  }
}
