/**
 * An Elasticsearch index as a DocumentSink. Writes go through the official client's
 * `helpers.bulk` (flush by bytes and interval, bounded requests in flight, 429 retries), each
 * document with `version_type: external_gte` and the record's version, so the index itself
 * refuses anything older than what it holds: a 409 means "already up to date".
 */
import type { ElasticsearchClient } from './client.js';
import { elasticsearchError } from './client.js';
import { withBulkRetry, type BulkRetryOptions } from './bulk-retry.js';
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
  /** Shown in errors: where Elasticsearch is. */
  readonly where: string;
  /** Retries of whole bulk requests (429, 5xx, unreachable); see bulk-retry.ts. */
  readonly bulkRetry?: BulkRetryOptions;
  /** Told of each bulk request (duration, bytes) and of each whole request sent again. */
  readonly observer?: Pick<RunObserver, 'bulkRequest' | 'retry'>;
}

/** Name of the field that holds cesync's metadata (digest, token) in every document. */
export const META_FIELD = '_cesync';

/** Error types of a rejected document that mean "this document does not fit the mapping". */
const MAPPING_ERRORS = new Set(['mapper_parsing_exception', 'document_parsing_exception', 'illegal_argument_exception', 'strict_dynamic_mapping_exception']);

export class ElasticsearchIndexSink implements DocumentSink {
  private readonly client: ElasticsearchClient;
  private readonly options: IndexSinkOptions;

  /** The same client, with whole bulk requests retried with backoff (bulk-retry.ts). */
  private readonly writer: ElasticsearchClient;
  /** The stop signal of the latest write: retries end once it aborts. */
  private stop: AbortSignal | undefined;

  constructor(client: ElasticsearchClient, options: IndexSinkOptions) {
    this.client = client;
    const { observer, bulkRetry } = options;
    this.writer = withBulkRetry(client, {
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
    });
    this.options = options;
  }

  /** Settings to put back after an initial load (null: the index default). */
  private restore: Record<string, unknown> | undefined;

  async prepare(options: { create?: boolean; bulkLoad?: boolean } = {}): Promise<{ created: boolean; empty: boolean; exists: boolean }> {
    const { index } = this.options;
    try {
      let exists = await this.client.indices.exists({ index });
      let created = false;
      if (!exists && options.create !== false) {
        try {
          // An index created for a full sync is loaded without refreshes and replicas, which
          // Elasticsearch then builds once, at the end; the configured values are put back after.
          // They are also kept in the mapping's _meta, so a run that dies before the end leaves
          // them for the next run to put back.
          const configured = this.options.settings ?? {};
          const load = options.bulkLoad ? { refresh_interval: '-1', number_of_replicas: 0 } : {};
          const pending = options.bulkLoad
            ? { refresh_interval: setting(configured, 'refresh_interval'), number_of_replicas: setting(configured, 'number_of_replicas') }
            : undefined;
          const mappings = pending ? withPendingSettings(this.options.mapping, pending) : this.options.mapping;
          await this.client.indices.create({
            index: this.options.alias ? `${index}-000001` : index,
            mappings,
            settings: { ...configured, ...load },
            ...(this.options.alias ? { aliases: { [index]: { is_write_index: true } } } : {}),
          });
          this.restore = pending;
          created = true;
        } catch (e) {
          // Another process created it between our check and our create: use theirs.
          if ((e as { body?: { error?: { type?: string } } }).body?.error?.type !== 'resource_already_exists_exception') throw e;
        }
        exists = true;
      } else if (exists) {
        this.restore = await this.pendingSettings();
      }
      const empty = exists ? (await this.client.count({ index })).count === 0 : true;
      return { created, empty, exists };
    } catch (cause) {
      throw elasticsearchError(cause, this.options.where);
    }
  }

  /** Settings an interrupted initial load left to put back (in the mapping's _meta), if any. */
  private async pendingSettings(): Promise<Record<string, unknown> | undefined> {
    const res = await this.client.indices.getMapping({ index: this.options.index });
    const meta = Object.values(res)[0]?.mappings?._meta as { cesync?: { pendingSettings?: Record<string, unknown> } } | undefined;
    return meta?.cesync?.pendingSettings;
  }

