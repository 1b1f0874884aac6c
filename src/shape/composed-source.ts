/**
 * Composed documents (docs/shaping.md): each document of the source gets, under a field, the
 * rows of a related table that belong to it (found by the document's key), each of those rows
 * enriched with columns of a looked-up row (found by the row's columns). Store-neutral: related
 * tables are read through RelatedTable, in the words of keys and key texts.
 *
 * Contracts:
 * - A document's version is the newest of its parts: the row, its nested rows (those left out by
 *   `where` included: a row that leaves the list must still move the version) and their looked-up
 *   rows. A part that went away lowers it; the engine's removal check carries that across (the
 *   stored version is kept, see removal.ts).
 * - Nested rows come in the related table's order (its clustering order): equal parts give equal
 *   documents, so digests still tell unchanged documents apart.
 * - Reads stay bounded: nested rows are read for a batch of documents at once (at most
 *   `maxRows` per document), looked-up rows through a cache of at most LOOKUP_CACHE_ENTRIES
 *   entries, each kept for LOOKUP_CACHE_MS. The cache serves scans only (full sync, verify):
 *   reads by key (targeted and incremental syncs, and the re-reads that confirm a write at a
 *   version the index already holds) read every looked-up row afresh, so a decision to overwrite
 *   is never taken on a cached copy.
 * - `changed` finds the documents a change of any part belongs to: changed rows of the source,
 *   changed nested rows (by their key), and changed looked-up rows (by the nested rows that
 *   refer to them, found by a scan of the nested table). A nested or looked-up row deleted
 *   outright, or one without write times (a key-only table), leaves nothing to find: it reaches
 *   the document with the next change of any of its parts, or by verify and repair.
 */
import { createHash } from 'node:crypto';
import type { ParsedKey, RecordSource, SourceSpan, VersionBatch, VersionEntry, Watermark } from '../engine/ports.js';
import type { SourceBatch, SourceRecord } from '../engine/record.js';

/** A table read by the texts of some of its key columns (as `RecordSource.idParts` gives them). */
export interface RelatedTable {
  /** The table as a source: its ids, its changes, its scans. */
  readonly source: RecordSource;
  /**
   * For each tuple of key texts, the rows whose matched columns hold it, in the table's order; at
   * most `limit` + 1 per tuple when a limit is given (so that a tuple with more shows as such).
   */
  find(tuples: readonly (readonly string[])[], options: { signal?: AbortSignal; limit?: number }): Promise<SourceRecord[][]>;
}

export interface Lookup {
  readonly table: RelatedTable;
  /** Fields of the nested row whose texts form the looked-up key, in that key's order. */
  readonly keyFields: readonly string[];
  /** Where those fields sit in the nested row's id parts, when all are key columns of it. */
  readonly keyPositions?: readonly number[];
  /** [field of the looked-up row, name in the nested row]. */
  readonly copy: readonly (readonly [string, string])[];
}

export interface Nesting {
  /** Field of the document that holds the list. */
  readonly field: string;
  readonly table: RelatedTable;
  /** For each text of the tuple `table.find` takes, its position among the document's id parts. */
  readonly tupleFromParent: readonly number[];
  /** For each of the document's id parts, its position among a nested row's id parts. */
  readonly parentFromChild: readonly number[];
  /**
   * Only nested rows whose fields hold these values are listed (compared before `shape`, as the
   * texts of the row's values: see textOf).
   */
  readonly where: Readonly<Record<string, unknown>>;
  /** Most rows nested in one document; a document with more is refused (never cut silently). */
  readonly maxRows: number;
  /** Fields left out of the listed rows (key columns of the nested table the user left out). */
  readonly omit: readonly string[];
  /** Shaping of each nested row (parse, default), or undefined. */
  readonly shape?: (record: SourceRecord) => Promise<SourceRecord>;
  readonly lookups: readonly Lookup[];
}

export const LOOKUP_CACHE_ENTRIES = 10_000;
export const LOOKUP_CACHE_MS = 60_000;
export const COMPOSE_ERROR = 'compose_error';

/**
 * `nestings`: lists of related rows; `lookups`: columns of rows looked up by the document's own
 * fields (e.g. the name of a user's root organisation).
 */
