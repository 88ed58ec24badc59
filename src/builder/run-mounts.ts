/**
 * `RUN --mount`, BuildKit's five types: what each option means and its defaults (pure, `planMounts`), the part of
 * a step's cache key the mounts give (`mountsKey`), and making them for one step (`prepareMounts`): cache
 * directories kept in the store across builds, binds of the context or of a stage, secrets and SSH agent sockets
 * passed for the step only, tmpfs. None of their contents enters the step's layer: the mount targets are made in
 * the container's init layer, as Docker's init layer holds /etc/hosts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseByteSize } from '../containers/run-flags.js';
import type { ContainerSettings } from '../containers/settings.js';
import { invalidArgument, isNodeError, notFound } from '../errors.js';
import type { RunMount } from './dockerfile/index.js';

export type MountPlan =
  | { type: 'bind'; target: string; source: string; from?: string; readonly: boolean }
  | { type: 'cache'; target: string; id: string; sharing: 'shared' | 'private' | 'locked'; from?: string; source: string; mode: number; uid: number; gid: number; readonly: boolean }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; id: string; target: string; env?: string; required: boolean; mode: number; uid: number; gid: number }
  | { type: 'ssh'; id: string; target: string; required: boolean; mode: number; uid: number; gid: number };

/** The options each type takes, with BuildKit's aliases (dst, src, ro, rw). */
const options: Record<MountPlan['type'], readonly string[]> = {
  bind: ['target', 'dst', 'destination', 'source', 'src', 'from', 'readonly', 'ro', 'readwrite', 'rw'],
  cache: ['target', 'dst', 'destination', 'id', 'sharing', 'from', 'source', 'src', 'mode', 'uid', 'gid', 'readonly', 'ro', 'readwrite', 'rw'],
  tmpfs: ['target', 'dst', 'destination', 'size'],
  secret: ['id', 'target', 'dst', 'destination', 'env', 'required', 'mode', 'uid', 'gid'],
  ssh: ['id', 'target', 'dst', 'destination', 'required', 'mode', 'uid', 'gid'],
};

const truthy = (value: string | undefined) => value !== undefined && value !== 'false' && value !== '0';

/** Each mount's options checked and defaulted, targets absolute (a relative one is under WORKDIR, as BuildKit has it). */
export function planMounts(mounts: readonly RunMount[], workdir = '/'): MountPlan[] {
  let sshIndex = 0;
  return mounts.map((mount): MountPlan => {
    const type = mount.type as MountPlan['type'];
    const known = options[type];
    for (const key of Object.keys(mount.fields)) {
      if (!known.includes(key)) throw invalidArgument(`unexpected key '${key}' for a ${type} mount`);
    }
    const f = mount.fields;
    const rawTarget = f.target ?? f.dst ?? f.destination;
    const target = rawTarget === undefined ? undefined : path.posix.resolve(workdir || '/', rawTarget);
    const number = (name: 'mode' | 'uid' | 'gid', fallback: number) => {
      const value = f[name];
      if (value === undefined) return fallback;
      const parsed = name === 'mode' ? Number.parseInt(value, 8) : Number(value);
      if (!Number.isInteger(parsed) || parsed < 0 || (name === 'mode' && !/^[0-7]{1,4}$/.test(value))) throw invalidArgument(`invalid ${name} "${value}" for a ${type} mount`);
      return parsed;
    };
    const readonlyFlag = f.readwrite !== undefined || f.rw !== undefined ? !truthy(f.readwrite ?? f.rw) : undefined;
    const readonly = f.readonly !== undefined || f.ro !== undefined ? truthy(f.readonly ?? f.ro) : readonlyFlag;
    switch (type) {
      case 'bind':
        if (!target) throw invalidArgument('a bind mount needs a target');
        return { type, target, source: f.source ?? f.src ?? '.', ...(f.from !== undefined && { from: f.from }), readonly: readonly ?? true };
      case 'cache': {
        if (!target) throw invalidArgument('a cache mount needs a target');
        const sharing = f.sharing ?? 'shared';
        if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') throw invalidArgument(`unsupported sharing value "${sharing}": use shared, private or locked`);
        return {
          type,
          target,
          id: f.id || target,
          sharing,
          ...(f.from !== undefined && { from: f.from }),
          source: f.source ?? f.src ?? '.',
          mode: number('mode', 0o755),
          uid: number('uid', 0),
          gid: number('gid', 0),
          readonly: readonly ?? false,
        };
      }
      case 'tmpfs': {
        if (!target) throw invalidArgument('a tmpfs mount needs a target');
        return { type, target, ...(f.size !== undefined && { size: parseByteSize(f.size, 'size') }) };
      }
      case 'secret': {
        const id = f.id || (target ? path.posix.basename(target) : '');
        if (!id) throw invalidArgument('a secret mount needs an id or a target');
        return {
          type,
          id,
          target: target ?? (f.env !== undefined ? '' : `/run/secrets/${id}`),
          ...(f.env !== undefined && { env: f.env }),
          required: truthy(f.required),
          mode: number('mode', 0o400),
          uid: number('uid', 0),
          gid: number('gid', 0),
        };
      }
      case 'ssh': {
        const id = f.id || 'default';
        return { type, id, target: target ?? `/run/buildkit/ssh_agent.${sshIndex++}`, required: truthy(f.required), mode: number('mode', 0o600), uid: number('uid', 0), gid: number('gid', 0) };
      }
      default:
        throw invalidArgument(`unsupported mount type "${mount.type}"`);
    }
  });
}

