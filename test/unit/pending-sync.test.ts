// The pending engine (src/engine/pending-sync.ts) against in-memory fakes: only ids whose
// documents the target acknowledged are marked done; failed ones stay pending; a stopped run
// marks nothing it did not finish; a dry run marks nothing.
import { describe, expect, it } from 'vitest';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { pendingSync } from '../../src/engine/pending-sync.js';
import type { ParsedKey, PendingBatch, PendingSource } from '../../src/engine/ports.js';
import type { SourceRecord } from '../../src/engine/record.js';
import { MemoryIndex, memorySource } from './fakes.js';

const rec = (id: string, version: number): SourceRecord => ({ id, version, document: { id, v: version } });
const key = (id: string): ParsedKey => ({ id, values: [id] });

/** A flag column in memory: ids pending; settle clears the done ones; take goes through them once per pass. */
class MemoryPending implements PendingSource {
  pending: Set<string>;
  held = new Set<string>();
  settled: string[][] = [];
  private after: string | undefined;
  private ended = false;
  constructor(ids: string[]) {
    this.pending = new Set(ids);
  }
  /** As the PostgreSQL ones: in key order after the last key taken; the batch after the end of a pass is empty. */
  async take(max: number): Promise<PendingBatch> {
    if (this.ended) {
      this.ended = false;
      return { keys: [], taken: null };
    }
    const all = [...this.pending].sort().filter((id) => !this.held.has(id) && (this.after === undefined || id > this.after));
    const batch = all.slice(0, max);
    this.after = batch[batch.length - 1];
    if (batch.length < max) {
      this.after = undefined;
      this.ended = batch.length > 0;
    }
    return { keys: batch.map(key), taken: null };
  }
  async settle(batch: PendingBatch, done: ReadonlySet<string>): Promise<number> {
    const ok = batch.keys.map((k) => k.id).filter((id) => done.has(id));
    for (const k of batch.keys) if (!done.has(k.id)) this.held.add(k.id);
    for (const id of ok) this.pending.delete(id);
    this.settled.push(ok);
    return ok.length;
  }
  async count() {
    return this.pending.size;
  }
}

describe('pending sync', () => {
  it('indexes every pending row in batches and marks each done once written', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => rec(`k${i}`, 10 + i));
    const source = memorySource(rows);
    const index = new MemoryIndex();
    const pending = new MemoryPending(rows.map((r) => r.id));
    const r = await pendingSync({ source, sink: index, failures: new MemoryFailureLedger(), pending }, { pipeline: 'p', index: 'i', batchSize: 3 });
    expect(r.indexed).toBe(7);
    expect(pending.pending.size).toBe(0);
    expect(index.docs.size).toBe(7);
    expect(r.mode).toBe('pending');
  });

  it('leaves a refused document pending (and in the ledger), marks the rest, and ends', async () => {
    const rows = [rec('a', 1), rec('b', 2), rec('c', 3)];
    const index = new MemoryIndex();
    index.reject.add('b');
    const pending = new MemoryPending(['a', 'b', 'c']);
    const ledger = new MemoryFailureLedger();
    const r = await pendingSync({ source: memorySource(rows), sink: index, failures: ledger, pending }, { pipeline: 'p', index: 'i', batchSize: 10 });
    expect(r.failed).toBe(1);
    expect([...pending.pending]).toEqual(['b']);
    expect(ledger.entries.map((e) => e.id)).toEqual(['b']);
  });

  it('marks a pending key without a row done once its document is deleted', async () => {
    const index = new MemoryIndex();
    index.docs.set('gone', { version: 5, body: {}, meta: {} });
    const pending = new MemoryPending(['gone']);
    const r = await pendingSync({ source: memorySource([]), sink: index, failures: new MemoryFailureLedger(), pending }, { pipeline: 'p', index: 'i', batchSize: 10 });
    expect(r.deleted).toBe(1);
    expect(index.docs.has('gone')).toBe(false);
    expect(pending.pending.size).toBe(0);
  });

  it('marks nothing when the target fails: every entry stays pending', async () => {
    const rows = [rec('a', 1), rec('b', 2)];
    const index = new MemoryIndex();
    index.failAfter = 0;
    const pending = new MemoryPending(['a', 'b']);
    await expect(pendingSync({ source: memorySource(rows), sink: index, failures: new MemoryFailureLedger(), pending }, { pipeline: 'p', index: 'i', batchSize: 10 })).rejects.toThrow();
    expect([...pending.pending].sort()).toEqual(['a', 'b']);
    expect(pending.settled).toEqual([]);
  });

  it('a dry run writes and marks nothing, and plans every pending row', async () => {
    const rows = [rec('a', 1), rec('b', 2), rec('c', 3)];
    const index = new MemoryIndex();
    const pending = new MemoryPending(['a', 'b', 'c']);
    const r = await pendingSync({ source: memorySource(rows), sink: index, failures: new MemoryFailureLedger(), pending }, { pipeline: 'p', index: 'i', batchSize: 2, dryRun: true, planPath: `${process.env.TMPDIR ?? '/tmp'}/cesync-pending-plan-${process.pid}.ndjson` });
    expect(r.dryRun).toBe(true);
    expect(r.created).toBe(3);
    expect(index.docs.size).toBe(0);
    expect(pending.pending.size).toBe(3);
  });

  it('a stopped run reports interrupted and leaves what it did not finish pending', async () => {
    const rows = Array.from({ length: 4 }, (_, i) => rec(`k${i}`, i + 1));
    const controller = new AbortController();
    const pending = new MemoryPending(rows.map((r) => r.id));
    const inner = pending.settle.bind(pending);
    pending.settle = async (b, d) => {
      const n = await inner(b, d);
      controller.abort(); // stop after the first batch is marked
      return n;
    };
    const r = await pendingSync({ source: memorySource(rows), sink: new MemoryIndex(), failures: new MemoryFailureLedger(), pending }, { pipeline: 'p', index: 'i', batchSize: 2, signal: controller.signal });
    expect(r.interrupted).toBe(true);
    expect(pending.pending.size).toBe(2);
  });
});
