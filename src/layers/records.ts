import type { MetadataDb } from '../metadata/database.js';
import type { Digest } from '../util/digest.js';

export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  parent: Digest | null;
  /** Sum of the file sizes in the layer, as Docker reports a layer's size. */
  size: number;
  /** Bytes of the uncompressed layer tar (its diffID's content), needed to write it into an archive. */
  tarSize: number;
  /** Directory name under layers/ holding the unpacked layer (overlay's lower dir). */
  dir: string;
  created: number;
}

interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  tar_size: number;
  dir: string;
  created: number;
}

const toLayer = (row: LayerRow): LayerRecord => ({
  chainId: row.chain_id as Digest,
  diffId: row.diff_id as Digest,
  parent: row.parent as Digest | null,
  size: row.size,
  tarSize: row.tar_size,
  dir: row.dir,
  created: row.created,
});

/** The layers table: one row per unpacked layer, by chain ID, with its parent. */
export class LayerRecords {
  constructor(private readonly db: MetadataDb) {}

  get(chainId: Digest): LayerRecord | undefined {
    const row = this.db.sql('SELECT * FROM layers WHERE chain_id = ?').get(chainId) as LayerRow | undefined;
    return row && toLayer(row);
  }

  all(): LayerRecord[] {
    return (this.db.sql('SELECT * FROM layers').all() as LayerRow[]).map(toLayer);
  }

  insert(layer: LayerRecord): void {
    this.db
      .sql('INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, tar_size, dir, created) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(layer.chainId, layer.diffId, layer.parent, layer.size, layer.tarSize, layer.dir, layer.created);
  }

  delete(chainId: Digest): void {
    this.db.sql('DELETE FROM layers WHERE chain_id = ?').run(chainId);
  }
}
