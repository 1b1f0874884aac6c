/**
 * What a handler of events is: it applies a batch of parsed events and says what became of each.
 * The consume loop (consume.ts) commits the batch only after `handle` resolved, so a handler
 * resolves only once every effect of the batch is acknowledged by the stores it writes, and
 * throws (a coded error) when a store does not answer: the loop then handles the whole batch
 * again, which must change nothing that was already changed (versions make writes idempotent;
 * each handler says how it finds what an interrupted attempt left half done).
 */
import type { ConsumedEvent } from './ports.js';

/** An event whose value parsed as JSON. */
export interface ParsedEvent {
  readonly event: ConsumedEvent;
  readonly body: unknown;
}

export type EventOutcome =
  /** Applied: `rowsChanged` rows of the table written (0 when nothing held the value any more). */
  | { readonly kind: 'applied'; readonly rowsChanged: number; readonly rowsRead: number }
  /** Not applied, on purpose: the event is not for this handler, or names rows that do not exist. */
  | { readonly kind: 'skipped'; readonly reason: string }
  /** Cannot be applied: goes to the dead-letter topic with the reason. */
  | { readonly kind: 'failed'; readonly reason: string };

/** A row change a dry run would make. */
export interface PlannedChange {
  readonly key: readonly string[];
  readonly set: Readonly<Record<string, { readonly from: unknown; readonly to: unknown }>>;
}

export interface HandledBatch {
  /** One per event, in the batch's order. */
  readonly outcomes: readonly EventOutcome[];
  readonly documents: { readonly indexed: number; readonly unchanged: number; readonly deleted: number; readonly missing: number; readonly failed: number };
  /** Lookups of `require` rows: found, and not found (or not matching). */
  readonly lookups: { readonly found: number; readonly missing: number };
  /** With dryRun: per event (by index in the batch), what would change. */
  readonly planned?: ReadonlyMap<number, { readonly rows: readonly PlannedChange[]; readonly documents: readonly string[] }>;
}

export interface EventHandler {
  readonly kind: string;
  /**
   * At most this many events per batch (default: the consumer's batchSize). replace-value takes
   * one: an event is committed before the next is applied, so a batch read again never applies an
   * older event after a newer one changed the same values (X→Y replayed after Z→X).
   */
  readonly eventsPerBatch?: number;
  handle(events: readonly ParsedEvent[], options: { readonly dryRun: boolean; readonly signal: AbortSignal }): Promise<HandledBatch>;
}

export const NO_DOCUMENTS = Object.freeze({ indexed: 0, unchanged: 0, deleted: 0, missing: 0, failed: 0 });
