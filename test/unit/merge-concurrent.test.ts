import { describe, expect, it } from 'vitest';
import { mergeConcurrent } from '../../src/streams/merge-concurrent.js';

async function* numbers(from: number, n: number, started: number[]) {
  started.push(from);
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, 1));
    yield from + i;
  }
}

describe('mergeConcurrent', () => {
  it('yields every value of every source, starting at most `concurrency` at once', async () => {
    const started: number[] = [];
    const out: number[] = [];
    const sources = [0, 100, 200, 300].map((f) => () => numbers(f, 5, started));
    const merged = mergeConcurrent(sources, 2);
    const first = await merged.next();
    out.push(first.value as number);
    expect(started).toEqual([0, 100]);
    for await (const v of merged) out.push(v);
    expect(out.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 200, 201, 202, 203, 204, 300, 301, 302, 303, 304]);
  });

  it('closes the open sources when the consumer stops early', async () => {
    let closed = 0;
    const src = () =>
      (async function* () {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          closed += 1;
        }
      })();
    for await (const v of mergeConcurrent([src, src, src], 2)) if (v > 3) break;
    expect(closed).toBe(2);
  });

  it('ends with the error of a failing source', async () => {
    const bad = () =>
      (async function* () {
        yield 1;
        throw new Error('boom');
      })();
    await expect(async () => {
      for await (const _ of mergeConcurrent([bad], 1));
    }).rejects.toThrow('boom');
  });
});

describe('mergeConcurrent when a source fails', () => {
  it('fails the merge, even when the source fails while the consumer is busy (no unhandled rejection)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      async function* yieldsThenFails() {
        yield 1;
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('source failed');
      }
      const seen: number[] = [];
      await expect(
        (async () => {
          for await (const x of mergeConcurrent([yieldsThenFails], 1)) {
            seen.push(x);
            // Busy: the source fails meanwhile, before the merge awaits it again.
            await new Promise((r) => setTimeout(r, 40));
          }
        })(),
      ).rejects.toThrow('source failed');
      expect(seen).toEqual([1]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
