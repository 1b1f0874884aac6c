// In-memory fakes of the engine's ports, for unit tests of pure logic.
import type { Direction, DocumentSink, ParsedKey, PipelineState, RecordSource, SpanProgress, StateStore, VerifySummary, Watermark } from '../../src/engine/ports.js';
import { interrupted } from '../../src/engine/interrupt.js';
import type { SourceBatch, SourceRecord, StoredVersion, WriteOp, WriteOutcome } from '../../src/engine/record.js';
import type { Clock } from '../../src/engine/throttle.js';
import { CesyncError } from '../../src/errors.js';

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
  /** Versions of deleted documents, as Elasticsearch remembers them for index.gc_deletes. */
  tombstones = new Map<string, number>();
  /** Ids refused as transient (429) this many more times. */
  transient = new Map<string, number>();
  async write(ops: AsyncIterable<WriteOp>, onOutcome: (op: WriteOp, o: WriteOutcome) => void) {
    for await (const op of ops) {
      if (this.writes >= this.failAfter) throw new Error('target down');
      this.writes += 1;
      const cur = this.docs.get(op.id);
      const left = this.transient.get(op.id) ?? 0;
      if (left > 0) {
        this.transient.set(op.id, left - 1);
        onOutcome(op, { kind: 'rejected', errorClass: 'transient', errorType: 'es_rejected_execution_exception', reason: 'rejected execution' });
      } else if (op.kind === 'delete') {
        // Like the sink: a tombstone above the version decided on (and at least notBefore), refused if the document is newer.
        if (cur && cur.version > op.version) onOutcome(op, { kind: 'conflict', currentVersion: cur.version });
        else {
          this.docs.delete(op.id);
          this.tombstones.set(op.id, Math.max(op.version + 1, op.notBefore ?? 0));
          onOutcome(op, { kind: 'deleted' });
        }
      } else if (this.reject.has(op.id)) {
        onOutcome(op, { kind: 'rejected', errorClass: 'mapping', errorType: 'document_parsing_exception', reason: 'bad value' });
      } else if (cur && (cur.version > op.version || (op.strict && cur.version === op.version))) onOutcome(op, { kind: 'conflict', currentVersion: cur.version });
      else if (!cur && (this.tombstones.get(op.id) ?? 0) > op.version) onOutcome(op, { kind: 'conflict', currentVersion: this.tombstones.get(op.id) });
      else {
        this.tombstones.delete(op.id);
        this.docs.set(op.id, { version: op.version, body: JSON.parse(op.json) as Record<string, unknown>, meta: { ...op.meta } });
        onOutcome(op, { kind: 'written', created: !cur });
      }
    }
  }
  async refresh() {}
}

/** Records spread over two spans, two per batch. */
export function memorySource(records: SourceRecord[]): RecordSource & { scanned: number; rows: Map<string, SourceRecord> } {
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
    /** The rows of these keys as the source holds them now (`rows` may be changed by a test). */
    async *read(keys: readonly ParsedKey[], options: { signal?: AbortSignal } = {}): AsyncGenerator<SourceBatch> {
      if (options.signal?.aborted) throw interrupted();
      const found = keys.map((k) => src.rows.get(k.id)).filter((r): r is SourceRecord => r !== undefined);
      if (found.length > 0) yield { records: found };
    },
    rows: new Map(records.map((r) => [r.id, r])),
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
  verifies = new Map<string, VerifySummary>();
  async saveVerify(s: VerifySummary) {
    this.verifies.set(s.pipeline, s);
  }
  async loadVerify(p: string) {
    return this.verifies.get(p);
  }
  async close() {}
}


/**
 * A clock that moves only when told: `advance` wakes each sleeper at its time, in time order, and
 * lets whatever it starts run (until it sleeps or waits again) before waking the next.
 */
export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: { at: number; seq: number; wake: () => void }[] = [];
  now() {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve();
      };
      const timer = {
        at: this.t + ms,
        seq: this.seq++,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.t = due.at;
      due.wake();
    }
    this.t = end;
    await settle();
  }
}

/** Lets every pending promise chain run to its next wait on a timer or I/O. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * MemoryState whose leases expire by a clock, like the real stores' leases, and whose lease calls
 * throw STORE_UNAVAILABLE while `down` is set, like a state store that does not answer.
 */
export class ExpiringLeaseState extends MemoryState {
  private readonly clock: Clock;
  expiring = new Map<string, { owner: string; expiresAt: number }>();
  down = false;
  renewals = 0;
  constructor(clock: Clock) {
    super();
    this.clock = clock;
  }
  private live(name: string) {
    const cur = this.expiring.get(name);
    return cur && cur.expiresAt > this.clock.now() ? cur : undefined;
  }
  private answer() {
    if (this.down) throw new CesyncError('STORE_UNAVAILABLE', 'state store is unreachable');
  }
  override async acquireLease(name: string, owner: string, ttlMs = 0) {
    this.answer();
    const cur = this.live(name);
    if (cur && cur.owner !== owner) return false;
    this.expiring.set(name, { owner, expiresAt: this.clock.now() + ttlMs });
    return true;
  }
  override async renewLease(name: string, owner: string, ttlMs = 0) {
    this.renewals += 1;
    this.answer();
    if (this.live(name)?.owner !== owner) return false;
    this.expiring.set(name, { owner, expiresAt: this.clock.now() + ttlMs });
    return true;
  }
  override async releaseLease(name: string, owner: string) {
    this.answer();
    if (this.expiring.get(name)?.owner === owner) this.expiring.delete(name);
  }
  override async leaseHolder(name: string) {
    this.answer();
    return this.live(name)?.owner;
  }
  /** Another process takes the lease, as it could once this one's had expired unseen. */
  take(name: string, owner: string, ttlMs: number) {
    this.expiring.set(name, { owner, expiresAt: this.clock.now() + ttlMs });
  }
}
