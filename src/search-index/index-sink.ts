/**
 * An index (of Elasticsearch or OpenSearch, through the search port) as a DocumentSink. Writes
 * go through the client's bulk helper (flush by bytes and interval, bounded requests in flight,
 * 429 retries), each document with `version_type: external_gte` and the record's version, so the
 * index itself refuses anything older than what it holds: a 409 means "already up to date".
 */
import type { BulkItemError, BulkRetryOptions, SearchApi } from './api.js';
import type { DocumentSink, RunObserver } from '../engine/ports.js';
import type { StoredVersion, WriteOp, WriteOutcome } from '../engine/record.js';

export interface IndexSinkOptions {
  readonly index: string;
  /** Mapping used only if the index does not exist yet. */
  readonly mapping: Record<string, unknown>;
  readonly settings?: Record<string, unknown>;
  /** `index` is an alias: a missing one is created as the index `<index>-000001` behind it. */
  readonly alias?: boolean;
  readonly metaField: string;
  readonly bulk: { readonly flushBytes: number; readonly flushIntervalMs: number; readonly concurrency: number };
  /** Retries of whole bulk requests (429, 5xx, unreachable); see bulk-retry.ts. */
  readonly bulkRetry?: BulkRetryOptions;
  /** Told of each bulk request (duration, bytes) and of each whole request sent again. */
  readonly observer?: Pick<RunObserver, 'bulkRequest' | 'retry'>;
}

/** Name of the field that holds cesync's metadata (digest, token) in every document. */
export const META_FIELD = '_cesync';

/** Error types of a rejected document that mean "this document does not fit the mapping". */
const MAPPING_ERRORS = new Set(['mapper_parsing_exception', 'document_parsing_exception', 'illegal_argument_exception', 'strict_dynamic_mapping_exception']);

export class SearchIndexSink implements DocumentSink {
  private readonly api: SearchApi;
  private readonly options: IndexSinkOptions;

  /** How whole bulk requests are retried with backoff, and who is told. */
  private readonly retry: BulkRetryOptions;
  /** The stop signal of the latest write: retries end once it aborts. */
  private stop: AbortSignal | undefined;

  constructor(api: SearchApi, options: IndexSinkOptions) {
    this.api = api;
    const { observer, bulkRetry } = options;
    this.retry = {
      ...bulkRetry,
      onRetry: (attempt, waitMs, error) => {
        bulkRetry?.onRetry?.(attempt, waitMs, error);
        observer?.retry('request', 1);
      },
      onRequest: (seconds, bytes) => {
        bulkRetry?.onRequest?.(seconds, bytes);
        observer?.bulkRequest(seconds, bytes);
      },
      stopping: () => this.stop?.aborted ?? false,
    };
    this.options = options;
  }

  /** Settings to put back after an initial load (null: the index default). */
  private restore: Record<string, unknown> | undefined;

  async prepare(options: { create?: boolean; bulkLoad?: boolean } = {}): Promise<{ created: boolean; empty: boolean; exists: boolean }> {
    const { index } = this.options;
    let exists = await this.api.indexExists(index);
    let created = false;
    if (!exists && options.create !== false) {
      // An index created for a full sync is loaded without refreshes and replicas, which the
      // server then builds once, at the end; the configured values are put back after. They are
      // also kept in the mapping's _meta, so a run that dies before the end leaves them for the
      // next run to put back.
      const configured = this.options.settings ?? {};
      const load = options.bulkLoad ? { refresh_interval: '-1', number_of_replicas: 0 } : {};
      const pending = options.bulkLoad
        ? { refresh_interval: setting(configured, 'refresh_interval'), number_of_replicas: setting(configured, 'number_of_replicas') }
        : undefined;
      const mappings = pending ? withPendingSettings(this.options.mapping, pending) : this.options.mapping;
      // false: another process created it between our check and our create: use theirs.
      created = await this.api.createIndex(this.options.alias ? `${index}-000001` : index, {
        mappings,
        settings: { ...configured, ...load },
        ...(this.options.alias ? { aliases: { [index]: { is_write_index: true } } } : {}),
      });
      if (created) this.restore = pending;
      exists = true;
    } else if (exists) {
      this.restore = await this.pendingSettings();
    }
    const empty = exists ? (await this.api.count(index)) === 0 : true;
    return { created, empty, exists };
  }

  /** Settings an interrupted initial load left to put back (in the mapping's _meta), if any. */
  private async pendingSettings(): Promise<Record<string, unknown> | undefined> {
    const meta = (await this.api.mappingMeta(this.options.index)) as { cesync?: { pendingSettings?: Record<string, unknown> } } | undefined;
    return meta?.cesync?.pendingSettings;
  }

  async lookup(ids: readonly string[]): Promise<Map<string, StoredVersion>> {
    const out = new Map<string, StoredVersion>();
    if (ids.length === 0) return out;
    const meta = this.options.metaField;
    const docs = await this.api.mget(this.options.index, ids, { includes: [`${meta}.digest`] });
    for (const d of docs) {
      const digest = (d._source?.[meta] as { digest?: unknown } | undefined)?.digest;
      out.set(d._id, { version: d._version, digest: typeof digest === 'string' ? digest : undefined });
    }
    return out;
  }

  async fetch(ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const docs = await this.api.mget(this.options.index, ids, { excludes: [this.options.metaField] });
    return new Map(docs.map((d) => [d._id, d._source ?? {}]));
  }

