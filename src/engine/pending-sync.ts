/**
 * Sync of what the source marks as pending (a flag column, a queue table: ports.ts PendingSource),
 * batch by batch: each batch's keys are synced as a targeted sync (rows read by key now, written
 * with version guards, rows gone deleted from the index), and only the ids whose documents the
 * target acknowledged (written, already current, deleted) are marked done. A batch whose writes
 * fail, or a run stopped mid-batch, leaves its entries pending: the next run takes them again,
 * and since writes are idempotent under versions nothing is applied twice to a different result.
 *
 * A run is one pass over the pending entries, in the source's order: it ends when the pass does.
 * Entries that became pending behind the pass (a row changed while its document was in flight,
 * which its settle did not mark) are taken by the next run; entries this process saw fail are not
 * taken again until they change (they are in the failure ledger).
 */
import { isInterruption } from './interrupt.js';
import type { PendingSource } from './ports.js';
import type { SyncDeps } from './full-sync.js';
import { emptyCounters, finishReport, type RunCounters, type RunReport } from './run-report.js';
import type { ThrottleOptions } from './throttle.js';
import { NEWER_IN_INDEX, targetedSync } from './targeted-sync.js';

export interface PendingSyncOptions {
  readonly pipeline: string;
  readonly index: string;
  readonly batchSize: number;
  readonly dryRun?: boolean;
  readonly planPath?: string;
  readonly throttle?: ThrottleOptions;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
}

/** Outcomes after which an entry is done: its row's document (or its absence) is in the index. */
const DONE = new Set(['indexed', 'unchanged', 'deleted', 'missing']);

export async function pendingSync(deps: Omit<SyncDeps, 'state'> & { readonly pending: PendingSource }, options: PendingSyncOptions): Promise<RunReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const { pending, ...sync } = deps;
  const counters = emptyCounters();
  const base = { pipeline: options.pipeline, index: options.index, mode: 'pending' as const, deleteMissing: true, throttle: options.throttle, failureLedgerPath: options.failureLedgerPath, signal: options.signal };
  let indexCreated = false;
  let interrupted = false;
  let failureLedger: string | undefined;

  if (options.dryRun) {
    // The plan of everything pending now, in one report; nothing is written or marked.
    const keys = [];
    for (;;) {
      const batch = await pending.take(options.batchSize, { signal: options.signal });
      if (batch.keys.length === 0) break;
      keys.push(...batch.keys);
    }
    return targetedSync(sync, { ...base, input: { keys, lines: new Map(), problems: [] }, dryRun: true, planPath: options.planPath });
  }

  try {
    for (;;) {
      const batch = await pending.take(options.batchSize, { signal: options.signal });
      if (batch.keys.length === 0) break;
      const r = await targetedSync(sync, { ...base, input: { keys: [...batch.keys], lines: new Map(), problems: [] }, collectOutcomes: true });
      add(counters, r);
      // A pending key without a row is a delete carried, not an id asked for and missing (which a
      // report counts as a failure, exit code 1): with its document deleted it counts as deleted;
      // with no document to delete the index already agrees, and it counts as unchanged.
      counters.missing -= r.missing;
      counters.unchanged += Object.values(r.outcomes ?? {}).filter((o) => o.status === 'missing').length;
      indexCreated ||= r.indexCreated;
      failureLedger ??= r.failureLedger;
      // Not done: an id whose write the index refused as older than what it holds. Either the row
      // changed again (then it is pending again anyway) or its version went back (a clock set
      // back, a restore): that version of the row is not what the index has, so the entry stays.
      const done = new Set(Object.entries(r.outcomes ?? {}).filter(([, o]) => DONE.has(o.status) && o.reason !== NEWER_IN_INDEX).map(([id]) => id));
      await pending.settle(batch, done);
      if (r.interrupted) {
        interrupted = true;
        break;
      }
    }
  } catch (e) {
    // Stopped by a signal: what was acknowledged is marked done, the rest stays pending.
    if (!(isInterruption(e) && options.signal?.aborted)) throw e;
    interrupted = true;
  }
  return {
    ...finishReport({ pipeline: options.pipeline, mode: 'pending', dryRun: false, counters, started, finished: now(), signal: options.signal, index: options.index, indexCreated, failureLedger }),
    interrupted: interrupted || (options.signal?.aborted ?? false),
  };
}

function add(into: RunCounters, r: RunCounters): void {
  for (const k of Object.keys(into) as (keyof RunCounters)[]) into[k] += r[k];
}
