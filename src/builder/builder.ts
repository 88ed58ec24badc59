/**
 * The builder: a parsed Dockerfile, planned (global ARGs, the stages the target needs, base images pulled),
 * then executed step by step as Docker's classic builder does. Every step makes an image: RUN by running the
 * command in a container of the previous step's image and committing its read-write layer, COPY/ADD by
 * writing a layer straight from the sources, every other instruction by changing the config only. A step is
 * taken from the build cache when its parent image, its expanded instruction and (COPY/ADD) its sources'
 * checksum match a step built before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ExitStatusError, invalidArgument, StrataError, unsupported } from '../errors.js';
import { canonicalJson, type ContainerConfig, type ImageConfig } from '../images/model.js';
import { defaultPathEnv } from '../containers/run-flags.js';
import { formatPlatform, hostPlatform, normalPlatform, parsePlatform, type Platform, platformMatches } from '../images/platform.js';
import { familiarString, formatReference, parseReference } from '../images/reference.js';
import type { NewLayer } from '../images/store.js';
import { parseConfig } from '../images/validate.js';
import type { CacheFromSpec, CacheStep, CacheToSpec } from './cache-record.js';
import type { ImportedCache } from './cache-transport.js';
import { matchingStep, restoredConfig } from './classic-cache.js';
import type { ImageRecord } from '../images/records.js';
import type { Digest } from '../util/digest.js';
import { UnionView } from '../layers/union.js';
import type { BuildBackend, StepContainer } from './backend.js';
import { type MountInputs, type MountPlan, mountsKey, type PreparedMounts, planMounts, prepareMounts } from './run-mounts.js';
import { BuildContext, type ContextSource, hashFile } from './context.js';
import type { CopyPlan } from './copy.js';
import { type CopySource, gatherSources, listedTree, selectSources, sourceFiles, sourcesChecksum } from './sources.js';
import { explainMiss, type StepInputs } from './explain.js';
import { isGitSource } from './git-source.js';
import {
  type AddInstruction,
  baseStage,
  type CopyInstruction,
  expandBuild,
  expandFrom,
  type ExpandedStage,
  fromReference,
  type Instruction,
  parseDockerfile,
  type ParsedDockerfile,
  proxyArgs,
  resolveGlobalArgs,
  stagesForTarget,
} from './dockerfile/index.js';
import { applyMetadata, cacheKey, chownIds, copyCreatedBy, joinWorkdir, nopCreatedBy, parseChmod, runCommand, runCreatedBy, runSettings } from './steps.js';

/** What the builder tells its caller as it goes: the classic builder's transcript, as events. */
export interface BuildReporter {
  contextSize(bytes: number): void;
  step(index: number, total: number, text: string): void;
  triggers(count: number): void;
  usingCache(): void;
  runningIn(containerId: string): void;
  removingContainer(containerId: string): void;
  stepResult(imageId: Digest | undefined): void;
  warning(text: string): void;
  /** `--explain`: why the step just announced missed the cache. */
  cacheMiss?(reason: string): void;
  /** Where RUN's output goes. */
  output: Writable;
}

export interface BuildOptions extends MountInputs {
  context: ContextSource;
  /** `--build-context NAME=...`: names FROM, COPY --from and RUN --mount from= take before stages' and images'. */
  buildContexts?: Record<string, NamedContext>;
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  labels?: Record<string, string>;
  /** Network of RUN containers: host (default) or none. */
  network?: 'host' | 'none';
  /** SOURCE_DATE_EPOCH: the time of every image, history entry and layer entry of the build. */
  sourceDateEpoch?: number;
  /** `--platform`: the platform the target is built for (TARGETPLATFORM, the bases' platform); default this machine's. */
  platform?: Platform;
  /** `--cache-from type=registry|local`: caches made elsewhere, consulted after the store's own. */
  cacheFrom?: CacheFromSpec[];
  /** `--cache-to`: where this build's step cache goes once it is built; max also carries its cache mounts. */
  cacheTo?: CacheToSpec[];
  /** `--explain`: say why each step that misses the cache missed. */
  explain?: boolean;
  /** Pulls a base image the store lacks (or has for another platform only); without it a missing base is an error. */
  pull?: (name: string, platform?: Platform) => Promise<void>;
}

export interface BuildResult {
  id: Digest;
  tags: string[];
}

/** The image a stage has reached: its record (none yet for `FROM scratch`), its config, whether CMD was set. */
interface StageState {
  image?: ImageRecord;
  /** A step image an imported cache has, not made in the store until the build needs its files (`settle`). */
  imported?: { id: Digest; from: ImportedCache };
  config: ImageConfig;
  cmdSet: boolean;
}

/** mode=max carries a cache mount up to this size (BuildKit carries none; a warm npm or pip cache is well under). */
const cacheMountExportLimit = 1 << 30;

/** What `--cache-from IMAGE` matches a step by: its parent, its history entry's text, the config it makes. */
interface ClassicStep {
  state: StageState;
  createdBy: string;
  config: ContainerConfig;
}

/** The image a stage has reached, by ID: in the store or in an imported cache; 'scratch' before any. */
const idOf = (state: StageState): string => state.image?.id ?? state.imported?.id ?? 'scratch';

export class BuildFailure extends ExitStatusError {}

export async function build(backend: BuildBackend, options: BuildOptions, report: BuildReporter): Promise<BuildResult> {
  // Bad names fail before any work is done.
  const tags = (options.tags ?? []).map((tag) => parseReference(tag));
  for (const tag of tags) {
    if (tag.digest !== undefined) throw invalidArgument(`invalid tag ${JSON.stringify(familiarString(tag))}: a tag cannot hold a digest`);
  }
  const context = await BuildContext.open(options.context, backend.cache);
  try {
    const parsed = parseDockerfile(context.dockerfileText, options.context.dockerfile ?? 'Dockerfile');
    const builder = new Builder(backend, options, report, context, parsed);
    try {
      const id = await builder.buildTarget();
      backend.images.records.transaction(() => {
        for (const tag of tags) backend.images.records.tag(formatReference(tag), id);
      });
      await builder.exportCaches(id);
      return { id, tags: tags.map(familiarString) };
    } finally {
      builder.saveSteps();
      builder.closeNamedContexts();
    }
  } finally {
    context.close();
  }
}

