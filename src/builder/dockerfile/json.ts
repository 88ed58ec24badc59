/** The `strata build --check` view: one plain object per instruction, in file order. */
import type { Node } from './ast.js';

export interface InstructionJson {
  name: string;
  flags: string[];
  /** As parsed (quotes kept, nothing expanded); ENV and LABEL pairs as `key=value`. */
  args: string[];
  json: boolean;
  heredocs: { name: string; content: string; expand: boolean }[];
  startLine: number;
  endLine: number;
  original: string;
}

export function toJson(parsed: { nodes: readonly Node[] }): InstructionJson[] {
  return parsed.nodes.map(nodeToJson);
}

function nodeToJson(node: Node): InstructionJson {
  const name = node.keyword.toUpperCase();
  let args = node.args;
  if (name === 'ENV' || name === 'LABEL') {
    args = [];
    for (let i = 0; i < node.args.length; i += 3) args.push(`${node.args[i]}=${node.args[i + 1]}`);
  }
  return {
    name,
    flags: [...node.flags],
    args: [...args],
    json: node.json,
    heredocs: (node.trigger ?? node).heredocs.map((doc) => ({ name: doc.name, content: doc.content, expand: doc.expand })),
    startLine: node.startLine,
    endLine: node.endLine,
    original: node.original,
  };
}
