// In-memory fakes of the engine's ports, for unit tests of pure logic.
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
  leases = new Map<string, string>();
  async acquireLease(name: string, owner: string, _ttlMs?: number) {
    const cur = this.leases.get(name);
    if (cur && cur !== owner) return false;
    this.leases.set(name, owner);
    return true;
  }
  async renewLease(name: string, owner: string, _ttlMs?: number) {
    return this.leases.get(name) === owner;
  }
  async releaseLease(name: string, owner: string) {
    if (this.leases.get(name) === owner) this.leases.delete(name);
  }
  async leaseHolder(name: string) {
    return this.leases.get(name);
  }
  async close() {}
}

