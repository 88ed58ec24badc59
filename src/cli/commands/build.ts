import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { BuildOutput, ImageEngine } from '../../image-engine.js';
import { invalidArgument } from '../../errors.js';
import { type BuildReporter, type NamedContext, parseBuildContext } from '../../builder/builder.js';
import type { CheckResult } from '../../builder/checks.js';
import { classicTranscript } from '../../builder/transcript.js';
import type { MountInputs } from '../../builder/run-mounts.js';
import { parseCacheFrom, parseCacheTo } from '../../builder/cache-record.js';
import { parsePlatform } from '../../images/platform.js';
import { parseByteSize } from '../../containers/run-flags.js';
import { parseTimestamp } from '../../util/time.js';
import { shortId } from '../../util/digest.js';
import { humanSize } from '../format.js';
import { print } from '../run.js';

export interface BuildFlags {
  tag?: string[];
  file?: string;
  buildArg?: string[];
  target?: string;
  cache?: boolean;
  label?: string[];
  quiet?: boolean;
  iidfile?: string;
  progress?: string;
  network?: string;
  pull?: boolean;
  check?: boolean;
  printInstructions?: boolean;
  secret?: string[];
  ssh?: string[];
  output?: string;
  buildContext?: string[];
  platform?: string;
  cacheFrom?: string[];
  cacheTo?: string[];
  explain?: boolean;
}

/** `--build-context NAME=docker-image://REF` or `NAME=DIR`, as buildx takes them. */
function buildContexts(specs: readonly string[] = []): Record<string, NamedContext> {
  const contexts: Record<string, NamedContext> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw invalidArgument(`invalid build context ${JSON.stringify(spec)}: expected NAME=docker-image://REF or NAME=DIR`);
    const named = parseBuildContext(spec.slice(eq + 1));
    if ('dir' in named && !fs.existsSync(named.dir)) throw invalidArgument(`build context ${spec.slice(0, eq)}: ${named.dir} does not exist`);
    contexts[spec.slice(0, eq)] = named;
  }
  return contexts;
}

/** `--secret id=ID,src=FILE|env=VAR` (also `type=file|env`, `source=`), as buildx takes it. */
export function parseSecretFlags(specs: readonly string[] = []): NonNullable<MountInputs['secrets']> {
  const secrets: NonNullable<MountInputs['secrets']> = {};
  for (const spec of specs) {
    const fields = new Map<string, string>();
    for (const part of spec.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw invalidArgument(`invalid secret ${JSON.stringify(spec)}: expected id=ID,src=FILE or id=ID,env=VAR`);
      fields.set(part.slice(0, eq).toLowerCase(), part.slice(eq + 1));
    }
    const id = fields.get('id');
    if (!id) throw invalidArgument(`invalid secret ${JSON.stringify(spec)}: id is required`);
    for (const key of fields.keys()) if (!['id', 'src', 'source', 'env', 'type'].includes(key)) throw invalidArgument(`invalid secret ${JSON.stringify(spec)}: unexpected key '${key}'`);
    const file = fields.get('src') ?? fields.get('source');
    const type = fields.get('type') ?? (file !== undefined ? 'file' : 'env');
    if (type === 'file') {
      if (file === undefined) throw invalidArgument(`invalid secret ${JSON.stringify(spec)}: type=file needs src=FILE`);
      if (!fs.existsSync(file)) throw invalidArgument(`secret ${id}: ${file} does not exist`);
      secrets[id] = { file };
    } else if (type === 'env') {
      secrets[id] = { env: fields.get('env') ?? file ?? id };
    } else throw invalidArgument(`invalid secret ${JSON.stringify(spec)}: unsupported type "${type}"`);
  }
  return secrets;
}

/** `--ssh default` (the agent of $SSH_AUTH_SOCK) or `--ssh ID=SOCKET`. */
export function parseSshFlags(specs: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): NonNullable<MountInputs['ssh']> {
  const agents: NonNullable<MountInputs['ssh']> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const id = eq < 0 ? spec : spec.slice(0, eq);
    const socket = eq < 0 ? env.SSH_AUTH_SOCK : spec.slice(eq + 1).split(',')[0];
    if (!id || !socket) throw invalidArgument(`invalid ssh ${JSON.stringify(spec)}: ${eq < 0 ? 'SSH_AUTH_SOCK is not set' : 'expected ID=SOCKET'}`);
    if (!fs.existsSync(socket)) throw invalidArgument(`ssh ${id}: ${socket} does not exist`);
    agents[id] = path.resolve(socket);
  }
  return agents;
}

