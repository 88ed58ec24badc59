import type { Engine } from '../../engine.js';
import { shortId } from '../../util/digest.js';
import { parseSettings } from '../../containers/settings.js';
import { ellipsis, formatRows, humanSize, table, timeAgo } from '../format.js';
import { print } from '../run.js';

const percent = (part: number, whole: number) => (whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`);

/** The Go type of each summary row of Docker's system df, named in unknown-field errors. */
const dfTypes: Record<string, string> = {
  Images: '*formatter.diskUsageImagesContext',
  Containers: '*formatter.diskUsageContainersContext',
  'Local Volumes': '*formatter.diskUsageVolumesContext',
  'Build Cache': '*formatter.diskUsageBuilderContext',
};

export function dfCommand(engine: Engine, opts: { verbose?: boolean; format?: string }) {
  const containers = engine.containers.list();
  const usedImages = new Map<string, number>();
  for (const c of containers) usedImages.set(c.imageId, (usedImages.get(c.imageId) ?? 0) + 1);
  const usage = engine.diskUsage();
  const containerSizes = containers.map((c) => ({ record: c, size: engine.containers.sizeOf(c) }));
  const containersSize = containerSizes.reduce((sum, c) => sum + c.size, 0);
  const idleSize = containerSizes.filter((c) => c.record.state !== 'running').reduce((sum, c) => sum + c.size, 0);
  const summary = [
    {
      Type: 'Images',
      TotalCount: String(usage.totalImages),
      Active: String(usage.activeImages),
      Size: humanSize(usage.layersSize),
      Reclaimable: `${humanSize(usage.reclaimable)} (${percent(usage.reclaimable, usage.layersSize)})`,
    },
    {
      Type: 'Containers',
      TotalCount: String(containers.length),
      Active: String(containers.filter((c) => c.state === 'running').length),
      Size: humanSize(containersSize),
      Reclaimable: `${humanSize(idleSize)} (${percent(idleSize, containersSize)})`,
    },
    // Named volumes are not accounted yet.
    { Type: 'Local Volumes', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
    (() => {
      // The cached steps (the layers they added) and the cache mounts; those a tagged image or container stands on are active.
      const entries = engine.buildCacheEntries();
      const size = entries.reduce((sum, entry) => sum + entry.size, 0);
      const active = entries.filter((entry) => entry.inUse);
      const reclaimable = size - active.reduce((sum, entry) => sum + entry.size, 0);
      return { Type: 'Build Cache', TotalCount: String(entries.length), Active: String(active.length), Size: humanSize(size), Reclaimable: humanSize(reclaimable) };
    })(),
  ];
  const columns = [
    { header: 'TYPE', field: 'Type' },
    { header: 'TOTAL', field: 'TotalCount' },
    { header: 'ACTIVE', field: 'Active' },
    { header: 'SIZE', field: 'Size' },
    { header: 'RECLAIMABLE', field: 'Reclaimable' },
  ];
  if (!opts.verbose) {
    print(formatRows(summary, columns, opts.format, { type: (row) => dfTypes[String(row.Type)] ?? '*formatter.diskUsageContext' }));
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
    Containers: String(usedImages.get(image.id) ?? 0),
  }));
  if (opts.format === 'json') {
    const containerRows = containerSizes.map(({ record, size }) => ({ ID: record.id.slice(0, 12), Image: record.imageName, Size: humanSize(size), State: record.state, Names: record.name }));
    print(JSON.stringify({ Images: rows, Containers: containerRows, LayersSize: usage.layersSize, Reclaimable: usage.reclaimable }));
    return;
  }
  print('Images space usage:\n');
  print(table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size, r.SharedSize, r.UniqueSize, r.Containers])));
  print(`\nTotal: ${humanSize(usage.layersSize)} in ${usage.totalImages} images (layers shared between images counted once)`);
  print('\nContainers space usage:\n');
  print(
    table(
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
      containerSizes.map(({ record, size }) => [
        record.id.slice(0, 12),
        record.imageName,
        JSON.stringify(ellipsis(parseSettings(record.settings).args.join(' '), 20)),
        '0',
        humanSize(size),
        timeAgo(new Date(record.created).toISOString()),
        record.state === 'running' ? 'Up' : record.state === 'exited' ? `Exited (${record.exitCode ?? 0})` : 'Created',
        record.name,
      ]),
    ),
  );
}

export async function checkCommand(engine: Engine, opts: { repair?: boolean; quick?: boolean }) {
  const report = await engine.check({ repair: opts.repair ?? false, quick: opts.quick ?? false });
  for (const problem of report.problems) print(`ERROR: ${problem}`);
  for (const orphan of report.orphans) print(`${opts.repair ? 'Removed' : 'Unreferenced'}: ${orphan}`);
  print(`Checked ${report.images} images, ${report.layers} layers, ${report.blobs} blobs: ${report.problems.length} problems, ${report.orphans.length} unreferenced items${opts.repair && report.orphans.length ? ' removed' : ''}`);
  if (report.problems.length > 0) process.exitCode = 1;
}