/** `--build-context NAME=VALUE`: an image (`docker-image://REF`) or a local directory, under a name a Dockerfile uses. */
export type NamedContext = { image: string } | { dir: string };

export function parseBuildContext(value: string): NamedContext {
  if (value.startsWith('docker-image://')) {
    const image = value.slice('docker-image://'.length);
    if (!image) throw invalidArgument(`invalid build context "${value}": docker-image:// needs an image reference`);
    return { image };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw unsupported(`build context "${value}": only docker-image:// and local directories are supported`);
  return { dir: path.resolve(value) };
}

class Builder {
  /** The local directories of `--build-context`, opened (with their .dockerignore) when first used. */
  private readonly namedContexts = new Map<string, Promise<BuildContext>>();
  private readonly created: string;
  private readonly layerTime: Date;
  private readonly stageResults = new Map<number, StageState>();
  private readonly triggerNodes = new Set<Instruction['node']>();
  /** `--cache-from` caches that opened. */
  private imports: ImportedCache[] = [];
  /** `--cache-from IMAGE`s (the classic builder's): once one matches a step, only it is asked after. */
  private cacheImages: ImageRecord[] = [];
  /** Every step this build took or built, in order: what `--cache-to` exports and the store's cache records. */
  private readonly usedSteps: CacheStep[] = [];
  /** What the last build of this context, Dockerfile and target saw at each step (`--explain`'s baseline), and this one. */
  private readonly lastSteps: Map<string, StepInputs>;
  private readonly thisBuild = new Map<string, StepInputs>();
  /** Images this build made on a cache miss, with the step that missed first in their chain. */
  private readonly missedAt = new Map<string, string>();
  /** Directory names of the cache mounts RUN steps used (mode=max carries them). */
  private readonly usedCacheMounts = new Set<string>();

  constructor(
    private readonly backend: BuildBackend,
    private readonly options: BuildOptions,
    private readonly reporter: BuildReporter,
    private readonly context: BuildContext,
    private readonly parsed: ParsedDockerfile,
  ) {
    this.lastSteps = backend.cache.lastSteps(this.scope);
    const epoch = options.sourceDateEpoch;
    this.created = (epoch === undefined ? new Date() : new Date(epoch * 1000)).toISOString();
    // Reproducible by default: COPY/ADD entries get SOURCE_DATE_EPOCH, or the epoch itself.
    this.layerTime = new Date((epoch ?? 0) * 1000);
  }

  async buildTarget(): Promise<Digest> {
    const { parsed, options } = this;
    await this.openImports();
    const buildArgs = options.buildArgs ?? {};
    const targetPlatform = options.platform && formatPlatform(normalPlatform(options.platform));
    const platformOptions = { buildArgs, target: options.target, ...(targetPlatform !== undefined && { targetPlatform }) };
    const globalArgs = resolveGlobalArgs(parsed, platformOptions);
    const froms = parsed.stages.map((stage) => expandFrom(parsed, stage, globalArgs));
    const bases = froms.map((from) => from.base);
    const needed = stagesForTarget(parsed, options.target, bases);
    // Each stage's base image, by stage index; a name is looked up (or pulled) once per platform.
    const baseImages = new Map<number, ImageRecord>();
    const found = new Map<string, ImageRecord>();
    for (const index of needed) {
      const base = bases[index]!;
      if (base === 'scratch' || baseStage(parsed.stages, base, index)) continue;
      const platform = this.stagePlatform(froms[index]!.platform, index);
      const key = `${base}\0${platform ? formatPlatform(platform) : ''}`;
      if (!found.has(key)) found.set(key, await this.baseImage(base, platform));
      baseImages.set(index, found.get(key)!);
      this.addTriggers(index, found.get(key)!);
    }
    this.addLabels(needed.at(-1)!);
    const expanded = expandBuild(parsed, {
      ...platformOptions,
      baseEnv: (base, index) => (base === 'scratch' ? withPath([]) : (withDefaultPath(this.backend.images.config(baseImages.get(index)!.id)).config?.Env ?? [])),
    });
    this.reporter.contextSize(this.context.size());

    const stepsOf = (stage: ExpandedStage) => 1 + stage.steps.filter((s) => !this.triggerNodes.has(s.instruction.node)).length;
    const total = expanded.stages.reduce((sum, stage) => sum + stepsOf(stage), 0);
    // Stages run as soon as the stages they use are built, independent ones at once (as BuildKit's solver runs
    // them); each stage's transcript is held until the stages before it have printed theirs, so it reads in order.
    const transcripts = expanded.stages.map(() => new StageTranscript(this.reporter));
    const results = new Map<number, Promise<StageState>>();
    let first = 0;
    expanded.stages.forEach((stage, i) => {
      const firstStep = first;
      first += stepsOf(stage);
      const result = (async () => {
        await Promise.all(this.stageDependencies(stage).map((dep) => results.get(dep)));
        return stageReport.run(transcripts[i]!, () => this.buildStage(stage, baseImages, firstStep, total));
      })();
      result.catch(() => undefined); // awaited below, in order; a later stage's failure is not unhandled meanwhile
      results.set(stage.index, result);
    });
    let last: StageState | undefined;
    let failure: unknown;
    for (const [i, stage] of expanded.stages.entries()) {
      transcripts[i]!.live();
      try {
        last = await results.get(stage.index);
      } catch (error) {
        failure = error;
        break;
      }
    }
    // Every stage ends (its containers removed) before the build does.
    await Promise.allSettled(results.values());
    if (failure !== undefined) throw failure;
    const declared = new Set([...parsed.metaArgs, ...expanded.needed.flatMap((i) => parsed.stages[i]!.instructions)].flatMap((inst) => (inst.kind === 'ARG' ? inst.args.map((a) => a.key) : [])));
    const unused = Object.keys(buildArgs).filter((key) => !declared.has(key) && !proxyArgs.includes(key) && !expanded.globalArgs.has(key));
    if (unused.length > 0) this.reporter.warning(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);
    // A Dockerfile of FROM lines only still names an image: the base's own (`FROM busybox` builds busybox).
    if (!last || idOf(last) === 'scratch') throw invalidArgument('the build produced no image: the target stage is empty (FROM scratch and nothing else)');
    const target = (await this.settle(last)).image!;
    // Steps taken from an imported cache are the store's own from now on, where their images were made.
    for (const step of this.usedSteps) if (this.backend.images.records.get(step.image)) this.backend.cache.recordStep(step.key, step.step, step.image);
    return target.id;
  }

  /** One stage, step by step, its transcript numbered from `firstStep`. */
  private async buildStage(stage: ExpandedStage, baseImages: Map<number, ImageRecord>, firstStep: number, total: number): Promise<StageState> {
    let index = firstStep;
    const from = this.parsed.stages[stage.index]!.from;
    this.report.step(++index, total, from.node.original);
    let state = this.startStage(stage, baseImages);
    this.report.stepResult(state.image?.id);
    const triggers = stage.steps.filter((s) => this.triggerNodes.has(s.instruction.node)).length;
    if (triggers > 0) this.report.triggers(triggers);
    let trigger = 0;
    for (const step of stage.steps) {
      const isTrigger = this.triggerNodes.has(step.instruction.node);
      if (!isTrigger) this.report.step(++index, total, step.instruction.node.original);
      // A step's number in the transcript (a trigger's, its FROM's and its own): `--explain` compares by it.
      const position = isTrigger ? `${index}.${++trigger}` : String(index);
      state = await this.execute(state, step.instruction, step.args, step.proxyEnv, position);
      if (!isTrigger) this.report.stepResult(idOf(state) === 'scratch' ? undefined : (idOf(state) as Digest));
    }
    this.stageResults.set(stage.index, state);
    return state;
  }

  /** The stages a stage needs built first: its base stage, and those its COPY --from and RUN --mount from= name. */
  private stageDependencies(stage: ExpandedStage): number[] {
    const refs = this.parsed.stages[stage.index]!.instructions.flatMap((inst) => [
      ...(inst.kind === 'COPY' && inst.from !== undefined ? [inst.from] : []),
      ...(inst.kind === 'RUN' ? inst.mounts.flatMap((mount) => (mount.fields.from !== undefined ? [mount.fields.from] : [])) : []),
    ]);
    const deps = refs.flatMap((ref) => {
      const dep = fromReference(this.parsed.stages, ref);
      return dep ? [dep.index] : [];
    });
    return [...new Set([...(stage.baseStage !== undefined ? [stage.baseStage] : []), ...deps])];
  }

  /** The reporter of the stage running now (each stage writes to its own transcript), else the build's. */
  private get report(): BuildReporter {
    return stageReport.getStore() ?? this.reporter;
  }

  /** A `--build-context` that is a directory, as a context of its own; undefined for other names. */
  private namedContext(name: string): Promise<BuildContext> | undefined {
    const named = this.options.buildContexts?.[name];
    if (!named || !('dir' in named) || fromReference(this.parsed.stages, name)) return undefined;
    let opened = this.namedContexts.get(name);
    if (!opened) {
      opened = BuildContext.open({ spec: named.dir, withoutDockerfile: true }, this.backend.cache);
      this.namedContexts.set(name, opened);
    }
    return opened;
  }

  closeNamedContexts(): void {
    for (const opened of this.namedContexts.values()) void opened.then((context) => context.close(), () => undefined);
  }

  /** A stage's platform: its `FROM --platform` (expanded), else `--platform`; undefined for this machine's. */
  private stagePlatform(fromPlatform: string | undefined, index: number): Platform | undefined {
    if (fromPlatform === undefined) return this.options.platform;
    try {
      return parsePlatform(fromPlatform);
    } catch (error) {
      throw invalidArgument(`${this.parsed.fileName}:${this.parsed.stages[index]!.from.node.startLine}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * A base image from the store (of `platform`, when one is asked for), pulled when missing or of another platform
   * and a puller was given.
   */
  private async baseImage(name: string, platform?: Platform): Promise<ImageRecord> {
    const named = this.options.buildContexts?.[name];
    if (named && 'image' in named) return this.baseImage(named.image, platform);
    if (named) return this.directoryBase(name, platform);
    const found = this.backend.images.find(name);
    const actual = found && this.platformOf(found);
    // Held at once, so a prune cannot take it while the build stands on it (one it took a moment ago is missing).
    if (found && (!platform || platformMatches(actual!, platform)) && (this.backend.lease?.hold(found.id) ?? true)) return found;
    if (!this.options.pull) {
      if (found && platform) throw invalidArgument(`image with reference ${name} was found but does not match the specified platform: wanted ${formatPlatform(platform)}, actual: ${formatPlatform(actual!)}`);
      throw invalidArgument(`pull access denied for ${name}: the image is not in the store (strata pull ${name})`);
    }
    await this.options.pull(name, platform);
    const pulled = this.backend.images.resolve(name);
    this.backend.lease?.hold(pulled.id);
    return pulled;
  }

  /**
   * `FROM NAME` of a `--build-context NAME=DIR`: the directory (its .dockerignore applied) as the only layer of
   * an image without config, as BuildKit bases a stage on a local context; cached by the files' checksum.
   */
  private async directoryBase(name: string, platform: Platform | undefined): Promise<ImageRecord> {
    const context = await this.namedContext(name)!;
    const sources = selectSources(listedTree(context.dir, context.entries()), ['.'], 'FROM');
    const checksum = sourcesChecksum(sources, (_source, file) => context.digest({ rel: file.rel, stat: file.stat }));
    const { os, architecture, variant } = normalPlatform(platform ?? hostPlatform());
    const scratch: StageState = { config: { os, architecture, ...(variant !== undefined && { variant }), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] }, cmdSet: false };
    const key = cacheKey('FROM directory', formatPlatform(scratch.config), checksum);
    const cached = this.cachedImage(key);
    if (cached) return cached;
    const { writeCopyLayer } = await import('./copy.js');
    const layer = await this.backend.images.makeLayer([], 'FROM', (sink) => writeCopyLayer({ sources, dest: '/', mtime: this.layerTime, instruction: 'FROM' }, new UnionView([]), sink));
    const image = await this.commit(scratch, { config: {}, createdBy: `FROM ${name}`, layer });
    this.backend.cache.recordStep(key, key, image.id);
    return image;
  }

  private platformOf(image: ImageRecord): Platform {
    const { os, architecture, variant } = this.backend.images.config(image.id);
    return { os, architecture, ...(variant !== undefined && { variant }) };
  }

  /** ONBUILD triggers of a base image run first in the stage that uses it. */
  private addTriggers(index: number, image: ImageRecord): void {
    const triggers = this.backend.images.config(image.id).config?.OnBuild ?? [];
    if (triggers.length === 0) return;
    const parsedTriggers = parseDockerfile(`FROM scratch\n${triggers.join('\n')}\n`, `${image.id.slice(7, 19)} ONBUILD`).stages[0]!.instructions;
    for (const inst of parsedTriggers) {
      if (inst.kind === 'ONBUILD') throw invalidArgument('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      this.triggerNodes.add(inst.node);
    }
    const stage = this.parsed.stages[index]!;
    stage.instructions.unshift(...parsedTriggers);
  }

  /** `--label k=v`: a LABEL step at the end of the target stage, as Docker's classic builder adds it. */
  private addLabels(target: number): void {
    const labels = Object.entries(this.options.labels ?? {});
    if (labels.length === 0) return;
    const text = `LABEL ${labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`;
    const [label] = parseDockerfile(`FROM scratch\n${text}\n`, '--label').stages[0]!.instructions;
    this.parsed.stages[target]!.instructions.push(label!);
  }

  private startStage(stage: ExpandedStage, baseImages: Map<number, ImageRecord>): StageState {
    if (stage.baseStage !== undefined) return { ...this.stageResults.get(stage.baseStage)!, cmdSet: false };
    if (stage.base === 'scratch') {
      const { os, architecture, variant } = normalPlatform(this.stagePlatform(stage.platform, stage.index) ?? hostPlatform());
      return { config: withDefaultPath({ os, architecture, ...(variant !== undefined && { variant }), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] }), cmdSet: false };
    }
    const image = baseImages.get(stage.index)!;
    return { image, config: withDefaultPath(this.backend.images.config(image.id)), cmdSet: false };
  }

  private async execute(state: StageState, inst: Instruction, args: [string, string][], proxyEnv: [string, string][], position: string): Promise<StageState> {
    switch (inst.kind) {
      case 'RUN':
        return this.runStep(state, inst, args, proxyEnv, position);
      case 'COPY':
      case 'ADD':
        return this.copy(state, inst, position);
      default: {
        const runtime = state.config.config ?? {};
        const { config, text, author } = applyMetadata(runtime, inst, state.cmdSet);
        // The comment is made with the config after the step: SHELL's own entry already names the new shell.
        const createdBy = nopCreatedBy(config, text);
        const key = cacheKey(idOf(state), createdBy, JSON.stringify(config), author ?? '');
        const cmdSet = state.cmdSet || inst.kind === 'CMD';
        const inputs = { parent: idOf(state), text: createdBy, env: config.Env ?? [] };
        return this.cachedOr(key, cmdSet, { position, inputs }, async () => this.commit(state, { config, createdBy, author }), { state, createdBy, config });
      }
    }
  }

  /** Reuses the step cached under `key`, or builds it and remembers it (the key is the whole step: no sources). */
  private async cachedOr(key: string, cmdSet: boolean, seen: { position: string; inputs: StepInputs }, make: () => Promise<ImageRecord>, classic?: ClassicStep): Promise<StageState> {
    const cached = await this.lookup(key, key, cmdSet, classic);
    if (cached) {
      this.thisBuild.set(seen.position, seen.inputs);
      return cached;
    }
    this.missed(seen.position, seen.inputs);
    const image = await make();
    this.remember(key, key, image.id);
    this.madeOnMiss(image.id, seen);
    return this.stateOf(image, cmdSet);
  }

  /** The build's identity for `--explain`: its context as given, its Dockerfile and its target. */
  private get scope(): string {
    const { context, target } = this.options;
    return cacheKey('steps', context.spec === '-' ? '-' : path.resolve(context.spec), context.dockerfile ?? 'Dockerfile', target ?? '');
  }

  /** A step missed the cache: with `--explain`, why, in the transcript before it runs. */
  private missed(position: string, inputs: StepInputs): void {
    this.thisBuild.set(position, inputs);
    if (!this.options.explain) return;
    const parentMissedAt = this.missedAt.get(inputs.parent);
    this.report.cacheMiss?.(explainMiss(this.lastSteps.get(position), inputs, { noCache: this.options.noCache === true, ...(parentMissedAt !== undefined && { parentMissedAt }) }));
  }

  /** An image a missed step made: every step built on it misses because of the first miss of its chain. */
  private madeOnMiss(image: Digest, seen: { position: string; inputs: StepInputs }): void {
    this.missedAt.set(image, this.missedAt.get(seen.inputs.parent) ?? seen.position);
  }

  /** This build's steps become the baseline of the next `--explain` (steps it did not reach keep theirs). */
  saveSteps(): void {
    this.backend.cache.saveSteps(this.scope, new Map([...this.lastSteps, ...this.thisBuild]));
  }

  /**
   * The step cached under `key` (`step`: its key without the sources' checksum), with "Using cache" in the
   * transcript: from the store, held for this build, else from an imported cache, its image made only when needed.
   */
  private async lookup(key: string, step: string, cmdSet: boolean, classic?: ClassicStep): Promise<StageState | undefined> {
    const local = this.cachedImage(key);
    if (local) {
      this.report.usingCache();
      this.usedSteps.push({ key, step, image: local.id });
      return this.stateOf(local, cmdSet);
    }
    if (this.options.noCache) return undefined;
    for (const from of this.imports) {
      const id = from.imageFor(key);
      if (!id) continue;
      let config: ImageConfig;
      try {
        config = parseConfig(await from.config(id), `cache ${from.name} config ${id}`);
      } catch (error) {
        this.report.warning(`[Warning] cache from ${from.name}: ${(error as Error).message}`);
        continue;
      }
      this.report.usingCache();
      this.usedSteps.push({ key, step, image: id });
      const inStore = this.backend.images.records.get(id);
      if (inStore && (this.backend.lease?.hold(id) ?? true)) return this.stateOf(inStore, cmdSet);
      return { imported: { id, from }, config, cmdSet };
    }
    const restored = classic && (await this.fromCacheImages(classic));
    if (!restored) return undefined;
    this.report.usingCache();
    this.remember(key, step, restored.id);
    return this.stateOf(restored, cmdSet);
  }

  /**
   * `--cache-from IMAGE`: the step's image from an image whose history goes through the step's parent and then
   * this instruction (moby's image cache): the image itself at its last entry, else one restored from it.
   */
  private async fromCacheImages({ state, createdBy, config }: ClassicStep): Promise<ImageRecord | undefined> {
    const parent = state.image || state.imported ? state.config : undefined;
    for (const candidate of this.cacheImages) {
      const candidateConfig = this.backend.images.config(candidate.id);
      const match = matchingStep(candidateConfig, parent, createdBy);
      if (!match) continue;
      this.cacheImages = [candidate];
      if (match.last && (this.backend.lease?.hold(candidate.id) ?? true)) return candidate;
      const settled = await this.settle(state);
      const layers = settled.image ? this.backend.images.parentLayers(settled.image) : [];
      const candidateLayers = this.backend.images.parentLayers(candidate);
      const { id } = this.backend.images.add({
        config: canonicalJson(restoredConfig(candidateConfig, parent, config, match.layer)),
        layers: [...layers, ...(match.layer !== undefined ? [candidateLayers[match.layer]!] : [])],
        ...(settled.image && { parent: settled.image.id }),
        ...(this.backend.lease && { lease: this.backend.lease.id }),
      });
      return this.backend.images.records.get(id);
    }
    return undefined;
  }

  /** Records a step this build made, in the store's cache and for `--cache-to`. */
  private remember(key: string, step: string, image: Digest): void {
    this.backend.cache.recordStep(key, step, image);
    this.usedSteps.push({ key, step, image });
  }

  /** Whether any cache (the store's, an imported one) has a step of this key without its sources' checksum. */
  private hasStep(step: string): boolean {
    return !this.options.noCache && (this.backend.cache.hasStep(step) || this.imports.some((from) => from.hasStep(step)));
  }

  /**
   * The stage's state with its image in the store: a step image of an imported cache is made now (its
   * parents first, only the layers the store lacks downloaded). A cache that fails here fails the build.
   */
  private async settle(state: StageState): Promise<StageState> {
    if (!state.imported) return state;
    const image = await state.imported.from.materialize(this.backend.images, state.imported.id, this.backend.lease);
    return { image, config: state.config, cmdSet: state.cmdSet };
  }

  /** `--cache-from`: each cache opened; one that cannot be read is a warning, and the build goes on without it. */
  private async openImports(): Promise<void> {
    if (this.options.noCache) return;
    for (const spec of this.options.cacheFrom ?? []) {
      if (spec.type === 'image') {
        const image = await this.cacheImage(spec.ref);
        if (image) this.cacheImages.push(image);
        continue;
      }
      const name = spec.type === 'registry' ? spec.ref : spec.dir;
      try {
        const { ImportedCache, openLocation } = await import('./cache-transport.js');
        const from = await ImportedCache.open(openLocation(spec));
        from.prefetchConfigs();
        await from.restoreMounts(this.backend.cacheMountsDir);
        this.imports.push(from);
      } catch (error) {
        this.reporter.warning(`[Warning] cache from ${name} not used: ${(error as Error).message}`);
      }
    }
  }

  /** A `--cache-from IMAGE`: from the store, else pulled; one that cannot be had is a warning, as the build goes on. */
  private async cacheImage(ref: string): Promise<ImageRecord | undefined> {
    try {
      const found = this.backend.images.find(ref);
      if (found && (this.backend.lease?.hold(found.id) ?? true)) return found;
      if (!this.options.pull) throw invalidArgument('the image is not in the store');
      await this.options.pull(ref, this.options.platform);
      const pulled = this.backend.images.resolve(ref);
      return this.backend.lease?.hold(pulled.id) === false ? undefined : pulled;
    } catch (error) {
      this.reporter.warning(`[Warning] cache from ${ref} not used: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** `--cache-to`: the steps (mode=min: those of the target image's chain) and, for mode=max, the cache mounts. */
  async exportCaches(target: Digest): Promise<void> {
    const specs = this.options.cacheTo ?? [];
    if (specs.length === 0) return;
    const chain = new Set<Digest>();
    for (let id: Digest | null = target; id !== null; id = this.backend.images.records.get(id)?.parent ?? null) chain.add(id);
    const [{ exportCache, openLocation, tarMounts }, { stepsToExport }] = await Promise.all([import('./cache-transport.js'), import('./cache-record.js')]);
    for (const spec of specs) {
      const steps = stepsToExport(this.usedSteps.map((step) => ({ ...step, inTarget: chain.has(step.image) })), spec.mode);
      const mounts = spec.mode === 'max' ? await tarMounts(this.backend.cacheMountsDir, this.usedCacheMounts, this.backend.images.content.ingestDir, cacheMountExportLimit, (text) => this.reporter.warning(text)) : [];
      try {
        // A step taken from an imported cache whose image this build never needed is made now: the export carries it.
        for (const step of steps) {
          const from = this.imports.find((imported) => imported.imageFor(step.key) === step.image);
          if (from && !this.backend.images.records.get(step.image)) await from.materialize(this.backend.images, step.image, this.backend.lease);
        }
        await exportCache(this.backend.images, openLocation(spec), steps, mounts);
      } catch (error) {
        const name = spec.type === 'registry' ? spec.ref : spec.dir;
        if (spec.ignoreError) {
          this.reporter.warning(`[Warning] exporting the build cache to ${name}: ${(error as Error).message}`);
          continue;
        }
        throw new StrataError(error instanceof StrataError ? error.code : 'unavailable', `exporting the build cache to ${name}: ${(error as Error).message}`, { cause: error });
      } finally {
        for (const mount of mounts) fs.rmSync(mount.tar, { force: true });
      }
    }
  }

  private cachedImage(key: string): ImageRecord | undefined {
    if (this.options.noCache) return undefined;
    const id = this.backend.cache.cachedStep(key);
    const image = id && this.backend.images.records.get(id);
    return image && (this.backend.lease?.hold(image.id) ?? true) ? image : undefined;
  }

  private stateOf(image: ImageRecord, cmdSet: boolean): StageState {
    return { image, config: this.backend.images.config(image.id), cmdSet };
  }

  /** A new image on top of the stage's: the config and history entry, and the layer when the step made one. */
  private async commit(unsettled: StageState, step: { config: ContainerConfig; createdBy: string; author?: string; layer?: NewLayer }): Promise<ImageRecord> {
    const state = await this.settle(unsettled);
    const { container: _container, container_config: _containerConfig, ...base } = state.config;
    const diffIds = [...base.rootfs.diff_ids, ...(step.layer ? [step.layer.diffId] : [])];
    const config: ImageConfig = {
      ...base,
      created: this.created,
      ...(step.author !== undefined && { author: step.author }),
      config: step.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [...(base.history ?? []), { created: this.created, created_by: step.createdBy, ...(!step.layer && { empty_layer: true }) }],
    };
    const parentLayers = state.image ? this.backend.images.parentLayers(state.image) : [];
    const { id } = this.backend.images.add({
      config: canonicalJson(config),
      layers: [...parentLayers, ...(step.layer ? [step.layer] : [])],
      ...(state.image && { parent: state.image.id }),
      ...(this.backend.lease && { lease: this.backend.lease.id }),
    });
    return this.backend.images.records.get(id)!;
  }

  private async runStep(state: StageState, inst: Extract<Instruction, { kind: 'RUN' }>, args: [string, string][], proxyEnv: [string, string][], position: string): Promise<StageState> {
    const runtime = state.config.config ?? {};
    if (inst.network !== undefined && !['default', 'none', 'host'].includes(inst.network)) {
      throw invalidArgument(`${this.where(inst)}: unsupported network mode "${inst.network}": use default, none or host`);
    }
    let plans: MountPlan[];
    try {
      plans = planMounts(inst.mounts, runtime.WorkingDir);
    } catch (error) {
      throw invalidArgument(`${this.where(inst)}: ${(error as Error).message}`, { cause: error });
    }
    const command = runCommand(runtime, inst);
    const createdBy = runCreatedBy(command, args);
    const mountPart = plans.length === 0 ? [] : [mountsKey(plans, (plan) => this.bindContent(plan))];
    const key = cacheKey(idOf(state), 'RUN', createdBy, inst.network === 'default' ? '' : (inst.network ?? ''), ...mountPart);
    const inputs = { parent: idOf(state), text: [createdBy, inst.network ?? '', ...mountPart].join(' '), args: Object.fromEntries(args) };
    return this.cachedOr(key, state.cmdSet, { position, inputs }, async () => {
      state = await this.settle(state);
      if (!state.image) throw invalidArgument(`${this.where(inst)}: RUN needs a filesystem, but the stage has none yet (FROM scratch)`);
      const network = inst.network === 'none' ? 'none' : (this.options.network ?? 'host');
      let prepared: PreparedMounts;
      try {
        prepared = await prepareMounts(plans, {
          cacheDir: this.backend.cacheMountsDir,
          contextDir: this.context.dir,
          ...(this.options.secrets && { secrets: this.options.secrets }),
          ...(this.options.ssh && { ssh: this.options.ssh }),
          rootfsOf: (ref) => this.rootfsOf(ref),
        });
      } catch (error) {
        throw invalidArgument(`${this.where(inst)}: ${(error as Error).message}`, { cause: error });
      }
      for (const dir of prepared.cacheDirs) this.usedCacheMounts.add(dir);
      const settings = { ...runSettings(runtime, command, [...args, ...proxyEnv], network), mounts: prepared.mounts };
      settings.env.push(...prepared.env);
      let container: StepContainer;
      try {
        container = await this.backend.createContainer(state.image.id, settings);
      } catch (error) {
        await prepared.release();
        throw error;
      }
      try {
        this.report.runningIn(container.id);
        const code = await container.run(this.report.output);
        // docker build exits with the failed command's own code.
        if (code !== 0) throw new BuildFailure(code, `The command '${command.join(' ')}' returned a non-zero code: ${code}`);
        const layer = await this.layerFromDir(state, container.upperDir());
        this.report.removingContainer(container.id);
        return await this.commit(state, { config: runtime, createdBy, ...(layer && { layer }) });
      } finally {
        await container.remove();
        await prepared.release();
      }
    }, { state, createdBy, config: runtime });
  }

  /** What a bind mount shows, for the cache key: a stage's or image's ID, or the context's files under the source. */
  private bindContent(plan: Extract<MountPlan, { type: 'bind' }>): string {
    if (plan.from !== undefined) return `from ${plan.from}`;
    const prefix = plan.source.replace(/^\.?\/+|\/+$/g, '').replace(/^\.$/, '');
    const hash = createHash('sha256');
    for (const entry of this.context.entries()) {
      if (prefix !== '' && entry.rel !== prefix && !entry.rel.startsWith(`${prefix}/`)) continue;
      const { stat } = entry;
      hash.update(`${entry.rel}\0${stat.mode}\0${stat.isFile() ? this.context.digest(entry) : stat.isSymbolicLink() ? fs.readlinkSync(path.join(this.context.dir, entry.rel)) : ''}\n`);
    }
    return hash.digest('hex');
  }

  /** A container's read-write layer as a new layer; none when the step changed nothing (Docker's empty layer). */
  private async layerFromDir(state: StageState, upper: string): Promise<NewLayer | undefined> {
    if (fs.readdirSync(upper).length === 0) return undefined;
    const epoch = this.options.sourceDateEpoch;
    const { writeLayerTar } = await import('../layers/diff.js');
    return this.backend.images.makeLayer(state.config.rootfs.diff_ids, 'RUN', (sink) => writeLayerTar(upper, sink, epoch === undefined ? {} : { mtime: new Date(epoch * 1000) }));
  }

  private async copy(state: StageState, inst: CopyInstruction | AddInstruction, position: string): Promise<StageState> {
    if (inst.kind === 'ADD') {
      if (inst.keepGitDir !== undefined && !inst.sources.some(isGitSource)) throw invalidArgument(`${this.where(inst)}: ADD --keep-git-dir applies to git sources only`);
      const local = inst.sources.find((source) => !/^https?:\/\//i.test(source) && !isGitSource(source));
      if (inst.checksum !== undefined && local !== undefined) throw invalidArgument(`${this.where(inst)}: ADD --checksum applies to http(s) sources only, not "${local}"`);
    }
    const runtime = state.config.config ?? {};
    // --chown reads the stage's /etc/passwd: its files are needed at once.
    if (inst.chown !== undefined) state = await this.settle(state);
    // Relative to WORKDIR; a destination ending in `/` or `/.` (or `.` alone) names a directory.
    const isDir = /(^|\/)\.?$/.test(inst.dest);
    const dest = `${joinWorkdir(runtime.WorkingDir, inst.dest)}${isDir ? '/' : ''}`.replace(/^\/\/$/, '/');
    const stageView = () => this.viewOf(state.image);
    const view = inst.chown !== undefined ? stageView() : undefined;
    // --chown names are looked up in the stage's own /etc/passwd and /etc/group, with --link too.
    const owner = inst.chown !== undefined && view ? chownIds(inst.chown, view.readFile('/etc/passwd') ?? '', view.readFile('/etc/group') ?? '') : undefined;
    // COPY --from a stage or an image: that image's ID stands for the sources' content, so the step is found
    // without listing them, and a stage that came from an imported cache need not be made in the store.
    const fromId = inst.kind === 'COPY' && inst.from !== undefined && !this.namedContext(inst.from) ? await this.fromImageId(inst.from) : undefined;
    const args = JSON.stringify([inst.sources, inst.contents, inst.dest, runtime.WorkingDir ?? '', inst.chown ?? '', inst.chmod ?? '', fromId ?? '', ...(inst.exclude.length > 0 ? [inst.exclude] : []), ...(inst.kind === 'COPY' && inst.parents ? ['--parents'] : [])]);
    const step = cacheKey(idOf(state), inst.kind, args, ...(inst.link ? ['--link'] : []));
    // --link writes the layer on an empty base: the same sources make the same layer on any base, and `linked`
    // (no parent in it) finds that layer again when the base changed.
    const linked = inst.link ? cacheKey('link', inst.kind, args, JSON.stringify(owner ?? null)) : undefined;
    const seen = { position, inputs: { parent: idOf(state), text: args } as StepInputs };
    if (fromId !== undefined && !inst.link) {
      const cached = await this.lookup(cacheKey(step, 'from'), step, state.cmdSet);
      if (cached) {
        this.thisBuild.set(position, seen.inputs);
        return cached;
      }
    }
    const { sources, cleanup } = await gatherSources(inst, {
      context: this.context,
      where: this.where(inst),
      fromImage: async (ref) => {
        const image = await this.fromImage(ref);
        return { id: image.id, view: this.viewOf(image) };
      },
      namedContext: (ref) => this.namedContext(ref),
    });
    try {
      const digestOf = (source: CopySource, file: { rel: string; file: string; stat: fs.BigIntStats }): Digest => {
        if (source.keepOwner) return `sha256:${'0'.repeat(64)}`; // --from: the source image's ID stands for its content
        const rel = path.relative(this.context.dir, file.file);
        // Outside the context: a file ADD downloaded.
        return rel.startsWith('..') ? hashFile(file.file) : this.context.digest({ rel, stat: file.stat });
      };
      const record = (image: ImageRecord, checksum: string): StageState => {
        this.remember(cacheKey(step, fromId !== undefined && !inst.link ? 'from' : checksum), step, image.id);
        if (linked) this.remember(cacheKey(linked, checksum), linked, image.id);
        return this.stateOf(image, state.cmdSet);
      };
      // What the sources were, file by file, for `--explain` (an image's files stand by its ID).
      const withFiles = (digest: typeof digestOf) => {
        if (fromId === undefined) seen.inputs.files = sourceFiles(sources, digest);
        this.thisBuild.set(position, seen.inputs);
      };
      const classicAsked = this.cacheImages.length > 0 && !this.options.noCache;
      if (linked !== undefined ? this.hasStep(step) || this.hasStep(linked) : (fromId === undefined && this.hasStep(step)) || classicAsked) {
        const checksum = sourcesChecksum(sources, digestOf);
        withFiles(digestOf);
        const classic = { state, createdBy: copyCreatedBy(runtime, inst.kind, checksum, inst.dest), config: runtime };
        const cached = await this.lookup(cacheKey(step, fromId !== undefined && !inst.link ? 'from' : checksum), step, state.cmdSet, classic);
        if (cached) return cached;
        const earlier = linked === undefined ? undefined : this.cachedImage(cacheKey(linked, checksum));
        if (earlier) {
          // The layer an earlier build made on another base, placed on this one without copying.
          const layer = await this.backend.images.placeLayer(state.config.rootfs.diff_ids, this.backend.images.layerChain(earlier).at(-1)!, this.backend.images.manifest(earlier).layers.at(-1)!);
          this.report.usingCache();
          return record(await this.commit(state, { config: runtime, createdBy: copyCreatedBy(runtime, inst.kind, checksum, inst.dest), layer }), checksum);
        }
      }
      // Without --explain the files are listed after the layer is written, from the digests taken then.
      if (this.options.explain && !seen.inputs.files) withFiles(digestOf);
      this.missed(position, seen.inputs);
      state = await this.settle(state);
      const learnt = new Map<string, Digest>();
      // The tar code loads only when a COPY really runs: a cached build never needs it.
      const { writeCopyLayer } = await import('./copy.js');
      const plan: CopyPlan = {
        sources,
        dest,
        ...(owner && { owner }),
        ...(inst.chmod !== undefined && { chmod: parseChmod(inst.chmod) }),
        mtime: this.layerTime,
        instruction: inst.kind,
      };
      const started = Date.now();
      const layer = await this.backend.images.makeLayer(state.config.rootfs.diff_ids, inst.kind, (sink) =>
        writeCopyLayer(plan, inst.link ? new UnionView([]) : (view ?? stageView()), sink, (source, file, digest) => {
          if (source.keepOwner) return;
          learnt.set(file.file, digest);
          this.context.remember(file.file, file.stat, digest, started);
        }),
      );
      const checksum = sourcesChecksum(sources, (source, file) => learnt.get(file.file) ?? digestOf(source, file));
      withFiles((source, file) => learnt.get(file.file) ?? digestOf(source, file));
      const image = await this.commit(state, { config: runtime, createdBy: copyCreatedBy(runtime, inst.kind, checksum, inst.dest), layer });
      this.madeOnMiss(image.id, seen);
      return record(image, checksum);
    } finally {
      cleanup();
    }
  }

  /** `--from`'s image ID, without making a stage that came from an imported cache in the store. */
  private async fromImageId(ref: string): Promise<Digest> {
    const stage = fromReference(this.parsed.stages, ref);
    if (!stage) return (await this.baseImage(ref, this.options.platform)).id;
    const result = this.stageResults.get(stage.index);
    if (!result || idOf(result) === 'scratch') throw invalidArgument(`COPY --from=${ref}: the stage has no filesystem`);
    return idOf(result) as Digest;
  }

  /** `--from`: an earlier stage's result, by name or index, or an image (pulled if need be). */
  private async fromImage(ref: string): Promise<ImageRecord> {
    const stage = fromReference(this.parsed.stages, ref);
    if (stage) {
      const result = this.stageResults.get(stage.index);
      if (!result || idOf(result) === 'scratch') throw invalidArgument(`COPY --from=${ref}: the stage has no filesystem`);
      const settled = await this.settle(result);
      this.stageResults.set(stage.index, settled);
      return settled.image!;
    }
    return this.baseImage(ref, this.options.platform);
  }

  /** RUN --mount=from=: a stage's or image's root filesystem mounted, or a named context's directory as it is. */
  private async rootfsOf(ref: string): Promise<{ dir: string; release(): void }> {
    const named = this.namedContext(ref);
    if (named) return { dir: (await named).dir, release: () => undefined };
    return this.backend.mountImage((await this.fromImage(ref)).id);
  }

  /** An image's root filesystem, read from its layer dirs without a mount (nothing to clean up after a kill). */
  private viewOf(image: ImageRecord | undefined): UnionView {
    const layers = image ? this.backend.images.layerChain(image).map((layer) => this.backend.images.layers.path(layer.dir)) : [];
    return new UnionView(layers.reverse());
  }

  private where(inst: Instruction): string {
    return `${this.parsed.fileName}:${inst.node.startLine}`;
  }
}

/**
 * Docker's builder gives a stage whose base sets no PATH the default one (moby's dispatchFrom), so that
 * `ENV PATH=/app:$PATH` extends it and RUN finds sh on a base made by `import`; the built image keeps it.
 */
function withDefaultPath(config: ImageConfig): ImageConfig {
  const env = config.config?.Env ?? [];
  if (config.os !== 'linux' || env.some((entry) => entry.startsWith('PATH='))) return config;
  return { ...config, config: { ...config.config, Env: withPath(env) } };
}

const withPath = (env: readonly string[]): string[] => (env.some((entry) => entry.startsWith('PATH=')) ? [...env] : [...env, `PATH=${defaultPathEnv}`]);

/** The transcript of the stage that runs in this async context. */
const stageReport = new AsyncLocalStorage<BuildReporter>();

/**
 * A stage's transcript: held while stages before it are still printing theirs, then printed whole and passed
 * through from then on (`live`), so concurrent stages do not interleave their lines.
 */
class StageTranscript implements BuildReporter {
  private held: ((reporter: BuildReporter) => void)[] | undefined = [];
  readonly output: Writable;

  constructor(private readonly target: BuildReporter) {
    this.output = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.emit((reporter) => reporter.output.write(chunk));
        done();
      },
    });
  }

  live(): void {
    for (const event of this.held ?? []) event(this.target);
    this.held = undefined;
  }

  private emit(event: (reporter: BuildReporter) => void): void {
    if (this.held) this.held.push(event);
    else event(this.target);
  }

  contextSize(bytes: number): void {
    this.emit((r) => r.contextSize(bytes));
  }
  step(index: number, total: number, text: string): void {
    this.emit((r) => r.step(index, total, text));
  }
  triggers(count: number): void {
    this.emit((r) => r.triggers(count));
  }
  usingCache(): void {
    this.emit((r) => r.usingCache());
  }
  runningIn(containerId: string): void {
    this.emit((r) => r.runningIn(containerId));
  }
  removingContainer(containerId: string): void {
    this.emit((r) => r.removingContainer(containerId));
  }
  stepResult(imageId: Digest | undefined): void {
    this.emit((r) => r.stepResult(imageId));
  }
  warning(text: string): void {
    this.emit((r) => r.warning(text));
  }
  cacheMiss(reason: string): void {
    this.emit((r) => r.cacheMiss?.(reason));
  }
}
