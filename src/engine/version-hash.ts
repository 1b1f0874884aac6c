/**
 * A 30-bit hash of (id, version, and the parts of a composed document), stored in each document (`_cesync.hv`) so that a summary of a
 * token bucket, count and sum of hashes, can be computed by the index with a plain `sum`
 * aggregation and by the source from a key-and-writetime scan, then compared. 30 bits keep the
 * sum of a bucket of up to 8 million documents exact in a double.
 *
 * FNV-1a over the UTF-16 code units of `id`, a separator and the version's decimal digits.
 */
export function versionHash(id: string, version: number, parts?: string): number {
  let h = 0x811c9dc5;
  // Documents of one row hash as they always did; a composed one adds the digest of its parts.
  const text = parts === undefined ? `${id}\u0000${version}` : `${id}\u0000${version}\u0000${parts}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & 0x3fffffff;
}
