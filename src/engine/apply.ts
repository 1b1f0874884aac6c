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
import { versionHash } from './version-hash.js';
import { fromArray } from '../streams/from-array.js';
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
  // Writes planned as creations that met a newer version: a document written meanwhile, or the
  // tombstone of a document deleted in the index less than index.gc_deletes ago. Told apart after
  // the main pass (their checkpoint tickets stay open until then).
  const creations = new Set<WriteOp>();
  const refused: { op: WriteOp & { kind: 'index' }; currentVersion: number }[] = [];

  async function* ops(): AsyncGenerator<WriteOp> {
    for await (const { batch, planned: records } of planned) {
      counters.read += batch.records.length;
      const ticket = checkpoints && batch.position ? checkpoints.begin(batch.position as ScanPosition) : undefined;
      for (const p of records) {
        if (p.action === 'unchanged') {
          counters.unchanged += 1;
          continue;
        }
        const op = indexOp(p.record.id, p.version, p.json, { ...p.record.meta, digest: p.digest });
        if (p.action === 'create') creations.add(op);
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

  const settle = (op: WriteOp) => {
    const ticket = tickets.get(op);
    if (ticket) {
      tickets.delete(op);
      checkpoints!.settle(ticket);
    }
  };

  const onOutcome = (op: WriteOp, outcome: WriteOutcome) => {
    const planned = creations.delete(op);
    if (planned && outcome.kind === 'conflict' && outcome.currentVersion !== undefined && op.kind === 'index') {
      refused.push({ op, currentVersion: outcome.currentVersion });
      return;
    }
    count(op, outcome);
    settle(op);
  };

  const count = (op: WriteOp, outcome: WriteOutcome) => {
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
  };

  await ctx.sink.write(throttle(ops(), ctx.throttle ?? {}, ctx.clock, ctx.signal), onOutcome);
  if (refused.length > 0) await recreate(refused, ctx, count, settle);
}

/**
 * Creations refused by a newer version: if the document exists now, it was written meanwhile and
 * is newer (unchanged). If it does not, the index only remembers a delete (for index.gc_deletes,
 * 60 s by default): the row is written again at the tombstone's version, which the guard accepts.
 */
async function recreate(
  refused: readonly { op: WriteOp & { kind: 'index' }; currentVersion: number }[],
  ctx: ApplyContext,
  count: (op: WriteOp, outcome: WriteOutcome) => void,
  settle: (op: WriteOp) => void,
): Promise<void> {
  const present = await ctx.sink.lookup(refused.map((r) => r.op.id));
  const again = new Map<WriteOp, WriteOp>();
  for (const { op, currentVersion } of refused) {
    if (present.has(op.id)) {
      count(op, { kind: 'conflict' });
      settle(op);
    } else {
      const { digest, token } = op.meta as { digest?: unknown; token?: unknown };
      again.set(indexOp(op.id, currentVersion, op.json, { token, digest }), op);
    }
  }
  if (again.size === 0) return;
  await ctx.sink.write(fromArray([...again.keys()]), (op, outcome) => {
    const original = again.get(op)!;
    count(original, outcome);
    settle(original);
  });
}

function indexOp(id: string, version: number, json: string, meta: Readonly<Record<string, unknown>>): WriteOp & { kind: 'index' } {
  return { kind: 'index', id, version, json, meta: { ...meta, version, hv: versionHash(id, version) } };
}

