/**
 * The engine's ports: the small interfaces it depends on. Adapters (src/cassandra,
 * src/elasticsearch, src/state) implement them; unit tests implement them with in-memory fakes.
 */
import type { SourceBatch, SourceRecord, StoredVersion, WriteOp, WriteOutcome } from './record.js';

/**
 * A span of the source: a range of positions, start exclusive, end inclusive, `end: null` for the
 * end of the position space. Every row has one position, a signed 64-bit integer as a decimal
 * string (it does not fit a JavaScript number): the partition token of a Cassandra row, the key
 * (or the leading key column's order-keeping image) of a PostgreSQL row. Documents carry their
 * row's position (`meta.token`), so a target can count its documents span by span (verify).
 */
export interface SourceSpan {
  readonly start: string;
  readonly end: string | null;
}

/** Progress of one span, as saved in a checkpoint. */
export interface SpanProgress extends SourceSpan {
  /** Resume strictly after this token (every row up to it is acknowledged). */
  readonly after?: string;
  readonly done: boolean;
}

/** A full primary key, ready to query; `id` is the document id it maps to. */
export interface ParsedKey {
  readonly id: string;
  readonly values: readonly unknown[];
}

export interface VersionEntry {
  readonly id: string;
  readonly version: number;
  /** See SourceRecord.parts. */
  readonly parts?: string;
  /** The row could not be made into a document (SourceRecord.rejected): it matches no document. */
  readonly rejected?: boolean;
}

export interface VersionBatch {
  readonly span: number;
  readonly entries: readonly VersionEntry[];
}

/**
 * A table read as batches of records.
 *
 * Interruption (see interrupt.ts): every iteration here that takes a signal throws a CesyncError
 * INTERRUPTED when the signal aborts; none ends quietly as if it had read everything.
 */
export interface RecordSource {
  /** The spans a full scan covers, in order (deterministic for a given cluster and split count). */
  spans(): SourceSpan[];
  /**
   * Every record of the given spans (resuming each strictly after `after`, skipping done ones),
   * in batches that carry their position. Pulling is backpressure: nothing more is read than the
   * consumer asks for (plus pages in flight). Throws INTERRUPTED when `signal` aborts.
   */
  scan(spans: readonly SpanProgress[], options: { signal?: AbortSignal }): AsyncIterable<SourceBatch>;
  /** (id, version) of every row of the spans, from a key-and-write-time scan; `span` indexes `spans`. */
  scanVersions(spans: readonly SourceSpan[], options: { signal?: AbortSignal }): AsyncIterable<VersionBatch>;
  /** Names of the primary key columns, in the order `parseKey` takes their texts. */
  keyColumns(): readonly string[];
  /** A key from the texts of its columns (CSV columns), or why they do not form one. */
  parseKey(parts: readonly string[]): ParsedKey | { readonly error: string };
  /** The texts of a document id's key columns (the inverse of the id format). */
  idParts(id: string): string[];
  /**
   * (id, change version) of rows changed in the window: after `from` (by version, then id) and at
   * most `to`. `method` says how they are found: a query on an indexed change column, or a scan
   * of keys and write times of the whole table.
   */
  changed(from: Watermark, to: number, options: { signal?: AbortSignal }): { readonly method: 'change-column' | 'scan'; readonly entries: AsyncIterable<readonly VersionEntry[]> };
  /** The records of these keys, in batches; keys without a row are left out. */
  read(keys: readonly ParsedKey[], options: { signal?: AbortSignal }): AsyncIterable<SourceBatch>;
  /** A rough row count for progress, or undefined when the store cannot tell cheaply. */
  estimateCount(): Promise<number | undefined>;
  /** Share of the current scan's key space read so far, 0..1. */
  fractionDone(): number;
  /**
   * The version (microseconds) of the oldest change that may still become visible: the start of
   * a transaction still writing, whose rows appear at its commit with versions from its start.
   * Undefined when there is none, or when the store makes writes visible as they land (Cassandra).
   * An incremental window, or the watermark a full sync leaves, never passes it.
   */
  openWritesSince?(): Promise<number | undefined>;
}

/**
 * Rows the source marks as pending (a flag column, a queue table): what to sync next, and the way
 * to mark them done once their documents are acknowledged. Contract: an entry is marked done only
 * by `settle`, only for the ids given, and only when it did not change since it was taken (a
 * change made meanwhile stays pending, so it is synced again); nothing else clears it.
 */
export interface PendingSource {
  /**
   * The next pending keys, at most `max`, in a fixed order, after those this instance took before
   * in the current pass. An empty batch ends the pass (the next take starts from the beginning);
   * after a batch that reached the end, the next take gives that empty batch, so a run that
   * marks nothing (a dry run) still ends.
   * Entries this instance saw fail stay pending but are not taken again until they change.
   */
  take(max: number, options: { signal?: AbortSignal }): Promise<PendingBatch>;
  /** Marks done the entries of `batch` whose ids are in `done`; the others are held back (see take). Returns how many were marked. */
  settle(batch: PendingBatch, done: ReadonlySet<string>): Promise<number>;
  /** How many entries are pending now (for status and progress), or undefined when that is costly. */
  count(): Promise<number | undefined>;
}

