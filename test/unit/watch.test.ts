import { describe, expect, it } from 'vitest';
import { watch, type WatchStep } from '../../src/engine/watch.js';
import { emptyCounters, finishReport } from '../../src/engine/run-report.js';
import { MemoryState } from './fakes.js';

const report = (read: number) =>
  finishReport({ pipeline: 'p', mode: 'incremental', dryRun: false, index: 'i', indexCreated: false, failureLedger: undefined, counters: { ...emptyCounters(), read }, started: 0, finished: 1 });

describe('watch', () => {
  it('runs rounds until stopped, without pausing while batches come back full, and releases its lease', async () => {
    const state = new MemoryState();
    const abort = new AbortController();
    const reads = [500, 500, 3, 0, 0];
    const slept: number[] = [];
    const step: WatchStep = {
      pipeline: 'p',
      direction: 'to-elasticsearch',
      batchSize: 500,
      run: async () => {
        const r = report(reads.shift() ?? 0);
        if (reads.length === 0) abort.abort();
        return r;
      },
    };
    const clock = { now: () => 0, sleep: async (ms: number) => void slept.push(ms) };
    const { rounds } = await watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: 1000, signal: abort.signal, clock });
    expect(rounds).toBe(5);
    expect(slept).toEqual([100, 100, 100]); // none after the two full batches
    expect(state.leases.size).toBe(0);
  });

  it('refuses a pipeline another watcher holds', async () => {
    const state = new MemoryState();
    await state.acquireLease('watch:p', 'other', 1000);
    const step: WatchStep = { pipeline: 'p', direction: 'to-elasticsearch', batchSize: 1, run: async () => report(0) };
    await expect(watch([step], state, { owner: 'me', intervalMs: 1, leaseTtlMs: 1000, signal: new AbortController().signal })).rejects.toThrow(
      /already watched by other/,
    );
    expect(state.leases.get('watch:p')).toBe('other');
  });
});
