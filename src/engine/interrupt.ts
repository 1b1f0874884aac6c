/**
 * Interruptions are not ends. A read stopped by a signal has not read what it did not read, so
 * it must never look like the end of its input: callers that decide from absence (an id without
 * a row is deleted, a watermark passes what was listed, a span without rows holds orphans)
 * would otherwise take every unread key as done.
 *
 * Contract of every source iteration that takes a signal: when the signal aborts, the
 * iteration throws `interrupted()` (a CesyncError with code INTERRUPTED, exit code 4); it never
 * ends quietly. Only a caller whose progress is positional (a full sync's span checkpoints, which
 * move past batches it actually received) may turn that into a quiet end, with `endOnInterrupt`.
 */
import { CesyncError } from '../errors.js';

export function interrupted(what = 'the read'): CesyncError {
  return new CesyncError('INTERRUPTED', `interrupted before ${what} completed; nothing was decided from the part not read`);
}

export function isInterruption(e: unknown): boolean {
  if (e instanceof CesyncError) return e.code === 'INTERRUPTED';
  const name = (e as { name?: string } | null)?.name;
  return name === 'AbortError' || name === 'RequestAbortedError';
}

export function throwIfInterrupted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw interrupted(what);
}

/**
 * Ends the iteration quietly where the source was interrupted. For positional consumers only:
 * what they received is all they account for.
 */
export async function* endOnInterrupt<T>(items: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (e) {
    if (!isInterruption(e)) throw e;
  }
}

/** Every item of a finite iteration (throws what it throws, interruptions included). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
