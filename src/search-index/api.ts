/**
 * What cesync asks of a search server that holds its indices: the small set of calls the index
 * sink, inspector and change feed are written against. Elasticsearch and OpenSearch are two
 * implementations (src/elasticsearch/api.ts, src/opensearch/api.ts), each with its own official
 * client; what differs between them and between their versions is decided inside those and
 * described by `dialect`, so nothing above this port learns which server it writes to.
 *
 * Contract of every call: a failure rejects with a CesyncError (STORE_AUTH, STORE_UNAVAILABLE,
 * STORE_REQUEST) naming `where`; an aborted call rejects with the abort error itself, untouched,
 * so a caller can tell a stop from a failure.
 */
import type { CesyncError } from '../errors.js';

/** The server answering, as detected when the connection was opened. */
export interface SearchServer {
  readonly product: 'elasticsearch' | 'opensearch';
  /** As the server reports it, e.g. 8.19.21 or 2.19.6. */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
}

/** Where the servers differ in what cesync uses of them. */
export interface SearchDialect {
  /**
   * How an object whose keys are data (a Cassandra map; keys may hold dots, such as e-mail
   * addresses or timestamps) is mapped so that each key stays one field:
   * - `subobjects`: an object with `subobjects: false` and typed values (Elasticsearch 8.3+);
   * - `flattened` / `flat_object`: one field of the whole object, its leaves searchable as
   *   keywords (Elasticsearch's `flattened`, OpenSearch's `flat_object`);
   * - `stored`: kept in `_source` only, not searchable (no such type on the server).
   */
  readonly dataKeyedObject: 'subobjects' | 'flattened' | 'flat_object' | 'stored';
  /**
   * The sort that walks a point in time in a total order, as a search_after tiebreaker: `_shard_doc`
   * where the server has it; otherwise `_id` (unique, and sortable on OpenSearch 2, which lacks it).
   */
  readonly pitTiebreaker: Record<string, unknown>;
}

/** A document as a multi-get returns it. */
export interface StoredDocument {
  readonly _id: string;
  readonly _version: number;
  readonly _source?: Record<string, unknown>;
}

/** The action line of one bulk operation (the document line, for `index`, follows it as text). */
export type BulkAction =
  | { readonly index: { readonly _index: string; readonly _id: string; readonly version: number; readonly version_type: 'external' | 'external_gte' } }
  | { readonly delete: { readonly _index: string; readonly _id: string; readonly version: number; readonly version_type: 'external' } };

export interface BulkItemError {
  readonly type?: string;
  readonly reason?: string | null;
  readonly caused_by?: { readonly reason?: string | null };
}

export interface BulkRetryOptions {
  /** Retries of one whole request after the transport's own (default 5, as maxRetries). */
  readonly retries?: number;
  /** First wait; doubles per retry, with jitter, capped at `maxBackoffMs` (defaults 1 s, 30 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Told about each retry of a whole request (for logs and counters). */
  readonly onRetry?: (attempt: number, waitMs: number, error: unknown) => void;
  /** Told after each attempt of a bulk request: its duration in seconds and the bytes of its body. */
  readonly onRequest?: (durationSeconds: number, bytes: number) => void;
  /** Whether the run is stopping: then a failed request is not sent again (nor waited for). */
  readonly stopping?: () => boolean;
}

/**
 * One stream of bulk operations (sent by bulk-driver.ts: batched by bytes and interval, at most
 * `concurrency` requests in flight, every operation answered exactly once, in `applied` or
 * `refused`).
 */
export interface BulkStream<T> {
  readonly datasource: AsyncIterator<T>;
  readonly flushBytes: number;
  readonly flushIntervalMs: number;
  readonly concurrency: number;
  /** The action of an item, and for an `index` its document as JSON text. */
  readonly action: (item: T) => BulkAction | readonly [BulkAction, string];
  /** An operation the server applied. */
  readonly applied: (item: T, answer: { readonly result?: string }) => void;
  /** An operation the server refused (429: after the item's own retries). */
  readonly refused: (item: T, answer: { readonly status: number; readonly error: BulkItemError | null }) => void;
  readonly retry: BulkRetryOptions;
  /** Retries of single items refused with 429 (default 3), `itemWaitMs` apart (default 5000). */
  readonly itemRetries?: number;
  readonly itemWaitMs?: number;
}