export function composedSource(source: RecordSource, nestings: readonly Nesting[], lookups: readonly Lookup[] = [], clock: () => number = Date.now): RecordSource {
  const caches = nestings.map((n) => n.lookups.map(() => new LookupCache(clock)));
  const ownCaches = lookups.map(() => new LookupCache(clock));

  async function composeBatch(batch: SourceBatch, signal: AbortSignal | undefined, fresh: boolean): Promise<SourceBatch> {
    const records = batch.records;
    const live = records.map((r, i) => [r, i] as const).filter(([r]) => !r.rejected);
    if (live.length === 0) return batch;
    const out = [...records];
    const parts = live.map(([r]) => source.idParts(r.id));
    const acc = live.map(([r]) => ({ document: { ...r.document } as Record<string, unknown>, version: r.version, parts: [] as string[], rejected: undefined as undefined | { errorType: string; reason: string } }));
    for (const [ni, n] of nestings.entries()) {
      const found = await n.table.find(
        parts.map((p) => n.tupleFromParent.map((i) => p[i]!)),
        { signal, limit: n.maxRows },
      );
      const lists: { records: SourceRecord[]; listed: Record<string, unknown>[] }[] = [];
      for (let j = 0; j < live.length; j++) {
        const a = acc[j]!;
        const listed: Record<string, unknown>[] = [];
        const shaped: SourceRecord[] = [];
        const rows = found[j] ?? [];
        if (rows.length > n.maxRows) {
          a.rejected ??= { errorType: COMPOSE_ERROR, reason: `${n.field}: more than ${n.maxRows} rows to nest (nest maxRows)` };
          rows.length = 0;
        }
        for (const child of rows) {
          a.version = Math.max(a.version, child.version);
          a.parts.push(`${ni}:${child.id}@${child.version}`);
          // Rows left out by `where` are not shaped: a bad value in one never refuses the document.
          if (!matches(child.document, n.where)) continue;
          const c = n.shape ? await n.shape(child) : child;
          if (c.rejected) {
            a.rejected ??= { errorType: c.rejected.errorType, reason: `${n.field}: row ${child.id}: ${c.rejected.reason}` };
            continue;
          }
          shaped.push(c);
          listed.push(withoutFields(c.document, n.omit));
        }
        lists.push({ records: shaped, listed });
      }
      for (const [li, l] of n.lookups.entries()) {
        const cache = caches[ni]![li]!;
        const tuples = new Map<string, string[]>();
        for (const { records: rs } of lists) {
          for (const c of rs) {
            const t = tupleOf(c.document, l.keyFields);
            if (t) tuples.set(JSON.stringify(t), t);
          }
        }
        await cache.fill(tuples, l.table, signal, fresh);
        lists.forEach(({ records: rs, listed }, j) => {
          rs.forEach((c, k) => {
            const t = tupleOf(c.document, l.keyFields);
            const row = t ? cache.get(JSON.stringify(t)) : undefined;
            if (row) acc[j]!.version = Math.max(acc[j]!.version, row.version);
            acc[j]!.parts.push(`${ni}.${li}:${row ? `${row.id}@${row.version}` : 'none'}`);
            for (const [from, to] of l.copy) listed[k]![to] = row ? copyOf(row.document[from] ?? null) : null;
          });
        });
      }
      lists.forEach(({ listed }, j) => (acc[j]!.document[n.field] = listed));
    }
    for (const [li, l] of lookups.entries()) {
      const cache = ownCaches[li]!;
      const tuples = new Map<string, string[]>();
      for (const a of acc) {
        const t = tupleOf(a.document, l.keyFields);
        if (t) tuples.set(JSON.stringify(t), t);
      }
      await cache.fill(tuples, l.table, signal, fresh);
      for (const a of acc) {
        const t = tupleOf(a.document, l.keyFields);
        const row = t ? cache.get(JSON.stringify(t)) : undefined;
        if (row) a.version = Math.max(a.version, row.version);
        a.parts.push(`own.${li}:${row ? `${row.id}@${row.version}` : 'none'}`);
        for (const [from, to] of l.copy) a.document[to] = row ? copyOf(row.document[from] ?? null) : null;
      }
    }
    live.forEach(([r, i], j) => {
      const a = acc[j]!;
      // A refused document keeps the version and parts it read, so verify sees it differ.
      const made = { ...r, version: a.version, parts: digestOfParts(a.parts) };
      out[i] = a.rejected ? { ...made, document: {}, rejected: { errorType: COMPOSE_ERROR, reason: a.rejected.reason } } : { ...made, document: a.document };
    });
    return { ...batch, records: out };
  }

  /** `fresh`: looked-up rows read again, not taken from the cache (reads by key). */
  const composeAll = async function* (batches: AsyncIterable<SourceBatch>, signal: AbortSignal | undefined, fresh: boolean): AsyncGenerator<SourceBatch> {
    for await (const b of batches) yield await composeBatch(b, signal, fresh);
  };

  const parentIdOf = (parts: readonly string[]): string | undefined => {
    const k = source.parseKey(parts);
    return 'error' in k ? undefined : k.id;
  };

  async function* changed(from: Watermark, to: number, signal?: AbortSignal): AsyncGenerator<readonly VersionEntry[]> {
    yield* source.changed(from, to, { signal }).entries;
    for (const n of nestings) {
      // Nested rows changed: each belongs to the document its key names.
      for await (const page of n.table.source.changed(from, to, { signal }).entries) {
        const mapped: VersionEntry[] = [];
        for (const e of page) {
          if (e.version < from.version || e.version > to) continue;
          const cp = n.table.source.idParts(e.id);
          const id = parentIdOf(n.parentFromChild.map((i) => cp[i]!));
          if (id !== undefined) mapped.push({ id, version: e.version });
        }
        if (mapped.length > 0) yield mapped;
      }
      for (const l of n.lookups) {
        // Looked-up rows changed: the documents of every nested row that refers to one of them.
        const versions = await changedLookups(l, from, to, signal);
        if (versions.size > 0) yield* referringDocuments(n, l, versions, signal);
      }
    }
    for (const l of lookups) {
      // Rows looked up by the documents' own fields: the documents that refer to them (a scan).
      const versions = await changedLookups(l, from, to, signal);
      if (versions.size === 0) continue;
      for await (const batch of source.scan(source.spans().map((s) => ({ ...s, done: false })), { signal })) {
        const out: VersionEntry[] = [];
        for (const r of batch.records) {
          const t = tupleOf(r.document, l.keyFields);
          const v = t ? versions.get(JSON.stringify(t)) : undefined;
          if (v !== undefined) out.push({ id: r.id, version: v });
        }
        if (out.length > 0) yield out;
      }
    }
  }

  /** Key texts of the looked-up rows changed in the window, with their newest change. */
  async function changedLookups(l: Lookup, from: Watermark, to: number, signal?: AbortSignal): Promise<Map<string, number>> {
    const versions = new Map<string, number>();
    for await (const page of l.table.source.changed(from, to, { signal }).entries) {
      for (const e of page) {
        if (e.version < from.version || e.version > to) continue;
        const key = JSON.stringify(l.table.source.idParts(e.id));
        versions.set(key, Math.max(versions.get(key) ?? 0, e.version));
      }
    }
    return versions;
  }

  /** Documents whose nested rows refer to the looked-up keys (a scan of the nested table). */
  async function* referringDocuments(n: Nesting, l: Lookup, versions: Map<string, number>, signal?: AbortSignal): AsyncGenerator<readonly VersionEntry[]> {
    const child = n.table.source;
    const emit = (childId: string, tuple: readonly string[] | undefined): VersionEntry | undefined => {
      const v = tuple ? versions.get(JSON.stringify(tuple)) : undefined;
      if (v === undefined) return undefined;
      const cp = child.idParts(childId);
      const id = parentIdOf(n.parentFromChild.map((i) => cp[i]!));
      return id === undefined ? undefined : { id, version: v };
    };
    const spans = child.spans();
    if (l.keyPositions) {
      // The looked-up key is part of the nested row's key: keys and write times are enough.
      for await (const { entries } of child.scanVersions(spans, { signal })) {
        const out = entries.map((e) => emit(e.id, l.keyPositions!.map((i) => child.idParts(e.id)[i]!))).filter((e): e is VersionEntry => e !== undefined);
        if (out.length > 0) yield out;
      }
      return;
    }
    for await (const batch of child.scan(spans.map((s) => ({ ...s, done: false })), { signal })) {
      const out = batch.records.map((r) => emit(r.id, tupleOf(r.document, l.keyFields))).filter((e): e is VersionEntry => e !== undefined);
      if (out.length > 0) yield out;
    }
  }

  return {
    spans: () => source.spans(),
    scan: (spans, options) => composeAll(source.scan(spans, options), options.signal, false),
    // A document's version depends on its parts: read whole (verify reads what it compares).
    scanVersions: (spans: readonly SourceSpan[], options) => versionsOf(composeAll(source.scan(spans.map((s) => ({ ...s, done: false })), options), options.signal, false)),
    keyColumns: () => source.keyColumns(),
    parseKey: (p) => source.parseKey(p),
    idParts: (id) => source.idParts(id),
    // The parts' changes are always found by scans, whatever the document's own rows use.
    changed: (from, to, options) => ({ method: 'scan' as const, entries: changed(from, to, options.signal) }),
    read: (keys: readonly ParsedKey[], options) => composeAll(source.read(keys, options), options.signal, true),
    estimateCount: () => source.estimateCount(),
    fractionDone: () => source.fractionDone(),
  };
}

