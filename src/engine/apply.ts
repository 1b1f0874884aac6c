/**
 * Applying planned writes: turns planned batches (and extra deletes) into sink writes, counts
 * every outcome, sends rejections to the failure ledger, and settles each batch's checkpoint
 * ticket once the target has answered for every write of the batch.
 *
 * A transient refusal of one document (429 or 5xx for that item, after the sink's own retries) is
 * not an answer: the write is tried again with backoff, its checkpoint ticket stays open, and if
 * it still fails the run stops with STORE_UNAVAILABLE (or INTERRUPTED when a signal came), so no
 * checkpoint or watermark ever passes a document the target did not take.
 */
import type { DocumentSink, FailureSink, RunObserver } from './ports.js';
import type { PlannedBatch } from './planner.js';
import type { ScanPosition, SourceRecord, WriteOp, WriteOutcome } from './record.js';
import { interrupted } from './interrupt.js';
import { digestOfRecord } from './planner.js';
import type { Reread } from './reread.js';
import { CesyncError } from '../errors.js';
import type { RunCounters } from './run-report.js';
import type { BatchTicket, SpanCheckpoints } from './span-checkpoints.js';
import { versionHash } from './version-hash.js';
import { fromArray } from '../streams/from-array.js';
import { systemClock, throttle, type Clock, type ThrottleOptions } from './throttle.js';

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
  /** Rows read again by id, to confirm a re-creation under a delete's tombstone. */
  readonly reread: Reread;
  /** Retries of documents refused as transient: attempts and first backoff (doubling, capped at 30 s). */
  readonly transientRetry?: { readonly attempts: number; readonly backoffMs: number };
  /** Told of rows read, of each outcome and of documents written again (ports.ts). */
  readonly observer?: RunObserver;
}

const DEFAULT_TRANSIENT_RETRY = { attempts: 6, backoffMs: 1000 };
const MAX_BACKOFF_MS = 30_000;

