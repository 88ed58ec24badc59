import fs from 'node:fs';
import { familiarString, parseReference } from '../../images/reference.js';
import { invalidArgument, notFound, StrataError } from '../../errors.js';
import type { Engine } from '../../engine.js';
import type { ImageEngine } from '../../image-engine.js';
import { shortId } from '../../util/digest.js';
import { ellipsis, formatRows, goTime, humanSize, parseFormat, renderInspect, timeAgo } from '../format.js';
import { print, reportError } from '../run.js';
import { renderStack, type TreeLayer } from '../tree.js';

const display = (tag: string) => familiarString(parseReference(tag));

function openInput(file: string | undefined) {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) throw invalidArgument('requested load from stdin, but stdin is empty');
    return process.stdin;
  }
  if (!fs.existsSync(file)) throw notFound(`open ${file}: no such file or directory`);
  return fs.statSync(file).isDirectory() ? file : fs.createReadStream(file, { highWaterMark: 1 << 20 });
}

export async function importCommand(engine: ImageEngine, file: string, reference: string | undefined, opts: { change?: string[]; message?: string }) {
  const input = openInput(file);
  if (typeof input === 'string') throw invalidArgument(`${file} is a directory: import takes a tarball`);
  const { id } = await engine.importImage(input, {
    ...(reference !== undefined && { reference }),
    ...(opts.message !== undefined && { message: opts.message }),
    changes: opts.change ?? [],
  });
  print(id);
}

export async function loadCommand(engine: ImageEngine, opts: { input?: string; quiet?: boolean }) {
  const loaded = await engine.loadImages(openInput(opts.input));
  for (const image of loaded) {
    if (image.tags.length === 0) print(`Loaded image ID: ${image.id}`);
    for (const tag of image.tags) print(`Loaded image: ${display(tag)}`);
  }
}

