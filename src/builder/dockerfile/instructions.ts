/** Typed Dockerfile instructions: what each one means, arguments checked, variables not yet expanded. */
import type { Heredoc, Node } from './ast.js';

interface Base {
  /** The node it came from (keyword, original text, lines). */
  node: Node;
}

export interface KeyValue {
  key: string;
  value: string;
}

/** RUN, CMD, ENTRYPOINT: the exec-form array, or one shell-form string run with the stage's SHELL. */
export interface CommandLine {
  command: string[];
  /** Shell form: the builder prepends SHELL (default `/bin/sh -c`). */
  prependShell: boolean;
}

export interface RunMount {
  type: string;
  /** Every `key=value` field as written (`from`, `source`, `target`, `id`, ...); bare keys map to `true`. */
  fields: Record<string, string>;
}

export interface RunInstruction extends Base, CommandLine {
  kind: 'RUN';
  /** Heredocs, each a file the shell reads (content as written; the shell expands it). */
  heredocs: Heredoc[];
  mounts: RunMount[];
  network?: string;
  security?: string;
}
export interface CmdInstruction extends Base, CommandLine {
  kind: 'CMD';
}
export interface EntrypointInstruction extends Base, CommandLine {
  kind: 'ENTRYPOINT';
}
export interface EnvInstruction extends Base {
  kind: 'ENV';
  env: KeyValue[];
}
export interface LabelInstruction extends Base {
  kind: 'LABEL';
  labels: KeyValue[];
}
export interface ArgInstruction extends Base {
  kind: 'ARG';
  /** `value` undefined: declared without a default. */
  args: { key: string; value?: string }[];
}
export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  ports: string[];
}
export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: string;
}
export interface UserInstruction extends Base {
  kind: 'USER';
  user: string;
}
export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  volumes: string[];
}
export interface StopSignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: string;
}
export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  maintainer: string;
}
export interface ShellInstruction extends Base {
  kind: 'SHELL';
  shell: string[];
}
export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The trigger as written (with its heredocs appended), stored in the image config for child builds. */
  expression: string;
}

export interface Healthcheck {
  /** `["NONE"]`, `["CMD", ...exec]` or `["CMD-SHELL", command]`, as in the image config. */
  test: string[];
  /** Durations in nanoseconds, as the image config stores them; 0 or absent means the default. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  health: Healthcheck;
}

/** A COPY/ADD source given inline by a heredoc. */
export interface SourceContent {
  /** The heredoc's delimiter, which is also the file's name. */
  path: string;
  data: string;
  /** The delimiter was unquoted: `$VAR` in the content is expanded (quotes in it are kept). */
  expand: boolean;
}

interface SourcesAndDest {
  sources: string[];
  contents: SourceContent[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}
export interface CopyInstruction extends Base, SourcesAndDest {
  kind: 'COPY';
  /** `--from=`: a stage name, a stage index or an image. */
  from?: string;
  parents: boolean;
}
export interface AddInstruction extends Base, SourcesAndDest {
  kind: 'ADD';
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export type Instruction =
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | EnvInstruction
  | LabelInstruction
  | ArgInstruction
  | ExposeInstruction
  | WorkdirInstruction
  | UserInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | MaintainerInstruction
  | ShellInstruction
  | OnbuildInstruction
  | HealthcheckInstruction
  | CopyInstruction
  | AddInstruction;

/** FROM: begins a stage. */
export interface FromInstruction extends Base {
  kind: 'FROM';
  base: string;
  /** `AS name`, lower-cased as Docker does. */
  name?: string;
  platform?: string;
}
