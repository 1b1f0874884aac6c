/**
 * The planning stage: what to do with each record of a batch, given what the target holds.
 * Shared by every kind of sync (full, by ids, retry) and by dry runs, so a dry run's plan is
 * exactly what the real run would do. The sink still enforces versions when the plan is applied.
 */
import { createHash } from 'node:crypto';
import type { DocumentSink } from './ports.js';
import type { SourceBatch, SourceRecord, StoredVersion } from './record.js';
import type { Reread } from './reread.js';
import { isRemovalOf } from './removal.js';
import { decide } from './write-plan.js';

/** `reject`: the row could not be made into a document (SourceRecord.rejected); nothing is written. */
export type PlanAction = 'create' | 'update' | 'unchanged' | 'reject';

export interface PlannedRecord {
  readonly action: PlanAction;
  readonly record: SourceRecord;
  /** Version to write with (may be the stored one, for a removal). */
  readonly version: number;
  readonly json: string;
  readonly digest: string;
  /** Unchanged because the target holds a newer version with other content (left alone). */
  readonly newerInTarget?: boolean;
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

/** Digest of a record's content: its JSON text, and the parts of a composed document (record.ts). */
export function digestOfRecord(record: Pick<SourceRecord, 'parts'>, json: string): string {
  return record.parts === undefined ? digestOfJson(json) : digestOfJson(`${json}\u0000${record.parts}`);
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
    /**
     * Reads rows again by id. A write at the version the target already holds (content changed
     * under an unchanged WRITETIME, a removal, a forced rewrite) is only made when the row, read
     * again after the target was looked up, is still what was planned: otherwise an older read
     * could overwrite a newer document that another sync wrote at that same version meanwhile.
     */
    readonly reread: Reread;
  },
): AsyncGenerator<PlannedBatch> {
  for await (const batch of batches) {
    const records = batch.records;
    const toLook = options.lookups ? records.filter((r) => !r.rejected).map((r) => r.id) : [];
    const stored: Map<string, StoredVersion> = toLook.length > 0 ? await sink.lookup(toLook) : new Map();
    const planned: PlannedRecord[] = new Array(records.length);
    const removalChecks: number[] = [];
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (record.rejected) {
        planned[i] = { action: 'reject', record, version: record.version, json: '', digest: '' };
        continue;
      }
      const json = JSON.stringify(record.document);
      const digest = digestOfRecord(record, json);
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
        else planned[i] = { ...p, version: p.record.version, newerInTarget: true };
      }
    }
    await confirmEqualVersionWrites(planned, stored, options.reread);
    yield { batch, planned };
  }
}

/**
 * Re-confirms planned writes whose version is not above the stored one (the version guard alone
 * cannot order them, external_gte accepts equals). A row that still reads as planned is written;
 * a row that moved on is planned again from its new read, and written only when that read is
 * newer than the target; a row that is gone, or anything else, is left for the next run (the
 * stored document may be the newer one, and a later sync or verify sees the row as it is then).
 */
async function confirmEqualVersionWrites(planned: PlannedRecord[], stored: Map<string, StoredVersion>, reread: Reread): Promise<void> {
  const checks: number[] = [];
  for (let i = 0; i < planned.length; i++) {
    const p = planned[i]!;
    const s = stored.get(p.record.id);
    if ((p.action === 'create' || p.action === 'update') && s && p.version <= s.version) checks.push(i);
  }
  if (checks.length === 0) return;
  const fresh = await reread(checks.map((i) => planned[i]!.record.id));
  for (const i of checks) {
    const p = planned[i]!;
    const s = stored.get(p.record.id)!;
    const now = fresh.get(p.record.id);
    if (!now) {
      planned[i] = { ...p, action: 'unchanged', version: p.record.version };
      continue;
    }
    if (now.rejected) {
      planned[i] = { action: 'reject', record: now, version: now.version, json: '', digest: '' };
      continue;
    }
    const json = JSON.stringify(now.document);
    const digest = digestOfRecord(now, json);
    if (digest === p.digest && now.version === p.record.version) continue;
    const d = decide(now.version, digest, s);
    planned[i] =
      d.action === 'write' && d.version > s.version
        ? { action: 'update', record: now, version: d.version, json, digest }
        : { action: 'unchanged', record: now, version: now.version, json, digest };
  }
}
