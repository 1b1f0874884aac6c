/**
 * Throttling of writes, so a sync can run beside production traffic:
 * - `blockSize` + `sleepMs`: after every `blockSize` writes, pause `sleepMs` (the Sunbird sync
 *   tool's block size and sleep time between API calls);
 * - `ratePerSecond`: at most this many writes per second on average (a token bucket of one
 *   second's worth).
 * Both may be combined. Pausing the stream pauses reading too (backpressure).
 */

export interface ThrottleOptions {
  readonly blockSize?: number;
  readonly sleepMs?: number;
  readonly ratePerSecond?: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export function isThrottled(o: ThrottleOptions): boolean {
  return Boolean((o.blockSize && o.sleepMs) || o.ratePerSecond);
}

export async function* throttle<T>(
  items: AsyncIterable<T>,
  o: ThrottleOptions,
  clock: Clock = systemClock,
  signal?: AbortSignal,
): AsyncGenerator<T> {
  if (!isThrottled(o)) return yield* items;
  let inBlock = 0;
  const rate = o.ratePerSecond ?? 0;
  let tokens = rate;
  let last = clock.now();
  for await (const item of items) {
    if (rate > 0) {
      const now = clock.now();
      tokens = Math.min(rate, tokens + ((now - last) * rate) / 1000);
      last = now;
      if (tokens < 1) {
        await clock.sleep(((1 - tokens) * 1000) / rate, signal);
        tokens = 1;
        last = clock.now();
      }
      tokens -= 1;
    }
    yield item;
    if (o.blockSize && o.sleepMs && ++inBlock >= o.blockSize) {
      inBlock = 0;
      await clock.sleep(o.sleepMs, signal);
    }
  }
}
