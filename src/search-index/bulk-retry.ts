/**
 * Whole bulk requests retried with backoff, for both targets' adapters. The clients' transports
 * retry connection errors and 502/503/504 a few times in quick succession, and the bulk helpers
 * retry single items refused with 429; but a whole request answered 429 (a cluster shedding load)
 * or failing for longer than the transport's quick retries (a node restarting) would end the
 * helper, and the run, at once. Bulk writes here are idempotent (external versions), so sending a
 * request again is safe: under a 429 storm or a short outage a run slows down instead of failing,
 * and it stops with STORE_UNAVAILABLE only when the cluster stays unavailable for the whole
 * retry budget.
 */
import type { BulkRetryOptions } from './api.js';

/**
 * Sends one bulk request (`attempt`) until it is answered, retrying what `retryable` says is worth
 * sending again, as `options` says; `params` is the request (its body's bytes are reported).
 */
export async function sendWithRetry<R>(attempt: () => Promise<R>, params: unknown, retryable: (error: unknown) => boolean, options: BulkRetryOptions): Promise<R> {
  const { retries = 5, backoffMs = 1000, maxBackoffMs = 30_000 } = options;
  const bytes = options.onRequest ? bodyBytes(params) : 0;
  const timed = (start: number) => {
    try {
      options.onRequest?.((performance.now() - start) / 1000, bytes);
    } catch {
      // Monitoring never fails a request.
    }
  };
  for (let n = 1; ; n++) {
    const start = performance.now();
    let answer: R;
    try {
      answer = await attempt();
    } catch (error) {
      timed(start);
      if (n > retries || !retryable(error) || options.stopping?.()) throw error;
      const wait = Math.round(Math.min(maxBackoffMs, backoffMs * 2 ** (n - 1)) * (0.5 + Math.random() / 2));
      options.onRetry?.(n, wait, error);
      await sleepUnlessStopping(wait, options.stopping);
      // A stop during the wait ends it: the request is not sent once more.
      if (options.stopping?.()) throw error;
      continue;
    }
    timed(start); // outside the try: counted once, whatever the observer does
    return answer;
  }
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
