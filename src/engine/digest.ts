/**
 * Content digest of a document: a short hash of its JSON text. Stored beside the document so a
 * later run can tell "same version, same content" (unchanged) from "same version, new content"
 * (a column set to null or a collection element removed: Cassandra's WRITETIME does not move).
 *
 * Contract: the document's key order must be deterministic for equal content (converters emit
 * columns in schema order and map entries in Cassandra's order), so equal content gives an
 * equal digest.
 */
import { createHash } from 'node:crypto';

export function digestOf(document: unknown): string {
  return createHash('sha1').update(JSON.stringify(document)).digest('base64url').slice(0, 22);
}
