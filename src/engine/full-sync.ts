/**
 * Full sync of one pipeline: every record of the source goes to the sink, guarded by versions,
 * resumable.
 *
 * Data flows one way: source -> plan (planner.ts) -> sink -> acknowledged -> checkpoint. The
 * sink pulls planned writes from an async generator, so reading never runs ahead of writing by
 * more than the sink's requests in flight and the source's pages: memory stays flat.
 *
 * Resume: the table is read as token spans; each span's progress is saved in the state store
 * only after the target answered for every write before it (span-checkpoints.ts). A run that
 * stops for any reason (signal, store down, kill -9) leaves the saved progress of the spans, and
 * the next run of the pipeline continues from there unless told to restart.
 */
import { randomUUID } from 'node:crypto';
import { applyPlanned } from './apply.js';
import { endOnInterrupt } from './interrupt.js';
import { rereadFrom } from './reread.js';
import { PlanFile } from './plan-file.js';
import { planBatches } from './planner.js';
import type { DocumentSink, FailureSink, PipelineState, RecordSource, RunObserver, SpanProgress, StateStore } from './ports.js';
import { emptyCounters, finishReport, type RunCounters, type RunReport } from './run-report.js';
import { SpanCheckpoints } from './span-checkpoints.js';
import type { Clock, ThrottleOptions } from './throttle.js';
import type { ScanPosition, SourceBatch } from './record.js';

export interface SyncDeps {
  readonly source: RecordSource;
  readonly sink: DocumentSink;
  readonly failures: FailureSink;
  /** Where progress is saved; without one a full sync cannot resume. */
  readonly state?: StateStore;
  /**
   * Called with the running counters after each batch; for progress bars and logs.
   * `estimatedTotal` is the row count extrapolated from the share of the table scanned, else
   * the store's own estimate, else undefined.
   */
  readonly onProgress?: (counters: Readonly<RunCounters>, estimatedTotal: number | undefined) => void;
  /** Told what the run does as it goes (ports.ts); a full sync also reports its progress. */
  readonly observer?: RunObserver;
  readonly now?: () => number;
  readonly clock?: Clock;
}

export interface FullSyncOptions {
  readonly pipeline: string;
  readonly index: string;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
  /** Ignore saved progress and read the whole table. */
  readonly restart?: boolean;
  /** Write nothing; plan instead (every id per action into `planPath`). */
  readonly dryRun?: boolean;
  readonly planPath?: string;
  readonly throttle?: ThrottleOptions;
  /** How often span progress is saved while running (milliseconds). */
  readonly checkpointIntervalMs?: number;
  /**
   * Incremental safety lag: a finished full sync starts the pipeline's watermark (when it has
   * none) at its own start minus this, so "since last" continues from there.
   */
  readonly safetyLagMs?: number;
}

