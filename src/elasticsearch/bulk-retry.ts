/**
 * Elasticsearch's bulk helper with whole requests retried with backoff (search-index/bulk-retry.ts
 * says why) and every applied item reported: the helper runs on a child client, sharing the
 * connection pool, whose `bulk` is replaced by one that retries and reads each answer's items
 * (those with a status below 400 are applied; the helper handles the others). The helper's own
 * `onSuccess` is not used: it parses every document's JSON again to hand it over.
 */
import { errors } from '@elastic/elasticsearch';
import type { BulkRetryOptions } from '../search-index/api.js';
import { sendWithRetry } from '../search-index/bulk-retry.js';
import type { ElasticsearchClient } from './client.js';

/** Request failures worth sending again: overload, server errors, a node unreachable or slow. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    return status === 429 || status >= 500;
  }
  return error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError;
}

interface BulkItemAnswer {
  readonly _id?: string;
  readonly status?: number;
  readonly result?: string;
}
type BulkAnswer = { body?: { items?: Record<string, BulkItemAnswer | undefined>[] } };

export function withBulkRetry(client: ElasticsearchClient, options: BulkRetryOptions, applied: (item: { id: string; result?: string }) => void): ElasticsearchClient {
  const child = client.child({});
  const bulk = child.bulk.bind(child) as (...args: unknown[]) => Promise<BulkAnswer>;
  const retrying = async (...args: unknown[]): Promise<BulkAnswer> => {
    const answer = await sendWithRetry(() => bulk(...args), args[0], isRetryable, options);
    // The helper asks with `meta: true`: the answer is under `body`.
    for (const item of answer.body?.items ?? []) {
      const op = item.index ?? item.delete ?? item.create ?? item.update;
      if (op && op._id !== undefined && (op.status ?? 0) < 400) applied({ id: op._id, result: op.result });
    }
    return answer;
  };
  Object.defineProperty(child, 'bulk', { value: retrying, configurable: true, writable: true });
  return child;
}