  async write(ops: AsyncIterable<WriteOp>, onOutcome: (op: WriteOp, outcome: WriteOutcome) => void, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { index, metaField, bulk } = this.options;
    this.stop = options.signal;
    // Ops handed to the driver and not yet answered (each is answered once, by the op itself).
    const unanswered = new Set<WriteOp>();
    const settle = (op: WriteOp, outcome: WriteOutcome) => {
      if (unanswered.delete(op)) onOutcome(op, outcome);
    };
    await this.api.bulk<WriteOp>({
      datasource: ops[Symbol.asyncIterator](),
      flushBytes: bulk.flushBytes,
      flushIntervalMs: bulk.flushIntervalMs,
      concurrency: bulk.concurrency,
      retry: this.retry,
      // Items refused with 429 are sent again as often as whole requests are (maxRetries).
      ...(this.options.bulkRetry?.retries !== undefined ? { itemRetries: this.options.bulkRetry.retries } : {}),
      action: (op) => {
        unanswered.add(op);
        // A delete outranks exactly the version it was decided on: its tombstone is one above it,
        // and `external` (strictly greater) refuses it when the document moved past that version.
        // So a late copy of the deleted row (at most that version) is refused while the index
        // remembers the delete, and a document written meanwhile survives.
        if (op.kind === 'delete') return { delete: { _index: index, _id: op.id, version: deleteVersion(op), version_type: 'external' } };
        // The document was serialised once by the planner; its metadata is spliced in as text.
        // A creation refuses an equal version too (see WriteOp 'index' strict).
        const versionType = op.strict ? 'external' : 'external_gte';
        return [{ index: { _index: index, _id: op.id, version: op.version, version_type: versionType } }, withMeta(op.json, metaField, op.meta)];
      },
      applied: (op, { result }) => settle(op, op.kind === 'delete' ? { kind: 'deleted' } : { kind: 'written', created: result === 'created' }),
      // (A delete sent again after its first try applied meets its own tombstone and is counted
      // as refused: a 409 does not tell a tombstone from a document at the same version.)
      refused: (op, { status, error }) => settle(op, op.kind === 'delete' && status === 404 ? { kind: 'deleted' } : outcomeOf(status, error)),
    });
    // Every op sent has an answer, or is taken as refused for the moment (written again later).
    for (const op of unanswered) onOutcome(op, { kind: 'rejected', errorClass: 'transient', errorType: 'no_answer', reason: `the bulk request gave no answer for ${op.id}` });
    unanswered.clear();
  }

  async refresh(): Promise<void> {
    if (this.restore) {
      await this.api.putSettings(this.options.index, this.restore);
      // The settings to put back leave the _meta; what else it holds now (the pipeline's own, and
      // what cesync reindex keeps there of a rebuild) stays.
      const held = (await this.api.mappingMeta(this.options.index)) ?? {};
      const configured = (this.options.mapping._meta ?? {}) as Record<string, unknown>;
      const cesync = { ...((held.cesync as Record<string, unknown> | undefined) ?? {}), ...((configured.cesync as Record<string, unknown> | undefined) ?? {}) };
      delete cesync.pendingSettings;
      await this.api.putMappingMeta(this.options.index, { ...held, ...configured, cesync });
      this.restore = undefined;
    }
    await this.api.refresh(this.options.index);
  }
}

/**
 * The external version of a delete: above the version it was decided on (so a late copy of the
 * row at that version is refused while the index remembers the delete), and at least the time the
 * row was confirmed gone (so a copy read before then is refused too).
 */
function deleteVersion(op: WriteOp & { kind: 'delete' }): number {
  return Math.max(op.version + 1, op.notBefore ?? 0);
}

function withPendingSettings(mapping: Record<string, unknown>, pending: Record<string, unknown>): Record<string, unknown> {
  const meta = (mapping._meta ?? {}) as { cesync?: Record<string, unknown> };
  return { ...mapping, _meta: { ...meta, cesync: { ...meta.cesync, pendingSettings: pending } } };
}

/** A configured index setting, written flat or under `index.`, or null for the default. */
function setting(settings: Record<string, unknown>, name: string): unknown {
  const nested = settings.index as Record<string, unknown> | undefined;
  return settings[name] ?? settings[`index.${name}`] ?? nested?.[name] ?? null;
}

/** `{"a":1}` + meta -> `{"a":1,"_cesync":{...}}`, without parsing the document again. */
function withMeta(json: string, field: string, meta: Readonly<Record<string, unknown>>): string {
  const tail = `${JSON.stringify(field)}:${JSON.stringify(meta)}}`;
  return json === '{}' ? `{${tail}` : `${json.slice(0, -1)},${tail}`;
}

function outcomeOf(status: number, error: BulkItemError | null): WriteOutcome {
  if (status === 409) {
    // "version conflict, current version [N] is higher or equal to the one provided [M]"
    const current = /current version \[(\d+)\]/.exec(error?.reason ?? '');
    return { kind: 'conflict', currentVersion: current ? Number(current[1]) : undefined };
  }
  const type = error?.type ?? `http_${status}`;
  const reason = [error?.reason, error?.caused_by?.reason].filter(Boolean).join(': ') || `status ${status}`;
  const errorClass = status === 429 || status >= 500 ? 'transient' : MAPPING_ERRORS.has(type) ? 'mapping' : 'rejected';
  return { kind: 'rejected', errorClass, errorType: type, reason };
}