/** `K=V` pairs; a bare `K` takes the value from the environment, as Docker's --build-arg does (skipped if unset). */
function pairs(list: string[] | undefined, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq === 0) throw invalidArgument(`invalid key/value pair ${JSON.stringify(item)}: empty key`);
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (!fromEnv) out[item] = '';
    else if (process.env[item] !== undefined) out[item] = process.env[item]!;
  }
  return out;
}

/** The classic builder's transcript: `Step i/N : ...`, ` ---> Using cache`, ` ---> <id>`; nothing but the ID with -q. */
function transcript(quiet: boolean, out: Writable): BuildReporter {
  const line = quiet ? () => undefined : (text: string) => out.write(`${text}\n`);
  const output = quiet ? new Writable({ write: (_chunk, _encoding, done) => done() }) : out;
  return classicTranscript(line, output, (bytes) => line(`Sending build context to Strata ${humanSize(bytes, 4).padStart(8)}`));
}

/**
 * buildx's `--check` report: the count, then per warning its rule and URL, its message and the Dockerfile's
 * lines around it (BuildKit's source excerpt: `>>>` marks the warning's lines).
 */
export function formatCheckResults(results: readonly CheckResult[], dockerfileText: string): string {
  if (results.length === 0) return 'Check complete, no warnings found.\n';
  const lines = dockerfileText.split('\n');
  let out = `Check complete, ${results.length === 1 ? '1 warning has' : `${results.length} warnings have`} been found!\n`;
  for (const result of results) {
    out += `\nWARNING: ${result.rule} - ${result.url}\n${result.message}\n`;
    if (result.line < 1 || result.line > lines.length) continue;
    // BuildKit's padding of a one-line range: up to two lines each side, taken in turns.
    let start = result.line;
    let end = result.line;
    for (let padded = 0; padded < 4; padded++) {
      if (start > 1) {
        start--;
        padded++;
      }
      if (end !== lines.length) {
        end++;
        padded++;
      }
    }
    out += `${result.file}:${result.line}\n--------------------\n`;
    for (let i = start; i <= end; i++) out += ` ${String(i).padStart(3)} | ${i === result.line ? '>>>' : '   '} ${lines[i - 1]}\n`;
    out += '--------------------\n';
  }
  return out;
}

export async function buildCommand(engine: ImageEngine, contextPath: string, flags: BuildFlags) {
  if (flags.progress !== undefined && !['auto', 'plain', 'tty'].includes(flags.progress)) throw invalidArgument(`invalid progress mode ${JSON.stringify(flags.progress)}: use auto, plain or tty`);
  if (flags.network !== undefined && flags.network !== 'host' && flags.network !== 'none' && flags.network !== 'default') {
    throw invalidArgument(`network mode ${JSON.stringify(flags.network)} not supported by the builder: use host or none`);
  }
  if (flags.check || flags.printInstructions) {
    const { parseDockerfile, toJson } = await import('../../builder/dockerfile/index.js');
    const { BuildContext } = await import('../../builder/context.js');
    const context = await BuildContext.open({ spec: contextPath, ...(flags.file !== undefined && { dockerfile: flags.file }) }, engine.buildCache);
    const fileName = flags.file ?? 'Dockerfile';
    try {
      if (flags.printInstructions) {
        print(JSON.stringify(toJson(parseDockerfile(context.dockerfileText, fileName)), null, 2));
        return;
      }
      const { runChecks } = await import('../../builder/checks.js');
      const parsed = parseDockerfile(context.dockerfileText, fileName, { allowDuplicateStageNames: true });
      const results = runChecks(parsed, { buildArgs: pairs(flags.buildArg, true), ...(flags.target !== undefined && { target: flags.target }), ignored: (rel) => context.isIgnored(rel) });
      process.stdout.write(formatCheckResults(results, context.dockerfileText));
      // buildx's lint result carries status 1 whenever a check fired.
      if (results.length > 0) process.exitCode = 1;
    } finally {
      context.close();
    }
    return;
  }
  const quiet = flags.quiet ?? false;
  const output = flags.output === undefined ? undefined : parseOutputFlag(flags.output);
  // A tar on stdout leaves the transcript to stderr, as buildx does.
  const out = output?.type === 'tar' && output.dest === process.stdout ? process.stderr : process.stdout;
  const say = (text: string) => out.write(`${text}\n`);
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && !/^\d+$/.test(epoch)) throw invalidArgument(`invalid SOURCE_DATE_EPOCH ${JSON.stringify(epoch)}: expected seconds since 1970`);
  const result = await engine.build(
    {
      context: { spec: contextPath, ...(flags.file !== undefined && { dockerfile: flags.file }) },
      tags: flags.tag ?? [],
      buildArgs: pairs(flags.buildArg, true),
      ...(flags.target !== undefined && { target: flags.target }),
      noCache: flags.cache === false,
      labels: pairs(flags.label, false),
      ...(flags.network === 'none' && { network: 'none' as const }),
      secrets: parseSecretFlags(flags.secret),
      buildContexts: buildContexts(flags.buildContext),
      ssh: parseSshFlags(flags.ssh),
      ...(epoch !== undefined && { sourceDateEpoch: Number(epoch) }),
      ...(flags.platform && { platform: parsePlatform(flags.platform) }),
      cacheFrom: (flags.cacheFrom ?? []).map(parseCacheFrom),
      cacheTo: (flags.cacheTo ?? []).map(parseCacheTo),
      ...(flags.explain && { explain: true }),
      pull: async (name, platform) => {
        const { progressFor } = await import('../progress.js');
        await engine.pull(name, quiet ? { update: () => undefined, line: () => undefined } : progressFor(out), platform && { platform });
      },
    },
    transcript(quiet, out),
    output,
  );
  if (flags.iidfile !== undefined) fs.writeFileSync(flags.iidfile, result.id);
  if (quiet) {
    say(result.id);
    return;
  }
  say(`Successfully built ${shortId(result.id)}`);
  for (const tag of result.tags) say(`Successfully tagged ${tag}`);
}

