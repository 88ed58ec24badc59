import type { Engine } from '../../engine.js';
import { checkStore } from '../../images/check.js';
import { diskUsage } from '../../images/query.js';
import { shortId } from '../../util/digest.js';
import { formatRows, humanSize, table, timeAgo } from '../format.js';
import { print } from '../run.js';

const percent = (part: number, whole: number) => (whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`);

export function dfCommand(engine: Engine, opts: { verbose?: boolean; format?: string }) {
  const usage = diskUsage(engine.images);
  const summary = [
    {
      Type: 'Images',
      TotalCount: String(usage.totalImages),
      Active: String(usage.activeImages),
      Size: humanSize(usage.layersSize),
      Reclaimable: `${humanSize(usage.reclaimable)} (${percent(usage.reclaimable, usage.layersSize)})`,
    },
    // Containers, volumes and the build cache arrive with later work; until then there are none of them.
    ...['Containers', 'Local Volumes', 'Build Cache'].map((type) => ({ Type: type, TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' })),
  ];
  const columns = [
    { header: 'TYPE', field: 'Type' },
    { header: 'TOTAL', field: 'TotalCount' },
    { header: 'ACTIVE', field: 'Active' },
    { header: 'SIZE', field: 'Size' },
    { header: 'RECLAIMABLE', field: 'Reclaimable' },
  ];
  if (!opts.verbose) {
    print(formatRows(summary, columns, (row) => columns.map((c) => String(row[c.field])), opts.format));
    return;
  }
  const rows = usage.images.map((image) => ({
    Repository: image.repository,
    Tag: image.tag,
    ID: shortId(image.id),
    CreatedSince: timeAgo(image.created),
    Size: humanSize(image.size),
    SharedSize: humanSize(image.sharedSize),
    UniqueSize: humanSize(image.uniqueSize),
    Containers: String(image.containers),
  }));
  if (opts.format === 'json') {
    print(JSON.stringify({ Images: rows, LayersSize: usage.layersSize, Reclaimable: usage.reclaimable }));
    return;
  }
  print('Images space usage:\n');
  print(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size, r.SharedSize, r.UniqueSize, r.Containers])));
  print(`\nTotal: ${humanSize(usage.layersSize)} in ${usage.totalImages} images (layers shared between images counted once)`);
}

export async function checkCommand(engine: Engine, opts: { repair?: boolean; quick?: boolean }) {
  const report = await checkStore(engine.images, { repair: opts.repair ?? false, quick: opts.quick ?? false });
  for (const problem of report.problems) print(`ERROR: ${problem}`);
  for (const orphan of report.orphans) print(`${opts.repair ? 'Removed' : 'Unreferenced'}: ${orphan}`);
  print(`Checked ${report.images} images, ${report.layers} layers, ${report.blobs} blobs: ${report.problems.length} problems, ${report.orphans.length} unreferenced items${opts.repair && report.orphans.length ? ' removed' : ''}`);
  if (report.problems.length > 0) process.exitCode = 1;
}
