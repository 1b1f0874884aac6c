/**
 * An index as a ChangeFeed: the documents whose version lies in [from.version, to], in version
 * order, page by page, read with a point in time and `search_after` (sorted by the version
 * field, then `_shard_doc`), so a page boundary never skips or repeats a document.
 *
 * The version field holds microseconds (cesync's own `_cesync.version` by default). A field
 * mapped as `date` holds milliseconds: its bounds are rounded inwards to whole milliseconds and
 * its values multiplied by 1000.
 *
 * The index is refreshed before the point in time is opened, so every document acknowledged
 * before the run is read, whatever the index's refresh interval.
 *
 * Documents sharing one version come in `_shard_doc` order, not id order: `from.id` does not
 * skip anything, every document at `from.version` is returned again (writing it again is
 * harmless: the stores keep the newest version).
 *
 * Pages are parsed with `exactNumbers`: a number a JavaScript number would round (a bigint, a
 * long decimal) stays `JSON.rawJSON` of its text, so document -> row keeps every digit and the
 * document serialises to the text it was written as.
 */
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import { errors } from '@elastic/elasticsearch';
import type { ElasticsearchClient } from './client.js';
import { elasticsearchError } from './client.js';
import type { ChangeFeed, ChangedDocument, Watermark } from '../engine/ports.js';
import { exactNumbers } from '../cassandra/document-to-row.js';
import { CesyncError } from '../errors.js';

export interface ChangeFeedOptions {
  readonly index: string;
  readonly metaField: string;
  /** Field path of the version: a numeric field of microseconds, or a `date`. Default `${metaField}.version`. */
  readonly versionField?: string;
  /** Shown in errors: where Elasticsearch is. */
  readonly where: string;
  /** Documents per page, unless `changes()` is given one (default 1000). */
  readonly pageSize?: number;
}

const KEEP_ALIVE = '2m';
const NUMERIC = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long', 'double', 'float', 'half_float', 'scaled_float']);

interface Hit {
  readonly _id: string;
  readonly _source?: Record<string, unknown>;
  readonly sort: unknown[];
}
interface SearchPage {
  readonly pit_id?: string;
  readonly hits: { readonly hits: readonly Hit[] };
}

export class ElasticsearchChangeFeed implements ChangeFeed {
  private readonly client: ElasticsearchClient;
  private readonly options: ChangeFeedOptions;
  private readonly versionField: string;

  constructor(client: ElasticsearchClient, options: ChangeFeedOptions) {
    this.client = client;
    this.options = options;
    this.versionField = options.versionField ?? `${options.metaField}.version`;
  }

  async *changes(from: Watermark, to: number, options: { signal?: AbortSignal; pageSize?: number } = {}): AsyncGenerator<readonly ChangedDocument[]> {
    const { index, metaField } = this.options;
    const field = this.versionField;
    const unit = await this.versionUnit();
    // No document holds the version field yet (a new pipeline, an empty index): nothing changed.
    if (unit === undefined) return;
    // Microseconds -> the field's unit, rounded inwards so both bounds stay inclusive.
    const range = unit === 'ms' ? { gte: Math.ceil(from.version / 1000), lte: Math.floor(to / 1000), format: 'epoch_millis' } : { gte: from.version, lte: to };
    if (range.gte > range.lte) return;
    const size = options.pageSize ?? this.options.pageSize ?? 1000;
    // Everything acknowledged so far becomes searchable first: a document written before this run
    // but not yet refreshed would otherwise be behind the point in time, and the watermark would
    // pass it for good (the window's end is now minus the safety lag, not the last refresh).
    await this.call(() => this.client.indices.refresh({ index }, { signal: options.signal }));
    const pit = await this.call(() => this.client.openPointInTime({ index, keep_alive: KEEP_ALIVE }, { signal: options.signal }));
    let pitId = pit.id;
    try {
      let after: unknown[] | undefined;
      for (;;) {
        options.signal?.throwIfAborted();
        const page = await this.search({
          size,
          query: { range: { [field]: range } },
          pit: { id: pitId, keep_alive: KEEP_ALIVE },
          // unmapped_type: indices of an alias that have not mapped the field yet sort as empty.
          sort: [{ [field]: { order: 'asc', unmapped_type: unit === 'ms' ? 'date' : 'long' } }, { _shard_doc: 'asc' }],
          ...(after ? { search_after: after } : {}),
          track_total_hits: false,
        }, options.signal);
        pitId = page.pit_id ?? pitId;
        const hits = page.hits.hits;
        if (hits.length === 0) return;
        yield hits.map((h) => changedDocument(h, metaField, unit));
        after = hits[hits.length - 1]!.sort;
      }
    } finally {
      await this.client.closePointInTime({ id: pitId }).catch(() => undefined);
    }
  }

