/**
 * Document ids of an index whose field holds a value, as ValueDocuments (src/events/ports.ts): a
 * `term` query read to the end with a point in time and `search_after`, never capped. The index is
 * refreshed first, so documents written just before are found. A `text` field is searched through
 * its `keyword` sub-field when it has one (cesync's own mapping gives text columns one), else by
 * its exact phrase.
 */
import type { ValueDocuments } from '../events/ports.js';
import type { SearchApi } from './api.js';

const PAGE = 5000;

export class SearchIndexValueDocuments implements ValueDocuments {
  private readonly api: SearchApi;
  private readonly index: string;

  constructor(api: SearchApi, index: string) {
    this.api = api;
    this.index = index;
  }

  private async query(field: string, value: unknown): Promise<Record<string, unknown>> {
    const types = await this.api.fieldTypes(this.index, field);
    if (!types.includes('text')) return { term: { [field]: value } };
    const sub = await this.api.fieldTypes(this.index, `${field}.keyword`);
    return sub.includes('keyword') ? { term: { [`${field}.keyword`]: value } } : { match_phrase: { [field]: value } };
  }

  async *ids(field: string, value: unknown, signal?: AbortSignal): AsyncGenerator<string> {
    if (!(await this.api.indexExists(this.index))) return;
    await this.api.refresh(this.index, { signal });
    const query = await this.query(field, value);
    let pitId = await this.api.openPointInTime(this.index, '2m', { signal });
    try {
      let after: unknown[] | undefined;
      for (;;) {
        const res = await this.api.search(
          undefined,
          {
            size: PAGE,
            query,
            pit: { id: pitId, keep_alive: '2m' },
            sort: [this.api.dialect.pitTiebreaker],
            ...(after ? { search_after: after } : {}),
            track_total_hits: false,
            _source: false,
          },
          { signal },
        );
        pitId = res.pit_id ?? pitId;
        const hits = res.hits.hits;
        if (hits.length === 0) return;
        for (const h of hits) yield h._id;
        after = hits[hits.length - 1]!.sort as unknown[];
      }
    } finally {
      await this.api.closePointInTime(pitId).catch(() => undefined);
    }
  }
}
