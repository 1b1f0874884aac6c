/**
 * Ports of event consumption, in neutral words: a log of events read in batches and marked done
 * (Kafka), a place for events that cannot be applied (a dead-letter topic), and the rows of a
 * table that can be found by a value they hold and changed (Cassandra). The consume loop and its
 * handlers (this folder) know no driver and no store; src/kafka, src/cassandra and
 * src/search-index implement these.
 */

/** One event as read from the log. */
export interface ConsumedEvent {
  readonly topic: string;
  readonly partition: number;
  /** Its position in the partition. */
  readonly offset: bigint;
  readonly key?: string;
  /** The event's bytes (undefined for a tombstone). */
  readonly value: Buffer | undefined;
  /** Milliseconds since the epoch, as the log stamped it. */
  readonly timestamp: number;
}

/**
 * A log of events in consumer groups. Each batch holds events in log order per partition.
 * `commit(batch)` marks every event of the batch, and all before it in its partitions, done: the
 * loop calls it only once every effect of those events is acknowledged by both stores. Events not
 * committed are read again after a restart or a rebalance (at least once).
 */
export interface EventLog {
  batches(signal: AbortSignal): AsyncIterable<readonly ConsumedEvent[]>;
  commit(batch: readonly ConsumedEvent[]): Promise<void>;
  /** Events not yet committed, per `topic:partition` assigned to this consumer. */
  lag(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** Where events go that cannot be parsed or applied, with the reason. */
export interface DeadLetters {
  send(event: ConsumedEvent, reason: { readonly handler: string; readonly error: string }): Promise<void>;
  close(): Promise<void>;
}

/** A row found by a value it holds: its primary key, the columns read, and when they were written. */
export interface HeldRow {
  /** The primary key's columns, by name. */
  readonly key: Readonly<Record<string, unknown>>;
  /** The key's parts as text, in key order (what `sync --ids` takes for this row). */
  readonly keyText: readonly string[];
  /** The columns asked for and the key columns, by the table's names (a collection as an array). */
  readonly values: Readonly<Record<string, unknown>>;
  /** The newest write time (microseconds) of the non-key columns read (MAXWRITETIME of a collection), 0 when none was read. */
  readonly writtenAt: number;
}

/** A change of one row: new values of some columns, written at `version` (microseconds). */
export interface RowChange {
  readonly row: HeldRow;
  readonly set: Readonly<Record<string, unknown>>;
  readonly version: number;
}

/** How a column holds values: one value, or a collection of them. */
export type HoldingKind = 'scalar' | 'list' | 'set';

/**
 * The rows of one table, found by a value they hold. `find` must return every row that holds the
 * value when it runs (an index, or a scan: paged, never capped); `change` writes one batch of row
 * changes, each at its version, and resolves once the store acknowledged all of them.
 */
export interface ValueRows {
  /** Shown in messages: keyspace.table. */
  readonly where: string;
  readonly keyColumns: readonly string[];
  /** The table's own name of a column as configured (`CreatedBy` is `createdby`); a coded error when it has none. */
  resolve(column: string): string;
  /** Whether `column` is part of the primary key (a key cannot be changed in place). */
  isKey(column: string): boolean;
  /** How `column` holds values; throws a coded error for a column the table lacks or cannot hold a value in. */
  holding(column: string): HoldingKind;
  /**
   * Whether a value as the table holds it (`cell`: one value, or one element of a collection) is
   * `value` as an event gives it, compared as the column's type: an upper-case uuid, `1.50` and
   * `1.5` of a decimal, `"007"` and `7` of an int are the same.
   */
  same(column: string, cell: unknown, value: unknown): boolean;
  /** Rows whose `column` equals `value` (a scalar) or contains it (a collection), with the columns of `read`. */
  find(column: string, value: unknown, read: readonly string[], signal?: AbortSignal): AsyncIterable<HeldRow>;
  /** The row of this key, with the columns of `read`; undefined when there is none. */
  get(key: Readonly<Record<string, unknown>>, read: readonly string[]): Promise<HeldRow | undefined>;
  change(changes: readonly RowChange[]): Promise<void>;
}

/** Opens the rows of another table (the checks of `require`), by keyspace and table. */
export type OpenRows = (keyspace: string | undefined, table: string) => Promise<ValueRows>;

/** Document ids of an index whose field holds a value (an exact term), every one, paged. */
export interface ValueDocuments {
  ids(field: string, value: unknown, signal?: AbortSignal): AsyncIterable<string>;
}

/** What a sync of some rows by their keys did (a targeted sync's counters). */
export interface IdSyncResult {
  readonly indexed: number;
  readonly unchanged: number;
  readonly deleted: number;
  readonly missing: number;
  readonly failed: number;
}

/**
 * Syncs the documents of these rows from the table, as `cesync sync --ids` does (versioned: a
 * replay writes nothing new). Keys are given as their parts' texts, in key order. Throws a coded
 * error when a store does not answer; documents the index refuses are counted as failed (and go
 * to the failure ledger).
 */
export type SyncIds = (keys: readonly (readonly string[])[], options: { readonly dryRun: boolean; readonly signal?: AbortSignal }) => Promise<IdSyncResult>;
