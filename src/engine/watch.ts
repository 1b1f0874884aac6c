/**
 * Watch: run every pipeline's incremental syncs continuously. Each round runs one step per
 * pipeline and direction; the next round starts at once when a step found a full batch (more is
 * waiting), else after the poll interval.
 *
 * A lease per pipeline in the state store keeps a second watcher out. Contract:
 * - the leases are renewed on a timer (every third of the TTL), independently of the rounds, so a
 *   step longer than the TTL keeps them;
 * - a renewal refused (another owner holds the lease) stops the work at once: the running step's
 *   signal aborts and the watch ends with LEASE_HELD;
 * - a renewal that throws (the state store did not answer) is tried again at the next tick; only
 *   when none has succeeded for a whole TTL, counted from when the last successful one was sent,
 *   is the work stopped the same way, because the lease may have expired and been taken;
 * - a crashed watcher's lease expires on its own, so it blocks nobody for longer than the TTL.
 *
 * A step failing with STORE_UNAVAILABLE does not end the watch: it is run again after a capped
 * exponential backoff, its leases renewed meanwhile. A step resumes from its saved watermark, so
 * nothing is lost by running it again. Any other error ends the watch.
 *
 * The stop signal aborts the step in progress (whose acknowledged work is saved) or the backoff
 * wait, and the watch returns; the leases are released however it ends.
 */
import type { StateStore } from './ports.js';
import type { RunReport } from './run-report.js';
import { systemClock, type Clock } from './throttle.js';
import { CesyncError } from '../errors.js';

export interface WatchStep {
  readonly pipeline: string;
  readonly direction: string;
  /** One incremental run; returns its report. Stops at its next batch when `signal` aborts. */
  run(signal: AbortSignal): Promise<RunReport>;
  /** Rows per batch: a step that read at least this much likely left more behind. */
  readonly batchSize: number;
}

export interface RetryInfo {
  /** Consecutive failures of this step, 1 for the first. */
  readonly attempt: number;
  /** How long the watch waits before running it again. */
  readonly delayMs: number;
}

export interface WatchOptions {
  readonly owner: string;
  readonly intervalMs: number;
  readonly leaseTtlMs: number;
  /** Stops the watch (SIGINT/SIGTERM): it ends normally, without an error. */
  readonly signal: AbortSignal;
  readonly onStep?: (step: WatchStep, report: RunReport) => void;
  /** A step failed because a store is unreachable; it runs again after `delayMs`. */
  readonly onRetry?: (step: WatchStep, error: CesyncError, retry: RetryInfo) => void;
  /**
   * Whether this watcher holds a pipeline's lease: true once taken, false once lost or released
   * (at the end of the watch, however it ends, for every pipeline whose lease was asked for).
   */
  readonly onLease?: (pipeline: string, held: boolean) => void;
  /** A lease renewal threw (the state store did not answer); it is tried again at the next tick. */
  readonly onRenewError?: (pipeline: string, error: unknown) => void;
  /** Backoff of a failing step: `firstMs`, doubling, at most `maxMs` (default 1 s to 30 s). */
  readonly backoff?: { readonly firstMs: number; readonly maxMs: number };
  readonly clock?: Clock;
}

export const leaseName = (pipeline: string) => `watch:${pipeline}`;

const DEFAULT_BACKOFF = { firstMs: 1000, maxMs: 30_000 };

export async function watch(steps: readonly WatchStep[], state: StateStore, options: WatchOptions): Promise<{ rounds: number }> {
  const clock = options.clock ?? systemClock;
  const pipelines = [...new Set(steps.map((s) => s.pipeline))];
  // Aborted with the LEASE_HELD error when a lease is lost (or with the error that broke the
  // keeping of the leases, which leaves them unguarded too); the steps see it through `signal`.
  const lost = new AbortController();
  const signal = AbortSignal.any([options.signal, lost.signal]);
  // The keeper outlives a stop: a stopping step still writes until its batch ends.
  const done = new AbortController();
  // Pipelines whose lease was asked for: released at the end even when the answer never came,
  // as it may have been granted (releasing removes only a lease this owner holds).
  const asked: string[] = [];
  let keeper: Promise<void> | undefined;
  try {
    const renewedAt = new Map<string, number>();
    for (const p of pipelines) {
      asked.push(p);
      const sent = clock.now();
      if (!(await state.acquireLease(leaseName(p), options.owner, options.leaseTtlMs))) {
        const holder = await state.leaseHolder(leaseName(p));
        throw new CesyncError('LEASE_HELD', `pipeline ${p} is already watched by ${holder ?? 'another process'}; its lease expires ${Math.round(options.leaseTtlMs / 1000)} s after that watcher's last renewal`);
      }
      renewedAt.set(p, sent);
      options.onLease?.(p, true);
    }
    const lose = (error: unknown) => {
      if (!lost.signal.aborted) lost.abort(error);
    };
    const keep = { state, clock, owner: options.owner, ttlMs: options.leaseTtlMs, renewedAt, stop: AbortSignal.any([done.signal, lost.signal]), lose, onRenewError: options.onRenewError };
    keeper = Promise.all([renewLeases(keep), expireLeases(keep)]).then(() => undefined, lose);

    const rounds = await runRounds(steps, signal, clock, options);
    if (lost.signal.aborted) throw lost.signal.reason;
    return { rounds };
  } catch (e) {
    // Once the lease is lost, whatever the aborted step threw is the loss's doing.
    if (lost.signal.aborted) throw lost.signal.reason;
    throw e;
  } finally {
    done.abort();
    await keeper;
    await Promise.allSettled(asked.map((p) => state.releaseLease(leaseName(p), options.owner)));
    for (const p of asked) options.onLease?.(p, false);
  }
}

