import { fileURLToPath } from 'node:url';
import { type Command, shell } from './measure.js';

/** The CLI as installed, package.json's bin (this file runs from dist/bench): `npm run bench` bundles it first. */
const strataCli = fileURLToPath(new URL('../src/strata-bin.cjs', import.meta.url));

export const strataCommand = (...args: string[]): Command => ({ file: process.execPath, args: [strataCli, ...args] });

/** The CLI against one storage root. */
export const strata = (root: string, ...args: string[]): Command => strataCommand('--root', root, ...args);

/** What any import or save must at least do: read every byte of the tree as a tar stream and hash it. */
export const tarHashFloor = (dir: string): Command => shell(`tar -c -C '${dir}' . | openssl dgst -sha256`);

/** What any Node CLI pays before its first line of code. */
export const nodeStartFloor: Command = { file: process.execPath, args: ['-e', '0'] };
