/**
 * The consume loop: batches of events from the log, parsed, handed to one handler, their failures
 * sent to the dead letters, then committed. At least once: a batch is committed only after the
 * handler resolved (every effect acknowledged by both stores) and its failed events were accepted
 * by the dead letters; a crash before that reads the batch again, and handlers change nothing the
 * second time (handler.ts).
 *
 * A store that does not answer (STORE_UNAVAILABLE) is waited for: the batch is handled again after
 * a backoff from 1 s to 30 s, for as long as it takes, and nothing is committed meanwhile. Any
 * other error ends the loop, with the batch not committed. The stop signal ends it after the batch
 * in progress is committed, or at once during a backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CesyncError } from '../errors.js';
import type { EventHandler, EventOutcome, HandledBatch, ParsedEvent } from './handler.js';
import type { ConsumedEvent, DeadLetters, EventLog } from './ports.js';

export interface ConsumeObserver {
  batch?(report: BatchReport): void;
  retry?(error: CesyncError, attempt: number, delayMs: number): void;
  /** A failed event with no dead-letter topic to go to: logged by the caller, then committed. */
  dropped?(event: ConsumedEvent, reason: string): void;
}

export interface BatchReport {
  readonly events: readonly ConsumedEvent[];
  readonly outcomes: readonly EventOutcome[];
  readonly handled: HandledBatch | undefined;
  /** Positions in `events` of the events handed to the handler (the ones that parsed), in order. */
  readonly parsedAt: readonly number[];
  readonly deadLettered: number;
  readonly seconds: number;
  readonly dryRun: boolean;
}

export interface ConsumeOptions {
  readonly signal: AbortSignal;
  readonly dryRun?: boolean;
  /** Stop once no batch came for this long (milliseconds): the log is drained. Default: never. */
  readonly idleExitMs?: number;
  readonly backoff?: { readonly firstMs: number; readonly maxMs: number };
  readonly observer?: ConsumeObserver;
}

const DEFAULT_BACKOFF = { firstMs: 1000, maxMs: 30_000 };

export interface ConsumeTotals {
  batches: number;
  events: number;
  applied: number;
  skipped: number;
  failed: number;
  deadLettered: number;
  rowsChanged: number;
  /** With idleExitMs, the events left uncommitted in the partitions held when it stopped. */
  lagAtExit?: number;
}

/** Parses an event's value as JSON; a value that is not is an outcome of its own. */
export function parseEvent(event: ConsumedEvent): ParsedEvent | { readonly failed: string } {
  if (event.value === undefined || event.value.length === 0) return { failed: 'the event has no value (a tombstone)' };
  try {
    return { event, body: JSON.parse(event.value.toString('utf8')) as unknown };
  } catch (e) {
    return { failed: `the value is not JSON: ${(e as Error).message}` };
  }
}

export async function consume(log: EventLog, handler: EventHandler, deadLetters: DeadLetters | undefined, options: ConsumeOptions): Promise<ConsumeTotals> {
  const totals: ConsumeTotals = { batches: 0, events: 0, applied: 0, skipped: 0, failed: 0, deadLettered: 0, rowsChanged: 0 };
  const { signal, dryRun = false, observer } = options;
  const { firstMs, maxMs } = options.backoff ?? DEFAULT_BACKOFF;
  const idle = new AbortController();
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (options.idleExitMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => idle.abort(), options.idleExitMs);
  };
  const stop = AbortSignal.any([signal, idle.signal]);
  /**
   * `work` (handling the batch, a dead letter, the commit) until it no longer fails with
   * STORE_UNAVAILABLE, with a backoff between attempts; any other error, or the stop signal
   * during a backoff, ends the loop with the batch not committed.
   */
  const untilAnswered = async <T>(work: () => Promise<T>, events: number): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (e) {
        if (!(e instanceof CesyncError) || e.code !== 'STORE_UNAVAILABLE' || signal.aborted) throw e;
        const delayMs = Math.min(maxMs, firstMs * 2 ** Math.min(attempt - 1, 16));
        observer?.retry?.(e, attempt, delayMs);
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw new CesyncError('INTERRUPTED', `stopped while waiting for a store; the batch of ${events} events is not committed and will be read again`, { cause: e });
      }
    }
  };
  armIdle();
  try {
    for await (const events of log.batches(stop)) {
      clearTimeout(idleTimer);
      const started = performance.now();
      const parsed: ParsedEvent[] = [];
      const at: number[] = [];
      const outcomes: (EventOutcome | undefined)[] = events.map((e, i) => {
        const p = parseEvent(e);
        if ('failed' in p) return { kind: 'failed', reason: p.failed };
        parsed.push(p);
        at.push(i);
        return undefined;
      });
      let handled: HandledBatch | undefined;
      // The stop signal is not passed on: a batch begun is finished, so that it can be committed.
      if (parsed.length > 0) handled = await untilAnswered(() => handler.handle(parsed, { dryRun, signal: new AbortController().signal }), events.length);
      handled?.outcomes.forEach((o, j) => (outcomes[at[j]!] = o));
      const settled = outcomes as EventOutcome[];
      let deadLettered = 0;
      if (!dryRun) {
        for (const [i, o] of settled.entries()) {
          if (o.kind !== 'failed') continue;
          if (deadLetters) {
            await untilAnswered(() => deadLetters.send(events[i]!, { handler: handler.kind, error: o.reason }), events.length);
            deadLettered++;
          } else observer?.dropped?.(events[i]!, o.reason);
        }
        await untilAnswered(() => log.commit(events), events.length);
      }
      totals.batches++;
      totals.events += events.length;
      totals.deadLettered += deadLettered;
      for (const o of settled) {
        totals[o.kind]++;
        if (o.kind === 'applied') totals.rowsChanged += o.rowsChanged;
      }
      observer?.batch?.({ events, outcomes: settled, handled, parsedAt: at, deadLettered, seconds: (performance.now() - started) / 1000, dryRun });
      armIdle();
      if (signal.aborted) break;
    }
    // Stopped as idle: the log must still answer, so that a topic unreadable for as long (the
    // brokers gone) is not reported as drained.
    if (idle.signal.aborted && !signal.aborted) {
      const lags = await log.lag();
      totals.lagAtExit = [...lags.values()].reduce((a, b) => a + b, 0);
    }
  } finally {
    clearTimeout(idleTimer);
  }
  return totals;
}