/** `-o type=local,dest=DIR`, `-o type=tar,dest=FILE|-`, and buildx's short forms `-o DIR` and `-o -` (a tar on stdout). */
export function parseOutputFlag(spec: string): BuildOutput {
  if (!spec.includes('=')) return spec === '-' ? { type: 'tar', dest: process.stdout } : { type: 'local', dest: path.resolve(spec) };
  const fields = new Map(spec.split(',').map((part) => [part.slice(0, part.indexOf('=')).toLowerCase(), part.slice(part.indexOf('=') + 1)]));
  const type = fields.get('type') ?? 'local';
  const dest = fields.get('dest');
  if (type !== 'local' && type !== 'tar') throw invalidArgument(`unsupported output type "${type}": use local or tar`);
  if (!dest) throw invalidArgument(`output type ${type} needs dest=`);
  for (const key of fields.keys()) if (key !== 'type' && key !== 'dest') throw invalidArgument(`unexpected key '${key}' in output ${JSON.stringify(spec)}`);
  if (type === 'tar') return { type, dest: dest === '-' ? process.stdout : path.resolve(dest) };
  return { type, dest: path.resolve(dest) };
}

export async function builderPruneCommand(engine: ImageEngine, flags: { force?: boolean; all?: boolean; filter?: string[]; keepStorage?: string }) {
  const options = buildCachePruneOptions(flags.filter ?? [], flags.keepStorage);
  if (!flags.force && !(await (await import('../prompt.js')).confirm('WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?'))) return;
  const { deleted, reclaimed } = await engine.pruneBuildCache(options);
  if (deleted.length > 0) {
    print('Deleted build cache objects:');
    for (const id of deleted) print(shortId(id));
    process.stdout.write('\n');
  }
  print(`Total reclaimed space: ${humanSize(reclaimed)}`);
}

/** `builder prune --filter until=DURATION --keep-storage SIZE`, as Docker takes them; other filters are refused. */
export function buildCachePruneOptions(filters: readonly string[], keepStorage: string | undefined): { olderThan?: number; keepStorage?: number } {
  const options: { olderThan?: number; keepStorage?: number } = {};
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    if (key !== 'until' || eq < 0) throw invalidArgument(`invalid filter '${filter}': builder prune takes until=DURATION`);
    options.olderThan = parseTimestamp(filter.slice(eq + 1));
  }
  if (keepStorage !== undefined) options.keepStorage = parseByteSize(keepStorage, '--keep-storage');
  return options;
}
