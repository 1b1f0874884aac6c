import { describe, expect, it } from 'vitest';
import { throttle, type Clock } from '../../src/engine/throttle.js';

function fakeClock(): Clock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  };
}

async function* items(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

describe('throttle', () => {
  it('sleeps after every block', async () => {
    const clock = fakeClock();
    const out: number[] = [];
    for await (const i of throttle(items(7), { blockSize: 3, sleepMs: 100 }, clock)) out.push(i);
    expect(out).toHaveLength(7);
    expect(clock.slept).toEqual([100, 100]);
  });

  it('keeps to a rate', async () => {
    const clock = fakeClock();
    for await (const _ of throttle(items(50), { ratePerSecond: 10 }, clock));
    // 10 tokens at start, then 40 more items at 10/s: 4 seconds.
    expect(clock.slept.reduce((a, b) => a + b, 0)).toBeCloseTo(4000, -1);
  });
});
