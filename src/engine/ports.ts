/**
 * The engine's ports: the small interfaces it depends on. Adapters (src/cassandra,
 * src/elasticsearch) implement them; unit tests implement them with in-memory fakes.
 */
import type { SourceRecord, StoredVersion, WriteOp, WriteOutcome } from './record.js';

/** A table read as batches of records. */
export interface RecordSource {
  /**
   * Every record of the table, in batches. Pulling is backpressure: nothing more is read than
   * the consumer asks for (plus the pages already in flight). Stops early when `signal` aborts.
   */
  scan(options: { signal?: AbortSignal }): AsyncIterable<readonly SourceRecord[]>;
  /** A rough row count for progress, or undefined when the store cannot tell cheaply. */
  estimateCount(): Promise<number | undefined>;
  /** Share of the table scanned so far, 0..1 (completed token ranges, by width). */
  fractionDone(): number;
}

/** A target of documents that enforces versions itself. */
export interface DocumentSink {
  /** Creates the target when missing. `empty` is true when it holds no documents at all. */
  prepare(): Promise<{ readonly created: boolean; readonly empty: boolean }>;
  /** Stored version and digest of those ids that exist; absent ids are left out. */
  lookup(ids: readonly string[]): Promise<Map<string, StoredVersion>>;
  /** Stored bodies (without cesync metadata) of those ids that exist. */
  fetch(ids: readonly string[]): Promise<Map<string, Record<string, unknown>>>;
  /**
   * Applies every op with a version guard (an equal or newer stored version wins only when
   * newer: external_gte). Calls `onOutcome` once per op whose outcome is a conflict or a
   * rejection, and `onAcknowledged` now and then with the running count of documents written;
   * resolves with the number written. Rejects when a request fails after retries.
   */
  write(ops: AsyncIterable<WriteOp>, handlers: WriteHandlers): Promise<number>;
  /** Makes acknowledged writes visible to search. */
  refresh(): Promise<void>;
}

export interface WriteHandlers {
  readonly onOutcome: (op: WriteOp, outcome: WriteOutcome) => void;
  readonly onAcknowledged?: (written: number) => void;
}

/** Where failed documents go; see failure-ledger.ts. */
export interface FailureSink {
  record(entry: FailureEntry): void;
  close(): Promise<void>;
}

export type FailureClass = 'mapping' | 'rejected' | 'transient' | 'missing';

export interface FailureEntry {
  readonly id: string;
  readonly pipeline: string;
  readonly errorClass: FailureClass;
  readonly errorType: string;
  readonly reason: string;
  readonly attempt: number;
  readonly at: string;
}
