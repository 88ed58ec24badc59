/**
 * Whole-file parsing into stages (meta ARGs before the first FROM, then one stage per FROM), and the stages a
 * `--target` needs.
 */
import { invalidArgument } from '../../errors.js';
import { type Directive, DockerfileError, LineError, type Node, type ParseWarning } from './ast.js';
import { parseInstruction } from './instruction-parse.js';
import type { ArgInstruction, FromInstruction, Instruction } from './instructions.js';
import { parseAst } from './parser.js';

export interface Stage {
  /** Position in the file, which `COPY --from=<index>` refers to. */
  index: number;
  /** `AS name`, lower-cased. */
  name?: string;
  /** The base as written (may hold `$ARG`s of the global scope): an image, `scratch` or an earlier stage. */
  base: string;
  platform?: string;
  from: FromInstruction;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  fileName: string;
  directives: Directive[];
  escapeToken: string;
  warnings: ParseWarning[];
  /** ARGs before the first FROM: the global scope, usable in FROM lines. */
  metaArgs: ArgInstruction[];
  stages: Stage[];
  /** Every node in file order, for `--check` output. */
  nodes: Node[];
}

/**
 * Parses a Dockerfile's text; throws DockerfileError naming `fileName:line`. `allowDuplicateStageNames`: the
 * build checks report a repeated stage name as BuildKit does (a warning) rather than fail on it.
 */
export function parseDockerfile(text: string, fileName = 'Dockerfile', options: { allowDuplicateStageNames?: boolean } = {}): ParsedDockerfile {
  const ast = parseAst(text, fileName);
  const metaArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const node of ast.nodes) {
    const fail = (message: string, cause?: Error): never => {
      throw new DockerfileError(fileName, node.startLine, message, 'instruction', cause && { cause });
    };
    let parsed: Instruction | FromInstruction;
    try {
      parsed = parseInstruction(node);
    } catch (error) {
      if (error instanceof LineError) fail(error.message, error);
      throw error;
    }
    if (parsed.kind === 'FROM') {
      if (!options.allowDuplicateStageNames && parsed.name !== undefined && stages.some((s) => s.name === parsed.name)) {
        fail(`Duplicate stage name ${JSON.stringify(parsed.name)}, stage names should be unique`);
      }
      stages.push({ index: stages.length, name: parsed.name, base: parsed.base, platform: parsed.platform, from: parsed, instructions: [] });
    } else if (stages.length === 0) {
      if (parsed.kind !== 'ARG') fail('no build stage in current context');
      metaArgs.push(parsed as ArgInstruction);
    } else {
      stages[stages.length - 1]!.instructions.push(parsed);
    }
  }
  if (stages.length === 0) throw new DockerfileError(fileName, ast.nodes[ast.nodes.length - 1]!.endLine, 'dockerfile contains no stages to build');
  return { fileName, directives: ast.directives, escapeToken: ast.escapeToken, warnings: ast.warnings, metaArgs, stages, nodes: ast.nodes };
}

/** The stage a `--target` names (case-insensitive), or the last stage. */
export function findTarget(stages: readonly Stage[], target?: string): Stage {
  if (target === undefined || target === '') return stages[stages.length - 1]!;
  const stage = stages.find((s) => s.name === target.toLowerCase());
  if (!stage) throw invalidArgument(`target stage ${JSON.stringify(target)} could not be found`);
  return stage;
}

/** The earlier stage a FROM line builds on, if its (expanded) base names one. */
export function baseStage(stages: readonly Stage[], base: string, index: number): Stage | undefined {
  const lower = base.toLowerCase();
  return stages.slice(0, index).find((s) => s.name === lower);
}

/** The stage a `COPY --from` / `--mount=from=` value names: a stage name or index; undefined for an image. */
export function fromReference(stages: readonly Stage[], ref: string): Stage | undefined {
  if (/^\d+$/.test(ref)) return stages[Number(ref)];
  const lower = ref.toLowerCase();
  return stages.find((s) => s.name === lower);
}

/**
 * Indices of the stages `target` needs, in file order: itself, the stage it is based on, stages named by
 * `COPY --from` and `RUN --mount=from=`, transitively. `bases` gives each stage's base after global ARG
 * expansion (default: as written), so `FROM ${VARIANT}-build` links as the builder will.
 */
export function stagesForTarget(parsed: ParsedDockerfile, target?: string, bases?: readonly string[]): number[] {
  const { stages, fileName } = parsed;
  const start = findTarget(stages, target);
  const needed = new Set<number>();
  // Depth first, as a recursion would go but on a stack of its own: a chain of thousands of stages is no deeper
  // for JavaScript's stack than one.
  function* dependencies(stage: Stage): Generator<Stage> {
    const base = baseStage(stages, bases?.[stage.index] ?? stage.base, stage.index);
    if (base) yield base;
    for (const inst of stage.instructions) {
      const refs = inst.kind === 'COPY' && inst.from !== undefined ? [inst.from] : [];
      if (inst.kind === 'RUN') for (const m of inst.mounts) if (m.fields.from !== undefined) refs.push(m.fields.from);
      for (const ref of refs) {
        const dep = fromReference(stages, ref);
        if (!dep) {
          if (/^\d+$/.test(ref)) throw new DockerfileError(fileName, inst.node.startLine, `invalid stage index ${ref}`);
          continue; // an image, not a stage
        }
        if (dep.index >= stage.index) {
          throw new DockerfileError(
            fileName,
            inst.node.startLine,
            dep.index === stage.index
              ? `circular dependency detected on stage: ${stage.name ?? stage.index}`
              : `cannot copy from stage ${JSON.stringify(ref)}, it needs to be defined before current stage ${JSON.stringify(stage.name ?? String(stage.index))}`,
          );
        }
        yield dep;
      }
    }
  }
  const pending: Generator<Stage>[] = [];
  const visit = (stage: Stage) => {
    if (needed.has(stage.index)) return;
    needed.add(stage.index);
    pending.push(dependencies(stage));
  };
  visit(start);
  while (pending.length > 0) {
    const next = pending[pending.length - 1]!.next();
    if (next.done) pending.pop();
    else visit(next.value);
  }
  return [...needed].sort((a, b) => a - b);
}
