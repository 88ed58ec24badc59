/**
 * AST node -> typed instruction (after BuildKit's instructions/parse.go): flags checked against each
 * instruction's own set, argument counts and forms validated, with Docker's error texts.
 */
import { LineError, type Node } from './ast.js';
import { parseGoDuration } from '../../util/duration.js';
import { flagBool, flagList, type FlagSpec, flagString, type ParsedFlags, parseFlags } from './flags.js';
import { chompHeredocContent, parseHeredocWord } from './heredoc.js';
import type {
  AddInstruction,
  CommandLine,
  CopyInstruction,
  FromInstruction,
  Healthcheck,
  Instruction,
  KeyValue,
  RunMount,
  SourceContent,
} from './instructions.js';

export const instructionNames = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER',
  'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
];

const atLeastOne = (name: string) => new LineError(`${name} requires at least one argument`);
const exactlyOne = (name: string) => new LineError(`${name} requires exactly one argument`);
const noDestination = (name: string) =>
  new LineError(`${name} requires at least two arguments, but only one was provided. Destination could not be determined`);

const validStageName = /^[a-z][a-z0-9-_.]*$/;

/** Parses one node; throws LineError (the caller adds file and line). */
export function parseInstruction(node: Node): Instruction | FromInstruction {
  const name = node.keyword.toUpperCase();
  const args = node.args;
  const flags = (spec: FlagSpec = {}): ParsedFlags => parseFlags(node.flags, spec);
  switch (name) {
    case 'FROM': {
      const f = flags({ platform: 'string' });
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!validStageName.test(stageName)) {
          throw new LineError(`invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        throw new LineError('FROM requires either one or three arguments');
      }
      return { kind: 'FROM', node, base: args[0]!, name: stageName, platform: flagString(f, 'platform') || undefined };
    }
    case 'RUN': {
      const f = flags({ mount: 'strings', network: 'string', security: 'string' });
      return {
        kind: 'RUN',
        node,
        ...commandLine(node),
        heredocs: node.heredocs,
        mounts: flagList(f, 'mount').map(parseMount),
        network: flagString(f, 'network'),
        security: flagString(f, 'security'),
      };
    }
    case 'CMD':
      flags();
      return { kind: 'CMD', node, ...commandLine(node) };
    case 'ENTRYPOINT':
      flags();
      return { kind: 'ENTRYPOINT', node, ...commandLine(node) };
    case 'ENV':
      flags();
      return { kind: 'ENV', node, env: keyValues(args, 'ENV') };
    case 'LABEL':
      flags();
      return { kind: 'LABEL', node, labels: keyValues(args, 'LABEL') };
    case 'ARG':
      flags();
      if (args.length === 0) throw atLeastOne('ARG');
      return {
        kind: 'ARG',
        node,
        args: args.map((word) => {
          const eq = word.indexOf('=');
          if (eq < 0) return { key: word };
          if (eq === 0) throw new LineError('ARG names can not be blank');
          return { key: word.slice(0, eq), value: word.slice(eq + 1) };
        }),
      };
    case 'EXPOSE':
      if (args.length === 0) throw atLeastOne('EXPOSE');
      flags();
      return { kind: 'EXPOSE', node, ports: [...args] };
    case 'WORKDIR':
      if (args.length !== 1) throw exactlyOne('WORKDIR');
      flags();
      return { kind: 'WORKDIR', node, path: args[0]! };
    case 'USER':
      if (args.length !== 1) throw exactlyOne('USER');
      flags();
      return { kind: 'USER', node, user: args[0]! };
    case 'VOLUME': {
      if (args.length === 0) throw atLeastOne('VOLUME');
      flags();
      const volumes = args.map((v) => v.trim());
      if (volumes.includes('')) throw new LineError('VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', node, volumes };
    }
    case 'STOPSIGNAL':
      if (args.length !== 1) throw exactlyOne('STOPSIGNAL');
      flags();
      return { kind: 'STOPSIGNAL', node, signal: args[0]! };
    case 'MAINTAINER':
      if (args.length !== 1) throw exactlyOne('MAINTAINER');
      flags();
      return { kind: 'MAINTAINER', node, maintainer: args[0]! };
    case 'SHELL': {
      flags();
      const { command } = commandLine(node);
      if (command.length === 0) throw atLeastOne('SHELL');
      if (!node.json) throw new LineError(`SHELL requires the arguments to be in JSON form`);
      return { kind: 'SHELL', node, shell: command };
    }
    case 'ONBUILD':
      return parseOnbuild(node);
    case 'HEALTHCHECK':
      return { kind: 'HEALTHCHECK', node, health: parseHealthcheck(node) };
    case 'COPY': {
      if (args.length < 2) throw noDestination('COPY');
      const f = flags({ chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' });
      const copy: CopyInstruction = {
        kind: 'COPY',
        node,
        ...sourcesAndDest(node, 'COPY', f),
        from: flagString(f, 'from') || undefined,
        parents: flagBool(f, 'parents'),
      };
      return copy;
    }
    case 'ADD': {
      if (args.length < 2) throw noDestination('ADD');
      const f = flags({
        chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings',
      });
      const optionalBool = (key: string) => (f.values.has(key) ? flagBool(f, key) : undefined);
      const add: AddInstruction = {
        kind: 'ADD',
        node,
        ...sourcesAndDest(node, 'ADD', f),
        checksum: flagString(f, 'checksum') || undefined,
        keepGitDir: optionalBool('keep-git-dir'),
        unpack: optionalBool('unpack'),
      };
      return add;
    }
    default:
      throw new LineError(`unknown instruction: ${node.keyword}`);
  }
}

/** Shell form joins its words back into one string; exec form keeps the array. */
function commandLine(node: Node): CommandLine {
  return node.json ? { command: [...node.args], prependShell: false } : { command: node.args.length ? [node.args.join(' ')] : [], prependShell: true };
}

function keyValues(args: string[], name: string): KeyValue[] {
  if (args.length === 0) throw atLeastOne(name);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    if (args[i] === '') throw new LineError(`${name} names can not be blank`);
    pairs.push({ key: args[i]!, value: args[i + 1]! });
  }
  return pairs;
}

function sourcesAndDest(node: Node, name: string, f: ParsedFlags) {
  const words = node.args;
  const dest = words[words.length - 1]!;
  if (parseHeredocWord(dest)) throw new LineError(`${name} cannot accept a heredoc as a destination`);
  const byName = new Map(node.heredocs.map((doc) => [doc.name, doc]));
  const sources: string[] = [];
  const contents: SourceContent[] = [];
  for (const word of words.slice(0, -1)) {
    const doc = parseHeredocWord(word);
    if (!doc) {
      sources.push(word);
      continue;
    }
    const content = byName.get(doc.name)?.content ?? '';
    contents.push({ path: doc.name, data: doc.chomp ? chompHeredocContent(content) : content, expand: doc.expand });
  }
  return {
    sources,
    contents,
    dest,
    chown: flagString(f, 'chown') || undefined,
    chmod: flagString(f, 'chmod') || undefined,
    link: flagBool(f, 'link'),
    exclude: flagList(f, 'exclude'),
  };
}

function parseOnbuild(node: Node): Instruction {
  const trigger = node.trigger;
  if (!trigger) throw atLeastOne('ONBUILD');
  parseFlags(node.flags, {});
  const keyword = trigger.keyword.toUpperCase();
  if (keyword === 'ONBUILD') throw new LineError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (keyword === 'MAINTAINER' || keyword === 'FROM') throw new LineError(`${keyword} isn't allowed as an ONBUILD trigger`);
  let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const doc of trigger.heredocs) expression += `\n${doc.content}${doc.name}`;
  return { kind: 'ONBUILD', node, expression };
}

function parseHealthcheck(node: Node): Healthcheck {
  if (node.args.length === 0) throw atLeastOne('HEALTHCHECK');
  const type = node.args[0]!.toUpperCase();
  const rest = node.args.slice(1);
  if (type === 'NONE') {
    if (rest.length !== 0) throw new LineError('HEALTHCHECK NONE takes no arguments');
    return { test: ['NONE'] };
  }
  const f = parseFlags(node.flags, {
    interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string',
  });
  if (type !== 'CMD') throw new LineError(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  const command = node.json ? rest : rest.length ? [rest.join(' ')] : [];
  if (command.length === 0) throw new LineError('Missing command after HEALTHCHECK CMD');
  const health: Healthcheck = { test: [node.json ? 'CMD' : 'CMD-SHELL', ...command] };
  const interval = (flag: string): number | undefined => {
    const value = flagString(f, flag);
    if (value === undefined || value === '') return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(value);
    } catch (error) {
      throw new LineError((error as Error).message, { cause: error });
    }
    if (ns !== 0 && ns < 1e6) throw new LineError(`Interval ${JSON.stringify(flag)} cannot be less than 1ms`);
    return ns;
  };
  health.interval = interval('interval');
  health.timeout = interval('timeout');
  health.startPeriod = interval('start-period');
  health.startInterval = interval('start-interval');
  const retries = flagString(f, 'retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[-+]?\d+$/.test(retries)) throw new LineError(`strconv.ParseInt: parsing ${JSON.stringify(retries)}: invalid syntax`);
    const n = Number(retries);
    if (n < 0) throw new LineError(`--retries cannot be negative (${n})`);
    health.retries = n;
  }
  for (const key of Object.keys(health) as (keyof Healthcheck)[]) if (health[key] === undefined) delete health[key];
  return health;
}

const mountTypes = new Set(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);

/** `--mount=type=cache,target=/root/.cache,from=stage`: comma-separated fields; type defaults to bind. */
function parseMount(value: string): RunMount {
  const fields: Record<string, string> = {};
  for (const field of value.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0 && !['readonly', 'ro', 'readwrite', 'rw', 'required'].includes(key)) {
      throw new LineError(`invalid field '${field}' must be a key=value pair`);
    }
    fields[key] = eq < 0 ? 'true' : field.slice(eq + 1);
  }
  const type = (fields.type ?? 'bind').toLowerCase();
  if (!mountTypes.has(type)) throw new LineError(`unsupported mount type ${JSON.stringify(type)}`);
  delete fields.type;
  return { type, fields };
}
