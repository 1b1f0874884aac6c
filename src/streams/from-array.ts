/** An array as an async iterable (for sinks and stages that take async iterables). */
export async function* fromArray<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