export interface PendingBatch {
  readonly keys: readonly ParsedKey[];
  /** The source's own record of what it handed out (versions of the rows, queue ids). */
  readonly taken: unknown;
}

/** A target of documents that enforces versions itself. */
export interface DocumentSink {
  /**
   * Creates the target when missing (unless `create` is false). `empty`: it holds no documents.
   * `bulkLoad`: a target created now may be tuned for a large initial load until `refresh`.
   */
  prepare(options?: { create?: boolean; bulkLoad?: boolean }): Promise<{ readonly created: boolean; readonly empty: boolean; readonly exists: boolean }>;
  /** Stored version and digest of those ids that exist; absent ids are left out. */
  lookup(ids: readonly string[]): Promise<Map<string, StoredVersion>>;
  /** Stored bodies (without cesync metadata) of those ids that exist. */
  fetch(ids: readonly string[]): Promise<Map<string, Record<string, unknown>>>;
  /**
   * Applies every op with a version guard and calls `onOutcome` exactly once per op, as the
   * target acknowledges or refuses it. Resolves when every op has an outcome; rejects when a
   * request fails after retries (ops without an outcome then were not acknowledged). An op the
   * target did not answer for is given a transient rejection, never left without an outcome.
   * `signal`: once it aborts, failed requests are no longer retried (the writes in flight finish).
   */
  write(ops: AsyncIterable<WriteOp>, onOutcome: (op: WriteOp, outcome: WriteOutcome) => void, options?: { signal?: AbortSignal }): Promise<void>;
  /** Makes acknowledged writes visible to search, and ends any initial-load tuning. */
  refresh(): Promise<void>;
}

/** What a target holds for one document, as verify compares it. */
export interface TargetEntry {
  readonly id: string;
  readonly version: number;
  readonly digest?: string;
  /** The stored hash of (id, version, parts) (version-hash.ts). */
  readonly hv?: number;
  /** The stored body without cesync metadata (content comparison only). */
  readonly source?: Record<string, unknown>;
}

/** A target that can summarise and list its documents by token span (for verify). */
export interface InspectableTarget {
  /** Count and sum of version hashes per span, of documents whose token lies in it. */
  summarise(spans: readonly SourceSpan[], options: { sinceVersion?: number }): Promise<{ count: number; sum: number }[]>;
  /** The documents of one span. */
  list(span: SourceSpan, options: { sinceVersion?: number; withSource?: boolean }): AsyncIterable<readonly TargetEntry[]>;
  /** Documents without cesync's token (written by something else). */
  listUntracked(options: { withSource?: boolean }): AsyncIterable<readonly TargetEntry[]>;
  /** Whether the target exists at all. */
  exists(): Promise<boolean>;
  /** Bytes of response bodies read so far (to show what verify costs). */
  bytesRead(): number;
}

/** Saved progress of a pipeline: one entry per pipeline, never one global "last run". */
export interface PipelineState {
  readonly pipeline: string;
  readonly runId: string;
  readonly mode: 'full';
  readonly status: 'running' | 'finished' | 'interrupted' | 'failed';
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Span progress of an unfinished full sync; empty once finished. */
  readonly spans: readonly SpanProgress[];
  readonly counters: Readonly<Record<string, number>>;
  /** Where the watermark starts once this full sync is done (see full-sync.ts). */
  readonly watermarkFrom?: number;
  readonly error?: string;
}

export interface StateStore {
  load(pipeline: string): Promise<PipelineState | undefined>;
  save(state: PipelineState): Promise<void>;
  list(): Promise<PipelineState[]>;
  /** The high-water mark of a pipeline in one direction (incremental sync). */
  loadWatermark(pipeline: string, direction: Direction): Promise<Watermark | undefined>;
  saveWatermark(pipeline: string, direction: Direction, mark: Watermark): Promise<void>;
  /**
   * Leases with expiry: at most one holder per name. `acquire` succeeds when the lease is free,
   * expired, or already ours (then it is renewed); `renew` fails when we no longer hold it.
   */
  acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, owner: string): Promise<void>;
  /** Who holds a lease now, if anyone. */
  leaseHolder(name: string): Promise<string | undefined>;
  /** The outcome of the pipeline's last verify (or the verify of its last repair), replacing the one before. */
  saveVerify(summary: VerifySummary): Promise<void>;
  loadVerify(pipeline: string): Promise<VerifySummary | undefined>;
  close(): Promise<void>;
}

