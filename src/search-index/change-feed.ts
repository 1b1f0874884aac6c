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
import type { SearchApi, SearchHit } from './api.js';
import type { ChangeFeed, ChangedDocument, Watermark } from '../engine/ports.js';
import { exactNumbers } from '../engine/exact-numbers.js';
import { CesyncError } from '../errors.js';

export interface ChangeFeedOptions {
  readonly index: string;
  readonly metaField: string;
  /** Field path of the version: a numeric field of microseconds, or a `date`. Default `${metaField}.version`. */
  readonly versionField?: string;
  /** Documents per page, unless `changes()` is given one (default 1000). */
  readonly pageSize?: number;
}

const KEEP_ALIVE = '2m';
const NUMERIC = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long', 'double', 'float', 'half_float', 'scaled_float']);

export class SearchIndexChangeFeed implements ChangeFeed {
  private readonly api: SearchApi;
  private readonly options: ChangeFeedOptions;
  private readonly versionField: string;

  constructor(api: SearchApi, options: ChangeFeedOptions) {
    this.api = api;
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
    await this.api.refresh(index, { signal: options.signal });
    let pitId = await this.api.openPointInTime(index, KEEP_ALIVE, { signal: options.signal });
    try {
      let after: unknown[] | undefined;
      for (;;) {
        options.signal?.throwIfAborted();
        const page = await this.api.searchParsed(undefined, {
          size,
          query: { range: { [field]: range } },
          pit: { id: pitId, keep_alive: KEEP_ALIVE },
          // unmapped_type: indices of an alias that have not mapped the field yet sort as empty.
          sort: [{ [field]: { order: 'asc', unmapped_type: unit === 'ms' ? 'date' : 'long' } }, this.api.dialect.pitTiebreaker],
          ...(after ? { search_after: after } : {}),
          track_total_hits: false,
        }, exactNumbers, { signal: options.signal });
        pitId = page.pit_id ?? pitId;
        const hits = page.hits.hits;
        if (hits.length === 0) return;
        yield hits.map((h) => changedDocument(h, metaField, unit));
        after = hits[hits.length - 1]!.sort;
      }
    } finally {
      await this.api.closePointInTime(pitId);
    }
  }

  /** 'us' for a numeric version field, 'ms' for a date, undefined when unmapped; throws for anything else. */
  private async versionUnit(): Promise<'us' | 'ms' | undefined> {
    const { index } = this.options;
    const field = this.versionField;
    const types = await this.api.fieldTypes(index, field);
    if (types.length === 0) return undefined;
    const type = types[0];
    if (types.some((t) => t !== type)) {
      throw new CesyncError('SCHEMA_MISMATCH', `version field ${field} has different types in ${index}: ${[...new Set(types)].join(', ')}`);
    }
    if (type === 'date') return 'ms';
    if (NUMERIC.has(type ?? '')) return 'us';
    throw new CesyncError('SCHEMA_MISMATCH', `version field ${field} of ${index} is mapped as ${type}; expected a number of microseconds (long) or a date`);
  }
}

function changedDocument(hit: SearchHit, metaField: string, unit: 'us' | 'ms'): ChangedDocument {
  const { [metaField]: meta, ...document } = hit._source ?? {};
  const sorted = numberOf(hit.sort?.[0]);
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
