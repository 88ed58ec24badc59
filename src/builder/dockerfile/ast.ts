/** The Dockerfile AST: what the parser makes, before any instruction is understood. */
import { StrataError } from '../../errors.js';

/** A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
export interface Heredoc {
  /** The delimiter word, quotes removed. */
  name: string;
  /** Its file descriptor when written as `3<<EOF` (0 when absent). */
  fileDescriptor: number;
  /** False when the delimiter was quoted: the content is taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the content (and the delimiter line). */
  chomp: boolean;
  /** The lines between the instruction and the delimiter, each with its newline. */
  content: string;
}

/** A parser directive (`# escape=`, `# syntax=`, `# check=`) at the top of the file. */
export interface Directive {
  name: string;
  value: string;
  line: number;
}

/** One instruction as written, split into its parts but not interpreted. */
export interface Node {
  /** The instruction keyword as written (`RUN`, `run`, `FORM`). */
  keyword: string;
  /** `--name=value` words before the arguments, quotes removed. */
  flags: string[];
  /**
   * The arguments: one string for shell-form RUN/CMD/ENTRYPOINT/SHELL, USER, WORKDIR..., the array for JSON
   * form, whitespace-separated words for FROM, EXPOSE, COPY, ADD, VOLUME, words for ARG, and for ENV and LABEL
   * triples of key, value and `=` (or `` for the legacy `ENV key value` form). Quotes are still in place.
   */
  args: string[];
  /** The arguments were a JSON array (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** For ONBUILD: the instruction it holds. */
  trigger?: Node;
  /** The instruction's text with continuations joined and comment lines dropped. */
  original: string;
  startLine: number;
  endLine: number;
}

export interface ParseWarning {
  message: string;
  line: number;
}

export interface AstResult {
  directives: Directive[];
  escapeToken: string;
  nodes: Node[];
  warnings: ParseWarning[];
}

/**
 * A bad Dockerfile: the message names the file and line. Errors of the parser itself read as Docker's classic
 * builder (`Dockerfile parse error line 5: unterminated heredoc`), errors about an instruction's arguments as
 * `Dockerfile:3: unknown instruction: FORM`.
 */
export class DockerfileError extends StrataError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    style: 'parse' | 'instruction' = 'instruction',
    options?: ErrorOptions,
  ) {
    super('invalid-argument', style === 'parse' ? `${file} parse error line ${line}: ${detail}` : `${file}:${line}: ${detail}`, options);
    this.name = 'DockerfileError';
  }
}

/** A problem found while parsing one line; the caller adds file and line. */
export class LineError extends Error {}
