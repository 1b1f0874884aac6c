/**
 * One stream of bulk operations sent to a search cluster, the same way for every target: the
 * operations are batched into NDJSON bodies, flushed by bytes (`flushBytes`) and when no
 * operation arrived for `flushIntervalMs`, with at most `concurrency` requests in flight (the
 * stream is read no faster than they are answered); each answer's items are paired, in order,
 * with the operations of the request, and each operation is answered exactly once: applied,
 * refused with its status and error, or (429 items sent again `itemRetries` times, `itemWaitMs`
 * apart, then) refused with 429. Whole requests refused with 429/5xx or unanswered are sent again
 * with backoff (bulk-retry.ts).
 *
 * Why not the clients' own bulk helpers: OpenSearch's can stop for good when a flush by interval
 * meets a flush by bytes that waits for a free request (it keeps one waiter), and reports nothing
 * of the items it applied; Elasticsearch's reports applied items only through a callback that
 * parses every document again, and mispairs action and document lines when 429 retries of a mix of
 * deletes and index operations run out. Both pair answers with operations in order, as this does.
 */
import type { BulkItemError, BulkStream } from './api.js';
import { sendWithRetry } from './bulk-retry.js';

/** One item of a bulk answer, whatever its operation. */
export interface BulkItemAnswer {
  readonly status: number;
  readonly result?: string;
  readonly error?: BulkItemError | null;
}

/** How a target sends one bulk body. */
export interface BulkTransport {
  /** POSTs `body` (NDJSON, newline-terminated) to `_bulk`; the items of the answer, in order. */
  send(body: string): Promise<readonly BulkItemAnswer[]>;
  /** Whether a failure of `send` is worth sending the request again (429, 5xx, unreachable). */
  retryable(error: unknown): boolean;
}

/** Each item's answer of a parsed bulk answer, whatever its operation (`index`, `delete`, ...). */
export function answerItems(items: unknown): BulkItemAnswer[] {
  if (!Array.isArray(items)) throw new Error('the bulk answer has no items');
  return (items as Record<string, BulkItemAnswer | undefined>[]).map((item) => {
    const answer = Object.values(item ?? {})[0];
    // An item without a status is no answer: the run fails rather than take it for a refusal.
    if (typeof answer?.status !== 'number') throw new Error(`a bulk answer item has no status: ${JSON.stringify(item)}`);
    return answer;
  });
}

interface Entry<T> {
  readonly item: T;
  /** The action line and, for an index, the document line, each newline-terminated. */
  readonly text: string;
}

/** Sends everything `options.datasource` yields; resolves once every operation is answered. */
export async function runBulk<T>(transport: BulkTransport, options: BulkStream<T>): Promise<void> {
  const { concurrency, flushBytes, flushIntervalMs, retry } = options;
  const itemRetries = options.itemRetries ?? 3;
  const itemWaitMs = options.itemWaitMs ?? 5000;
  const stopping = () => retry.stopping?.() ?? false;
  let failure: { error: unknown } | undefined;
  /** Ends the loop's current wait for the source, if it is waiting: set for each read only. */
  let wake: (() => void) | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    wake?.();
  };

  // Requests in flight, and the callers waiting for a free one (first come, first served).
  let running = 0;
  const waiting: (() => void)[] = [];
  const idle: (() => void)[] = [];
  const acquire = async () => {
    if (running < concurrency) {
      running++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else if (--running === 0) for (const done of idle.splice(0)) done();
  };

  /** Answers every entry of one request (sent again for 429 items as configured). */
  const sendBatch = async (entries: Entry<T>[]) => {
    try {
      let pending = entries;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const body = pending.map((e) => e.text).join('');
        const items = await sendWithRetry(() => transport.send(body), { body }, transport.retryable, retry);
        if (items.length !== pending.length) throw new Error(`the bulk answer has ${items.length} items for ${pending.length} operations`);
        const again: Entry<T>[] = [];
        items.forEach((answer, i) => {
          const entry = pending[i]!;
          if (answer.status < 400) options.applied(entry.item, { result: answer.result });
          else if (answer.status === 429 && attempt < itemRetries && !stopping()) again.push(entry);
          else options.refused(entry.item, { status: answer.status, error: answer.error ?? null });
        });
        pending = again;
        if (pending.length > 0) await sleepUnlessStopping(itemWaitMs, stopping);
        if (pending.length > 0 && stopping()) {
          // A stop during the wait: the items are not sent again, they are refused as they were.
          for (const entry of pending) options.refused(entry.item, { status: 429, error: null });
          pending = [];
        }
      }
    } catch (error) {
      fail(error);
    } finally {
      release();
    }
  };

  let batch: Entry<T>[] = [];
  let bytes = 0;
  /**
   * Hands the current batch to a request, once one is free: while it waits, operations read meanwhile
   * join the batch (so at most `concurrency` requests plus one batch are held). After a failure
   * nothing more is sent: what is left stays unanswered, and the run rejects.
   */
  const flush = async () => {
    if (batch.length === 0) return;
    await acquire();
    if (batch.length === 0 || failure) {
      release();
      return;
    }
    const entries = batch;
    batch = [];
    bytes = 0;
    void sendBatch(entries);
  };

  // A flush once the batch's first operation waited `flushIntervalMs`: a slow source's operations
  // are not held back until `flushBytes` fill up, a steady one's included (an interval counted
  // from the last operation would never end while they keep coming). One at a time, behind any
  // flush by bytes in progress.
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      flushing = flushing.then(flush, fail);
    }, flushIntervalMs);
  };

  try {
    for (;;) {
      if (failure) break;
      // A failure ends the wait for the source at once (a slow or throttled source included). Not
      // Promise.race against one promise of the whole run: each race would leave a reaction on it
      // that holds the race's result, so every operation read would be kept until the run ends.
      const next = await new Promise<IteratorResult<T> | undefined>((resolve, reject) => {
        wake = () => resolve(undefined);
        options.datasource.next().then(resolve, reject);
      });
      wake = undefined;
      if (!next || next.done) break;
      const item = next.value;
      const action = options.action(item);
      const text = Array.isArray(action) ? `${JSON.stringify(action[0])}\n${action[1] as string}\n` : `${JSON.stringify(action)}\n`;
      batch.push({ item, text });
      bytes += Buffer.byteLength(text);
      if (bytes >= flushBytes) {
        clearTimeout(timer);
        timer = undefined;
        await flushing;
        // Waits here while every request is busy: the source is read no faster than answers come.
        flushing = flush();
        await flushing;
      } else if (timer === undefined) schedule();
    }
    clearTimeout(timer);
    await flushing;
    if (!failure) await flush();
  } catch (error) {
    fail(error);
  } finally {
    clearTimeout(timer);
    await flushing.catch(fail);
    if (running > 0) await new Promise<void>((resolve) => idle.push(resolve));
    // Stopped early by a failure: the source is closed, as a for-await loop would close it (not
    // waited for: a read may still be under way, and closes the source when it ends).
    if (failure) void options.datasource.return?.().catch(() => undefined);
  }
  // What was read but never sent (a failure stopped the run) is left unanswered: the caller
  // reports such operations as not acknowledged.
  if (failure) throw failure.error;
}

/** Sleeps `ms`, checking `stopping` every 100 ms so a stop is not held up by a long wait. */
async function sleepUnlessStopping(ms: number, stopping: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !stopping()) await new Promise((resolve) => setTimeout(resolve, Math.min(100, end - Date.now())));
}
