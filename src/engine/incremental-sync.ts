/**
 * Incremental sync to the index: only rows changed in a window of versions.
 *
 * The window runs from a watermark (exclusive, by version then id) to an upper version bound,
 * which for "since the last run" is now minus a safety lag: a write whose timestamp is older than
 * the lag when the run starts is assumed to have landed (clock skew, slow coordinators). Changed
 * rows are found by the source (an indexed change column, or a key-and-write-time scan), ordered
 * by (version, id) and applied in batches; after each batch is acknowledged the watermark moves to
 * its last row. So a run stopped at any point resumes after the last acknowledged row, and rows
 * sharing one timestamp are never skipped.
 */
import { applyPlanned } from './apply.js';
import { collect, isInterruption, throwIfInterrupted } from './interrupt.js';
import { rereadFrom } from './reread.js';
import { fromArray } from '../streams/from-array.js';
import type { SyncDeps } from './full-sync.js';
import { PlanFile } from './plan-file.js';
import { planBatches } from './planner.js';
import type { ParsedKey, VersionEntry, Watermark } from './ports.js';
import { emptyCounters, finishReport, type RunReport } from './run-report.js';
import type { ThrottleOptions } from './throttle.js';
import { compareMarks, isAfter, laterOf, type WindowRunOptions } from './watermark.js';

/** `from` is exclusive here: rows after it by (version, id). */
export interface IncrementalSyncOptions extends WindowRunOptions {
  readonly dryRun?: boolean;
  readonly planPath?: string;
  readonly throttle?: ThrottleOptions;
}

export type IncrementalReport = RunReport & Required<Pick<RunReport, 'window' | 'changeDetection' | 'watermark'>>;

export async function incrementalSync(deps: SyncDeps, options: IncrementalSyncOptions): Promise<IncrementalReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const counters = emptyCounters();
  const { source, sink, failures, state } = deps;
  const { pipeline, signal, dryRun = false } = options;

  const target = await sink.prepare({ create: !dryRun });
  let mark = options.from;
  const saveMark = async (m: Watermark) => {
    await state!.saveWatermark(pipeline, 'to-elasticsearch', m);
    deps.observer?.watermark('to-elasticsearch', m.version);
  };
  let method: 'change-column' | 'scan' = 'scan';
  const plan = dryRun ? new PlanFile(options.planPath) : undefined;
  try {
    const found = source.changed(options.from, options.to, { signal });
    method = found.method;
    // The changed rows of the window, oldest first. Only ids and versions are held, not rows.
    // An interrupted listing throws: a partial list must never move the watermark.
    const changes: VersionEntry[] = [];
    for await (const page of found.entries) {
      for (const e of page) if (isAfter(e, options.from) && e.version <= options.to) changes.push(e);
    }
    changes.sort(compareMarks);
    dropLaterOfSameId(changes);
    const reread = rereadFrom(source, signal);
    for (let i = 0; i < changes.length; i += options.batchSize) {
      throwIfInterrupted(signal);
      const chunk = changes.slice(i, i + options.batchSize);
      const keys = chunk.map((e) => source.parseKey(source.idParts(e.id))).filter((k): k is ParsedKey => !('error' in k));
      // The whole chunk is read before anything is written: the watermark passes the chunk only
      // when every one of its rows was read (or is known to be gone) and its writes acknowledged.
      const rows = await collect(source.read(keys, { signal }));
      const planned = planBatches(fromArray(rows), sink, { lookups: target.exists && !target.empty, reread });
      if (plan) {
        for await (const pb of planned) await plan.addBatch(pb, counters);
      } else {
        await applyPlanned(planned, [], { pipeline, sink, failures, counters, throttle: options.throttle, clock: deps.clock, signal, now, reread, observer: deps.observer });
        mark = laterOf(mark, chunk[chunk.length - 1]!);
        if (options.saveWatermark && state) await saveMark(mark);
      }
      deps.onProgress?.(counters, changes.length);
    }
    throwIfInterrupted(signal);
    if (!plan) {
      // Everything up to the window's end has been seen: the next window starts there.
      mark = laterOf(mark, { version: options.to, id: '' });
      if (options.saveWatermark && state) await saveMark(mark);
      if (changes.length > 0) await sink.refresh();
    }
  } catch (e) {
    // Stopped by a signal: the report says so; the watermark stands where acknowledged work ended.
    if (!(isInterruption(e) && signal?.aborted)) throw e;
    if (!plan && counters.read > 0) await sink.refresh().catch(() => undefined);
  } finally {
    await plan?.close();
    await failures.close();
  }
  return {
    ...finishReport({
      pipeline,
      mode: 'incremental',
      dryRun,
      counters,
      started,
      finished: now(),
      signal,
      index: options.index,
      indexCreated: target.created,
      failureLedger: counters.failed > 0 && !dryRun ? options.failureLedgerPath : undefined, // a dry run writes no ledger
      planFile: plan?.path,
      samples: plan?.samples,
    }),
    window: { from: options.from, to: options.to },
    changeDetection: method,
    watermark: mark,
  };
}

/**
 * An id changed more than once in the window (a document and one of its nested rows, or two
 * rows nested in it) is read once, at its earliest change: its later places are dropped. Every
 * change listed was made before the listing, and that read comes after it, so it includes them
 * all. (Keeping the latest place instead could lose the earlier change: a run stopped before that
 * place leaves the earlier one behind the watermark, and a later place that disappears before the
 * next run, a nested row deleted, leaves nothing to find.)
 */
function dropLaterOfSameId(changes: VersionEntry[]): void {
  const seen = new Set<string>();
  let w = 0;
  for (const e of changes) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    changes[w++] = e;
  }
  changes.length = w;
}
