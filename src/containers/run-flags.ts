import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { invalidArgument } from '../errors.js';
import type { ContainerConfig } from '../images/model.js';
import { cleanPath, type Propagation } from './runtime-spec.js';

/*
 * Docker's rules for turning `run` flags and an image config into a container's settings, after moby's
 * daemon/create.go, daemon/commit.go (merge), daemon/container/env.go, daemon/daemon_unix.go,
 * daemon/volume/mounts/linux_parser.go, and docker/cli's opts and pkg/kvfile. Pure functions, but for defaults
 * taken from the host (its CPU count, the working directory for a `./relative` bind) and the random name of an
 * anonymous volume. runtime-spec.ts turns the settings into runc's config.json.
 */

// ---------------------------------------------------------------------------------------------- command

/**
 * The process a container runs: Entrypoint + Cmd after Docker's merge. A command line replaces the image's
 * Cmd; `--entrypoint X` replaces the image's Entrypoint and drops its Cmd (only a command line gives X args);
 * `--entrypoint ''` clears the Entrypoint the same way.
 */
export function resolveCommand(image: ContainerConfig, overrides: { entrypoint?: string | string[]; cmd?: string[] }): string[] {
  const { entrypoint, cmd } = resolveEntrypoint(image, overrides);
  return [...entrypoint, ...cmd];
}

