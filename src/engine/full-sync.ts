/**
 * Full sync of one pipeline: every record of the source goes to the sink, guarded by versions.
 *
 * Data flows one way: source -> decide (write-plan) -> sink -> acknowledged -> counters.
 * The sink pulls planned writes from an async generator, so reading never runs ahead of writing
 * by more than the sink's in-flight requests and the source's pages: memory stays flat.
 */
import { digestOf } from './digest.js';
import type { DocumentSink, FailureSink, RecordSource } from './ports.js';
import type { SourceRecord, WriteOp, WriteOutcome } from './record.js';
import { isRemovalOf } from './removal.js';
import { emptyCounters, type RunCounters, type RunReport } from './run-report.js';
import { decide } from './write-plan.js';

export interface FullSyncDeps {
  readonly source: RecordSource;
  readonly sink: DocumentSink;
  readonly failures: FailureSink;
  /**
   * Called with the running counters after each batch; for progress bars and logs.
   * `estimatedTotal` is the row count extrapolated from the share of the table scanned, else
   * the store's own estimate, else undefined.
   */
  readonly onProgress?: (counters: Readonly<RunCounters>, estimatedTotal: number | undefined) => void;
  readonly now?: () => number;
}

export interface FullSyncOptions {
  readonly pipeline: string;
  readonly index: string;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
}

export async function fullSync(deps: FullSyncDeps, options: FullSyncOptions): Promise<RunReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const counters = emptyCounters();
  const { source, sink, failures } = deps;
  const { pipeline, signal } = options;

  const { created: indexCreated, empty } = await sink.prepare();
  const storeEstimate = await source.estimateCount();
  const estimate = () => {
    const f = source.fractionDone();
    return f > 0 ? Math.max(counters.read, Math.round(counters.read / f)) : storeEstimate;
  };

  async function* plannedWrites(): AsyncGenerator<WriteOp> {
    for await (const batch of source.scan({ signal })) {
      counters.read += batch.length;
      // An index that was empty when the run began needs no lookups: every record is new to it,
      // and anything written meanwhile by others is still settled by the version guard.
      const stored = empty ? new Map() : await sink.lookup(batch.map((r) => r.id));
      const removalChecks: { record: SourceRecord; digest: string; storedVersion: number }[] = [];
      for (const record of batch) {
        const digest = digestOf(record.document);
        const d = decide(record.version, digest, stored.get(record.id));
        if (d.action === 'unchanged') counters.unchanged += 1;
        else if (d.action === 'write') {
          yield opOf(record, d.version, digest);
        } else removalChecks.push({ record, digest, storedVersion: d.storedVersion });
      }
      if (removalChecks.length > 0) {
        const bodies = await sink.fetch(removalChecks.map((c) => c.record.id));
        for (const c of removalChecks) {
          const body = bodies.get(c.record.id);
          if (body && isRemovalOf(c.record.document, body)) yield opOf(c.record, c.storedVersion, c.digest);
          else counters.unchanged += 1; // the target is newer: leave it
        }
      }
      deps.onProgress?.(counters, estimate());
    }
  }

  const onOutcome = (op: WriteOp, outcome: WriteOutcome) => {
    if (outcome.kind === 'conflict') counters.unchanged += 1;
    else if (outcome.kind === 'rejected') {
      counters.failed += 1;
      failures.record({
        id: op.id,
        pipeline,
        errorClass: outcome.errorClass,
        errorType: outcome.errorType,
        reason: outcome.reason,
        attempt: 1,
        at: new Date(now()).toISOString(),
      });
    }
  };

  try {
    counters.indexed = await sink.write(plannedWrites(), {
      onOutcome,
      onAcknowledged: (written) => (counters.indexed = written),
    });
    await sink.refresh();
  } finally {
    await failures.close();
  }
  deps.onProgress?.(counters, counters.read);

  const finished = now();
  const durationMs = finished - started;
  return {
    pipeline,
    mode: 'full',
    ...counters,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs,
    rowsPerSecond: durationMs > 0 ? (counters.read * 1000) / durationMs : counters.read,
    interrupted: signal?.aborted ?? false,
    index: options.index,
    indexCreated,
    failureLedger: counters.failed > 0 ? options.failureLedgerPath : undefined,
  };
}

function opOf(record: SourceRecord, version: number, digest: string): WriteOp {
  return { id: record.id, version, document: record.document, meta: { ...record.meta, digest } };
}