/**
 * What a step's mounts add to its cache key: their options (never a secret's value, nor a cache's contents,
 * which BuildKit leaves out too), and for binds what they show: the content of the context's files under the
 * source, or the stage's image ID.
 */
export function mountsKey(plans: readonly MountPlan[], bindContent: (plan: Extract<MountPlan, { type: 'bind' }>) => string): string {
  return JSON.stringify(plans.map((plan) => (plan.type === 'bind' ? { ...plan, content: bindContent(plan) } : plan)));
}

/** What a build offers its RUN mounts: secrets (`--secret`), SSH agent sockets (`--ssh`). */
export interface MountInputs {
  secrets?: Record<string, { file?: string; env?: string }>;
  ssh?: Record<string, string>;
}

export interface MountEnvironment extends MountInputs {
  /** The store's directory of cache mounts. */
  cacheDir: string;
  /** The context's directory, for binds without `from`. */
  contextDir: string;
  /** A stage's or an image's root filesystem for `from=`, mounted until `release`. */
  rootfsOf(ref: string): Promise<{ dir: string; release(): Promise<void> | void }>;
}

export interface PreparedMounts {
  mounts: ContainerSettings['mounts'];
  env: string[];
  /** The cache mounts' directories (their names under the cache dir), for a cache export to carry. */
  cacheDirs: string[];
  release(): Promise<void>;
}

/** In this process, the cache mounts in use: `locked` ones wait, `private` ones get an instance of their own. */
const inUse = new Map<string, { users: number; waiting: (() => void)[]; made?: Promise<void> }>();

