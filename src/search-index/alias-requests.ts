/**
 * Wire shapes that Elasticsearch and OpenSearch share for aliases and index listings, so both
 * adapters build and read them the same way.
 */
import { CesyncError } from '../errors.js';
import type { IndexInfo } from './api.js';

/**
 * The actions of one `_aliases` request that moves `alias` from `from` to `to`. A `remove` of an
 * alias an index no longer holds fails the whole request, which is therefore a compare-and-swap:
 * nothing moves unless the alias was where the caller saw it.
 */
export function aliasActions(alias: string, from: readonly string[], to: string): Record<string, unknown>[] {
  return [...from.map((index) => ({ remove: { index, alias } })), { add: { index: to, alias, is_write_index: true } }];
}

/** The error of a move whose `remove` found the alias gone from an index of `from`. */
export function aliasMoved(alias: string, from: readonly string[], where: string): CesyncError {
  return new CesyncError('STORE_REQUEST', `${where}: the alias ${alias} is no longer on ${from.join(', ')} (moved by someone else meanwhile); it was not moved`);
}

/** A row of `_cat/indices?format=json&h=index,status,creation.date,pri.store.size&bytes=b`. */
export function indexInfo(row: Record<string, string | undefined>): IndexInfo {
  return {
    index: String(row.index),
    createdMs: Number(row['creation.date'] ?? 0),
    bytes: Number(row['pri.store.size'] ?? 0) || 0,
    closed: row.status === 'close',
  };
}
