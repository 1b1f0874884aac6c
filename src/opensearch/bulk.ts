/**
 * Bulk requests to OpenSearch, as the bulk driver (search-index/bulk-driver.ts) sends them: one
 * prepared NDJSON body per call, the answer's items in order, and which failures are worth
 * sending the request again.
 */
import { answerItems, type BulkTransport } from '../search-index/bulk-driver.js';
import { isRetryable, type OpenSearchClient } from './client.js';

/** Only what the outcomes need: smaller answers, parsed for every operation. */
const BULK_FILTER = 'errors,items.*._id,items.*.status,items.*.result,items.*.error';

export function openSearchBulk(client: OpenSearchClient): BulkTransport {
  return {
    retryable: isRetryable,
    async send(body) {
      // A ready NDJSON string is sent as it is.
      const res = await client.bulk({ body, filter_path: BULK_FILTER } as never);
      return answerItems((res.body as { items?: unknown }).items);
    },
  };
}
