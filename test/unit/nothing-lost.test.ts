// The engine's "nothing lost, nothing deleted that lives" rules, each against fakes that behave
// like the stores: interrupted reads, transient refusals, equal-version races and tombstones.
import { describe, expect, it } from 'vitest';
import { fullSync } from '../../src/engine/full-sync.js';
import { incrementalSync } from '../../src/engine/incremental-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { parseKeyInputs } from '../../src/engine/key-input.js';
import type { ParsedKey, RecordSource, VersionEntry } from '../../src/engine/ports.js';
import type { SourceBatch, SourceRecord } from '../../src/engine/record.js';
import { targetedSync } from '../../src/engine/targeted-sync.js';
import type { Clock } from '../../src/engine/throttle.js';
import { digestOfJson } from '../../src/engine/planner.js';
import { MemoryIndex, MemoryState, memorySource } from './fakes.js';

const rec = (id: string, version: number, x: unknown = 1): SourceRecord => ({ id, version, document: { id, x } });
const noSleep: Clock = { now: () => 0, sleep: async () => undefined };

/** A source whose key reads abort `controller` after `after` keys were read. */
function abortingSource(records: SourceRecord[], controller: AbortController, after: number): RecordSource {
  const base = memorySource(records);
  return {
    ...base,
    async *read(keys: readonly ParsedKey[], options: { signal?: AbortSignal }): AsyncGenerator<SourceBatch> {
      for (let i = 0; i < keys.length; i += 10) {
        if (i >= after) controller.abort();
        yield* base.read(keys.slice(i, i + 10), options);
      }
    },
    changed: () => ({
      method: 'scan' as const,
      entries: (async function* () {
        yield records.map((r): VersionEntry => ({ id: r.id, version: r.version }));
      })(),
    }),
  };
}

function indexOf(records: SourceRecord[]): MemoryIndex {
  const index = new MemoryIndex();
  for (const r of records) index.docs.set(r.id, { version: r.version, body: { ...r.document }, meta: { digest: digestOfJson(JSON.stringify(r.document)) } });
  return index;
}

describe('an interrupted read is not the end of its input', () => {
  it('a targeted sync with deleteMissing stopped mid-read deletes nothing and says it was interrupted', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => rec(`k${i}`, 10));
    const index = indexOf(rows);
    const controller = new AbortController();
    const source = abortingSource(rows, controller, 30);
    const input = parseKeyInputs(rows.map((r, i) => ({ line: i + 1, fields: [r.id] })), source);
    await expect(
      targetedSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i', input, deleteMissing: true, signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'INTERRUPTED' });
    expect(index.docs.size).toBe(100);
    expect(index.writes).toBe(0);
  });

  it('an incremental run stopped mid-chunk leaves the watermark before every row it did not write', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => rec(`k${String(i).padStart(3, '0')}`, 100 + i));
    const index = new MemoryIndex();
    const state = new MemoryState();
    const controller = new AbortController();
    const source = abortingSource(rows, controller, 20);
    const report = await incrementalSync(
      { source, sink: index, failures: new MemoryFailureLedger(), state },
      { pipeline: 'p', index: 'i', from: { version: 0, id: '' }, to: 1_000, saveWatermark: true, batchSize: 40, signal: controller.signal },
    );
    expect(report.interrupted).toBe(true);
    const mark = (await state.loadWatermark('p', 'to-elasticsearch')) ?? { version: 0, id: '' };
    // Every row at or before the watermark is in the index.
    for (const r of rows) if (r.version <= mark.version) expect(index.docs.has(r.id), r.id).toBe(true);

    const again = abortingSource(rows, new AbortController(), Infinity);
    await incrementalSync({ source: again, sink: index, failures: new MemoryFailureLedger(), state }, { pipeline: 'p', index: 'i', from: mark, to: 1_000, saveWatermark: true, batchSize: 40 });
    expect(index.docs.size).toBe(100);
  });

  it('a full sync stopped mid-scan saves only what it wrote and resumes to the end', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => rec(`r${i}`, 5));
    const index = new MemoryIndex();
    const state = new MemoryState();
    const controller = new AbortController();
    const source = memorySource(rows);
    const scan = source.scan.bind(source);
    source.scan = async function* (spans, options) {
      let n = 0;
      for await (const b of scan(spans, options)) {
        if (++n === 4) controller.abort();
        if (controller.signal.aborted && n > 4) throw new (await import('../../src/errors.js')).CesyncError('INTERRUPTED', 'stopped');
        yield b;
      }
    };
    const first = await fullSync({ source, sink: index, failures: new MemoryFailureLedger(), state }, { pipeline: 'p', index: 'i', signal: controller.signal });
    expect(first.interrupted).toBe(true);
    expect(state.states.get('p')!.status).toBe('interrupted');
    const second = await fullSync({ source: memorySource(rows), sink: index, failures: new MemoryFailureLedger(), state }, { pipeline: 'p', index: 'i' });
    expect(second.resumedSpans + second.read).toBeGreaterThan(0);
    expect(index.docs.size).toBe(40);
  });
});