export async function saveCommand(engine: ImageEngine, names: string[], opts: { output?: string; format: string }) {
  const { parseSaveFormat } = await import('../../archive/save.js');
  const format = parseSaveFormat(opts.format);
  if (opts.output === undefined && process.stdout.isTTY) {
    throw invalidArgument('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  }
  await engine.saveImages(names, format, opts.output ?? process.stdout);
}

export function imagesCommand(engine: ImageEngine, reference: string | undefined, opts: { all?: boolean; quiet?: boolean; digests?: boolean; filter?: string[]; format?: string; noTrunc?: boolean; trunc?: boolean }) {
  const rows = engine.listImages({ all: opts.all ?? false, filters: opts.filter ?? [], ...(reference !== undefined && { reference }) });
  const noTrunc = opts.trunc === false;
  const id = (digest: string) => (noTrunc ? digest : shortId(digest));
  if (opts.quiet) {
    print([...new Set(rows.map((row) => id(row.id)))].join('\n'));
    return;
  }
  const data = rows.map((row) => ({
    Containers: 'N/A',
    CreatedAt: goTime(row.created),
    CreatedSince: timeAgo(row.created),
    Digest: row.digest,
    ID: id(row.id),
    Repository: row.repository,
    SharedSize: 'N/A',
    Size: humanSize(row.size),
    Tag: row.tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(row.size),
  }));
  const columns = [
    { header: 'REPOSITORY', field: 'Repository' },
    { header: 'TAG', field: 'Tag' },
    ...(opts.digests ? [{ header: 'DIGEST', field: 'Digest' }] : []),
    { header: 'IMAGE ID', field: 'ID' },
    { header: 'CREATED', field: 'CreatedSince' },
    { header: 'SIZE', field: 'Size' },
  ];
  print(formatRows(data, columns, opts.format, { type: '*formatter.imageContext' }));
}

export function historyCommand(engine: ImageEngine, name: string, opts: { human: boolean; trunc?: boolean; quiet?: boolean; format?: string; tree?: boolean }) {
  if (opts.tree) return treeCommand(engine, name);
  const rows = engine.history(name);
  const noTrunc = opts.trunc === false;
  if (opts.quiet) {
    print(rows.map((row) => (noTrunc || row.id === '<missing>' ? row.id : shortId(row.id))).join('\n'));
    return;
  }
  const data = rows.map((row) => ({
    Comment: row.comment,
    CreatedAt: opts.human ? goTime(row.created) : (row.created ?? ''),
    CreatedBy: noTrunc ? row.createdBy : ellipsis(row.createdBy.replace(/[\t\n]/g, ' '), 45),
    CreatedSince: opts.human ? timeAgo(row.created) : (row.created ? new Date(row.created).toISOString().replace(/\.\d{3}Z$/, 'Z') : ''),
    ID: noTrunc || row.id === '<missing>' ? row.id : shortId(row.id),
    Size: opts.human ? humanSize(row.size) : String(row.size),
  }));
  const columns = [
    { header: 'IMAGE', field: 'ID' },
    { header: 'CREATED', field: 'CreatedSince' },
    { header: 'CREATED BY', field: 'CreatedBy' },
    { header: 'SIZE', field: 'Size' },
    { header: 'COMMENT', field: 'Comment' },
  ];
  print(formatRows(data, columns, opts.format, { type: '*image.historyContext' }));
}

/** The boxed stack for `history --tree`: one box per layer, metadata steps grouped with the layer they follow. */
function treeCommand(engine: ImageEngine, name: string) {
  const images = engine.images;
  const record = images.resolve(name);
  const rows = engine.history(name).reverse();
  const containing = new Map<string, string[]>();
  for (const other of images.records.all()) {
    if (other.id === record.id) continue;
    const label = images.records.tagsOf(other.id).map(display)[0] ?? shortId(other.id);
    for (const layer of images.layerChain(other)) containing.set(layer.chainId, [...(containing.get(layer.chainId) ?? []), label]);
  }
  const boxes: TreeLayer[] = [];
  const pending: string[] = [];
  const step = (createdBy: string) => createdBy.replace(/^\/bin\/sh -c #\(nop\)\s+/, '').replace(/^\/bin\/sh -c /, 'RUN ').replace(/\s+/g, ' ') || '(imported)';
  for (const row of rows) {
    if (row.layer === undefined) {
      (boxes.at(-1)?.steps ?? pending).push(step(row.createdBy));
      continue;
    }
    boxes.push({
      title: boxes.length === 0 ? 'Base layer' : `Layer ${boxes.length}`,
      id: shortId(row.layer),
      size: humanSize(row.size),
      steps: [...pending.splice(0), step(row.createdBy)],
      sharedWith: containing.get(row.layer) ?? [],
    });
  }
  if (boxes.length === 0) boxes.push({ title: 'No layers', id: '', size: '0B', steps: pending, sharedWith: [] });
  const title = images.records.tagsOf(record.id).map(display)[0] ?? shortId(record.id);
  print(renderStack(title, boxes.reverse()));
}

/** `inspect`: an image, or else a container, by name or ID (`--type` narrows it, as in Docker). */
export async function inspectCommand(engine: Engine, names: string[], opts: { format?: string; type?: string }) {
  // As docker inspect: a template that does not parse fails before anything is looked up.
  const template = opts.format && opts.format !== 'json' ? parseFormat(opts.format) : undefined;
  const found: { kind: 'image' | 'container'; value: unknown }[] = [];
  let failed: unknown;
  for (const name of names) {
    try {
      const image = opts.type !== 'container' ? engine.images.find(name) : undefined;
      if (image || opts.type === 'image') found.push({ kind: 'image', value: engine.inspectImage(name) });
      else found.push({ kind: 'container', value: engine.containers.inspect(name) });
    } catch (error) {
      failed = error;
      if (!(error instanceof StrataError)) throw error;
      if (error.code === 'not-found' && !opts.type) failed = notFound(`No such object: ${name}`, { cause: error });
    }
  }
  if (template) {
    const lines: string[] = [];
    for (const { kind, value } of found) {
      try {
        lines.push(renderInspect(template, value, kind));
      } catch (error) {
        failed = error;
      }
    }
    print(lines.join('\n'));
  } else print(JSON.stringify(found.map((item) => item.value), null, 4));
  if (failed) reportError(failed);
}

export function tagCommand(engine: ImageEngine, source: string, target: string) {
  engine.tag(source, target);
}

export function rmiCommand(engine: ImageEngine, names: string[], opts: { force?: boolean; prune?: boolean }) {
  let failed: unknown;
  for (const result of engine.removeImages(names, { force: opts.force ?? false, prune: opts.prune !== false })) {
    if ('error' in result) {
      failed = result.error;
      reportError(result.error);
      continue;
    }
    for (const tag of result.untagged) print(`Untagged: ${display(tag)}`);
    for (const id of result.deleted) print(`Deleted: ${id}`);
  }
  if (failed) process.exitCode = 1;
}

export async function pruneCommand(engine: ImageEngine, opts: { all?: boolean; force?: boolean }) {
  const warning = opts.all
    ? 'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?'
    : 'WARNING! This will remove all dangling images.\nAre you sure you want to continue?';
  if (!opts.force && !(await (await import('../prompt.js')).confirm(warning))) return;
  const removed = engine.pruneImages({ all: opts.all ?? false });
  if (removed.deleted.length > 0) {
    print('Deleted Images:');
    for (const tag of removed.untagged) print(`untagged: ${display(tag)}`);
    for (const id of removed.deleted) print(`deleted: ${id}`);
    process.stdout.write('\n');
  }
  print(`Total reclaimed space: ${humanSize(removed.reclaimed)}`);
}
