import fs from 'node:fs';

/** The file-type bits of a stat's mode (S_IFMT: regular, directory, symlink...), without the permissions. */
export const typeBits = (stat: fs.BigIntStats) => Number(stat.mode) & fs.constants.S_IFMT;

/** Go's os.FileMode type bits (io/fs): what Docker's API carries as a mode, the permission bits below them. */
const goModeBits = { dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, namedPipe: 2 ** 25, socket: 2 ** 24, setuid: 2 ** 23, setgid: 2 ** 22, charDevice: 2 ** 21, sticky: 2 ** 20 };

/** A stat's st_mode as Go's os.FileMode, as os.Lstat makes it (fillFileStatFromSys): an unsigned 32-bit number. */
export function goFileMode(mode: number): number {
  const { S_IFMT, S_IFDIR, S_IFLNK, S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK } = fs.constants;
  const type: Record<number, number> = {
    [S_IFDIR]: goModeBits.dir,
    [S_IFLNK]: goModeBits.symlink,
    [S_IFBLK]: goModeBits.device,
    [S_IFCHR]: goModeBits.device + goModeBits.charDevice,
    [S_IFIFO]: goModeBits.namedPipe,
    [S_IFSOCK]: goModeBits.socket,
  };
  // Sums, not `|`: JavaScript's bitwise operators work on signed 32-bit numbers, and the directory bit is the sign.
  return (
    (mode & 0o777) +
    (type[mode & S_IFMT] ?? 0) +
    (mode & 0o4000 ? goModeBits.setuid : 0) +
    (mode & 0o2000 ? goModeBits.setgid : 0) +
    (mode & 0o1000 ? goModeBits.sticky : 0)
  );
}