describe('a transient refusal of one document is not an answer', () => {
  it('is written again with backoff and counted once', async () => {
    const index = new MemoryIndex();
    index.transient.set('b', 3);
    const ledger = new MemoryFailureLedger();
    const r = await fullSync({ source: memorySource([rec('a', 1), rec('b', 1), rec('c', 1)]), sink: index, failures: ledger, clock: noSleep }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ read: 3, indexed: 3, failed: 0 });
    expect(ledger.entries).toEqual([]);
    expect(index.docs.has('b')).toBe(true);
  });

  it('that persists stops the run, and the checkpoint stays before the document', async () => {
    const rows = Array.from({ length: 8 }, (_, i) => rec(`r${i}`, 1));
    const index = new MemoryIndex();
    index.transient.set('r1', 1000);
    const state = new MemoryState();
    await expect(
      fullSync({ source: memorySource(rows), sink: index, failures: new MemoryFailureLedger(), state, clock: noSleep }, { pipeline: 'p', index: 'i' }),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    const saved = state.states.get('p')!;
    expect(saved.status).toBe('failed');
    // r1 is in the first span's first batch: that span has not moved at all.
    expect(saved.spans[0]).toMatchObject({ done: false });
    expect(saved.spans[0]!.after).toBeUndefined();
    expect(await state.loadWatermark('p', 'to-elasticsearch')).toBeUndefined();

    index.transient.clear();
    await fullSync({ source: memorySource(rows), sink: index, failures: new MemoryFailureLedger(), state }, { pipeline: 'p', index: 'i' });
    expect(index.docs.size).toBe(8);
  });

  it('never moves an incremental watermark past it', async () => {
    const rows = [rec('a', 10), rec('b', 20), rec('c', 30)];
    const index = new MemoryIndex();
    index.transient.set('b', 1000);
    const state = new MemoryState();
    const source = abortingSource(rows, new AbortController(), Infinity);
    await expect(
      incrementalSync(
        { source, sink: index, failures: new MemoryFailureLedger(), state, clock: noSleep },
        { pipeline: 'p', index: 'i', from: { version: 0, id: '' }, to: 100, saveWatermark: true, batchSize: 1 },
      ),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await state.loadWatermark('p', 'to-elasticsearch')).toEqual({ version: 10, id: 'a' });
  });
});

describe('a write at the version the index holds is confirmed against the row', () => {
  it('an older read is not written over a newer document written at the same version meanwhile', async () => {
    // Sync A read {x:[1]} at version 10. Then the row became {x:[1,2]} at version 20, and sync B
    // wrote that. A's record looks like a removal from B's document; the row, read again, is not A's.
    const index = indexOf([{ id: 'k', version: 20, document: { id: 'k', x: [1, 2] } }]);
    const source = memorySource([{ id: 'k', version: 10, document: { id: 'k', x: [1] } }]);
    source.rows.set('k', { id: 'k', version: 20, document: { id: 'k', x: [1, 2] } });
    const r = await fullSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ indexed: 0, unchanged: 1 });
    expect(index.docs.get('k')!.body).toEqual({ id: 'k', x: [1, 2] });
  });

  it('a removal that the row confirms is still written at the stored version', async () => {
    const index = indexOf([{ id: 'k', version: 20, document: { id: 'k', x: [1, 2] } }]);
    const source = memorySource([{ id: 'k', version: 10, document: { id: 'k', x: [1] } }]);
    const r = await fullSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ indexed: 1 });
    expect(index.docs.get('k')).toMatchObject({ version: 20, body: { id: 'k', x: [1] } });
  });

  it('a repair forced over an edited document does not write a read older than the document', async () => {
    // The repair read the row at version 10; then the row changed at 30, and watch wrote that.
    const index = indexOf([{ id: 'k', version: 30, document: { id: 'k', x: 'newest' } }]);
    const source = memorySource([rec('k', 10, 'old')]);
    const read = source.read.bind(source);
    let reads = 0;
    source.read = (keys, options) => {
      if (++reads === 2) source.rows.set('k', rec('k', 30, 'newest'));
      return read(keys, options);
    };
    const input = parseKeyInputs([{ line: 1, fields: ['k'] }], source);
    await targetedSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i', input, force: new Set(['k']) });
    expect(index.docs.get('k')!.body).toEqual({ id: 'k', x: 'newest' });
  });
});

