/**
 * Variable expansion where Docker does it: FROM lines see the global scope (predefined platform ARGs and the
 * ARGs before the first FROM); inside a stage, ENV and the stage's own ARGs are visible to ENV, ARG defaults,
 * LABEL, WORKDIR, USER, VOLUME, EXPOSE, STOPSIGNAL, COPY/ADD paths and flags, heredoc sources and RUN mounts.
 * RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left to the shell in the container. ENV wins over an ARG of the
 * same name. Pure: the caller passes the base images' environment.
 */
import { formatPlatform, hostPlatform } from '../../images/platform.js';
import { DockerfileError } from './ast.js';
import type { Instruction, KeyValue, RunMount } from './instructions.js';
import { lex, ShellLexError } from './shell-lex.js';
import { baseStage, findTarget, type ParsedDockerfile, type Stage, stagesForTarget } from './stages.js';

/** Build args Docker accepts without an ARG; they reach RUN but never the image or its history. */
export const proxyArgs = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

export interface ExpandOptions {
  /** `--build-arg K=V`. */
  buildArgs?: Readonly<Record<string, string>>;
  /** `os/arch[/variant]`; default the host's (linux/<arch>). */
  buildPlatform?: string;
  /** default: the build platform. */
  targetPlatform?: string;
  /** `--target`; default the last stage. */
  target?: string;
  /** The `Env` (`K=V` strings) of a base image's config (`scratch` too); default none. Stages based on stages chain theirs. */
  baseEnv?: (base: string, stageIndex: number) => readonly string[];
}

export interface ExpandedStep {
  /** The instruction with its variables substituted (RUN/CMD/... unchanged). */
  instruction: Instruction;
  /** The image config's Env after this step, `K=V`. */
  env: string[];
  /** ARGs in scope with a value and not shadowed by ENV: RUN gets them as environment and Docker's classic
   *  builder lists them in the RUN history entry (`|2 A=1 B=2 /bin/sh -c ...`). */
  args: [string, string][];
  /** Proxy build args not declared by ARG: RUN's environment only. */
  proxyEnv: [string, string][];
}

export interface ExpandedStage {
  index: number;
  name?: string;
  /** The base after global ARG expansion. */
  base: string;
  /** The stage this one is based on, when its base names an earlier stage. */
  baseStage?: number;
  platform?: string;
  steps: ExpandedStep[];
  /** The image config's Env at the end of the stage. */
  env: string[];
}

export interface ExpandedBuild {
  /** The global scope (predefined platform ARGs and meta ARGs). */
  globalArgs: Map<string, string>;
  /** Indices of the stages the target needs, in order. */
  needed: number[];
  /** The needed stages, expanded, in order; the last is the target. */
  stages: ExpandedStage[];
}

/** BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT, TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT. */
export function platformArgs(buildPlatform: string, targetPlatform: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const [prefix, platform] of [['BUILD', buildPlatform], ['TARGET', targetPlatform]] as const) {
    const [os = '', arch = '', variant = ''] = platform.split('/');
    args.set(`${prefix}PLATFORM`, platform);
    args.set(`${prefix}OS`, os);
    args.set(`${prefix}ARCH`, arch);
    args.set(`${prefix}VARIANT`, variant);
  }
  return args;
}

/** The global scope FROM lines see: predefined args (build args may override them), then the meta ARGs. */
export function resolveGlobalArgs(parsed: ParsedDockerfile, options: ExpandOptions = {}): Map<string, string> {
  const buildArgs = options.buildArgs ?? {};
  const buildPlatform = options.buildPlatform ?? formatPlatform(hostPlatform());
  const scope = platformArgs(buildPlatform, options.targetPlatform ?? buildPlatform);
  for (const key of scope.keys()) if (Object.hasOwn(buildArgs, key)) scope.set(key, buildArgs[key]!);
  scope.set('TARGETSTAGE', options.target || findTarget(parsed.stages).name || 'default');
  for (const inst of parsed.metaArgs) {
    for (const arg of inst.args) {
      let value: string | undefined = Object.hasOwn(buildArgs, arg.key) ? buildArgs[arg.key] : undefined;
      if (value === undefined && arg.value !== undefined) value = expandWord(parsed, inst.node.startLine, arg.value, scope);
      if (value !== undefined) scope.set(arg.key, value);
    }
  }
  return scope;
}

