/**
 * Incremental sync back from the index to the table: documents changed in a window of versions
 * are written as rows `USING TIMESTAMP <version>`, so Cassandra keeps the newest cell by itself.
 *
 * Echoes change nothing and are counted as such: a document whose content is exactly what cesync
 * wrote from the table (the digest it stored matches the content) came from the table and is not
 * written back. Anything else is written; writing back an older version is
 * harmless, since Cassandra keeps the newest cell.
 *
 * The index orders changes by version only, so the watermark is a version and the boundary
 * version is read again on the next run (idempotent), so documents sharing it are never skipped.
 */
import { isInterruption } from './interrupt.js';
import { digestOfJson } from './planner.js';
import type { ChangeFeed, FailureSink, RowSink, RowWrite, RunObserver, StateStore, Watermark } from './ports.js';
import { emptyCounters, finishReport, type RunReport } from './run-report.js';
import { laterOf, type WindowRunOptions } from './watermark.js';
import { fromArray } from '../streams/from-array.js';

export interface ReverseSyncDeps {
  readonly feed: ChangeFeed;
  readonly rows: RowSink;
  readonly failures: FailureSink;
  readonly state?: StateStore;
  /** Told of documents read, rows written (as `updated`), echoes (`unchanged`), failures' outcomes and the watermark. */
  readonly observer?: RunObserver;
  readonly now?: () => number;
}

/** `from` is inclusive here: documents at its version are read again. */
export type ReverseSyncOptions = WindowRunOptions;

export type ReverseReport = RunReport & { readonly echoes: number; readonly watermark: Watermark };

export async function reverseSync(deps: ReverseSyncDeps, options: ReverseSyncOptions): Promise<ReverseReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const counters = emptyCounters();
  const { pipeline, signal } = options;
  deps.rows.check();
  let echoes = 0;
  let mark = options.from;
  try {
    for await (const page of deps.feed.changes(options.from, options.to, { signal, pageSize: options.batchSize })) {
      if (signal?.aborted) break;
      counters.read += page.length;
      deps.observer?.rowsRead(page.length);
      const writes: RowWrite[] = [];
      for (const d of page) {
        const echo = d.written?.digest !== undefined && d.written.digest === digestOfJson(JSON.stringify(d.document));
        if (echo) {
          echoes += 1;
          deps.observer?.outcome('unchanged', 1);
        }
        else writes.push({ id: d.id, version: d.version, document: d.document });
      }
      await deps.rows.write(fromArray(writes), (row, outcome) => {
        if (outcome.kind === 'written') {
          counters.indexed += 1;
          deps.observer?.outcome('updated', 1);
        } else {
          counters.failed += 1;
          deps.observer?.outcome('failed', 1);
          deps.failures.record({
            id: row.id,
            pipeline,
            errorClass: outcome.errorClass,
            errorType: outcome.errorType,
            reason: outcome.reason,
            attempt: 1,
            at: new Date(now()).toISOString(),
          });
        }
      });
      mark = laterOf(mark, { version: page[page.length - 1]!.version, id: '' });
      if (options.saveWatermark && deps.state) {
        await deps.state.saveWatermark(pipeline, 'to-cassandra', mark);
        deps.observer?.watermark('to-cassandra', mark.version);
      }
    }
    if (!signal?.aborted) {
      mark = laterOf(mark, { version: options.to, id: '' });
      if (options.saveWatermark && deps.state) {
        await deps.state.saveWatermark(pipeline, 'to-cassandra', mark);
        deps.observer?.watermark('to-cassandra', mark.version);
      }
    }
  } catch (e) {
    // Stopped by a signal: the report says so; the watermark stands where acknowledged work ended.
    if (!(isInterruption(e) && signal?.aborted)) throw e;
  } finally {
    await deps.failures.close();
  }
  counters.unchanged = echoes;
  return {
    ...finishReport({
      pipeline,
      mode: 'incremental',
      dryRun: false,
      counters,
      started,
      finished: now(),
      signal,
      index: options.index,
      indexCreated: false,
      failureLedger: counters.failed > 0 ? options.failureLedgerPath : undefined,
    }),
    echoes,
    watermark: mark,
  };
}
