import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { notFound } from '../errors.js';
import { writeLayerTar } from '../layers/diff.js';
import type { ContainerRecord } from './records.js';
import { resolveInRoot } from '../util/rootpath.js';
import type { Containers } from './service.js';

/** Runs `action` on the container's merged root, mounting it for the duration when the container is not running. */
async function withRootfs<T>(containers: Containers, record: ContainerRecord, action: (rootfs: string) => Promise<T>): Promise<T> {
  const snapshotter = containers.snapshotterFor(record);
  const wasMounted = snapshotter.isMounted(record.id);
  const rootfs = await snapshotter.mount(record.id, containers.images.layerChain(containers.images.resolve(record.imageId)));
  try {
    return await action(rootfs);
  } finally {
    if (!wasMounted && containers.records.get(record.id)?.state !== 'running') snapshotter.unmount(record.id);
  }
}

const sinkTo = (out: Writable) => (chunk: Buffer) => new Promise<void>((resolve) => (out.write(chunk) ? resolve() : out.once('drain', resolve)));

async function writeTo(output: string | Writable, produce: (sink: (chunk: Buffer) => Promise<void>) => Promise<unknown>): Promise<void> {
  if (typeof output !== 'string') {
    await produce(sinkTo(output));
    return;
  }
  const temp = `${output}.tmp-${process.pid}`;
  const out = fs.createWriteStream(temp);
  try {
    await produce(sinkTo(out));
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    fs.renameSync(temp, output);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

export async function exportContainer(containers: Containers, name: string, output: string | Writable): Promise<void> {
  const record = containers.resolve(name);
  await withRootfs(containers, record, (rootfs) => writeTo(output, (sink) => writeLayerTar(rootfs, sink)));
}

export async function copyFromContainer(containers: Containers, name: string, source: string, destination: string): Promise<void> {
  const record = containers.resolve(name);
  await withRootfs(containers, record, async (rootfs) => {
    const from = resolveInRoot(rootfs, source);
    if (!fs.existsSync(from)) throw notFound(`Could not find the file ${source} in container ${name}`);
    if (destination === '-') {
      // Docker streams a tar of the path, named by its last component.
      const staging = fs.mkdtempSync(path.join(containers.root, 'tmp-cp-'));
      try {
        fs.cpSync(from, path.join(staging, path.basename(from)), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
        await writeTo(process.stdout, (sink) => writeLayerTar(staging, sink));
      } finally {
        fs.rmSync(staging, { recursive: true, force: true });
      }
      return;
    }
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
