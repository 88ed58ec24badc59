/** Draws an image as a stack of boxed layers, like the diagrams in Docker's tutorials. Pure: data in, text out. */

export interface TreeLayer {
  /** e.g. "Layer 2" or "Base layer" */
  title: string;
  id: string;
  size: string;
  /** The instructions that made this layer, and metadata-only steps that followed it. */
  steps: string[];
  /** Other local images that contain this layer. */
  sharedWith: string[];
}

export function renderStack(imageName: string, layers: TreeLayer[], maxStep = 60): string {
  const clip = (text: string) => ([...text].length > maxStep ? `${[...text].slice(0, maxStep - 1).join('')}…` : text);
  const boxes = layers.map((layer) => {
    const lines = [`${layer.title}  ${layer.id}  ${layer.size}`, ...layer.steps.map((step) => `  ${clip(step)}`)];
    if (layer.sharedWith.length > 0) lines.push(`  shared with: ${layer.sharedWith.join(', ')}`);
    return lines;
  });
  const footer = `== Image "${imageName}" ==`;
  const inner = Math.max(footer.length - 4, ...boxes.flat().map((line) => [...line].length));
  const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - [...text].length));
  const rule = `+${'-'.repeat(inner + 2)}+`;
  const out = [`+${'-'.repeat(inner + 6)}+`];
  for (const box of boxes) {
    out.push(`| ${rule} |`);
    for (const line of box) out.push(`| | ${pad(line, inner)} | |`);
    out.push(`| ${rule} |`);
  }
  out.push(`| ${pad(footer, inner + 4)} |`);
  out.push(`+${'-'.repeat(inner + 6)}+`);
  return out.join('\n');
}
