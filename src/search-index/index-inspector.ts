/**
 * An index as verify sees it: per token span, a count and a sum of version hashes computed by
 * the search server itself (a `filters` aggregation of exact `range` queries on `_cesync.token`, with
 * a `sum` of `_cesync.hv`), and, only for spans that differ, the list of (id, version, digest)
 * read with a point in time and `search_after`.
 *
 * Range queries are used rather than a `range` aggregation because the aggregation's bounds are
 * doubles, which cannot hold 64-bit tokens exactly.
 */
import type { SearchApi } from './api.js';
import type { InspectableTarget, TargetEntry, SourceSpan } from '../engine/ports.js';

export interface IndexInspectorOptions {
  readonly index: string;
  readonly metaField: string;
  /** Documents per page when listing. */
  readonly pageSize?: number;
  /** Spans per aggregation request. */
  readonly spansPerRequest?: number;
}

type Query = Record<string, unknown>;

export class SearchIndexInspector implements InspectableTarget {
  private readonly api: SearchApi;
  private readonly options: IndexInspectorOptions;
  private bytes = 0;

  constructor(api: SearchApi, options: IndexInspectorOptions) {
    this.api = api;
    this.options = options;
  }

  bytesRead(): number {
    return this.bytes;
  }

  async exists(): Promise<boolean> {
    return this.api.indexExists(this.options.index);
  }

  async summarise(spans: readonly SourceSpan[], options: { sinceVersion?: number }): Promise<{ count: number; sum: number }[]> {
    const m = this.options.metaField;
    const per = this.options.spansPerRequest ?? 128;
    const out: { count: number; sum: number }[] = [];
    for (let i = 0; i < spans.length; i += per) {
      const chunk = spans.slice(i, i + per);
      const filters = Object.fromEntries(chunk.map((s, j) => [String(j), this.spanQuery(s, options.sinceVersion)]));
      const res = await this.counted(
        this.api.search(this.options.index, {
          size: 0,
          track_total_hits: false,
          aggs: { spans: { filters: { filters }, aggs: { hv: { sum: { field: `${m}.hv` } } } } },
        }),
      );
      const buckets = (res.aggregations?.spans as { buckets: Record<string, { doc_count: number; hv: { value: number } }> }).buckets;
      for (let j = 0; j < chunk.length; j++) {
        const b = buckets[String(j)]!;
        out.push({ count: b.doc_count, sum: b.hv.value });
      }
    }
    return out;
  }

  list(span: SourceSpan, options: { sinceVersion?: number; withSource?: boolean }): AsyncIterable<readonly TargetEntry[]> {
    return this.pages(this.spanQuery(span, options.sinceVersion), options.withSource ?? false);
  }

  listUntracked(options: { withSource?: boolean }): AsyncIterable<readonly TargetEntry[]> {
    return this.pages({ bool: { must_not: [{ exists: { field: `${this.options.metaField}.token` } }] } }, options.withSource ?? false);
  }

  private spanQuery(span: SourceSpan, sinceVersion?: number): Query {
    const m = this.options.metaField;
    // The lowest position starts the space: a row there (a PostgreSQL key of -2^63) is in the first span.
    const range: Record<string, string> = span.start === '-9223372036854775808' ? {} : { gt: span.start };
    if (span.end !== null) range.lte = span.end;
    const filter: Query[] = [{ range: { [`${m}.token`]: range } }];
    if (sinceVersion !== undefined) filter.push({ range: { [`${m}.version`]: { gte: String(sinceVersion) } } });
    return { bool: { filter } };
  }

  private async *pages(query: Query, withSource: boolean): AsyncGenerator<TargetEntry[]> {
    const m = this.options.metaField;
    let pitId = await this.api.openPointInTime(this.options.index, '2m');
    try {
      let after: unknown[] | undefined;
      for (;;) {
        const res = await this.counted(
          this.api.search(undefined, {
            size: this.options.pageSize ?? 5000,
            query,
            pit: { id: pitId, keep_alive: '2m' },
            sort: [this.api.dialect.pitTiebreaker],
            ...(after ? { search_after: after } : {}),
            version: true,
            track_total_hits: false,
            _source: withSource ? true : [`${m}.digest`, `${m}.version`, `${m}.hv`],
          }),
        );
        pitId = res.pit_id ?? pitId;
        const hits = res.hits.hits;
        if (hits.length === 0) return;
        yield hits.map((h) => {
          const src = (h._source ?? {}) as Record<string, unknown>;
          const meta = src[m] as { digest?: string; version?: number; hv?: number } | undefined;
          const entry: TargetEntry = { id: h._id!, version: h._version ?? meta?.version ?? 0, digest: meta?.digest, ...(typeof meta?.hv === 'number' ? { hv: meta.hv } : {}) };
          if (!withSource) return entry;
          const { [m]: _meta, ...source } = src;
          return { ...entry, source };
        });
        after = hits[hits.length - 1]!.sort as unknown[];
      }
    } finally {
      await this.api.closePointInTime(pitId);
    }
  }

  /** An answer, its size added to the bytes read. */
  private async counted<T>(answer: Promise<T>): Promise<T> {
    const res = await answer;
    this.bytes += Buffer.byteLength(JSON.stringify(res));
    return res;
  }
}