export interface SearchOptions {
  readonly signal?: AbortSignal;
}

export interface SearchApi {
  readonly server: SearchServer;
  readonly dialect: SearchDialect;
  /** Where the cluster is, for messages (never with credentials). */
  readonly where: string;

  /** The coded error of a failure of this server's client (already coded errors pass through). */
  error(cause: unknown): CesyncError;

  indexExists(index: string): Promise<boolean>;
  /** Deletes indices (names or patterns); a missing one is no error. */
  deleteIndex(index: string | readonly string[]): Promise<void>;
  /** Creates an index; false when it exists already (another process created it first). */
  createIndex(index: string, body: { mappings: Record<string, unknown>; settings: Record<string, unknown>; aliases?: Record<string, unknown> }): Promise<boolean>;
  count(index: string): Promise<number>;
  /** The mapping's `_meta` of the (first) index behind `index`. */
  mappingMeta(index: string): Promise<Record<string, unknown> | undefined>;
  putMappingMeta(index: string, meta: Record<string, unknown>): Promise<void>;
  putSettings(index: string, settings: Record<string, unknown>): Promise<void>;
  /** Mapped types of `field` in every index behind `index` (none where it is unmapped). */
  fieldTypes(index: string, field: string): Promise<string[]>;
  refresh(index: string, options?: SearchOptions): Promise<void>;
  mget(index: string, ids: readonly string[], source: { includes?: string[]; excludes?: string[] }): Promise<StoredDocument[]>;
  bulk<T>(stream: BulkStream<T>): Promise<void>;

  /** A search; `index` undefined for a search in a point in time. The client's parsed answer. */
  search(index: string | undefined, body: Record<string, unknown>, options?: SearchOptions): Promise<SearchAnswer>;
  /**
   * The same, its response parsed by `reviver` (numbers a JavaScript number would round kept as
   * `JSON.rawJSON`, say) instead of by the client.
   */
  searchParsed(index: string | undefined, body: Record<string, unknown>, reviver: (key: string, value: unknown, context?: { source: string }) => unknown, options?: SearchOptions): Promise<SearchAnswer>;
  openPointInTime(index: string, keepAlive: string, options?: SearchOptions): Promise<string>;
  /** Closes a point in time; never rejects (a lost one expires by itself). */
  closePointInTime(id: string): Promise<void>;
  /** What `name` is on the server: an alias with the indices behind it, an index, or nothing. */
  resolveName(name: string): Promise<ResolvedName>;
  /** Indices (open and closed) whose names match `pattern` (e.g. `users-*`), with when they were made and their size. */
  listIndices(pattern: string): Promise<IndexInfo[]>;
  /**
   * In one atomic request: `alias` taken off `from` and put on `to` as its write index. Rejects,
   * changing nothing, when an index of `from` no longer holds the alias (someone moved it).
   */
  moveAlias(alias: string, from: readonly string[], to: string): Promise<void>;
  /** The mapping of one index as the server holds it (`properties`, `_meta`, ...). */
  mapping(index: string): Promise<Record<string, unknown>>;
  /** One health request within `timeoutMs`, not retried (readiness probes). */
  health(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export type ResolvedName = { readonly kind: 'alias'; readonly indices: readonly string[] } | { readonly kind: 'index' } | { readonly kind: 'missing' };

export interface IndexInfo {
  readonly index: string;
  /** Creation time, epoch milliseconds. */
  readonly createdMs: number;
  /** Bytes of the primary shards. */
  readonly bytes: number;
  /** A closed index (its mapping cannot be read; it still holds its name). */
  readonly closed: boolean;
}

export interface SearchHit {
  readonly _id: string;
  readonly _version?: number;
  readonly _source?: Record<string, unknown>;
  readonly sort?: unknown[];
}

export interface SearchAnswer {
  readonly pit_id?: string;
  readonly hits: { readonly hits: readonly SearchHit[]; readonly total?: { readonly value: number } | number };
  readonly aggregations?: Record<string, unknown>;
}
