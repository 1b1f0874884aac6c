/**
 * Whole bulk requests retried with backoff. The client's transport retries connection errors and
 * 502/503/504 a few times in quick succession, and the bulk helper retries single items refused
 * with 429; but a whole request answered 429 (a cluster shedding load) or failing for longer
 * than the transport's quick retries (a node restarting) would end the helper, and the run, at
 * once. Bulk writes here are idempotent (external versions), so sending a request again is safe:
 * under a 429 storm or a short outage a run slows down instead of failing, and it stops with
 * STORE_UNAVAILABLE only when the cluster stays unavailable for the whole retry budget.
 */
import { errors } from '@elastic/elasticsearch';
import type { ElasticsearchClient } from './client.js';

export interface BulkRetryOptions {
  /** Retries of one request after the transport's own (default 5, as elasticsearch.maxRetries). */
  readonly retries?: number;
  /** First wait; doubles per retry, with jitter, capped at `maxBackoffMs` (defaults 1 s, 30 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Told about each retry (for logs and counters). */
  readonly onRetry?: (attempt: number, waitMs: number, error: unknown) => void;
  /**
   * Told after each attempt of a bulk request (answered or failed, retried or not): its duration in
   * seconds and the bytes of its body (NDJSON lines as the bulk helper hands them over).
   */
  readonly onRequest?: (durationSeconds: number, bytes: number) => void;
  /** Whether the run is stopping: then a failed request is not sent again (nor waited for). */
  readonly stopping?: () => boolean;
}

/** Request failures worth sending again: overload, server errors, a node unreachable or slow. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    return status === 429 || status >= 500;
  }
  return error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError;
}

/**
 * A client (sharing the connection pool) whose `bulk` retries as described; its `helpers.bulk`
 * uses that `bulk`. Other calls are the client's own.
 */
export function withBulkRetry(client: ElasticsearchClient, options: BulkRetryOptions = {}): ElasticsearchClient {
  const { retries = 5, backoffMs = 1000, maxBackoffMs = 30_000 } = options;
  const child = client.child({});
  const bulk = child.bulk.bind(child) as (...args: unknown[]) => Promise<unknown>;
  const timed = (start: number, bytes: number) => {
    try {
      options.onRequest?.((performance.now() - start) / 1000, bytes);
    } catch {
      // Monitoring never fails a request.
    }
  };
  const retrying = async (...args: unknown[]): Promise<unknown> => {
    const bytes = options.onRequest ? bodyBytes(args[0]) : 0;
    for (let attempt = 1; ; attempt++) {
      const start = performance.now();
      let answer: unknown;
      try {
        answer = await bulk(...args);
      } catch (error) {
        timed(start, bytes);
        if (attempt > retries || !isRetryable(error) || options.stopping?.()) throw error;
        const wait = Math.round(Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2));
        options.onRetry?.(attempt, wait, error);
        await sleepUnlessStopping(wait, options.stopping);
        continue;
      }
      timed(start, bytes); // outside the try: counted once, whatever the observer does
      return answer;
    }
  };
  Object.defineProperty(child, 'bulk', { value: retrying, configurable: true, writable: true });
  return child;
}

/** Sleeps `ms`, checking `stopping` every 100 ms so a stop is not held up by a long backoff. */
async function sleepUnlessStopping(ms: number, stopping: (() => boolean) | undefined): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !stopping?.()) await new Promise((resolve) => setTimeout(resolve, Math.min(100, end - Date.now())));
}

/** Bytes of a bulk request's body: the helper's lines (strings, newline-joined) or a ready string. */
function bodyBytes(params: unknown): number {
  const body = (params as { body?: unknown; operations?: unknown } | undefined)?.body ?? (params as { operations?: unknown } | undefined)?.operations;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return Buffer.byteLength(body);
  if (!Array.isArray(body)) return 0;
  let n = 0;
  for (const line of body) n += (typeof line === 'string' ? Buffer.byteLength(line) : Buffer.byteLength(JSON.stringify(line))) + 1;
  return n;
}