/** The rounds, until `signal` aborts; returns how many ran (the one stopped included). */
async function runRounds(steps: readonly WatchStep[], signal: AbortSignal, clock: Clock, options: WatchOptions): Promise<number> {
  let rounds = 0;
  while (!signal.aborted) {
    let more = false;
    for (const step of steps) {
      if (signal.aborted) break;
      const report = await runStep(step, signal, clock, options);
      if (!report) break;
      options.onStep?.(step, report);
      if (report.read >= step.batchSize) more = true;
    }
    rounds += 1;
    if (!more) await clock.sleep(options.intervalMs, signal);
  }
  return rounds;
}

/**
 * One step, run again after a backoff for as long as it fails with STORE_UNAVAILABLE. Returns
 * undefined when `signal` aborted first (during the step or the wait). An error thrown by a
 * step after the signal aborted is taken to be the abort's doing (an interruption), not a failure.
 */
async function runStep(step: WatchStep, signal: AbortSignal, clock: Clock, options: WatchOptions): Promise<RunReport | undefined> {
  const { firstMs, maxMs } = options.backoff ?? DEFAULT_BACKOFF;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step.run(signal);
    } catch (e) {
      if (signal.aborted) return undefined;
      if (!(e instanceof CesyncError && e.code === 'STORE_UNAVAILABLE')) throw e;
      const delayMs = Math.min(maxMs, firstMs * 2 ** (attempt - 1));
      options.onRetry?.(step, e, { attempt, delayMs });
      await clock.sleep(delayMs, signal);
      if (signal.aborted) return undefined;
    }
  }
}

interface LeaseKeeping {
  readonly state: StateStore;
  readonly clock: Clock;
  readonly owner: string;
  readonly ttlMs: number;
  /** Per pipeline, when the last renewal that succeeded was sent (the store's TTL starts after). */
  readonly renewedAt: Map<string, number>;
  /** Ends the keeping: the watch is over, or a lease was lost. */
  readonly stop: AbortSignal;
  readonly lose: (error: unknown) => void;
  readonly onRenewError?: (pipeline: string, error: unknown) => void;
}

/** Renews every lease every third of the TTL; a renewal refused loses the lease. */
async function renewLeases(k: LeaseKeeping): Promise<void> {
  const everyMs = Math.max(1, Math.floor(k.ttlMs / 3));
  while (!k.stop.aborted) {
    await k.clock.sleep(everyMs, k.stop);
    for (const p of k.renewedAt.keys()) {
      if (k.stop.aborted) return;
      const sent = k.clock.now();
      let held: boolean;
      try {
        held = await k.state.renewLease(leaseName(p), k.owner, k.ttlMs);
      } catch (e) {
        if (!k.stop.aborted) k.onRenewError?.(p, e);
        continue;
      }
      // A refusal after the end is the release's doing.
      if (k.stop.aborted) return;
      if (!held) {
        const holder = await k.state.leaseHolder(leaseName(p)).catch(() => undefined);
        const now = holder ? `${holder} holds it now` : 'it expired or was removed';
        k.lose(new CesyncError('LEASE_HELD', `lost the lease of pipeline ${p}: ${now}; stopped`));
        return;
      }
      k.renewedAt.set(p, sent);
    }
  }
}

/**
 * Loses a lease when no renewal of it has succeeded for a whole TTL. Timed on its own, so a
 * renewal that hangs in a store that does not answer cannot hold the work past the TTL.
 */
async function expireLeases(k: LeaseKeeping): Promise<void> {
  while (!k.stop.aborted && k.renewedAt.size > 0) {
    let oldest: [string, number] | undefined;
    for (const entry of k.renewedAt) if (!oldest || entry[1] < oldest[1]) oldest = entry;
    const [p, at] = oldest!;
    const leftMs = at + k.ttlMs - k.clock.now();
    if (leftMs <= 0) {
      k.lose(new CesyncError('LEASE_HELD', `could not renew the lease of pipeline ${p} for ${k.ttlMs / 1000} s (the state store did not answer); it may have expired and been taken by another watcher, so this one stopped`));
      return;
    }
    await k.clock.sleep(leftMs, k.stop);
  }
}
