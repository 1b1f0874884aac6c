/**
 * Is `current` what `stored` becomes after only removals (cells set to null, collection
 * elements or map entries removed)?
 *
 * Why it matters: Cassandra's WRITETIME of a null cell is null, and removing a collection
 * element does not move MAXWRITETIME, so a row whose newest cell was removed reports an OLDER
 * version than the document made from it before. A removal must still reach the target, while
 * a genuinely older row (a stale copy) must not overwrite a newer document. Content tells them
 * apart: a removal only takes data away; anything else that differs under an older version is
 * treated as the target being newer.
 *
 * Both sides are compared as parsed JSON (big numbers compare by their JSON rendering).
 */

export function isRemovalOf(current: unknown, stored: unknown): boolean {
  return contained(normalise(current), normalise(stored));
}

function normalise(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null));
}

function contained(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined) return true;
  if (b === null || b === undefined) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b)) return false;
    // Every remaining element must be found among the stored ones (multiset inclusion).
    const pool = b.map((x) => JSON.stringify(x));
    for (const x of a) {
      const i = pool.indexOf(JSON.stringify(x));
      if (i < 0) return false;
      pool.splice(i, 1);
    }
    return true;
  }
  if (typeof a === 'object') {
    if (typeof b !== 'object' || Array.isArray(b)) return false;
    const bo = b as Record<string, unknown>;
    return Object.entries(a as Record<string, unknown>).every(([k, v]) => contained(v, bo[k]));
  }
  return a === b;
}
