/**
 * OpenSearch's bulk helper with whole requests retried with backoff (search-index/bulk-retry.ts
 * says why) and every applied item reported. The helper retries items refused with 429 and hands
 * refused items to `onDrop`, but (unlike Elasticsearch's) says nothing of the items that were
 * applied. So it runs on a child client, sharing the connection pool, whose `bulk` retries and
 * reads each answer's items: those with a status below 400 are reported as applied, the helper
 * handles the others.
 *
 * The helper calls `bulk(params, options, callback)` and reads `{ body }` from the callback's
 * second argument even on failure, so the callback always gets an object.
 */
import type { BulkRetryOptions } from '../search-index/api.js';
import { sendWithRetry } from '../search-index/bulk-retry.js';
import { isRetryable, type OpenSearchClient } from './client.js';

interface BulkItemAnswer {
  readonly _id?: string;
  readonly status?: number;
  readonly result?: string;
}
type BulkAnswer = { body?: { items?: Record<string, BulkItemAnswer | undefined>[] } };
type Callback = (error: unknown, result: BulkAnswer) => void;

export function withBulkRetry(client: OpenSearchClient, options: BulkRetryOptions, applied: (item: { id: string; result?: string }) => void): OpenSearchClient {
  const child = client.child({});
  const bulk = child.bulk.bind(child) as unknown as (params: unknown, reqOptions?: unknown) => Promise<BulkAnswer>;
  const send = async (params: unknown, reqOptions: unknown): Promise<BulkAnswer> => {
    const answer = await sendWithRetry(() => bulk(params, reqOptions), params, isRetryable, options);
    for (const item of answer.body?.items ?? []) {
      const op = item.index ?? item.delete ?? item.create ?? item.update;
      if (op && op._id !== undefined && (op.status ?? 0) < 400) applied({ id: op._id, result: op.result });
    }
    return answer;
  };
  const retrying = (params: unknown, reqOptions?: unknown, callback?: Callback) => {
    const answer = send(params, reqOptions);
    if (typeof callback !== 'function') return answer;
    answer.then(
      (res) => callback(null, res),
      (error: unknown) => callback(error, { body: undefined }),
    );
    return { abort: () => undefined };
  };
  Object.defineProperty(child, 'bulk', { value: retrying, configurable: true, writable: true });
  return child;
}
