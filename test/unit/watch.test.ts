import { describe, expect, it } from 'vitest';
import { watch, type WatchStep } from '../../src/engine/watch.js';
import { emptyCounters, finishReport } from '../../src/engine/run-report.js';
import { CesyncError, type ErrorCode } from '../../src/errors.js';
import { ExpiringLeaseState, ManualClock, MemoryState } from './fakes.js';

const report = (read: number) =>
  finishReport({ pipeline: 'p', mode: 'incremental', dryRun: false, index: 'i', indexCreated: false, failureLedger: undefined, counters: { ...emptyCounters(), read }, started: 0, finished: 1 });

const stepOf = (run: WatchStep['run'], pipeline = 'p'): WatchStep => ({ pipeline, direction: 'to-elasticsearch', batchSize: 500, run });

/** Moves the clock on until `work` settles (or `limitMs` passed), then hands back `work`. */
async function drive<T>(clock: ManualClock, work: Promise<T>, limitMs = 600_000, stepMs = 50): Promise<T> {
  let done = false;
  work.then(
    () => (done = true),
    () => (done = true),
  );
  for (let t = 0; !done && t < limitMs; t += stepMs) await clock.advance(stepMs);
  return work;
}

const TTL = 3000; // renewed every 1000

describe('watch', () => {
  it('runs rounds until stopped, without pausing while batches come back full, and releases its lease', async () => {
    const clock = new ManualClock();
    const state = new MemoryState();
    const abort = new AbortController();
    const reads = [500, 500, 3, 0, 0];
    const runsAt: number[] = [];
    const step = stepOf(async () => {
      runsAt.push(clock.now());
      const r = report(reads.shift() ?? 0);
      if (reads.length === 0) abort.abort();
      return r;
    });
    const { rounds } = await drive(clock, watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: 1000, signal: abort.signal, clock }));
    expect(rounds).toBe(5);
    expect(runsAt).toEqual([0, 0, 0, 100, 200]); // no pause after the two full batches
    expect(state.leases.size).toBe(0);
  });

  it('refuses a pipeline another watcher holds', async () => {
    const state = new MemoryState();
    await state.acquireLease('watch:p', 'other', 1000);
    const step = stepOf(async () => report(0));
    await expect(watch([step], state, { owner: 'me', intervalMs: 1, leaseTtlMs: 1000, signal: new AbortController().signal })).rejects.toThrow(
      /already watched by other/,
    );
    expect(state.leases.get('watch:p')).toBe('other');
  });

  it('renews its leases on a timer while a step runs longer than the lease, so no second watcher gets in', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    const intruders: boolean[] = [];
    const step = stepOf(async (signal) => {
      for (let i = 0; i < 10; i++) {
        await clock.sleep(1000, signal);
        intruders.push(await state.acquireLease('watch:p', 'other', TTL));
      }
      abort.abort();
      return report(0);
    });
    await drive(clock, watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: abort.signal, clock }));
    expect(intruders).toEqual(Array(10).fill(false));
    expect(state.renewals).toBeGreaterThanOrEqual(9);
    expect(await state.leaseHolder('watch:p')).toBeUndefined(); // released at the end
  });

  it('aborts the running step as soon as a renewal finds the lease taken, and ends with LEASE_HELD naming the pipeline', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    let abortedAt: number | undefined;
    const step = stepOf(async (signal) => {
      await clock.sleep(60_000, signal);
      abortedAt = clock.now();
      return report(0);
    }, 'user');
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: new AbortController().signal, clock });
    work.catch(() => undefined);
    await clock.advance(1500);
    state.take('watch:user', 'other', TTL);
    await expect(drive(clock, work)).rejects.toMatchObject({ code: 'LEASE_HELD', message: expect.stringMatching(/pipeline user.*other/) });
    expect(abortedAt).toBe(2000); // the first renewal after the loss
    expect(await state.leaseHolder('watch:user')).toBe('other'); // not released: it is not ours
  });

  it('retries renewals the state store does not answer, and goes on when one succeeds within the lease', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    const renewErrors: number[] = [];
    let stepSignal: AbortSignal | undefined;
    const step = stepOf(async (signal) => {
      stepSignal = signal;
      await clock.sleep(10_000, signal);
      abort.abort();
      return report(0);
    });
    const work = watch([step], state, {
      owner: 'me',
      intervalMs: 100,
      leaseTtlMs: TTL,
      signal: abort.signal,
      clock,
      onRenewError: () => renewErrors.push(clock.now()),
    });
    await clock.advance(1500);
    state.down = true; // the renewal at 2000 fails
    await clock.advance(1000);
    state.down = false; // the one at 3000 succeeds, before the lease renewed at 1000 runs out
    await clock.advance(600);
    expect(await state.leaseHolder('watch:p')).toBe('me');
    await drive(clock, work);
    expect(renewErrors).toEqual([2000]);
    expect(clock.now()).toBeGreaterThanOrEqual(10_000); // the step ran to its end
    expect(stepSignal?.aborted).toBe(true); // by the caller's stop, passed through
  });

  it('stops the work when no renewal succeeded for a whole lease, as the lease may have been taken', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    let abortedAt: number | undefined;
    const step = stepOf(async (signal) => {
      await clock.sleep(60_000, signal);
      abortedAt = clock.now();
      return report(0);
    }, 'user');
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: new AbortController().signal, clock });
    work.catch(() => undefined);
    await clock.advance(1500);
    state.down = true;
    await expect(drive(clock, work)).rejects.toMatchObject({ code: 'LEASE_HELD', message: expect.stringMatching(/pipeline user/) });
    expect(abortedAt).toBe(4000); // the last renewal that succeeded was sent at 1000
  });

  it('waits through a store outage: a step failing with STORE_UNAVAILABLE is retried with capped exponential backoff, its lease kept', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    let failures = 7;
    const runsAt: number[] = [];
    const retries: { attempt: number; delayMs: number; code: ErrorCode }[] = [];
    const intruders: boolean[] = [];
    const step = stepOf(async () => {
      runsAt.push(clock.now());
      intruders.push(await state.acquireLease('watch:p', 'other', TTL));
      if (failures-- > 0) throw new CesyncError('STORE_UNAVAILABLE', 'Elasticsearch at es:9200 is unreachable');
      abort.abort();
      return report(0);
    });
    const { rounds } = await drive(
      clock,
      watch([step], state, {
        owner: 'me',
        intervalMs: 100,
        leaseTtlMs: TTL,
        signal: abort.signal,
        clock,
        onRetry: (_step, error, r) => retries.push({ ...r, code: error.code }),
      }),
    );
    expect(rounds).toBe(1);
    expect(retries.map((r) => r.delayMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(retries.every((r) => r.code === 'STORE_UNAVAILABLE')).toBe(true);
    expect(runsAt).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000]);
    expect(intruders).toEqual(Array(8).fill(false)); // held all along, though the waits outlast the lease
    expect(await state.leaseHolder('watch:p')).toBeUndefined();
  });

  it('starts the backoff over after a step succeeds', async () => {
    const clock = new ManualClock();
    const abort = new AbortController();
    const outcomes = ['down', 'down', 'ok', 'down', 'ok'];
    const delays: number[] = [];
    const step = stepOf(async () => {
      const o = outcomes.shift();
      if (outcomes.length === 0) abort.abort();
      if (o === 'down') throw new CesyncError('STORE_UNAVAILABLE', 'Cassandra at c:9042 is unreachable');
      return report(0);
    });
    await drive(clock, watch([step], new MemoryState(), { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: abort.signal, clock, onRetry: (_s, _e, r) => delays.push(r.delayMs) }));
    expect(delays).toEqual([1000, 2000, 1000]);
  });

  it.each([
    ['USAGE', new CesyncError('USAGE', 'bad flag')],
    ['SCHEMA_MISMATCH', new CesyncError('SCHEMA_MISMATCH', 'no such table')],
    ['STORE_AUTH', new CesyncError('STORE_AUTH', 'refused the credentials')],
    ['an internal error', new TypeError('x is undefined')],
  ])('ends on %s, releasing its lease, without retrying', async (_what, error) => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    let runs = 0;
    const retried: unknown[] = [];
    const step = stepOf(async () => {
      runs += 1;
      throw error;
    });
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: new AbortController().signal, clock, onRetry: (s) => retried.push(s) });
    await expect(drive(clock, work)).rejects.toBe(error);
    expect(runs).toBe(1);
    expect(retried).toEqual([]);
    expect(await state.leaseHolder('watch:p')).toBeUndefined();
  });

  it('ends cleanly when stopped during a backoff wait, at once, and releases its leases', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    let runs = 0;
    const steps = ['a', 'b'].map((p) =>
      stepOf(async () => {
        runs += 1;
        throw new CesyncError('STORE_UNAVAILABLE', 'Cassandra at c:9042 is unreachable');
      }, p),
    );
    const work = watch(steps, state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: abort.signal, clock });
    await clock.advance(5000); // runs at 0, 1000, 3000; waiting until 7000
    abort.abort();
    await clock.advance(1);
    await expect(work).resolves.toEqual({ rounds: 1 });
    expect(runs).toBe(3);
    expect(await state.leaseHolder('watch:a')).toBeUndefined();
    expect(await state.leaseHolder('watch:b')).toBeUndefined();
  });

  it('ends with LEASE_HELD when the lease is lost during a backoff wait', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const step = stepOf(async () => {
      throw new CesyncError('STORE_UNAVAILABLE', 'Cassandra at c:9042 is unreachable');
    });
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: new AbortController().signal, clock });
    work.catch(() => undefined);
    await clock.advance(1500);
    state.take('watch:p', 'other', TTL);
    await expect(drive(clock, work)).rejects.toMatchObject({ code: 'LEASE_HELD' });
    expect(clock.now()).toBeLessThanOrEqual(2100);
  });

  it('takes an interruption thrown by a step it stopped as the end of the watch, not as a failure', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    const step = stepOf(async (signal) => {
      await clock.sleep(60_000, signal);
      throw new CesyncError('INTERRUPTED', 'interrupted before the read completed');
    });
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: abort.signal, clock });
    await clock.advance(2500);
    abort.abort();
    await clock.advance(1);
    await expect(work).resolves.toEqual({ rounds: 1 });
    expect(await state.leaseHolder('watch:p')).toBeUndefined();
  });

  it('keeps renewing while a stopped step finishes its batch, and releases only then', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const abort = new AbortController();
    const intruders: boolean[] = [];
    const step = stepOf(async (signal) => {
      await clock.sleep(500, signal);
      for (let i = 0; i < 5; i++) {
        await clock.sleep(1000); // the batch in flight, deaf to the signal
        intruders.push(await state.acquireLease('watch:p', 'other', TTL));
      }
      return report(0);
    });
    const work = watch([step], state, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: abort.signal, clock });
    await clock.advance(500);
    abort.abort();
    await drive(clock, work);
    expect(intruders).toEqual(Array(5).fill(false));
    expect(await state.leaseHolder('watch:p')).toBeUndefined();
  });

  it('stops the work when keeping the leases itself fails, with that error', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    let stepSignal: AbortSignal | undefined;
    const step = stepOf(async (signal) => {
      stepSignal = signal;
      await clock.sleep(60_000, signal);
      return report(0);
    });
    const broken = new Error('callback failed');
    const work = watch([step], state, {
      owner: 'me',
      intervalMs: 100,
      leaseTtlMs: TTL,
      signal: new AbortController().signal,
      clock,
      onRenewError: () => {
        throw broken;
      },
    });
    work.catch(() => undefined);
    await clock.advance(1500);
    state.down = true;
    await expect(drive(clock, work)).rejects.toBe(broken);
    expect(stepSignal?.aborted).toBe(true);
    expect(clock.now()).toBeLessThanOrEqual(2100);
  });

  it('releases a lease whose acquisition failed without an answer, in case it was granted', async () => {
    const clock = new ManualClock();
    const state = new ExpiringLeaseState(clock);
    const lost = Object.assign(state, {
      acquireLease: async (name: string, owner: string, ttlMs?: number) => {
        await ExpiringLeaseState.prototype.acquireLease.call(state, name, owner, ttlMs);
        throw new CesyncError('STORE_UNAVAILABLE', 'timed out');
      },
    });
    const step = stepOf(async () => report(0));
    await expect(watch([step], lost, { owner: 'me', intervalMs: 100, leaseTtlMs: TTL, signal: new AbortController().signal, clock })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    expect(state.expiring.size).toBe(0);
  });
});