describe('a creation does not overwrite a document that appeared at the same version', () => {
  it('written meanwhile with other content under the same WRITETIME: the creation is refused', async () => {
    const index = new MemoryIndex();
    const prepare = index.prepare.bind(index);
    index.prepare = async () => {
      const r = await prepare(); // empty: no lookups, every record a creation
      index.docs.set('k', { version: 10, body: { id: 'k', x: 'B (a column set to null at the same version)' }, meta: {} });
      return r;
    };
    const r = await fullSync({ source: memorySource([rec('k', 10, 'A')]), sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ indexed: 0, unchanged: 1 });
    expect(index.docs.get('k')!.body.x).toMatch(/^B/);
  });
});

describe('deletes never resurrect', () => {
  it('a late copy of a deleted row does not bring its document back', async () => {
    const row = rec('k', 10);
    const index = indexOf([row]);
    const gone = memorySource([]);
    const input = parseKeyInputs([{ line: 1, fields: ['k'] }], gone);
    const del = await targetedSync({ source: gone, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i', input, deleteMissing: true });
    expect(del.deleted).toBe(1);
    // A sync that read the row before it was deleted writes it late: the tombstone refuses it,
    // and the row, read again, is gone, so it is not re-created under the tombstone's version.
    const late = memorySource([row]);
    late.rows.delete('k');
    const r = await fullSync({ source: late, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ indexed: 0, unchanged: 1 });
    expect(index.docs.has('k')).toBe(false);
  });

  it('a row that exists is re-created under a tombstone, from its fresh read', async () => {
    const index = new MemoryIndex();
    index.tombstones.set('k', 50);
    const source = memorySource([rec('k', 10, 'first read')]);
    source.rows.set('k', rec('k', 12, 'fresh'));
    const r = await fullSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ indexed: 1 });
    expect(index.docs.get('k')).toMatchObject({ version: 50, body: { id: 'k', x: 'fresh' } });
  });

  it('a delete outranks the version it was decided on, and spares a newer document', async () => {
    const index = indexOf([rec('a', 10), rec('b', 10)]);
    const gone = memorySource([]);
    const input = parseKeyInputs([{ line: 1, fields: ['a'] }], gone);
    await targetedSync(
      { source: gone, sink: index, failures: new MemoryFailureLedger() },
      { pipeline: 'p', index: 'i', input, deleteMissing: true, alsoDelete: [{ id: 'b', version: 9 }] },
    );
    // Above the version decided on, and no lower than the moment the row was confirmed gone.
    expect(index.tombstones.get('a')).toBeGreaterThan(10);
    expect(index.tombstones.get('a')).toBeGreaterThanOrEqual(Date.now() * 1000 - 60_000_000);
    expect(index.docs.has('b')).toBe(true);
  });

  it('a row written between the read and the delete is not deleted (the missing ids are read again)', async () => {
    const index = indexOf([rec('k', 10)]);
    const source = memorySource([]);
    const read = source.read.bind(source);
    let reads = 0;
    source.read = (keys, options) => {
      // The first read finds no row; then the application writes it again.
      if (++reads === 2) source.rows.set('k', rec('k', 50, 'written again'));
      return read(keys, options);
    };
    const input = parseKeyInputs([{ line: 1, fields: ['k'] }], source);
    const r = await targetedSync({ source, sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i', input, deleteMissing: true });
    expect(r.deleted).toBe(0);
    expect(index.docs.has('k')).toBe(true);
  });
});
