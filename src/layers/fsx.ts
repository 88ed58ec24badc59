import { createRequire } from 'node:module';
import { unsupported } from '../errors.js';

interface FsExtras {
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount(target: string, flags: number): void;
  /**
   * Connects to a SOCK_SEQPACKET unix socket (conmon's attach socket) and returns a SOCK_STREAM socket relayed to
   * it by a thread of its own: each packet arrives as a big-endian u32 length and the packet; bytes written
   * become packets; half-closing the stream half-closes the attach socket.
   */
  seqpacketBridge(path: string): number;
}

let loaded: FsExtras | undefined;

/** The native helper (native/fsx.c), built by `npm install`; loaded on first use to keep it off the start-up path. */
export function fsExtras(): FsExtras {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    loaded = require('../../../build/Release/fsx.node') as FsExtras;
  } catch (error) {
    throw unsupported('the native helper build/Release/fsx.node is missing: run `npm install` (it needs make and g++)', { cause: error });
  }
  return loaded;
}

export const MNT_DETACH = 2;

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
