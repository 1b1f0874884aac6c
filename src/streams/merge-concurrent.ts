/**
 * Merge several async iterables into one, pulling from at most `concurrency` of them at a time.
 *
 * Backpressure: each active source has at most one `next()` pending, so nothing is read faster
 * than the consumer takes it. Sources start lazily, in order, as earlier ones finish. When the
 * consumer stops early (break, throw), every active source is closed with `return()`.
 * An error from any source ends the merge with that error; errors the other sources raise after
 * that are dropped.
 */
export async function* mergeConcurrent<T>(
  sources: Iterable<() => AsyncIterable<T>>,
  concurrency: number,
): AsyncGenerator<T> {
  if (concurrency < 1) throw new RangeError('concurrency must be >= 1');
  const pending = sources[Symbol.iterator]();
  type Slot = { it: AsyncIterator<T>; next: Promise<{ slot: Slot; r: IteratorResult<T> }> };
  const active = new Set<Slot>();

  const pull = (slot: Slot) => {
    slot.next = slot.it.next().then((r) => ({ slot, r }));
    // A source may fail while the consumer is busy and nothing awaits its next() yet: marked as
    // handled here (the race below still sees the failure), so that moment is not taken for an
    // unhandled rejection, which ends the process.
    slot.next.catch(() => undefined);
  };

  const startNext = (): boolean => {
    const n = pending.next();
    if (n.done) return false;
    const slot = { it: n.value()[Symbol.asyncIterator]() } as Slot;
    pull(slot);
    active.add(slot);
    return true;
  };

  try {
    while (active.size < concurrency && startNext());
    while (active.size > 0) {
      const { slot, r } = await Promise.race([...active].map((s) => s.next));
      if (r.done) {
        active.delete(slot);
        startNext();
        continue;
      }
      pull(slot);
      yield r.value;
    }
  } finally {
    // Close what is still open; their pending next() results are dropped.
    await Promise.allSettled([...active].map((s) => s.it.return?.()));
  }
}