/** FROM's base and platform after global ARG expansion. */
export function expandFrom(parsed: ParsedDockerfile, stage: Stage, globalArgs: ReadonlyMap<string, string>): { base: string; platform?: string } {
  const line = stage.from.node.startLine;
  const base = expandWord(parsed, line, stage.base, globalArgs);
  if (base === '') throw new DockerfileError(parsed.fileName, line, `base name (${stage.base}) should not be blank`);
  if (stage.platform === undefined) return { base };
  const platform = expandWord(parsed, line, stage.platform, globalArgs);
  if (platform === '') throw new DockerfileError(parsed.fileName, line, `empty platform value from expression ${stage.platform}`);
  return { base, platform };
}

/** Expands every stage the target needs, chaining ENV through `FROM <stage>`. */
export function expandBuild(parsed: ParsedDockerfile, options: ExpandOptions = {}): ExpandedBuild {
  const globalArgs = resolveGlobalArgs(parsed, options);
  const froms = parsed.stages.map((stage) => expandFrom(parsed, stage, globalArgs));
  const needed = stagesForTarget(parsed, options.target, froms.map((f) => f.base));
  const done = new Map<number, ExpandedStage>();
  for (const index of needed) {
    const stage = parsed.stages[index]!;
    const parent = baseStage(parsed.stages, froms[index]!.base, index);
    const baseEnv = parent ? done.get(parent.index)!.env : (options.baseEnv?.(froms[index]!.base, index) ?? []);
    const expanded = expandStage(parsed, stage, { globalArgs, buildArgs: options.buildArgs, baseEnv });
    done.set(index, { ...expanded, base: froms[index]!.base, platform: froms[index]!.platform, baseStage: parent?.index });
  }
  return { globalArgs, needed, stages: needed.map((i) => done.get(i)!) };
}

export interface StageScope {
  globalArgs: ReadonlyMap<string, string>;
  buildArgs?: Readonly<Record<string, string>>;
  /** The base image's (or base stage's) Env. */
  baseEnv: readonly string[];
}

