import { describe, expect, it } from 'vitest';
import { fullSync } from '../../src/engine/full-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import type { StateStore } from '../../src/engine/ports.js';
import type { SourceRecord } from '../../src/engine/record.js';
import { MemoryIndex, MemoryState, memorySource } from './fakes.js';

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

describe('the watermark a full sync leaves', () => {
  const rows: SourceRecord[] = [{ id: 'a', version: 10, document: { id: 'a' } }];
  it('starts at the sync start minus the safety lag', async () => {
    const state = new MemoryState();
    const now = 1_800_000_000_000;
    await fullSync({ source: memorySource(rows), sink: new MemoryIndex(), failures: new MemoryFailureLedger(), state, now: () => now }, { pipeline: 'p', index: 'i', safetyLagMs: 5000 });
    expect((await state.loadWatermark('p', 'to-elasticsearch'))?.version).toBe((now - 5000) * 1000);
  });
  it('never after the start of a transaction still writing when the sync began (its rows appear at its commit)', async () => {
    const state = new MemoryState();
    const now = 1_800_000_000_000;
    const openSince = (now - 60_000) * 1000; // a transaction open for a minute
    const source = { ...memorySource(rows), openWritesSince: async () => openSince };
    await fullSync({ source, sink: new MemoryIndex(), failures: new MemoryFailureLedger(), state, now: () => now }, { pipeline: 'p', index: 'i', safetyLagMs: 5000 });
    expect((await state.loadWatermark('p', 'to-elasticsearch'))?.version).toBe(openSince - 1);
  });
});
