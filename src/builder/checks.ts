/**
 * BuildKit's Dockerfile build checks (`docker build --check`), with its rule names, descriptions, messages and
 * doc URLs (moby/buildkit frontend/dockerfile/linter/ruleset.go), found statically: nothing is pulled, so what
 * needs a base image's config (its Env, its SHELL) is known only when the caller passes it. Pure.
 */
import path from 'node:path';
import { invalidArgument } from '../errors.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../images/platform.js';
import { parseReference } from '../images/reference.js';
import {
  baseStage,
  type Env,
  lex,
  type Node,
  type ParsedDockerfile,
  platformArgs,
  type Stage,
  stagesForTarget,
} from './dockerfile/index.js';

export interface CheckRule {
  name: string;
  description: string;
  url: string;
  /** Runs only when the check directive's `experimental=` names it (or all). */
  experimental?: boolean;
}

export interface CheckResult {
  rule: string;
  description: string;
  url: string;
  message: string;
  file: string;
  line: number;
}

export interface CheckOptions {
  buildArgs?: Readonly<Record<string, string>>;
  /** `--target`: only the stages it needs are dispatched (BuildKit checks every stage without one). */
  target?: string;
  buildPlatform?: string;
  /** A base image's Env (`K=V`), when known; undefined leaves UndefinedVar silent in stages built on it. */
  baseEnv?: (base: string) => readonly string[] | undefined;
  /** Whether .dockerignore excludes a context path (or a parent of it), for CopyIgnoredFile. */
  ignored?: (rel: string) => boolean;
}

/** `# check=skip=A,B;error=true`, as BuildKit's ParseLintOptions reads it. */
export interface CheckConfig {
  skipAll: boolean;
  skip: Set<string>;
  error: boolean;
  /** `experimental=A,B|all`: experimental rules run only when named here. */
  experimentalAll: boolean;
  experimental: Set<string>;
}

const rule = (name: string, description: string): CheckRule => ({
  name,
  description,
  url: `https://docs.docker.com/go/dockerfile/rule/${name.replace(/(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/g, '-').toLowerCase()}/`,
});