export async function fullSync(deps: SyncDeps, options: FullSyncOptions): Promise<RunReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const counters = emptyCounters();
  const { source, sink, failures, state } = deps;
  const { pipeline, signal, dryRun = false } = options;

  const target = await sink.prepare({ create: !dryRun, bulkLoad: true });
  const saved = options.restart || dryRun ? undefined : await state?.load(pipeline);
  const resumable = saved && saved.status !== 'finished' && saved.spans.length > 0;
  const spans: SpanProgress[] = resumable ? [...saved.spans] : source.spans().map((s) => ({ ...s, done: false }));
  const resumedSpans = spans.filter((s) => s.done).length;

  // Rows this run will read, extrapolated from the spans it finished: rows in them over the
  // share of the ring they cover (the store's own estimate until one span is done).
  const storeEstimate = await source.estimateCount();
  const spanRows = new Map<number, number>();
  let rowsInFinishedSpans = 0;
  // Span checkpoints are positional (they move only past batches received and acknowledged), so
  // an interrupted scan may simply end here: what it did not read stays unread in the checkpoint.
  const scanned = endOnInterrupt(source.scan(spans, { signal }));
  const fractionAtStart = source.fractionDone();
  const countBatch = (position: ScanPosition | undefined, rows: number) => {
    if (!position) return;
    const n = (spanRows.get(position.span) ?? 0) + rows;
    if (position.last) {
      spanRows.delete(position.span);
      rowsInFinishedSpans += n;
    } else spanRows.set(position.span, n);
  };
  const progress = () => {
    const f = source.fractionDone() - fractionAtStart;
    const estimate = f > 0 && rowsInFinishedSpans > 0 ? Math.round((rowsInFinishedSpans / f) * (1 - fractionAtStart)) : storeEstimate;
    deps.onProgress?.(counters, estimate === undefined ? undefined : Math.max(counters.read, estimate));
    // Seconds left at the pace of this run so far (the share read since it began, over its time).
    const fraction = Math.min(1, Math.max(0, source.fractionDone()));
    const elapsed = (now() - started) / 1000;
    deps.observer?.progress(fraction, f > 0 ? (elapsed * (1 - fraction)) / f : undefined);
  };
  // An index that was empty when the run began needs no lookups: every record is new to it.
  // Confirmation reads finish even after a stop signal: they are few, and a batch already read
  // should be settled rather than thrown away in the middle of the sink's requests.
  const reread = rereadFrom(source);
  const planned = planBatches(counted(scanned, countBatch), sink, { lookups: target.exists && !target.empty, reread });

  const report = (extra: Partial<RunReport> = {}): RunReport =>
    finishReport({
      pipeline,
      mode: 'full',
      dryRun,
      counters,
      started,
      finished: now(),
      signal,
      resumedSpans,
      totalSpans: spans.length,
      index: options.index,
      indexCreated: target.created,
      failureLedger: counters.failed > 0 && !dryRun ? options.failureLedgerPath : undefined, // a dry run writes no ledger
      ...extra,
    });

  if (dryRun) {
    const plan = new PlanFile(options.planPath);
    try {
      for await (const pb of planned) {
        await plan.addBatch(pb, counters);
        progress();
      }
    } finally {
      await plan.close();
    }
    return report({ planFile: plan.path, samples: plan.samples });
  }

  const checkpoints = new SpanCheckpoints(spans);
  const runId = randomUUID();
  // A resumed run belongs to the run it resumes: its start bounds what the table held.
  const startedAt = resumable ? saved.startedAt : new Date(started).toISOString();
  // Where "since last" continues once this sync is done: its start minus the safety lag, and
  // never after a change that was still to become visible when it started (a transaction then
  // open, whose rows a span may have been read without). Kept with the progress, for resumed runs.
  const lagged = Math.max(0, Date.parse(startedAt) - (options.safetyLagMs ?? 0)) * 1000;
  const open = resumable ? undefined : await source.openWritesSince?.();
  const watermarkFrom = resumable ? (saved.watermarkFrom ?? lagged) : Math.min(lagged, open !== undefined ? open - 1 : Infinity);
  const save = async (status: PipelineState['status'], error?: string) => {
    if (!state) return;
    await state.save({
      pipeline,
      runId,
      mode: 'full',
      status,
      startedAt,
      updatedAt: new Date(now()).toISOString(),
      spans: status === 'finished' ? [] : checkpoints.snapshot(),
      counters: { ...counters },
      watermarkFrom,
      error,
    });
  };
  await save('running');
  let saving: Promise<void> = Promise.resolve();
  const interval = options.checkpointIntervalMs ?? 1000;
  const timer = setInterval(() => {
    saving = saving.then(() => save('running')).catch(() => undefined);
  }, interval);
  try {
    await applyPlanned(planned, [], {
      pipeline,
      sink,
      failures,
      counters,
      checkpoints,
      throttle: options.throttle,
      clock: deps.clock,
      signal,
      now,
      reread,
      onBatch: progress,
      observer: deps.observer,
    });
    clearInterval(timer);
    await saving;
    await sink.refresh();
    await save(signal?.aborted ? 'interrupted' : 'finished');
    if (state && !signal?.aborted && !(await state.loadWatermark(pipeline, 'to-elasticsearch'))) {
      const version = watermarkFrom;
      await state.saveWatermark(pipeline, 'to-elasticsearch', { version, id: '' });
      deps.observer?.watermark('to-elasticsearch', version);
    }
  } catch (error) {
    clearInterval(timer);
    await saving;
    await sink.refresh().catch(() => undefined); // ends initial-load tuning if the target answers
    // What was acknowledged stays saved, so the next run resumes instead of starting over.
    await save('failed', error instanceof Error ? error.message : String(error)).catch(() => undefined);
    throw error;
  } finally {
    await failures.close();
  }
  progress();
  if (!signal?.aborted) deps.observer?.progress(1, 0);
  return report();
}

async function* counted(batches: AsyncIterable<SourceBatch>, count: (p: ScanPosition | undefined, rows: number) => void): AsyncGenerator<SourceBatch> {
  for await (const b of batches) {
    count(b.position, b.records.length);
    yield b;
  }
}
