/**
 * Watch: run every pipeline's incremental syncs continuously. Each round runs one step per
 * pipeline and direction; the next round starts at once when a step found a full batch (more is
 * waiting), else after the poll interval. A lease per pipeline in the state store keeps a second
 * watcher out; it is renewed every round and expires on its own when a watcher dies, so a crashed
 * daemon blocks nobody for longer than the lease. A stop signal ends the loop after the step in
 * progress, whose acknowledged work is saved, and the leases are released.
 */
import type { StateStore } from './ports.js';
import type { RunReport } from './run-report.js';
import { systemClock, type Clock } from './throttle.js';
import { CesyncError } from '../errors.js';

export interface WatchStep {
  readonly pipeline: string;
  readonly direction: string;
  /** One incremental run; returns its report. */
  run(signal: AbortSignal): Promise<RunReport>;
  /** Rows per batch: a step that read at least this much likely left more behind. */
  readonly batchSize: number;
}

export interface WatchOptions {
  readonly owner: string;
  readonly intervalMs: number;
  readonly leaseTtlMs: number;
  readonly signal: AbortSignal;
  readonly onStep?: (step: WatchStep, report: RunReport) => void;
  readonly clock?: Clock;
}

export const leaseName = (pipeline: string) => `watch:${pipeline}`;

export async function watch(steps: readonly WatchStep[], state: StateStore, options: WatchOptions): Promise<{ rounds: number }> {
  const clock = options.clock ?? systemClock;
  const pipelines = [...new Set(steps.map((s) => s.pipeline))];
  const held: string[] = [];
  try {
    for (const p of pipelines) {
      if (!(await state.acquireLease(leaseName(p), options.owner, options.leaseTtlMs))) {
        const holder = await state.leaseHolder(leaseName(p));
        throw new CesyncError('LEASE_HELD', `pipeline ${p} is already watched by ${holder ?? 'another process'}; its lease expires ${Math.round(options.leaseTtlMs / 1000)} s after that watcher's last renewal`);
      }
      held.push(p);
    }
    let rounds = 0;
    while (!options.signal.aborted) {
      let more = false;
      for (const step of steps) {
        if (options.signal.aborted) break;
        const report = await step.run(options.signal);
        options.onStep?.(step, report);
        if (report.read >= step.batchSize) more = true;
      }
      rounds += 1;
      for (const p of pipelines) {
        if (!(await state.renewLease(leaseName(p), options.owner, options.leaseTtlMs))) {
          throw new CesyncError('LEASE_HELD', `lost the lease of pipeline ${p} (renewed too late?); stopping`);
        }
      }
      if (!more) await clock.sleep(options.intervalMs, options.signal);
    }
    return { rounds };
  } finally {
    await Promise.allSettled(held.map((p) => state.releaseLease(leaseName(p), options.owner)));
  }
}