export const checkRules = {
  StageNameCasing: rule('StageNameCasing', 'Stage names should be lowercase'),
  FromAsCasing: rule('FromAsCasing', "The 'as' keyword should match the case of the 'from' keyword"),
  NoEmptyContinuation: rule('NoEmptyContinuation', 'Empty continuation lines will become errors in a future release'),
  ConsistentInstructionCasing: rule('ConsistentInstructionCasing', 'All commands within the Dockerfile should use the same casing (either upper or lower)'),
  DuplicateStageName: rule('DuplicateStageName', 'Stage names should be unique'),
  ReservedStageName: rule('ReservedStageName', 'Reserved words should not be used as stage names'),
  JSONArgsRecommended: rule('JSONArgsRecommended', 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals'),
  MaintainerDeprecated: rule('MaintainerDeprecated', 'The MAINTAINER instruction is deprecated, use a label instead to define an image author'),
  UndefinedArgInFrom: rule('UndefinedArgInFrom', 'FROM command must use declared ARGs'),
  WorkdirRelativePath: rule('WorkdirRelativePath', 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes'),
  UndefinedVar: rule('UndefinedVar', 'Variables should be defined before their use'),
  MultipleInstructionsDisallowed: rule('MultipleInstructionsDisallowed', 'Multiple instructions of the same type should not be used in the same stage'),
  LegacyKeyValueFormat: rule('LegacyKeyValueFormat', 'Legacy key/value format with whitespace separator should not be used'),
  SecretsUsedInArgOrEnv: rule('SecretsUsedInArgOrEnv', 'Sensitive data should not be used in the ARG or ENV commands'),
  InvalidDefaultArgInFrom: rule('InvalidDefaultArgInFrom', 'Default value for global ARG results in an empty or invalid base image name'),
  FromPlatformFlagConstDisallowed: rule('FromPlatformFlagConstDisallowed', 'FROM --platform flag should not use a constant value'),
  RedundantTargetPlatform: rule('RedundantTargetPlatform', 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior'),
  CopyIgnoredFile: { ...rule('CopyIgnoredFile', 'Attempting to Copy file that is excluded by .dockerignore'), experimental: true },
} satisfies Record<string, CheckRule>;

type RuleName = keyof typeof checkRules;

/** Go's strconv.ParseBool, which BuildKit reads `error=` with. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** The `check` directive's value (up to its first space, as BuildKit cuts it); a bad option is an error. */
export function parseCheckDirective(directive: string | undefined): CheckConfig {
  const config: CheckConfig = { skipAll: false, skip: new Set(), error: false, experimentalAll: false, experimental: new Set() };
  const text = (directive ?? '').split(' ')[0]!.trim();
  if (text === '') return config;
  const fail = (why: string) => invalidArgument(`failed to parse check options: ${why}`);
  // Go's SplitN(..., 3): a third `;` stays inside the last option.
  const parts = text.split(';');
  for (const part of [...parts.slice(0, 2), ...(parts.length > 2 ? [parts.slice(2).join(';')] : [])]) {
    const eq = part.indexOf('=');
    if (eq < 0) throw fail(`invalid check option ${JSON.stringify(part)}`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 'skip') {
      if (value === 'all') config.skipAll = true;
      else for (const name of value.split(',')) config.skip.add(name.trim());
    } else if (key === 'error') {
      const on = parseGoBool(value);
      if (on === undefined) throw fail(`failed to parse check option ${JSON.stringify(part)}: strconv.ParseBool: parsing ${JSON.stringify(value)}: invalid syntax`);
      config.error = on;
    } else if (key === 'experimental') {
      if (value === 'all') config.experimentalAll = true;
      else for (const name of value.split(',')) config.experimental.add(name.trim());
    } else {
      throw fail(`invalid check option ${JSON.stringify(key)}`);
    }
  }
  return config;
}

/** Levenshtein distance, for BuildKit's "did you mean" (its suggest.Search: the closest under 3 edits). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

function suggest(name: string, options: Iterable<string>): string {
  let match = '';
  let best = 3;
  for (const option of options) {
    if (option === name) return '';
    const d = distance(name, option);
    if (d < best) [match, best] = [option, d];
  }
  return match;
}

const secretWords = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const notSecretWords = /(?:_|^)(?:public|file|version)(?:_|$)/i;
const reservedStageNames = new Set(['context', 'scratch']);
/** BuildKit's empty image (a scratch base) has Docker's default PATH and nothing else. */
const scratchEnv = new Map([['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']]);

/** What a stage hands a stage built on it. */
interface StageState {
  env: Map<string, string> | undefined;
  declared: Set<string>;
  workdirSet: boolean;
  shellSet: boolean;
}

/** Runs every check on a parsed Dockerfile; the results are in line order, skipped rules left out. */
export function runChecks(parsed: ParsedDockerfile, options: CheckOptions = {}): CheckResult[] {
  const config = parseCheckDirective(parsed.directives.find((d) => d.name === 'check')?.value);
  const results: CheckResult[] = [];
  const report = (name: RuleName, message: string, line: number) => {
    const rule: CheckRule = checkRules[name];
    if (config.skipAll || config.skip.has(name) || (rule.experimental && !config.experimentalAll && !config.experimental.has(name))) return;
    const { description, url } = rule;
    results.push({ rule: name, description, url, message, file: parsed.fileName, line });
  };
  const { stages } = parsed;

  for (const warning of parsed.warnings) report('NoEmptyContinuation', 'Empty continuation line', warning.line);

  // While parsing instructions.
  for (const stage of stages) {
    const [, as, name] = stage.from.node.args;
    const keyword = stage.from.node.keyword;
    if (name !== undefined && name !== name.toLowerCase()) report('StageNameCasing', `Stage name '${name}' should be lowercase`, stage.from.node.startLine);
    const selfConsistent = keyword === keyword.toLowerCase() || keyword === keyword.toUpperCase();
    if (as !== undefined && name !== undefined && selfConsistent && as !== (keyword === keyword.toLowerCase() ? as.toLowerCase() : as.toUpperCase())) {
      report('FromAsCasing', `'${as}' and '${keyword}' keywords' casing do not match`, stage.from.node.startLine);
    }
    for (const inst of stage.instructions) if (inst.kind === 'MAINTAINER') report('MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label', inst.node.startLine);
  }

  const seen = new Set<string>();
  for (const stage of stages) {
    if (stage.name === undefined) continue;
    const line = stage.from.node.startLine;
    if (reservedStageNames.has(stage.name)) report('ReservedStageName', `Stage name should not use the same name as reserved stage ${JSON.stringify(stage.name)}`, line);
    if (seen.has(stage.name)) report('DuplicateStageName', `Duplicate stage name ${JSON.stringify(stage.name)}, stage names should be unique`, line);
    seen.add(stage.name);
  }

  checkCasing(stages, report);

  // The global scope: predefined args, then meta ARGs; once with defaults only, once with the build args.
  const buildArgs = options.buildArgs ?? {};
  const platform = options.buildPlatform ?? formatPlatform(hostPlatform());
  const predefined = platformArgs(platform, platform);
  for (const key of predefined.keys()) if (Object.hasOwn(buildArgs, key)) predefined.set(key, buildArgs[key]!);
  const metaScope = (withBuildArgs: boolean) => {
    const scope = new Map(predefined);
    for (const inst of parsed.metaArgs) {
      for (const arg of inst.args) {
        const value = withBuildArgs && Object.hasOwn(buildArgs, arg.key) ? buildArgs[arg.key] : arg.value === undefined ? undefined : expand(parsed, arg.value, scope).result;
        if (value !== undefined) scope.set(arg.key, value);
      }
    }
    return scope;
  };
  const defaults = metaScope(false);
  for (const stage of stages) {
    try {
      parseReference(expand(parsed, stage.base, defaults).result, { defaultTag: false });
    } catch {
      report('InvalidDefaultArgInFrom', `Default value for ARG ${stage.base} results in empty or invalid base image name`, stage.from.node.startLine);
    }
  }

  const globalArgs = metaScope(true);
  const argKeys = new Set([...parsed.metaArgs.flatMap((inst) => inst.args.map((a) => a.key)), ...globalArgs.keys()]);
  const bases: string[] = [];
  for (const stage of stages) {
    const line = stage.from.node.startLine;
    const unusedFromArgs = (unmatched: Set<string>) => {
      for (const arg of unmatched) {
        if (argKeys.has(arg)) continue;
        const match = suggest(arg, argKeys);
        report('UndefinedArgInFrom', `FROM argument '${arg}' is not declared${match ? ` (did you mean ${match}?)` : ''}`, line);
      }
    };
    const base = expand(parsed, stage.base, globalArgs);
    unusedFromArgs(base.unmatched);
    bases.push(base.result);
    if (stage.platform === undefined) continue;
    if (stage.platform === '$TARGETPLATFORM' || stage.platform === '${TARGETPLATFORM}') {
      report('RedundantTargetPlatform', `Setting platform to predefined ${stage.platform} in FROM is redundant as this is the default behavior`, line);
    }
    const flag = expand(parsed, stage.platform, globalArgs);
    unusedFromArgs(flag.unmatched);
    if (flag.matched.size > 0 || flag.unmatched.size > 0) continue;
    let constant: { os: string; architecture: string };
    try {
      constant = parsePlatform(flag.result);
    } catch {
      continue; // the build fails on it later
    }
    const stageName = stage.name ?? '';
    if (!stageName.includes(constant.os) && !stageName.includes(constant.architecture)) {
      report('FromPlatformFlagConstDisallowed', `FROM --platform flag should not use constant value ${JSON.stringify(flag.result)}`, line);
    }
  }

  // While dispatching, stage by stage (each built on its base stage's state).
  const states = new Map<number, StageState>();
  for (const index of options.target === undefined ? stages.map((s) => s.index) : stagesForTarget(parsed, options.target, bases)) {
    const stage = stages[index]!;
    const parent = baseStage(stages, bases[index]!, index);
    const inherited = parent && states.get(parent.index);
    const imageEnv = bases[index]!.toLowerCase() === 'scratch' ? [...scratchEnv].map(([k, v]) => `${k}=${v}`) : options.baseEnv?.(bases[index]!);
    const state: StageState = inherited
      ? { env: inherited.env && new Map(inherited.env), declared: new Set(inherited.declared), workdirSet: inherited.workdirSet, shellSet: inherited.shellSet }
      : { env: imageEnv && envMap(imageEnv), declared: new Set(), workdirSet: false, shellSet: false };
    dispatchChecks(parsed, stage, state, globalArgs, buildArgs, report, options.ignored);
    states.set(index, state);
  }

  return results.sort((a, b) => a.line - b.line);
}

function envMap(entries: readonly string[]): Map<string, string> {
  return new Map(entries.map((entry) => (entry.includes('=') ? [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] : [entry, ''])));
}

function expand(parsed: ParsedDockerfile, word: string, vars: Env, raw = false) {
  try {
    return lex(word, vars, raw ? { skipProcessQuotes: true } : { escapeToken: parsed.escapeToken });
  } catch {
    // A word the lexer rejects fails the build; it is no check's business.
    return { result: word, words: [word], matched: new Set<string>(), unmatched: new Set<string>() };
  }
}

type Report = (name: RuleName, message: string, line: number) => void;

/** ConsistentInstructionCasing: against the majority of the stages' self-consistent keywords (meta ARGs not counted). */
function checkCasing(stages: readonly Stage[], report: Report): void {
  const nodes: Node[] = stages.flatMap((stage) => [stage.from.node, ...stage.instructions.map((inst) => inst.node)]);
  let lower = 0;
  let upper = 0;
  for (const { keyword } of nodes) {
    if (keyword === keyword.toLowerCase()) lower++;
    else if (keyword === keyword.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const { keyword, startLine } of nodes) {
    const wanted = majorityLower ? keyword.toLowerCase() : keyword.toUpperCase();
    if (keyword !== wanted) report('ConsistentInstructionCasing', `Command '${keyword}' should match the case of the command majority (${majorityLower ? 'lowercase' : 'uppercase'})`, startLine);
  }
}

function dispatchChecks(
  parsed: ParsedDockerfile,
  stage: Stage,
  state: StageState,
  globalArgs: ReadonlyMap<string, string>,
  buildArgs: Readonly<Record<string, string>>,
  report: Report,
  ignored: CheckOptions['ignored'],
): void {
  const usedOnce = new Map<string, number>();
  for (const inst of stage.instructions) {
    const line = inst.node.startLine;
    const env: Env = state.env ?? new Map();
    const word = (text: string, raw = false) => {
      const lexed = expand(parsed, text, env, raw);
      // Unknown base env: any name may come from it, so say nothing.
      if (state.env) {
        for (const name of lexed.unmatched) {
          if (state.declared.has(name)) continue;
          const match = suggest(name, env.keys());
          report('UndefinedVar', `Usage of undefined variable '$${name}'${match ? ` (did you mean $${match}?)` : ''}`, line);
        }
      }
      return lexed.result;
    };
    const legacy = () => {
      for (let i = 2; i < inst.node.args.length; i += 3) if (inst.node.args[i] === '') report('LegacyKeyValueFormat', `"${inst.node.keyword} key=value" should be used instead of legacy "${inst.node.keyword} key value" format`, line);
    };
    const secret = (kind: string, key: string) => {
      if (secretWords.test(key) && !notSecretWords.test(key)) report('SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (${kind} ${JSON.stringify(key)})`, line);
    };
    const once = () => {
      const previous = usedOnce.get(inst.kind);
      // The earlier one is reported: it is the one that is ignored.
      if (previous !== undefined) report('MultipleInstructionsDisallowed', `Multiple ${inst.node.keyword} instructions should not be used in the same stage because only the last one will be used`, previous);
      usedOnce.set(inst.kind, line);
    };
    switch (inst.kind) {
      case 'ENV': {
        const pairs = inst.env.map((kv) => ({ key: word(kv.key), value: word(kv.value) }));
        legacy();
        for (const { key, value } of pairs) {
          secret('ENV', key);
          state.env?.set(key, value);
        }
        break;
      }
      case 'LABEL':
        for (const kv of inst.labels) {
          word(kv.key);
          word(kv.value);
        }
        legacy();
        break;
      case 'ARG':
        for (const arg of inst.args) {
          secret('ARG', arg.key);
          let value: string | undefined;
          if (Object.hasOwn(buildArgs, arg.key)) value = buildArgs[arg.key];
          else if (arg.value !== undefined) value = word(arg.value);
          else value = globalArgs.get(arg.key);
          if (value !== undefined) state.env?.set(arg.key, value);
          state.declared.add(arg.key);
        }
        break;
      case 'WORKDIR': {
        const path = word(inst.path);
        if (!state.workdirSet && !path.startsWith('/')) report('WorkdirRelativePath', `Relative workdir ${JSON.stringify(path)} can have unexpected results if the base image changes`, line);
        state.workdirSet = true;
        break;
      }
      case 'USER':
        word(inst.user);
        break;
      case 'STOPSIGNAL':
        word(inst.signal);
        break;
      case 'VOLUME':
        for (const v of inst.volumes) word(v);
        break;
      case 'EXPOSE':
        for (const p of inst.ports) word(p);
        break;
      case 'COPY':
      case 'ADD':
        for (const text of [...inst.sources, inst.dest, inst.chown, inst.chmod]) if (text !== undefined) word(text);
        for (const content of inst.contents) if (content.expand) word(content.data, true);
        if (inst.kind === 'COPY' && inst.from !== undefined) break;
        for (const source of inst.sources) {
          const rel = path.posix.normalize(`/${expand(parsed, source, env).result}`).slice(1);
          if (/^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(source) || !ignored?.(rel)) continue;
          report('CopyIgnoredFile', `Attempting to ${inst.kind === 'COPY' ? 'Copy' : 'Add'} file ${JSON.stringify(rel)} that is excluded by .dockerignore`, line);
        }
        break;
      case 'SHELL':
        state.shellSet = true;
        break;
      case 'CMD':
      case 'ENTRYPOINT':
        once();
        if (inst.prependShell && !state.shellSet) report('JSONArgsRecommended', `JSON arguments recommended for ${inst.node.keyword} to prevent unintended behavior related to OS signals`, line);
        break;
      case 'HEALTHCHECK':
        once();
        break;
      default:
        break;
    }
  }
}
