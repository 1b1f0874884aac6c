import { describe, expect, it } from 'vitest';
import { fullSync } from '../../src/engine/full-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import type { Direction, DocumentSink, PipelineState, RecordSource, SpanProgress, StateStore, Watermark } from '../../src/engine/ports.js';
import type { SourceBatch, SourceRecord, StoredVersion, WriteOp, WriteOutcome } from '../../src/engine/record.js';

/** An in-memory index that enforces external_gte versions like Elasticsearch. */
export class MemoryIndex implements DocumentSink {
  docs = new Map<string, { version: number; body: Record<string, unknown>; meta: Record<string, unknown> }>();
  writes = 0;
  reject = new Set<string>();
  /** Throw (as a request failure) after this many writes. */
  failAfter = Infinity;
  async prepare() {
    return { created: false, exists: true, empty: this.docs.size === 0 };
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
  async write(ops: AsyncIterable<WriteOp>, onOutcome: (op: WriteOp, o: WriteOutcome) => void) {
    for await (const op of ops) {
      if (this.writes >= this.failAfter) throw new Error('target down');
      this.writes += 1;
      const cur = this.docs.get(op.id);
      if (op.kind === 'delete') {
        if (cur && cur.version > op.version) onOutcome(op, { kind: 'conflict' });
        else {
          this.docs.delete(op.id);
          onOutcome(op, { kind: 'deleted' });
        }
      } else if (this.reject.has(op.id)) {
        onOutcome(op, { kind: 'rejected', errorClass: 'mapping', errorType: 'document_parsing_exception', reason: 'bad value' });
      } else if (cur && cur.version > op.version) onOutcome(op, { kind: 'conflict' });
      else {
        this.docs.set(op.id, { version: op.version, body: JSON.parse(op.json) as Record<string, unknown>, meta: { ...op.meta } });
        onOutcome(op, { kind: 'written', created: !cur });
      }
    }
  }
  async refresh() {}
}

/** Records spread over two spans, two per batch. */
export function memorySource(records: SourceRecord[]): RecordSource & { scanned: number } {
  const half = Math.ceil(records.length / 2);
  const bySpan = [records.slice(0, half), records.slice(half)];
  const src = {
    scanned: 0,
    spans: () => [
      { start: '0', end: '100' },
      { start: '100', end: null },
    ],
    async *scan(spans: readonly SpanProgress[]): AsyncGenerator<SourceBatch> {
      for (let s = 0; s < spans.length; s++) {
        if (spans[s]!.done) continue;
        const rows = bySpan[s]!;
        const from = spans[s]!.after !== undefined ? Number(spans[s]!.after) + 1 : 0;
        for (let i = from; i < rows.length; i += 2) {
          src.scanned += rows.slice(i, i + 2).length;
          yield { records: rows.slice(i, i + 2), position: { span: s, after: String(Math.min(i + 1, rows.length - 1)), last: i + 2 >= rows.length } };
        }
        if (rows.length === 0) yield { records: [], position: { span: s, after: '0', last: true } };
      }
    },
    read: () => (async function* () {})(),
    scanVersions: () => (async function* () {})(),
    changed: () => ({ method: 'scan' as const, entries: (async function* () {})() }),
    keyColumns: () => ['id'],
    parseKey: (parts: readonly string[]) => ({ id: parts[0]!, values: [...parts] }),
    idParts: (id: string) => [id],
    estimateCount: async () => records.length,
    fractionDone: () => 0,
  };
  return src;
}

export class MemoryState implements StateStore {
  states = new Map<string, PipelineState>();
  async load(p: string) {
    return this.states.get(p);
  }
  async save(s: PipelineState) {
    this.states.set(s.pipeline, JSON.parse(JSON.stringify(s)) as PipelineState);
  }
  async list() {
    return [...this.states.values()];
  }
  marks = new Map<string, Watermark>();
  async loadWatermark(p: string, d: Direction) {
    return this.marks.get(`${p}/${d}`);
  }
  async saveWatermark(p: string, d: Direction, m: Watermark) {
    this.marks.set(`${p}/${d}`, m);
  }
  async close() {}
}

const run = (records: SourceRecord[], index: MemoryIndex, failures = new MemoryFailureLedger(), state?: StateStore, restart = false) =>
  fullSync({ source: memorySource(records), sink: index, failures, state }, { pipeline: 'p', index: 'i', restart });

describe('fullSync', () => {
  const rows: SourceRecord[] = [
    { id: 'a', version: 10, document: { id: 'a', x: 1, y: 2 } },
    { id: 'b', version: 20, document: { id: 'b', x: 3, y: null } },
    { id: 'c', version: 30, document: { id: 'c', x: 5, y: 6 } },
  ];

  it('copies every record, then reports every record unchanged on a re-run', async () => {
    const index = new MemoryIndex();
    const first = await run(rows, index);
    expect(first).toMatchObject({ read: 3, indexed: 3, created: 3, unchanged: 0, failed: 0 });
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
    expect(r).toMatchObject({ indexed: 2, updated: 2, unchanged: 0 });
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

  it('saves progress only past acknowledged writes, and resumes from it', async () => {
    const many: SourceRecord[] = Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, version: 5, document: { id: `r${i}` } }));
    const index = new MemoryIndex();
    index.failAfter = 7;
    const state = new MemoryState();
    await expect(run(many, index, undefined, state)).rejects.toThrow('target down');
    const saved = state.states.get('p')!;
    expect(saved.status).toBe('failed');
    // 7 writes were acknowledged: the first span's batches of rows 0-5 are complete, so it resumes after row 5.
    expect(saved.spans[0]).toMatchObject({ after: '5', done: false });
    expect(saved.spans[1]).toMatchObject({ done: false });

    index.failAfter = Infinity;
    const source = memorySource(many);
    const resumed = await fullSync({ source, sink: index, failures: new MemoryFailureLedger(), state }, { pipeline: 'p', index: 'i' });
    expect(source.scanned).toBe(14);
    expect(resumed).toMatchObject({ read: 14, failed: 0 });
    expect(index.docs.size).toBe(20);
    expect(state.states.get('p')).toMatchObject({ status: 'finished', spans: [] });
  });

  it('plans without writing in a dry run', async () => {
    const index = new MemoryIndex();
    await run([rows[0]!], index);
    const r = await fullSync(
      { source: memorySource([{ ...rows[0]!, version: 11, document: { id: 'a', x: 9 } }, rows[1]!]), sink: index, failures: new MemoryFailureLedger() },
      { pipeline: 'p', index: 'i', dryRun: true },
    );
    expect(r).toMatchObject({ dryRun: true, read: 2, created: 1, updated: 1, unchanged: 0, indexed: 0 });
    expect(r.samples).toMatchObject({ create: ['b'], update: ['a'] });
    expect(index.docs.get('a')!.version).toBe(10);
  });
});