/** Makes a step's mounts: directories and files on the host for the container to bind, released after the step. */
export async function prepareMounts(plans: readonly MountPlan[], environment: MountEnvironment): Promise<PreparedMounts> {
  const mounts: ContainerSettings['mounts'] = [];
  const env: string[] = [];
  const cacheDirs: string[] = [];
  const releases: (() => Promise<void> | void)[] = [];
  const release = async () => {
    for (const step of releases.reverse()) await step();
  };
  let scratch: string | undefined;
  const scratchDir = () => (scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'strata-run-mounts-')));
  releases.push(() => {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });
  const sharingModes = new Map<string, string>();
  try {
    for (const plan of plans) {
      switch (plan.type) {
        case 'bind': {
          let base = environment.contextDir;
          if (plan.from !== undefined) {
            const rootfs = await environment.rootfsOf(plan.from);
            releases.push(() => rootfs.release());
            base = rootfs.dir;
          }
          const source = confined(base, plan.source, plan.from === undefined ? 'the build context' : `"${plan.from}"`);
          if (!fs.existsSync(source)) throw notFound(`bind source "${plan.source}" does not exist${plan.from === undefined ? ' in the build context' : ` in "${plan.from}"`}`);
          let shown = source;
          if (!plan.readonly && plan.from === undefined) {
            // rw: the step may write, the writes are thrown away with a copy of the source.
            shown = path.join(scratchDir(), `bind-${mounts.length}`);
            fs.cpSync(source, shown, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
          }
          mounts.push({ type: 'bind', source: shown, destination: plan.target, readonly: plan.readonly, inInit: true });
          break;
        }
        case 'cache': {
          const previous = sharingModes.get(plan.id);
          if (previous !== undefined && previous !== plan.sharing) throw invalidArgument(`cache mount "${plan.id}" is used with sharing=${previous} and sharing=${plan.sharing}`);
          sharingModes.set(plan.id, plan.sharing);
          const dir = await acquireCache(environment.cacheDir, plan, releases, async (into) => {
            // from=: a new cache starts with what the stage or image has at source.
            if (plan.from === undefined) return;
            const rootfs = await environment.rootfsOf(plan.from);
            try {
              const source = confined(rootfs.dir, plan.source, `"${plan.from}"`);
              if (fs.existsSync(source)) fs.cpSync(source, into, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
            } finally {
              await rootfs.release();
            }
          });
          mounts.push({ type: 'bind', source: dir, destination: plan.target, readonly: plan.readonly, inInit: true });
          cacheDirs.push(path.basename(dir));
          break;
        }
        case 'tmpfs':
          mounts.push({ type: 'tmpfs', source: 'tmpfs', destination: plan.target, readonly: false, inInit: true, ...(plan.size !== undefined && { size: plan.size }) });
          break;
        case 'secret': {
          const given = environment.secrets?.[plan.id];
          const value = given?.file !== undefined ? fs.readFileSync(given.file) : given?.env !== undefined ? process.env[given.env] : undefined;
          if (value === undefined) {
            if (plan.required) throw notFound(`secret ${plan.id}: not found (pass it with --secret id=${plan.id},src=FILE or env=VAR)`);
            break;
          }
          if (plan.env !== undefined) env.push(`${plan.env}=${value.toString()}`);
          if (plan.target !== '') {
            const file = path.join(scratchDir(), `secret-${mounts.length}`);
            fs.writeFileSync(file, value, { mode: plan.mode });
            fs.chownSync(file, plan.uid, plan.gid);
            mounts.push({ type: 'bind', source: file, destination: plan.target, readonly: true, inInit: true });
          }
          break;
        }
        case 'ssh': {
          const socket = environment.ssh?.[plan.id];
          if (socket === undefined) {
            if (plan.required) throw notFound(`ssh agent ${plan.id}: not found (pass it with --ssh ${plan.id === 'default' ? 'default' : `${plan.id}=SOCKET`})`);
            break;
          }
          mounts.push({ type: 'bind', source: socket, destination: plan.target, readonly: false, inInit: true });
          if (!env.some((entry) => entry.startsWith('SSH_AUTH_SOCK='))) env.push(`SSH_AUTH_SOCK=${plan.target}`);
          break;
        }
      }
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { mounts, env, cacheDirs, release };
}

/** A path under `base` as the step names it, never outside it (`..` and absolute names stay inside). */
function confined(base: string, source: string, what: string): string {
  const resolved = path.resolve(base, `.${path.posix.resolve('/', source)}`);
  if (resolved !== base && !resolved.startsWith(`${base}${path.sep}`)) throw invalidArgument(`bind source "${source}" is outside ${what}`);
  return resolved;
}

/**
 * The directory of a cache mount, made on first use with the mode and owner asked for (and `seed`ed). `locked`
 * waits for the other users in this process; `private` takes an instance of its own when the cache is in use.
 */
async function acquireCache(cacheDir: string, plan: Extract<MountPlan, { type: 'cache' }>, releases: (() => void)[], seed: (dir: string) => Promise<void>): Promise<string> {
  const key = createHash('sha256').update(plan.id).digest('hex').slice(0, 32);
  let instance = key;
  let state = inUse.get(instance);
  if (plan.sharing === 'private') {
    for (let n = 1; state && state.users > 0; n++) {
      instance = `${key}-${n}`;
      state = inUse.get(instance);
    }
  }
  if (!state) inUse.set(instance, (state = { users: 0, waiting: [] }));
  if (plan.sharing === 'locked') while (state.users > 0) await new Promise<void>((resolve) => state!.waiting.push(resolve));
  state.users++;
  releases.push(() => {
    state!.users--;
    state!.waiting.shift()?.();
  });
  const dir = path.join(cacheDir, instance);
  // The first step to use a new cache makes it; one that comes meanwhile (a concurrent stage) waits for that.
  if (!fs.existsSync(dir)) {
    state.made ??= makeCache(cacheDir, dir, plan, seed).finally(() => (state!.made = undefined));
    await state.made;
  }
  // Its time is when a build last used it: `builder prune --filter until=` goes by it.
  const now = new Date();
  fs.utimesSync(dir, now, now);
  return dir;
}

async function makeCache(cacheDir: string, dir: string, plan: Extract<MountPlan, { type: 'cache' }>, seed: (dir: string) => Promise<void>): Promise<void> {
  fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const temp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(temp, { mode: plan.mode });
  try {
    await seed(temp);
    fs.chmodSync(temp, plan.mode);
    fs.chownSync(temp, plan.uid, plan.gid);
    fs.renameSync(temp, dir);
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    // Another build (another process) made it first: theirs is the cache.
    if (!isNodeError(error, 'ENOTEMPTY') && !isNodeError(error, 'EEXIST')) throw error;
  }
}

/** Bytes of every cache mount the store keeps (`system df`). */
export function cacheMountsSize(cacheDir: string): number {
  if (!fs.existsSync(cacheDir)) return 0;
  let size = 0;
  for (const entry of fs.readdirSync(cacheDir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) size += fs.lstatSync(path.join(entry.parentPath, entry.name)).size;
  }
  return size;
}
