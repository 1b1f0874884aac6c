/**
 * Bulk requests to Elasticsearch, as the bulk driver (search-index/bulk-driver.ts) sends them: one
 * prepared NDJSON body per call, the answer's items in order, and which failures are worth
 * sending the request again.
 */
import { errors } from '@elastic/elasticsearch';
import { answerItems, type BulkTransport } from '../search-index/bulk-driver.js';
import type { ElasticsearchClient } from './client.js';

/** Request failures worth sending again: overload, server errors, a node unreachable or slow. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    return status === 429 || status >= 500;
  }
  return error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError;
}

/** Only what the outcomes need: answers a third of the size, parsed for every operation. */
const BULK_FILTER = 'errors,items.*._id,items.*.status,items.*.result,items.*.error';

export function elasticsearchBulk(client: ElasticsearchClient): BulkTransport {
  return {
    retryable: isRetryable,
    async send(body) {
      // A ready NDJSON string is sent as it is.
      const res = (await client.bulk({ body, filter_path: BULK_FILTER } as never)) as { items?: unknown };
      return answerItems(res.items);
    },
  };
}