/** One stage's instructions, expanded in order. */
export function expandStage(parsed: ParsedDockerfile, stage: Stage, scope: StageScope): ExpandedStage {
  const buildArgs = scope.buildArgs ?? {};
  const env = new Map<string, string>();
  for (const entry of scope.baseEnv) {
    const eq = entry.indexOf('=');
    env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
  }
  const args = new Map<string, string>();
  const declared = new Set<string>();
  const visible = (): Map<string, string> => {
    const all = new Map(args);
    for (const key of proxyArgs) if (Object.hasOwn(buildArgs, key) && !all.has(key)) all.set(key, buildArgs[key]!);
    for (const [key, value] of env) all.set(key, value);
    return all;
  };
  const steps: ExpandedStep[] = [];
  for (const inst of stage.instructions) {
    const line = inst.node.startLine;
    const word = (text: string, vars = visible()) => expandWord(parsed, line, text, vars);
    const opt = (text: string | undefined) => (text === undefined ? undefined : word(text));
    const pairs = (list: KeyValue[]) => {
      const vars = visible();
      return list.map((kv) => ({ key: word(kv.key, vars), value: word(kv.value, vars) }));
    };
    let out: Instruction = inst;
    switch (inst.kind) {
      case 'ENV':
        out = { ...inst, env: pairs(inst.env) };
        for (const kv of out.env) env.set(kv.key, kv.value);
        break;
      case 'LABEL':
        out = { ...inst, labels: pairs(inst.labels) };
        break;
      case 'ARG':
        out = {
          ...inst,
          // The instruction keeps the Dockerfile's own default (its history entry and cache key, as Docker's
          // builder commits `ARG K=default` whatever --build-arg says); the value in effect goes to `args`.
          args: inst.args.map((arg) => {
            const own = arg.value === undefined ? undefined : word(arg.value);
            const value = Object.hasOwn(buildArgs, arg.key) ? buildArgs[arg.key] : (own ?? scope.globalArgs.get(arg.key));
            declared.add(arg.key);
            if (value !== undefined) args.set(arg.key, value);
            return { key: arg.key, ...(own !== undefined && { value: own }) };
          }),
        };
        break;
      case 'WORKDIR':
        out = { ...inst, path: word(inst.path) };
        break;
      case 'USER':
        out = { ...inst, user: word(inst.user) };
        break;
      case 'STOPSIGNAL':
        out = { ...inst, signal: word(inst.signal) };
        break;
      case 'VOLUME':
        out = { ...inst, volumes: inst.volumes.map((v) => word(v)) };
        break;
      case 'EXPOSE': {
        const vars = visible();
        out = { ...inst, ports: inst.ports.flatMap((p) => expandWords(parsed, line, p, vars)) };
        break;
      }
      case 'COPY':
      case 'ADD': {
        if (inst.kind === 'COPY' && inst.from !== undefined) checkNoExpansion(parsed, line, inst.from, 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround');
        const vars = visible();
        const common = {
          sources: inst.sources.map((s) => word(s, vars)),
          dest: word(inst.dest, vars),
          chown: opt(inst.chown),
          chmod: opt(inst.chmod),
          contents: inst.contents.map((c) => (c.expand ? { ...c, data: expandRaw(parsed, line, c.data, vars) } : c)),
        };
        out = inst.kind === 'ADD' ? { ...inst, ...common, checksum: opt(inst.checksum) } : { ...inst, ...common };
        break;
      }
      case 'RUN':
        out = { ...inst, mounts: inst.mounts.map((m) => expandMount(parsed, line, m, visible())) };
        break;
      default:
        break;
    }
    const runArgs = [...args].filter(([key]) => !env.has(key) && !(proxyArgs.includes(key) && !declared.has(key)));
    const proxyEnv = proxyArgs.filter((k) => Object.hasOwn(buildArgs, k) && !declared.has(k) && !env.has(k)).map((k): [string, string] => [k, buildArgs[k]!]);
    steps.push({ instruction: out, env: envList(env), args: runArgs, proxyEnv });
  }
  return { index: stage.index, name: stage.name, base: stage.base, platform: stage.platform, steps, env: envList(env) };
}

const envList = (env: ReadonlyMap<string, string>) => [...env].map(([k, v]) => `${k}=${v}`);

function expandMount(parsed: ParsedDockerfile, line: number, mount: RunMount, vars: ReadonlyMap<string, string>): RunMount {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(mount.fields)) {
    if (key === 'from') checkNoExpansion(parsed, line, value, "'from' doesn't support variable expansion, define alias stage instead");
    fields[key] = key === 'from' ? value : expandWord(parsed, line, value, vars);
  }
  return { type: mount.type, fields };
}

function checkNoExpansion(parsed: ParsedDockerfile, line: number, value: string, message: string): void {
  if (expandWord(parsed, line, value, new Map()) !== value) throw new DockerfileError(parsed.fileName, line, message);
}

function wrapLex<T>(parsed: ParsedDockerfile, line: number, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ShellLexError) throw new DockerfileError(parsed.fileName, line, error.message, 'instruction', { cause: error });
    throw error;
  }
}

/** One word with the file's escape token: quotes removed, variables substituted. */
export function expandWord(parsed: ParsedDockerfile, line: number, text: string, vars: ReadonlyMap<string, string>): string {
  return wrapLex(parsed, line, () => lex(text, vars, { escapeToken: parsed.escapeToken }).result);
}

function expandWords(parsed: ParsedDockerfile, line: number, text: string, vars: ReadonlyMap<string, string>): string[] {
  return wrapLex(parsed, line, () => lex(text, vars, { escapeToken: parsed.escapeToken }).words);
}

/** Heredoc content: variables only; quotes are content. */
function expandRaw(parsed: ParsedDockerfile, line: number, text: string, vars: ReadonlyMap<string, string>): string {
  return wrapLex(parsed, line, () => lex(text, vars, { skipProcessQuotes: true }).result);
}
