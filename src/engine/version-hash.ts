/**
 * A 30-bit hash of (id, version), stored in each document (`_cesync.hv`) so that a summary of a
 * token bucket, count and sum of hashes, can be computed by the index with a plain `sum`
 * aggregation and by the source from a key-and-writetime scan, then compared. 30 bits keep the
 * sum of a bucket of up to 8 million documents exact in a double.
 *
 * FNV-1a over the UTF-16 code units of `id`, a separator and the version's decimal digits.
 */
export function versionHash(id: string, version: number): number {
  let h = 0x811c9dc5;
  const text = `${id}\u0000${version}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & 0x3fffffff;
}
