/**
 * Applying planned writes: turns planned batches (and extra deletes) into sink writes, counts
 * every outcome, sends rejections to the failure ledger, and settles each batch's checkpoint
 * ticket once the target has answered for every write of the batch.
 */
import type { DocumentSink, FailureSink } from './ports.js';
import type { PlannedBatch } from './planner.js';
import type { ScanPosition, WriteOp, WriteOutcome } from './record.js';
import type { RunCounters } from './run-report.js';
import type { BatchTicket, SpanCheckpoints } from './span-checkpoints.js';
import { throttle, type Clock, type ThrottleOptions } from './throttle.js';

export interface ApplyContext {
  readonly pipeline: string;
  readonly sink: DocumentSink;
  readonly failures: FailureSink;
  readonly counters: RunCounters;
  readonly checkpoints?: SpanCheckpoints;
  readonly throttle?: ThrottleOptions;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
  readonly now: () => number;
  /** Attempt number written to the ledger (retry passes the previous attempt + 1). */
  readonly attempt?: number;
  /** Called after each planned batch is handed on (for progress). */
  readonly onBatch?: () => void;
  /** Called with every write's outcome (per-id results of a targeted sync). */
  readonly onOutcome?: (op: WriteOp, outcome: WriteOutcome) => void;
}

export async function applyPlanned(
  planned: AsyncIterable<PlannedBatch>,
  deletes: readonly { id: string; version: number }[],
  ctx: ApplyContext,
): Promise<void> {
  const { counters, checkpoints } = ctx;
  const tickets = new Map<WriteOp, BatchTicket>();

  async function* ops(): AsyncGenerator<WriteOp> {
    for await (const { batch, planned: records } of planned) {
      counters.read += batch.records.length;
      const ticket = checkpoints && batch.position ? checkpoints.begin(batch.position as ScanPosition) : undefined;
      for (const p of records) {
        if (p.action === 'unchanged') {
          counters.unchanged += 1;
          continue;
        }
        const op: WriteOp = { kind: 'index', id: p.record.id, version: p.version, json: p.json, meta: { ...p.record.meta, digest: p.digest } };
        if (ticket) {
          ticket.pending += 1;
          tickets.set(op, ticket);
        }
        yield op;
      }
      if (ticket) checkpoints!.seal(ticket);
      ctx.onBatch?.();
    }
    for (const d of deletes) yield { kind: 'delete', id: d.id, version: d.version };
  }

  const onOutcome = (op: WriteOp, outcome: WriteOutcome) => {
    switch (outcome.kind) {
      case 'written':
        counters.indexed += 1;
        if (outcome.created) counters.created += 1;
        else counters.updated += 1;
        break;
      case 'deleted':
        counters.deleted += 1;
        break;
      case 'conflict':
        counters.unchanged += 1;
        break;
      case 'rejected':
        counters.failed += 1;
        ctx.failures.record({
          id: op.id,
          pipeline: ctx.pipeline,
          errorClass: outcome.errorClass,
          errorType: outcome.errorType,
          reason: outcome.reason,
          attempt: ctx.attempt ?? 1,
          at: new Date(ctx.now()).toISOString(),
        });
        break;
    }
    ctx.onOutcome?.(op, outcome);
    const ticket = tickets.get(op);
    if (ticket) {
      tickets.delete(op);
      checkpoints!.settle(ticket);
    }
  };

  await ctx.sink.write(throttle(ops(), ctx.throttle ?? {}, ctx.clock, ctx.signal), onOutcome);
}
