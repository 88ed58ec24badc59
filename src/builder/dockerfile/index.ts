/**
 * The Dockerfile frontend: parse (text -> AST nodes), instructions (nodes -> typed, checked instructions in
 * stages), expansion (variables substituted per stage, as the builder will run them). All pure.
 */
export { DockerfileError } from './ast.js';
export type { AstResult, Directive, Heredoc, Node, ParseWarning } from './ast.js';
export { parseAst } from './parser.js';
export { parseDockerfile, findTarget, stagesForTarget, baseStage, fromReference } from './stages.js';
export type { ParsedDockerfile, Stage } from './stages.js';
export type * from './instructions.js';
export { instructionNames } from './instruction-parse.js';
export {
  expandBuild,
  expandFrom,
  expandStage,
  expandWord,
  platformArgs,
  proxyArgs,
  resolveGlobalArgs,
} from './expand.js';
export type { ExpandOptions, ExpandedBuild, ExpandedStage, ExpandedStep, StageScope } from './expand.js';
export { toJson } from './json.js';
export type { InstructionJson } from './json.js';
export { lex, processWord, processWords, ShellLexError } from './shell-lex.js';
export type { Env, LexOptions, LexResult } from './shell-lex.js';