/** `resolveCommand`'s two halves, as the container's config keeps them (what `commit` gives the new image). */
export function resolveEntrypoint(image: ContainerConfig, overrides: { entrypoint?: string | string[]; cmd?: string[] }): { entrypoint: string[]; cmd: string[] } {
  // The CLI sends `--entrypoint ''` as [""], which keeps the image's Entrypoint out of the merge and is then reset;
  // the API's `"Entrypoint": []` keeps it out too (moby's merge takes the image's only for a null one).
  let entrypoint = typeof overrides.entrypoint === 'string' ? [overrides.entrypoint] : overrides.entrypoint;
  let cmd = overrides.cmd ?? [];
  if (entrypoint === undefined || entrypoint.length === 0) {
    if (cmd.length === 0) cmd = image.Cmd ?? [];
    entrypoint ??= image.Entrypoint ?? [];
  }
  if (entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  if (entrypoint.length === 0 && cmd.length === 0) throw invalidArgument('no command specified');
  return { entrypoint, cmd };
}

// -------------------------------------------------------------------------------------------- environment

export const defaultPathEnv = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const envKey = (entry: string) => entry.split('=', 1)[0]!;

/** What Docker adds to every container's environment; each is optional here because it is known at different times. */
export interface EnvDefaults {
  /** HOSTNAME, second after PATH, as the daemon puts it. */
  hostname?: string;
  /** `-t` adds TERM=xterm. */
  tty?: boolean;
  /** HOME when nothing else set it: runc does this at exec from the user's passwd entry ('/' without one). */
  home?: string;
}

/**
 * The container's environment as its process sees it. `cliEnv` is --env-file entries then -e flags, in order.
 * Docker's steps: `-e NAME` takes NAME from the host, or else stays bare, which hides the image's NAME too
 * (docker/cli ValidateEnv, then daemon merge); the user's entries come before the image's it does not override;
 * PATH (default unless set), HOSTNAME and TERM lead; a repeated name keeps its first place and last value
 * (runc applies the list with setenv).
 */
export function mergeEnv(imageEnv: string[] | undefined, cliEnv: string[], hostEnv: NodeJS.ProcessEnv = process.env, defaults: EnvDefaults = {}): string[] {
  const config = configEnv(imageEnv, cliEnv, hostEnv);

  // daemon/container/env.go ReplaceOrAppendEnvValues: replace a default in place, append the rest; a bare
  // name removes a default.
  const env = [`PATH=${defaultPathEnv}`, ...(defaults.hostname !== undefined ? [`HOSTNAME=${defaults.hostname}`] : []), ...(defaults.tty ? ['TERM=xterm'] : [])];
  const defaultIndex = new Map(env.map((entry, i) => [envKey(entry), i]));
  for (const entry of config) {
    const i = defaultIndex.get(envKey(entry));
    if (!entry.includes('=')) {
      if (i !== undefined) env[i] = '';
    } else if (i !== undefined) env[i] = entry;
    else env.push(entry);
  }

  const byKey = new Map<string, string>();
  for (const entry of env) if (entry !== '') byKey.set(envKey(entry), entry);
  if (defaults.home !== undefined && !byKey.has('HOME')) byKey.set('HOME', `HOME=${defaults.home}`);
  return [...byKey.values()];
}

/** The container config's Env (Docker's container.Config.Env): the user's entries, then the image's it does not override; no defaults. */
export function configEnv(imageEnv: string[] | undefined, cliEnv: string[], hostEnv: NodeJS.ProcessEnv = process.env): string[] {
  const user = cliEnv.map((entry) => {
    if (envKey(entry) === '') throw invalidArgument(`invalid environment variable: ${entry}`);
    const value = entry.includes('=') ? undefined : hostEnv[entry];
    return value === undefined ? entry : `${entry}=${value}`;
  });
  const userKeys = new Set(user.map(envKey));
  return [...user, ...(imageEnv ?? []).filter((entry) => !userKeys.has(envKey(entry)))];
}

/** Unicode white space as Go's unicode.IsSpace sees it (a BOM is not space). */
const leadingSpace = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/**
 * docker/cli's --env-file format (pkg/kvfile): `NAME=value` kept as is (quotes and trailing spaces are part of
 * the value), leading white space and a BOM dropped, `#` comments and blank lines skipped, `NAME` alone takes
 * the host's value or is left out.
 */
export function parseEnvFile(text: string, hostEnv: NodeJS.ProcessEnv = process.env, file?: string): string[] {
  const fail = (message: string) => invalidArgument(file === undefined ? message : `invalid env file (${file}): ${message}`);
  const entries: string[] = [];
  for (const raw of text.replace(/^\ufeff/, '').split('\n')) {
    const line = raw.replace(/\r$/, '').replace(leadingSpace, '');
    if (line === '' || line.startsWith('#')) continue;
    const key = envKey(line);
    if (key === '') throw fail(`no variable name on line '${line}'`);
    if (/[ \t]/.test(key)) throw fail(`variable '${key}' contains whitespaces`);
    if (line.includes('=')) entries.push(line);
    else if (hostEnv[key] !== undefined) entries.push(`${key}=${hostEnv[key]}`);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------- flag values

const sizeUnits: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** Minimum --memory the daemon accepts (daemon_unix.go linuxMinMemory). */
const minMemory = 6 * 1024 * 1024;

/**
 * `--memory` (and any RAM size flag): go-units RAMInBytes, binary units b, k, m, g, t, p with an optional b or
 * ib after them, any case, a fraction allowed (1.5g), one space allowed before the unit. 0 means no limit.
 */
export function parseMemory(value: string, flag = '-m, --memory'): number {
  const bytes = parseByteSize(value, flag);
  if (bytes !== 0 && bytes < minMemory) throw invalidArgument('Minimum memory limit allowed is 6MB');
  return bytes;
}

/** go-units' RAMInBytes (`512m`, `1.5g`, `64kib`), the size syntax of Docker's flags; errors name `flag`. */
export function parseByteSize(value: string, flag: string): number {
  const fail = (message: string) => invalidArgument(`invalid argument ${JSON.stringify(value)} for ${JSON.stringify(flag)} flag: ${message}`);
  // go-units splits at the last digit, '.' or space.
  const sep = Math.max(...[...'0123456789. '].map((c) => value.lastIndexOf(c)));
  if (sep === -1) throw fail(`invalid size: '${value}'`);
  const number = value.slice(0, value[sep] === ' ' ? sep : sep + 1);
  const rawSuffix = value.slice(sep + 1);
  const suffix = rawSuffix.toLowerCase();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(number)) throw fail(`strconv.ParseFloat: parsing ${JSON.stringify(number)}: invalid syntax`);
  const size = Number(number);
  if (size < 0) throw fail(`invalid size: '${value}'`);
  let multiplier = 1;
  if (suffix !== '' && suffix !== 'b') {
    const unit = sizeUnits[suffix[0]!];
    // go-units lowercases the suffix only after refusing one longer than 3 characters.
    if (suffix.length > 3) throw fail(`invalid suffix: '${rawSuffix}'`);
    if (unit === undefined || (suffix.length === 2 && suffix[1] !== 'b') || (suffix.length === 3 && suffix.slice(1) !== 'ib')) {
      throw fail(`invalid suffix: '${suffix}'`);
    }
    multiplier = unit;
  }
  return Math.trunc(size * multiplier);
}

/**
 * `--cpus`: docker/cli's ParseCPUs (a decimal such as 1.5, or a fraction such as 3/2, exact to a billionth),
 * then the daemon's range check against the host's CPUs. 0 means no limit.
 */
export function parseCpus(value: string, hostCpus = os.availableParallelism()): number {
  const fail = (message: string) => invalidArgument(`invalid argument ${JSON.stringify(value)} for "--cpus" flag: ${message}`);
  const rational = parseRational(value);
  if (!rational) throw fail(`failed to parse ${value} as a rational number`);
  const scaled = rational.numerator * 1_000_000_000n;
  if (scaled % rational.denominator !== 0n) throw fail('value is too precise');
  const nanoCpus = scaled / rational.denominator;
  if (nanoCpus < 0n || nanoCpus > BigInt(hostCpus) * 1_000_000_000n) {
    throw invalidArgument(`range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`);
  }
  return Number(nanoCpus) / 1e9;
}

/** The decimal and a/b forms of Go's big.Rat SetString, exactly. */
function parseRational(text: string): { numerator: bigint; denominator: bigint } | undefined {
  const fraction = /^([+-]?\d+)\/(\d+)$/.exec(text);
  if (fraction) {
    const denominator = BigInt(fraction[2]!);
    return denominator === 0n ? undefined : { numerator: BigInt(fraction[1]!), denominator };
  }
  const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!decimal || (decimal[2] === '' && !decimal[3])) return undefined;
  const [, sign, whole, decimals = '', exponentText = '0'] = decimal;
  const exponent = Number(exponentText) - decimals.length;
  if (Math.abs(exponent) > 1000) return undefined; // 10n ** a huge exponent would not finish
  let numerator = BigInt(`${sign}${whole}${decimals}`);
  let denominator = 1n;
  if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
  else denominator = 10n ** BigInt(-exponent);
  return { numerator, denominator };
}

const propagations = new Set<string>(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);

export interface VolumeSpec {
  type: 'bind' | 'volume';
  /** Host path for a bind, volume name for a volume (a random 64-hex name for an anonymous one). */
  source: string;
  destination: string;
  readonly: boolean;
  /** Only binds: as given, else Docker's default rprivate. */
  propagation?: Propagation;
  /** `-v /data`: Docker names such a volume itself and removes it with the container (`run --rm`). */
  anonymous?: true;
}

/** Every mode word the daemon accepts, at most one of each kind. */
function validMode(mode: string): boolean {
  if (mode === '') return true;
  const kinds = mode.split(',').map((word) => {
    if (word === 'rw' || word === 'ro') return 'rw';
    if (word === 'z' || word === 'Z') return 'label';
    if (propagations.has(word)) return 'propagation';
    if (word === 'nocopy') return 'copy';
    if (word === 'consistent' || word === 'cached' || word === 'delegated') return 'consistency';
    return undefined;
  });
  return kinds.every((kind) => kind !== undefined) && new Set(kinds).size === kinds.length;
}

/** docker/cli's own parse (internal/volumespec) refuses some specs before the daemon sees them. */
function checkVolumeSections(spec: string): void {
  if (spec === '') throw invalidArgument('invalid empty volume spec');
  if (spec.length <= 2) return; // taken whole as a destination
  const sections = spec.split(':');
  for (const [i, section] of sections.entries()) {
    if (section === '') throw invalidArgument(`invalid spec: ${spec}: empty section between colons`);
    if (i === 2 && sections.length > 3) throw invalidArgument(`invalid spec: ${spec}: too many colons`);
  }
}

/** The local volume driver's names (daemon/names RestrictedNamePattern). */
const volumeName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * `-v SPEC`: `/host:/ctr[:MODE]` binds a host path (a leading '.' is made absolute by the CLI), `name:/ctr[:MODE]`
 * mounts a named volume, `/ctr` an anonymous one. MODE is comma-separated: ro or rw, a propagation for binds,
 * z/Z, nocopy, consistency words. Errors are Docker's (daemon/volume/mounts/linux_parser.go ParseMountRaw).
 */
export function parseVolume(spec: string): VolumeSpec {
  checkVolumeSections(spec);
  // docker/cli turns a relative host part beginning with '.' into an absolute path before sending it.
  const raw = /^\.[^:]*:/.test(spec) ? `${path.resolve(spec.slice(0, spec.indexOf(':')))}${spec.slice(spec.indexOf(':'))}` : spec;
  const invalidSpec = `invalid volume specification: '${raw}'`;
  const parts = raw.split(':');
  if (parts[0] === '' || parts.length > 3) throw invalidArgument(invalidSpec);
  // `/foo:rw` is a destination and a mode without a source: the daemon refuses it rather than bind /foo at 'rw'.
  if (parts.length === 2 && validMode(parts[1]!)) throw invalidArgument(invalidSpec);
  const [source, target] = parts.length === 1 ? ['', parts[0]!] : [parts[0]!, parts[1]!];
  const mode = parts[2] ?? '';
  if (!validMode(mode)) throw invalidArgument(`invalid mode: ${mode}`);

  const type = source.startsWith('/') ? 'bind' : 'volume';
  const words = mode.split(',');
  const propagation = words.find((word) => propagations.has(word)) as Propagation | undefined;
  const invalidConfig = (message: string) => invalidArgument(`${invalidSpec}: invalid mount config for type "${type}": ${message}`);
  if (type === 'volume' && propagation) throw invalidConfig('field BindOptions must not be specified');
  if (type === 'bind' && words.includes('nocopy')) throw invalidConfig('field VolumeOptions must not be specified');
  if (target === '') throw invalidConfig('field Target must not be empty');
  if (cleanPath(target) === '/') throw invalidConfig("invalid specification: destination can't be '/'");
  if (!target.startsWith('/')) throw invalidConfig(`invalid mount path: '${target}' mount path must be absolute`);

  const destination = cleanPath(target);
  const readonly = words.includes('ro');
  if (type === 'bind') {
    return { type, source: cleanPath(source), destination, readonly, propagation: propagation ?? 'rprivate' };
  }
  if (source === '') return { type, source: randomBytes(32).toString('hex'), destination, readonly, anonymous: true };
  // The daemon's volume service wraps the local driver's name check in "create NAME: ".
  if (source.length === 1) throw invalidArgument(`create ${source}: volume name is too short, names should be at least two alphanumeric characters`);
  if (!volumeName.test(source)) {
    throw invalidArgument(
      `create ${source}: "${source}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return { type, source, destination, readonly };
}