  async lookup(ids: readonly string[]): Promise<Map<string, StoredVersion>> {
    const out = new Map<string, StoredVersion>();
    if (ids.length === 0) return out;
    const meta = this.options.metaField;
    const docs = await this.mget(ids, { _source_includes: [`${meta}.digest`] });
    for (const d of docs) {
      const digest = (d._source?.[meta] as { digest?: unknown } | undefined)?.digest;
      out.set(d._id, { version: d._version, digest: typeof digest === 'string' ? digest : undefined });
    }
    return out;
  }

  async fetch(ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const docs = await this.mget(ids, { _source_excludes: [this.options.metaField] });
    return new Map(docs.map((d) => [d._id, d._source ?? {}]));
  }

  async write(ops: AsyncIterable<WriteOp>, onOutcome: (op: WriteOp, outcome: WriteOutcome) => void, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { index, metaField, bulk } = this.options;
    this.stop = options.signal;
    // Ops sent and not yet answered, by id, so each answer reaches the op it belongs to.
    const inFlight = new Map<string, WriteOp[]>();
    const settle = (id: string, outcome: (op: WriteOp) => WriteOutcome) => {
      const queue = inFlight.get(id);
      const op = queue?.shift();
      if (!op) return;
      if (queue!.length === 0) inFlight.delete(id);
      onOutcome(op, outcome(op));
    };
    try {
      await this.writer.helpers.bulk<WriteOp>({
        datasource: ops[Symbol.asyncIterator](),
        flushBytes: bulk.flushBytes,
        flushInterval: bulk.flushIntervalMs,
        concurrency: bulk.concurrency,
        // Only what the outcomes need: responses a third of the size, parsed for every document.
        filter_path: 'errors,items.*._id,items.*.status,items.*.result,items.*.error',
        onDocument: (op) => {
          const queue = inFlight.get(op.id);
          if (queue) queue.push(op);
          else inFlight.set(op.id, [op]);
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
        onSuccess: ({ result }) => {
          const item = (result.index ?? result.delete)!;
          settle(item._id!, (op) => (op.kind === 'delete' ? { kind: 'deleted' } : { kind: 'written', created: item.result === 'created' }));
        },
        onDrop: (dropped) => {
          const action = dropped.operation as { index?: { _id?: string }; delete?: { _id?: string } } | null;
          // The helper can hand over a line that is no action (it pairs lines when it gives up on
          // 429s): that op stays unanswered, and is reported as such below.
          const id = (action?.index ?? action?.delete)?._id;
          if (id === undefined) return;
          // (A delete sent again after its first try applied meets its own tombstone and is counted
          // as refused: a 409 does not tell a tombstone from a document at the same version.)
          settle(id, (op) => (op.kind === 'delete' && dropped.status === 404 ? { kind: 'deleted' } : outcomeOf(dropped.status, dropped.error)));
        },
      });
    } catch (cause) {
      throw elasticsearchError(cause, this.options.where);
    }
    // Every op sent has an answer, or is taken as refused for the moment (written again later).
    for (const [id, queue] of inFlight) {
      for (const op of queue) onOutcome(op, { kind: 'rejected', errorClass: 'transient', errorType: 'no_answer', reason: `the bulk request gave no answer for ${id}` });
    }
    inFlight.clear();
  }

  async refresh(): Promise<void> {
    try {
      if (this.restore) {
        await this.client.indices.putSettings({ index: this.options.index, settings: this.restore });
        const meta = (this.options.mapping._meta ?? {}) as Record<string, unknown>;
        await this.client.indices.putMapping({ index: this.options.index, _meta: meta });
        this.restore = undefined;
      }
      await this.client.indices.refresh({ index: this.options.index });
    } catch (cause) {
      throw elasticsearchError(cause, this.options.where);
    }
  }

  private async mget(ids: readonly string[], source: { _source_includes?: string[]; _source_excludes?: string[] }) {
    try {
      const res = await this.client.mget<Record<string, unknown>>({ index: this.options.index, ids: [...ids], ...source });
      const found: { _id: string; _version: number; _source?: Record<string, unknown> }[] = [];
      for (const d of res.docs) {
        if ('found' in d && d.found) found.push({ _id: d._id, _version: d._version ?? 0, _source: d._source });
      }
      return found;
    } catch (cause) {
      throw elasticsearchError(cause, this.options.where);
    }
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

function outcomeOf(status: number, error: { type?: string; reason?: string | null; caused_by?: { reason?: string | null } } | null): WriteOutcome {
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
