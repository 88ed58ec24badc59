import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { ImageEngine } from '../../image-engine.js';
import { invalidArgument } from '../../errors.js';
import type { BuildReporter } from '../../builder/builder.js';
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
function transcript(quiet: boolean): BuildReporter {
  const line = quiet ? () => undefined : (text: string) => process.stdout.write(`${text}\n`);
  return {
    contextSize: (bytes) => line(`Sending build context to Strata ${humanSize(bytes, 4).padStart(8)}`),
    step: (index, total, text) => line(`Step ${index}/${total} : ${text}`),
    triggers: (count) => line(`# Executing ${count} build trigger${count === 1 ? '' : 's'}`),
    usingCache: () => line(' ---> Using cache'),
    runningIn: (id) => line(` ---> Running in ${shortId(id)}`),
    removingContainer: (id) => line(`Removing intermediate container ${shortId(id)}`),
    warning: (text) => line(text),
    stepResult: (id) => line(` ---> ${id ? shortId(id) : ''}`.trimEnd()),
    output: quiet ? new Writable({ write: (_chunk, _encoding, done) => done() }) : process.stdout,
  };
}

export async function buildCommand(engine: ImageEngine, contextPath: string, flags: BuildFlags) {
  if (flags.progress !== undefined && !['auto', 'plain', 'tty'].includes(flags.progress)) throw invalidArgument(`invalid progress mode ${JSON.stringify(flags.progress)}: use auto, plain or tty`);
  if (flags.network !== undefined && flags.network !== 'host' && flags.network !== 'none' && flags.network !== 'default') {
    throw invalidArgument(`network mode ${JSON.stringify(flags.network)} not supported by the builder: use host or none`);
  }
  if (flags.check) {
    const { parseDockerfile, toJson } = await import('../../builder/dockerfile/index.js');
    const { BuildContext } = await import('../../builder/context.js');
    const context = await BuildContext.open({ spec: contextPath, ...(flags.file !== undefined && { dockerfile: flags.file }) }, engine.buildCache);
    try {
      print(JSON.stringify(toJson(parseDockerfile(context.dockerfileText, flags.file ?? 'Dockerfile')), null, 2));
    } finally {
      context.close();
    }
    return;
  }
  const quiet = flags.quiet ?? false;
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
      ...(epoch !== undefined && { sourceDateEpoch: Number(epoch) }),
      pull: async (name) => {
        const { progressFor } = await import('../progress.js');
        await engine.pull(name, quiet ? { update: () => undefined, line: () => undefined } : progressFor(process.stdout));
      },
    },
    transcript(quiet),
  );
  if (flags.iidfile !== undefined) fs.writeFileSync(flags.iidfile, result.id);
  if (quiet) {
    print(result.id);
    return;
  }
  print(`Successfully built ${shortId(result.id)}`);
  for (const tag of result.tags) print(`Successfully tagged ${tag}`);
}

export async function builderPruneCommand(engine: ImageEngine, flags: { force?: boolean; all?: boolean }) {
  if (!flags.force && !(await (await import('../prompt.js')).confirm('WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?'))) return;
  const { deleted, reclaimed } = await engine.pruneBuildCache();
  if (deleted.length > 0) {
    print('Deleted build cache objects:');
    for (const id of deleted) print(shortId(id));
    process.stdout.write('\n');
  }
  print(`Total reclaimed space: ${humanSize(reclaimed)}`);
}