  /** 'us' for a numeric version field, 'ms' for a date, undefined when unmapped; throws for anything else. */
  private async versionUnit(): Promise<'us' | 'ms' | undefined> {
    const { index } = this.options;
    const field = this.versionField;
    const res = await this.call(() => this.client.indices.getFieldMapping({ index, fields: field }));
    const types = Object.values(res).flatMap((i) => Object.values(i.mappings).map((m) => (Object.values(m.mapping)[0] as { type?: string }).type));
    if (types.length === 0) return undefined;
    const type = types[0];
    if (types.some((t) => t !== type)) {
      throw new CesyncError('SCHEMA_MISMATCH', `version field ${field} has different types in ${index}: ${[...new Set(types)].join(', ')}`);
    }
    if (type === 'date') return 'ms';
    if (NUMERIC.has(type ?? '')) return 'us';
    throw new CesyncError('SCHEMA_MISMATCH', `version field ${field} of ${index} is mapped as ${type}; expected a number of microseconds (long) or a date`);
  }

  /**
   * One search, its response parsed by us (`exactNumbers`) rather than by the client. As the
   * client's other calls: 4xx/5xx become ResponseErrors, connection failures are retried by the
   * transport; 502/503/504 are not retried here (the caller's backoff does that).
   */
  private async search(body: Record<string, unknown>, signal: AbortSignal | undefined): Promise<SearchPage> {
    return this.call(async () => {
      const res = await this.client.search(body, { asStream: true, meta: true, signal });
      const stream = res.body as unknown as Readable;
      const encoding = String(res.headers['content-encoding'] ?? '').toLowerCase();
      const text = await readText(encoding.includes('gzip') ? stream.pipe(createGunzip()) : encoding.includes('deflate') ? stream.pipe(createInflate()) : stream);
      if (res.statusCode !== null && res.statusCode >= 400) {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text as the body
        }
        throw new errors.ResponseError({ ...res, body: parsed } as never);
      }
      return JSON.parse(text, exactNumbers) as SearchPage;
    });
  }

  private async call<R>(fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (cause) {
      if (cause instanceof CesyncError) throw cause;
      if ((cause as { name?: string }).name === 'AbortError' || (cause as { name?: string }).name === 'RequestAbortedError') throw cause;
      throw elasticsearchError(cause, this.options.where);
    }
  }
}

function changedDocument(hit: Hit, metaField: string, unit: 'us' | 'ms'): ChangedDocument {
  const { [metaField]: meta, ...document } = hit._source ?? {};
  const sorted = numberOf(hit.sort[0]);
  const version = unit === 'ms' ? sorted * 1000 : sorted;
  const m = meta as { digest?: unknown; version?: unknown } | undefined;
  if (!m || typeof m !== 'object') return { id: hit._id, version, document };
  const written = {
    ...(typeof m.digest === 'string' ? { digest: m.digest } : {}),
    ...(m.version !== undefined && m.version !== null ? { version: numberOf(m.version) } : {}),
  };
  return { id: hit._id, version, document, written };
}

const numberOf = (v: unknown): number => (JSON.isRawJSON(v) ? Number((v as { rawJSON: string }).rawJSON) : Number(v));

async function readText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}
