import fs from 'node:fs';

/** The file-type bits of a stat's mode (S_IFMT: regular, directory, symlink...), without the permissions. */
export const typeBits = (stat: fs.BigIntStats) => Number(stat.mode) & fs.constants.S_IFMT;