async function* versionsOf(batches: AsyncIterable<SourceBatch>): AsyncGenerator<VersionBatch> {
  for await (const b of batches) {
    yield {
      span: b.position?.span ?? 0,
      entries: b.records.map((r) => ({ id: r.id, version: r.version, ...(r.parts !== undefined ? { parts: r.parts } : {}), ...(r.rejected ? { rejected: true } : {}) })),
    };
  }
}

/**
 * A copy of a looked-up value, so that a transform module changing a document in place cannot
 * change the cached row (and with it later documents). JSON.rawJSON values are frozen: shared.
 */
function copyOf(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || JSON.isRawJSON(v)) return v;
  if (Array.isArray(v)) return v.map(copyOf);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyOf(x)]));
}

/** The parts of one document (nested rows and looked-up rows, by id and version), as a short digest. */
function digestOfParts(parts: readonly string[]): string {
  return createHash('sha1').update(parts.join('\n')).digest('base64url').slice(0, 16);
}

/** Whether each field holds the value asked for, compared as texts (`1` matches a bigint 1). */
function matches(doc: Readonly<Record<string, unknown>>, where: Readonly<Record<string, unknown>>): boolean {
  for (const [k, v] of Object.entries(where)) {
    const x = doc[k] ?? null;
    if (v === null ? x !== null : x === null || textOf(x) !== textOf(v)) return false;
  }
  return true;
}