export async function applyPlanned(
  planned: AsyncIterable<PlannedBatch>,
  deletes: readonly { id: string; version: number; notBefore?: number }[],
  ctx: ApplyContext,
): Promise<void> {
  const { counters, checkpoints } = ctx;
  const tickets = new Map<WriteOp, BatchTicket>();
  // Writes planned as creations that met a newer version: a document written meanwhile, or the
  // tombstone of a document deleted in the index less than index.gc_deletes ago. Told apart after
  // the main pass (their checkpoint tickets stay open until then).
  const creations = new Set<WriteOp>();
  const refused: { op: WriteOp & { kind: 'index' }; currentVersion: number }[] = [];
  // Writes refused as transient, to be written again; their tickets stay open meanwhile.
  let transient: { op: WriteOp; reason: string }[] = [];

  async function* ops(): AsyncGenerator<WriteOp> {
    for await (const { batch, planned: records } of planned) {
      counters.read += batch.records.length;
      ctx.observer?.rowsRead(batch.records.length);
      const ticket = checkpoints && batch.position ? checkpoints.begin(batch.position as ScanPosition) : undefined;
      for (const p of records) {
        if (p.action === 'unchanged') {
          counters.unchanged += 1;
          ctx.observer?.outcome('unchanged', 1);
          continue;
        }
        if (p.action === 'reject') {
          // Nothing to send: answered here, as the target answers a document it refuses.
          const { errorType, reason } = p.record.rejected!;
          count(indexOp(p.record.id, p.version, '', p.record.meta ?? {}), { kind: 'rejected', errorClass: 'shape', errorType, reason });
          continue;
        }
        if (transient.length >= MAX_TRANSIENT_HELD) throw refusedError(ctx.pipeline, transient, 'and more pile up');
        const op = indexOp(p.record.id, p.version, p.json, { ...p.record.meta, digest: p.digest }, p.action === 'create', p.record.parts);
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
  }

  const settle = (op: WriteOp) => {
    const ticket = tickets.get(op);
    if (ticket) {
      tickets.delete(op);
      checkpoints!.settle(ticket);
    }
  };

  const onOutcome = (op: WriteOp, outcome: WriteOutcome) => {
    if (outcome.kind === 'rejected' && outcome.errorClass === 'transient') {
      transient.push({ op, reason: `${outcome.errorType}: ${outcome.reason}` });
      return;
    }
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
        ctx.observer?.outcome(outcome.created ? 'created' : 'updated', 1);
        break;
      case 'deleted':
        counters.deleted += 1;
        ctx.observer?.outcome('deleted', 1);
        break;
      case 'conflict':
        counters.unchanged += 1;
        ctx.observer?.outcome('unchanged', 1);
        break;
      case 'rejected':
        counters.failed += 1;
        ctx.observer?.outcome('failed', 1);
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

  await ctx.sink.write(throttle(ops(), ctx.throttle ?? {}, ctx.clock, ctx.signal), onOutcome, { signal: ctx.signal });
  // Deletes in requests of their own (a bulk request of only deletes is answered item by item as
  // any other; mixed with documents, the client's helper mis-pairs its lines when it gives up).
  if (deletes.length > 0) {
    await ctx.sink.write(fromArray(deletes.map((d): WriteOp => ({ kind: 'delete', ...d }))), onOutcome, { signal: ctx.signal });
  }
  const retry = ctx.transientRetry ?? DEFAULT_TRANSIENT_RETRY;
  const clock = ctx.clock ?? systemClock;
  for (let attempt = 1; transient.length > 0 || refused.length > 0; ) {
    if (refused.length > 0) {
      await recreate(refused.splice(0), ctx, count, settle, creations, (op, reason) => transient.push({ op, reason }));
      continue;
    }
    if (ctx.signal?.aborted) throw interrupted(`${refusedText(transient)}, and they were to be written again`);
    if (attempt >= retry.attempts) throw refusedError(ctx.pipeline, transient, `${attempt} times`);
    await clock.sleep(Math.min(MAX_BACKOFF_MS, retry.backoffMs * 2 ** (attempt - 1)), ctx.signal);
    attempt += 1;
    const again = transient.map((t) => t.op);
    transient = [];
    ctx.observer?.retry('document', again.length);
    await ctx.sink.write(fromArray(again), onOutcome, { signal: ctx.signal });
  }
}

/**
 * Refusals held for a retry at the end of the pass stall every checkpoint behind them and hold
 * their documents in memory: past this many, the run stops at once (exit 3), progress saved.
 */
const MAX_TRANSIENT_HELD = 1000;

function refusedText(transient: readonly { reason: string }[]): string {
  const n = transient.length;
  return `${n} document${n === 1 ? ' was' : 's were'} refused as overloaded or failing (${transient[0]?.reason ?? ''})`;
}

/** The run stops on documents the target keeps refusing for the moment (`how`: how often, or why now). */
function refusedError(pipeline: string, transient: readonly { reason: string }[], how: string): CesyncError {
  return new CesyncError(
    'STORE_UNAVAILABLE',
    `${pipeline}: ${refusedText(transient)} ${how}; they were not acknowledged, so saved progress stays before them and the next run writes them`,
  );
}

/**
 * Creations refused by a newer version: if the document exists now, it was written meanwhile and
 * is newer (unchanged). If it does not, the index only remembers a delete (for index.gc_deletes,
 * 60 s by default). The row is then read again: only a row that exists now is written, from that
 * fresh read, at the tombstone's version (which the guard accepts); a row that is gone stays
 * deleted, so a late copy of a deleted row never brings its document back.
 */
async function recreate(
  refused: readonly { op: WriteOp & { kind: 'index' }; currentVersion: number }[],
  ctx: ApplyContext,
  count: (op: WriteOp, outcome: WriteOutcome) => void,
  settle: (op: WriteOp) => void,
  creations: Set<WriteOp>,
  retryLater: (op: WriteOp, reason: string) => void,
): Promise<void> {
  const present = await ctx.sink.lookup(refused.map((r) => r.op.id));
  const absent = refused.filter((r) => !present.has(r.op.id));
  const rows = absent.length > 0 ? await ctx.reread(absent.map((r) => r.op.id)) : new Map<string, SourceRecord>();
  const again = new Map<WriteOp, WriteOp>();
  for (const { op, currentVersion } of refused) {
    const row = rows.get(op.id);
    if (row?.rejected && !present.has(op.id)) {
      count(op, { kind: 'rejected', errorClass: 'shape', ...row.rejected });
      settle(op);
    } else if (present.has(op.id) || !row) {
      count(op, { kind: 'conflict' });
      settle(op);
    } else {
      const json = JSON.stringify(row.document);
      const token = row.meta?.['token'] ?? (op.meta as { token?: unknown }).token;
      again.set(indexOp(op.id, Math.max(currentVersion, row.version), json, { token, digest: digestOfRecord(row, json) }, false, row.parts), op);
    }
  }
  if (again.size === 0) return;
  await ctx.sink.write(fromArray([...again.keys()]), (op, outcome) => {
    const original = again.get(op)!;
    if (outcome.kind === 'rejected' && outcome.errorClass === 'transient') {
      // Still a creation: its next refusal by the tombstone comes back here.
      creations.add(original);
      return retryLater(original, `${outcome.errorType}: ${outcome.reason}`);
    }
    count(original, outcome);
    settle(original);
  }, { signal: ctx.signal });
}

function indexOp(id: string, version: number, json: string, meta: Readonly<Record<string, unknown>>, strict = false, parts?: string): WriteOp & { kind: 'index' } {
  return { kind: 'index', id, version, json, meta: { ...meta, version, hv: versionHash(id, version, parts) }, ...(strict ? { strict } : {}) };
}

