/**
 * The planning stage: what to do with each record of a batch, given what the target holds.
 * Shared by every kind of sync (full, by ids, retry) and by dry runs, so a dry run's plan is
 * exactly what the real run would do. The sink still enforces versions when the plan is applied.
 */
import { createHash } from 'node:crypto';
import type { DocumentSink } from './ports.js';
import type { SourceBatch, SourceRecord } from './record.js';
import { isRemovalOf } from './removal.js';
import { decide } from './write-plan.js';

export type PlanAction = 'create' | 'update' | 'unchanged';

export interface PlannedRecord {
  readonly action: PlanAction;
  readonly record: SourceRecord;
  /** Version to write with (may be the stored one, for a removal). */
  readonly version: number;
  readonly json: string;
  readonly digest: string;
}

export interface PlannedBatch {
  readonly batch: SourceBatch;
  readonly planned: readonly PlannedRecord[];
}

/**
 * Digest of a document's JSON text. Contract: converters emit keys in a deterministic order
 * (schema order, Cassandra's map order), so equal content gives equal text and equal digests.
 */
export function digestOfJson(json: string): string {
  return createHash('sha1').update(json).digest('base64url').slice(0, 22);
}

/**
 * Plans each batch. `lookups: false` skips reading the target (an index that was empty when the
 * run began): every record is then a creation, and the version guard still settles races.
 */
export async function* planBatches(
  batches: AsyncIterable<SourceBatch>,
  sink: Pick<DocumentSink, 'lookup' | 'fetch'>,
  options: {
    readonly lookups: boolean;
    /**
     * Ids to rewrite from the row even when the target looks up to date (repair of documents
     * edited in the target, whose stored digest no longer describes them). Written at the newer
     * of the two versions, so the guard still refuses anything written meanwhile.
     */
    readonly force?: ReadonlySet<string>;
  },
): AsyncGenerator<PlannedBatch> {
  for await (const batch of batches) {
    const records = batch.records;
    const stored = options.lookups && records.length > 0 ? await sink.lookup(records.map((r) => r.id)) : new Map();
    const planned: PlannedRecord[] = new Array(records.length);
    const removalChecks: number[] = [];
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const json = JSON.stringify(record.document);
      const digest = digestOfJson(json);
      const s = stored.get(record.id);
      const d = decide(record.version, digest, s);
      if (s && options.force?.has(record.id) && d.action !== 'write') {
        planned[i] = { action: 'update', record, version: Math.max(record.version, s.version), json, digest };
      } else if (d.action === 'unchanged') planned[i] = { action: 'unchanged', record, version: record.version, json, digest };
      else if (d.action === 'write') planned[i] = { action: s ? 'update' : 'create', record, version: d.version, json, digest };
      else {
        planned[i] = { action: 'unchanged', record, version: d.storedVersion, json, digest };
        removalChecks.push(i);
      }
    }
    if (removalChecks.length > 0) {
      // Rare: the target is newer and differs. A pure removal is written at the stored version;
      // anything else means the target is newer, and it is left alone (see removal.ts).
      const bodies = await sink.fetch(removalChecks.map((i) => records[i]!.id));
      for (const i of removalChecks) {
        const p = planned[i]!;
        const body = bodies.get(p.record.id);
        if (body && isRemovalOf(p.record.document, body)) planned[i] = { ...p, action: 'update' };
        else planned[i] = { ...p, version: p.record.version };
      }
    }
    yield { batch, planned };
  }
}