function withoutFields(doc: Readonly<Record<string, unknown>>, omit: readonly string[]): Record<string, unknown> {
  if (omit.length === 0) return { ...doc };
  const out = { ...doc };
  for (const f of omit) delete out[f];
  return out;
}

/** The texts of a row's fields that form a key, or undefined when one is null. */
function tupleOf(doc: Readonly<Record<string, unknown>>, fields: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (const f of fields) {
    const v = doc[f];
    if (v === null || v === undefined) return undefined;
    out.push(textOf(v));
  }
  return out;
}

/** A document value as the text of a key column (what `idParts` gives for it). */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'rawJSON' in v) return String((v as { rawJSON: string }).rawJSON);
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
}

/** Looked-up rows by key text: bounded in entries and age; a key without a row is cached as such. */
class LookupCache {
  private readonly entries = new Map<string, { row: SourceRecord | null; at: number }>();
  private readonly clock: () => number;
  constructor(clock: () => number) {
    this.clock = clock;
  }

  get(key: string): SourceRecord | undefined {
    return this.entries.get(key)?.row ?? undefined;
  }

  /**
   * Reads the keys not cached (or cached too long ago; every key when `fresh`), keeping at most
   * LOOKUP_CACHE_ENTRIES.
   */
  async fill(tuples: Map<string, string[]>, table: RelatedTable, signal: AbortSignal | undefined, fresh: boolean): Promise<void> {
    const now = this.clock();
    const missing = [...tuples].filter(([k]) => {
      const e = this.entries.get(k);
      return fresh || !e || now - e.at > LOOKUP_CACHE_MS;
    });
    if (missing.length > 0) {
      const rows = await table.find(missing.map(([, t]) => t), { signal });
      missing.forEach(([k], i) => {
        this.entries.delete(k);
        this.entries.set(k, { row: rows[i]?.[0] ?? null, at: now });
      });
    }
    // Keys of this batch stay (they are about to be read); the oldest others go first.
    for (const k of this.entries.keys()) {
      if (this.entries.size <= Math.max(LOOKUP_CACHE_ENTRIES, tuples.size)) break;
      if (!tuples.has(k)) this.entries.delete(k);
    }
  }
}
