import { describe, expect, it } from 'vitest';
import { fullSync } from '../../src/engine/full-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import type { DocumentSink, RecordSource, WriteHandlers } from '../../src/engine/ports.js';
import type { SourceRecord, StoredVersion, WriteOp } from '../../src/engine/record.js';

/** An in-memory index that enforces external_gte versions like Elasticsearch. */
class MemoryIndex implements DocumentSink {
  docs = new Map<string, { version: number; body: Record<string, unknown>; meta: Record<string, unknown> }>();
  writes = 0;
  reject = new Set<string>();
  async prepare() {
    return { created: false, empty: this.docs.size === 0 };
  }
  async lookup(ids: readonly string[]) {
    const m = new Map<string, StoredVersion>();
    for (const id of ids) {
      const d = this.docs.get(id);
      if (d) m.set(id, { version: d.version, digest: d.meta.digest as string | undefined });
    }
    return m;
  }
  async fetch(ids: readonly string[]) {
    return new Map(ids.filter((id) => this.docs.has(id)).map((id) => [id, this.docs.get(id)!.body]));
  }
  async write(ops: AsyncIterable<WriteOp>, { onOutcome }: WriteHandlers) {
    let written = 0;
    for await (const op of ops) {
      this.writes += 1;
      const cur = this.docs.get(op.id);
      if (this.reject.has(op.id)) {
        onOutcome(op, { kind: 'rejected', errorClass: 'mapping', errorType: 'document_parsing_exception', reason: 'bad value' });
      } else if (cur && cur.version > op.version) onOutcome(op, { kind: 'conflict' });
      else {
        this.docs.set(op.id, { version: op.version, body: JSON.parse(JSON.stringify(op.document)), meta: { ...op.meta } });
        written += 1;
      }
    }
    return written;
  }
  async refresh() {}
}

const source = (records: SourceRecord[], batch = 2): RecordSource => ({
  async estimateCount() {
    return records.length;
  },
  fractionDone: () => 0,
  async *scan() {
    for (let i = 0; i < records.length; i += batch) yield records.slice(i, i + batch);
  },
});

const run = (records: SourceRecord[], index: MemoryIndex, failures = new MemoryFailureLedger()) =>
  fullSync({ source: source(records), sink: index, failures }, { pipeline: 'p', index: 'i' });

describe('fullSync', () => {
  const rows: SourceRecord[] = [
    { id: 'a', version: 10, document: { id: 'a', x: 1, y: 2 } },
    { id: 'b', version: 20, document: { id: 'b', x: 3, y: null } },
    { id: 'c', version: 30, document: { id: 'c', x: 5, y: 6 } },
  ];

  it('copies every record, then reports every record unchanged on a re-run', async () => {
    const index = new MemoryIndex();
    const first = await run(rows, index);
    expect(first).toMatchObject({ read: 3, indexed: 3, unchanged: 0, failed: 0 });
    const writes = index.writes;
    const second = await run(rows, index);
    expect(second).toMatchObject({ read: 3, indexed: 0, unchanged: 3, failed: 0 });
    expect(index.writes).toBe(writes);
  });

  it('carries a change whose version did not move, and a removal whose version went back', async () => {
    const index = new MemoryIndex();
    await run(rows, index);
    const changed: SourceRecord[] = [
      { id: 'a', version: 10, document: { id: 'a', x: 1, y: null } }, // y set to null: version unchanged
      { id: 'c', version: 25, document: { id: 'c', x: 5, y: null } }, // y (the newest cell) removed: version went back
    ];
    const r = await run(changed, index);
    expect(r).toMatchObject({ indexed: 2, unchanged: 0 });
    expect(index.docs.get('a')!.body).toEqual({ id: 'a', x: 1, y: null });
    expect(index.docs.get('c')).toMatchObject({ version: 30, body: { id: 'c', x: 5, y: null } });
  });

  it('never lets an older record overwrite a newer document', async () => {
    const index = new MemoryIndex();
    index.docs.set('a', { version: 99, body: { id: 'a', x: 42, y: 2 }, meta: {} });
    const r = await run([rows[0]!], index);
    expect(r).toMatchObject({ indexed: 0, unchanged: 1 });
    expect(index.docs.get('a')!.body.x).toBe(42);
  });

  it('puts rejected documents in the ledger and goes on', async () => {
    const index = new MemoryIndex();
    index.reject.add('b');
    const ledger = new MemoryFailureLedger();
    const r = await run(rows, index, ledger);
    expect(r).toMatchObject({ read: 3, indexed: 2, failed: 1 });
    expect(ledger.entries).toEqual([expect.objectContaining({ id: 'b', pipeline: 'p', errorClass: 'mapping', reason: 'bad value' })]);
  });
});
