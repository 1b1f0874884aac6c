/**
 * A RecordSource whose records come out shaped (document-shape.ts): every command that reads
 * documents from the source (full, targeted, incremental, watch, verify, repair, the confirming
 * re-reads) sees the same shaped documents, so digests and comparisons stay consistent. Key and
 * version scans are passed through: shaping changes documents, never ids or versions.
 */
import type { RecordSource } from '../engine/ports.js';
import type { SourceBatch } from '../engine/record.js';
import type { ShapeRecord } from './document-shape.js';

export function shapedSource<S extends RecordSource>(source: S, shape: ShapeRecord): RecordSource {
  const shapeBatches = async function* (batches: AsyncIterable<SourceBatch>): AsyncGenerator<SourceBatch> {
    // One batch at a time, in order: pulling stays the backpressure of the source below.
    for await (const batch of batches) yield { ...batch, records: await Promise.all(batch.records.map(shape)) };
  };
  return {
    spans: () => source.spans(),
    scan: (spans, options) => shapeBatches(source.scan(spans, options)),
    scanVersions: (spans, options) => source.scanVersions(spans, options),
    keyColumns: () => source.keyColumns(),
    parseKey: (parts) => source.parseKey(parts),
    idParts: (id) => source.idParts(id),
    changed: (from, to, options) => source.changed(from, to, options),
    read: (keys, options) => shapeBatches(source.read(keys, options)),
    estimateCount: () => source.estimateCount(),
    fractionDone: () => source.fractionDone(),
    ...(source.openWritesSince ? { openWritesSince: () => source.openWritesSince!() } : {}),
  };
}