/** What is kept of a verify: its counts and where the differences were, not the ids. */
export interface VerifySummary {
  readonly pipeline: string;
  readonly at: string;
  readonly inSync: boolean;
  readonly content: boolean;
  /** Start of the window compared (`verify --since`), ISO 8601. */
  readonly since?: string;
  readonly counts: Readonly<Record<'missing' | 'orphan' | 'stale' | 'different', number>>;
  /** Spans compared, and those with differences (token bounds and how many). */
  readonly spans: number;
  readonly driftSpans: readonly (SourceSpan & { readonly differences: number })[];
  readonly durationMs: number;
}

/** Where failed documents go; see failure-ledger.ts. */
export interface FailureSink {
  record(entry: FailureEntry): void;
  close(): Promise<void>;
}

export type FailureClass = 'mapping' | 'rejected' | 'transient' | 'missing' | 'shape';

export interface FailureEntry {
  readonly id: string;
  readonly pipeline: string;
  readonly errorClass: FailureClass;
  readonly errorType: string;
  readonly reason: string;
  readonly attempt: number;
  readonly at: string;
}

export type { SourceRecord };

/**
 * A position in a stream of changes ordered by (version, id): everything at or before it has been
 * applied and acknowledged. Rows sharing one version are ordered by id, so a run that stops among
 * them continues after the last id it finished, and none is skipped.
 */
export interface Watermark {
  readonly version: number;
  readonly id: string;
}

export type Direction = 'to-elasticsearch' | 'to-cassandra';

/** What became of a document a run handled, as an observer counts it. */
export type OutcomeKind = 'created' | 'updated' | 'unchanged' | 'failed' | 'deleted';

/**
 * What a run reports as it goes, for monitoring; it knows nothing of how that is shown (metrics
 * are one adapter: src/metrics). One observer belongs to one run of one pipeline in one direction,
 * so it carries no names. Contract: every method is called synchronously, returns at once and
 * never throws; a run without an observer behaves exactly as one with.
 */
export interface RunObserver {
  /** `n` rows (towards Cassandra: documents) read from the source and handed on to be written. */
  rowsRead(n: number): void;
  /**
   * `n` documents settled with this outcome: answered by the target (towards Cassandra a row
   * written is `updated`, an echo `unchanged`), or found unchanged before writing.
   */
  outcome(kind: OutcomeKind, n: number): void;
  /** One document or id failed, by class; called once per entry of the failure ledger. */
  failure(errorClass: FailureClass): void;
  /**
   * Something sent again after a transient refusal: `request`, one whole bulk request (429, 5xx,
   * unreachable); `document`, `n` documents refused for the moment one by one.
   */
  retry(what: 'request' | 'document', n: number): void;
  /** One bulk request ended (answered or failed): how long it took and the bytes of its body. */
  bulkRequest(durationSeconds: number, bytes: number): void;
  /** Full sync: share of the table read, 0..1, and seconds left (undefined while unknown). */
  progress(fraction: number, etaSeconds: number | undefined): void;
  /** The saved watermark of a direction is now at this version (microseconds since the epoch). */
  watermark(direction: Direction, version: number): void;
}

/** Documents of the target that changed, for the way back (Elasticsearch to Cassandra). */
export interface ChangedDocument {
  readonly id: string;
  /** The document's version (its version field, in microseconds). */
  readonly version: number;
  /** The body without cesync metadata. */
  readonly document: Readonly<Record<string, unknown>>;
  /** cesync's metadata when the document was written by cesync: digest and version it wrote. */
  readonly written?: { readonly digest?: string; readonly version?: number };
}

/** Reads changed documents in (version) order with a point in time and search_after. */
export interface ChangeFeed {
  /** Documents whose version is >= `from.version` and <= `to`, ordered by version. */
  changes(from: Watermark, to: number, options: { signal?: AbortSignal; pageSize?: number }): AsyncIterable<readonly ChangedDocument[]>;
}

/** One row to write into Cassandra with `USING TIMESTAMP version`. */
export interface RowWrite {
  readonly id: string;
  readonly version: number;
  readonly document: Readonly<Record<string, unknown>>;
}

/** A table that takes documents back as rows; Cassandra keeps the newest cell by itself. */
export interface RowSink {
  /** Checks that documents can be converted to rows of this table; throws SCHEMA_MISMATCH otherwise. */
  check(): void;
  /**
   * Writes each document as a row `USING TIMESTAMP version` (all mapped columns, nulls included).
   * Calls `onOutcome` once per write. Rejects when a request fails after retries.
   */
  write(rows: AsyncIterable<RowWrite>, onOutcome: (row: RowWrite, outcome: RowWriteOutcome) => void): Promise<void>;
}

export type RowWriteOutcome =
  | { readonly kind: 'written' }
  | { readonly kind: 'rejected'; readonly errorClass: 'mapping' | 'rejected'; readonly errorType: string; readonly reason: string };
