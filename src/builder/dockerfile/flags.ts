/** Instruction flags (`--from=`, `--chown=`, `--link`, repeated `--mount=`), checked as BuildKit's BFlags does. */
import { LineError } from './ast.js';

export type FlagType = 'bool' | 'string' | 'strings';
export type FlagSpec = Record<string, FlagType>;

export interface ParsedFlags {
  /** Last value of each string flag given; bool flags as `true`/`false`. */
  values: Map<string, string>;
  /** Every value of each repeatable flag, in order. */
  lists: Map<string, string[]>;
}

/** Parses `flags` against `spec`; a bare `--` ends the flags. */
export function parseFlags(flags: readonly string[], spec: FlagSpec): ParsedFlags {
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const flag of flags) {
    if (flag === '--') break;
    if (!flag.startsWith('--')) throw new LineError(`arg should start with -- : ${flag}`);
    const eq = flag.indexOf('=');
    const flagName = eq < 0 ? flag : flag.slice(0, eq);
    const value = eq < 0 ? '' : flag.slice(eq + 1);
    const name = flagName.slice(2);
    const type = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!type) throw new LineError(`unknown flag: ${flagName}`);
    if (type !== 'strings' && values.has(name)) throw new LineError(`duplicate flag specified: ${flagName}`);
    if (type === 'bool') {
      if (eq >= 0 && value === '') throw new LineError(`missing a value on flag: ${flagName}`);
      const lower = value.toLowerCase();
      if (lower !== '' && lower !== 'true' && lower !== 'false') {
        throw new LineError(`expecting boolean value for flag ${flagName}, not: ${value}`);
      }
      values.set(name, lower === 'false' ? 'false' : 'true');
    } else {
      if (eq < 0) throw new LineError(`missing a value on flag: ${flagName}`);
      if (type === 'string') values.set(name, value);
      else lists.set(name, [...(lists.get(name) ?? []), value]);
    }
  }
  return { values, lists };
}

export const flagString = (flags: ParsedFlags, name: string): string | undefined => flags.values.get(name);
export const flagBool = (flags: ParsedFlags, name: string): boolean => flags.values.get(name) === 'true';
export const flagList = (flags: ParsedFlags, name: string): string[] => flags.lists.get(name) ?? [];
