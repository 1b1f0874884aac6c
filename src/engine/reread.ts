/**
 * Reading rows again by id, to confirm a decision against the row as it is now rather than as it
 * was when first read (see planner.ts and apply.ts: writes at a version the target already holds,
 * and re-creations under a delete's tombstone). Ids that are no key of the table, and keys
 * without a row, are absent from the result. Throws INTERRUPTED like every source read.
 */
import { collect } from './interrupt.js';
import type { ParsedKey, RecordSource } from './ports.js';
import type { SourceRecord } from './record.js';

export type Reread = (ids: readonly string[]) => Promise<Map<string, SourceRecord>>;

export function rereadFrom(source: Pick<RecordSource, 'read' | 'parseKey' | 'idParts'>, signal?: AbortSignal): Reread {
  return async (ids) => {
    const keys = ids.map((id) => source.parseKey(source.idParts(id))).filter((k): k is ParsedKey => !('error' in k));
    const out = new Map<string, SourceRecord>();
    if (keys.length === 0) return out;
    for (const batch of await collect(source.read(keys, { signal }))) for (const r of batch.records) out.set(r.id, r);
    return out;
  };
}
