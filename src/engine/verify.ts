/**
 * Verify: every difference between a table and its index, by class, with the exact ids.
 *
 *   missing    a row without a document
 *   orphan     a document without a row (deleted or expired rows, stray documents)
 *   stale      a document older than its row
 *   different  same version, other content (only found with `content`), or a document newer than
 *              its row whose content is not the row's
 *
 * Cheap where things agree: both sides are split into the same token spans; per span, the index
 * computes a count and a sum of (id, version) hashes by aggregation, the table's side comes from
 * a key-and-write-time scan; only spans whose summaries differ are listed id by id. With
 * `content`, every span is compared document by document against a fresh conversion of its rows
 * (normalised JSON), which also finds edits made directly in the index.
 *
 * `sinceVersion` limits missing, stale and different to rows and documents of the window; orphans
 * are found at any age (a deleted row has no version left to be recent by): spans are also
 * compared by their counts of all rows and all documents.
 *
 * An interrupted verify throws INTERRUPTED: a partial comparison never reports anything.
 */
import type { InspectableTarget, ParsedKey, RecordSource, TargetEntry, SourceSpan, VerifySummary } from './ports.js';
import type { SourceRecord } from './record.js';
import { throwIfInterrupted } from './interrupt.js';
import { digestOfRecord } from './planner.js';
import { versionHash } from './version-hash.js';

export type DriftClass = 'missing' | 'orphan' | 'stale' | 'different';
export const DRIFT_CLASSES: readonly DriftClass[] = ['missing', 'orphan', 'stale', 'different'];

export interface VerifyOptions {
  readonly pipeline: string;
  readonly index: string;
  readonly content?: boolean;
  /** Only rows and documents whose version (microseconds) is at least this. */
  readonly sinceVersion?: number;
  /**
   * Counts, in VerifyReport.recent, the missing, stale and different ids whose row's version is
   * above this: rows written after a given point (a catch-up's window end, where versions are
   * what its window is on), which no sync up to that point could have carried.
   */
  readonly recentFrom?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (scanned: number, fraction: number) => void;
  readonly now?: () => number;
}

/** What the state store keeps of a verify (ports.ts VerifySummary): no ids. */
export function verifySummary(r: VerifyReport): VerifySummary {
  return {
    pipeline: r.pipeline,
    at: new Date(Date.parse(r.startedAt) + r.durationMs).toISOString(),
    inSync: r.inSync,
    content: r.content,
    ...(r.since !== undefined ? { since: r.since } : {}),
    counts: r.counts,
    spans: r.spans,
    driftSpans: r.driftSpans,
    durationMs: r.durationMs,
  };
}

export interface DriftSpan extends SourceSpan {
  readonly differences: number;
}

export interface VerifyReport {
  readonly pipeline: string;
  readonly index: string;
  readonly content: boolean;
  readonly since: string | undefined;
  readonly inSync: boolean;
  readonly counts: Record<DriftClass, number>;
  /** Every id per class. */
  readonly ids: Record<DriftClass, string[]>;
  readonly spans: number;
  readonly spansDiffering: number;
  /** The spans in which differences were found, with how many (documents of other writers aside). */
  readonly driftSpans: readonly DriftSpan[];
  readonly untrackedDocuments: number;
  /** With `recentFrom`: per class, how many of its ids have a row newer than it (orphans: 0). */
  readonly recent?: Record<DriftClass, number>;
  /** Rows read from the source (keys and write times, or whole rows with `content`). */
  readonly rowsScanned: number;
  /** Bytes of Elasticsearch response bodies read. */
  readonly bytesReadFromIndex: number;
  readonly startedAt: string;
  readonly durationMs: number;
}

export async function verify(
  deps: { readonly source: RecordSource; readonly target: InspectableTarget },
  options: VerifyOptions,
): Promise<VerifyReport> {
  const now = options.now ?? Date.now;
  const started = now();
  const { source, target } = deps;
  const { sinceVersion, signal } = options;
  const ids: Record<DriftClass, string[]> = { missing: [], orphan: [], stale: [], different: [] };
  const spans = source.spans();
  let rowsScanned = 0;
  let spansDone = 0;
  const progress = () => options.onProgress?.(rowsScanned, spans.length ? spansDone / spans.length : 1);
  const since = (v: number) => sinceVersion === undefined || v >= sinceVersion;
  /** Ids whose row is newer than `recentFrom` (any compared row; counted where they differ). */
  const recentIds = new Set<string>();
  const noteVersion = (id: string, version: number) => {
    if (options.recentFrom !== undefined && version > options.recentFrom) recentIds.add(id);
  };

  const exists = await target.exists();
  let differing: number[];
  if (!exists) {
    // No index: every row is missing; list them span by span.
    differing = spans.map((_s, i) => i);
  } else if (options.content) {
    differing = spans.map((_s, i) => i);
  } else {
    const theirs = await target.summarise(spans, { sinceVersion });
    // With `since`, a deleted row whose document is older than the window shows in no recent
    // summary: the span's count of all documents against its count of all rows finds it.
    const theirTotals = sinceVersion === undefined ? theirs : await target.summarise(spans, {});
    const ours = spans.map(() => ({ count: 0, sum: 0, total: 0 }));
    for await (const { span, entries } of source.scanVersions(spans, { signal })) {
      rowsScanned += entries.length;
      const o = ours[span]!;
      o.total += entries.length;
      for (const e of entries) {
        if (!since(e.version)) continue;
        o.count += 1;
        o.sum += e.rejected ? REJECTED_HASH : versionHash(e.id, e.version, e.parts);
      }
      progress();
    }
    differing = spans
      .map((_s, i) => i)
      .filter((i) => ours[i]!.count !== theirs[i]!.count || ours[i]!.sum !== theirs[i]!.sum || ours[i]!.total !== theirTotals[i]!.count);
    spansDone = spans.length - differing.length;
  }

  // Documents without cesync's metadata (written by another writer) belong to no span: each is
  // checked against its row by key, and their rows are not missing from the spans below.
  let untracked = 0;
  const untrackedIds = new Set<string>();
  if (exists) {
    for await (const page of target.listUntracked({ withSource: true })) {
      untracked += page.length;
      for (const d of page) untrackedIds.add(d.id);
      await classifyUntracked(page, source, ids, since, noteVersion, signal);
    }
  }

  const laterContentCheck: { id: string; digest: string | undefined }[] = [];
  const driftSpans: DriftSpan[] = [];
  const drifted = () => DRIFT_CLASSES.reduce((n, c) => n + ids[c].length, 0);
  for (const i of differing) {
    throwIfInterrupted(signal, 'verify');
    const span = spans[i]!;
    const before = drifted();
    // Both sides whole within the span; with `since`, a pair counts when either side is recent.
    const rows = new Map<string, { version: number; parts?: string; rejected?: boolean; normalised?: string }>();
    if (options.content) {
      for await (const batch of source.scan([{ ...span, done: false }], { signal })) {
        for (const r of batch.records) rows.set(r.id, { version: r.version, normalised: contentOf(r) });
        rowsScanned += batch.records.length;
      }
    } else {
      for await (const { entries } of source.scanVersions([span], { signal })) {
        for (const e of entries) rows.set(e.id, { version: e.version, ...(e.parts !== undefined ? { parts: e.parts } : {}), ...(e.rejected ? { rejected: true } : {}) });
        rowsScanned += entries.length;
      }
    }
    const docs = exists ? await collect(target.list(span, { withSource: options.content })) : [];
    for (const d of docs) {
      const row = rows.get(d.id);
      rows.delete(d.id);
      if (row) noteVersion(d.id, Math.max(d.version, row.version));
      // An orphan is one at any age: its row is gone, so no version of the row is in the window.
      if (!row) ids.orphan.push(d.id);
      else if (!since(Math.max(d.version, row.version))) continue;
      else if (d.version < row.version) ids.stale.push(d.id);
      else if (options.content) {
        if (row.normalised !== normalise(d.source)) ids.different.push(d.id);
      } else if (row.rejected) {
        // A row that could not be made into a document: what the index holds does not describe it.
        ids.different.push(d.id);
      } else if (d.version === row.version && row.parts !== undefined && d.hv !== undefined && d.hv !== versionHash(d.id, row.version, row.parts)) {
        // A composed document whose parts changed under an unchanged version (a nested row deleted).
        ids.different.push(d.id);
      } else if (d.version > row.version) {
        // Newer than its row: legitimate after a removal (the version is carried), so compare content.
        laterContentCheck.push({ id: d.id, digest: d.digest });
      }
    }
    for (const [id, row] of rows) {
      if (since(row.version) && !untrackedIds.has(id)) {
        ids.missing.push(id);
        noteVersion(id, row.version);
      }
    }
    if (drifted() > before) driftSpans.push({ start: span.start, end: span.end, differences: drifted() - before });
    spansDone += 1;
    progress();
  }

  if (laterContentCheck.length > 0) {
    const byId = new Map(laterContentCheck.map((c) => [c.id, c.digest]));
    const keys = laterContentCheck.map((c) => source.parseKey(source.idParts(c.id))).filter((k): k is ParsedKey => !('error' in k));
    for await (const batch of source.read(keys, { signal })) {
      for (const r of batch.records) {
        if (r.rejected || digestOfRecord(r, JSON.stringify(r.document)) !== byId.get(r.id)) ids.different.push(r.id);
      }
    }
  }

  for (const c of DRIFT_CLASSES) ids[c].sort();
  const counts = Object.fromEntries(DRIFT_CLASSES.map((c) => [c, ids[c].length])) as Record<DriftClass, number>;
  return {
    pipeline: options.pipeline,
    index: options.index,
    content: options.content ?? false,
    since: sinceVersion !== undefined ? new Date(sinceVersion / 1000).toISOString() : undefined,
    inSync: DRIFT_CLASSES.every((c) => counts[c] === 0),
    counts,
    ids,
    spans: spans.length,
    spansDiffering: differing.length,
    driftSpans,
    untrackedDocuments: untracked,
    ...(options.recentFrom !== undefined ? { recent: Object.fromEntries(DRIFT_CLASSES.map((c) => [c, ids[c].filter((id) => recentIds.has(id)).length])) as Record<DriftClass, number> } : {}),
    rowsScanned,
    bytesReadFromIndex: target.bytesRead(),
    startedAt: new Date(started).toISOString(),
    durationMs: now() - started,
  };
}

async function classifyUntracked(
  page: readonly TargetEntry[],
  source: RecordSource,
  ids: Record<DriftClass, string[]>,
  since: (v: number) => boolean,
  noteVersion: (id: string, version: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const keys: ParsedKey[] = [];
  for (const d of page) {
    const k = source.parseKey(source.idParts(d.id));
    if ('error' in k) ids.orphan.push(d.id); // cannot be the id of any row
    else keys.push(k);
  }
  const keyed = new Set(keys.map((k) => k.id));
  const rows = new Map<string, { version: number; normalised: string }>();
  for await (const batch of source.read(keys, { signal })) {
    for (const r of batch.records) rows.set(r.id, { version: r.version, normalised: contentOf(r) });
  }
  for (const d of page) {
    if (!keyed.has(d.id)) continue;
    const row = rows.get(d.id);
    if (!row) ids.orphan.push(d.id);
    else if (!since(row.version)) continue;
    else {
      noteVersion(d.id, row.version);
      if (d.version < row.version) ids.stale.push(d.id);
      else if (normalise(d.source) !== row.normalised) ids.different.push(d.id);
    }
  }
}

/**
 * What a row that could not be made into a document adds to a span's sum of version hashes: a
 * value no document's hash has (hashes are 30 bits), so the span is always read in detail.
 */
const REJECTED_HASH = 2 ** 30 + 0.5;

/**
 * A row's content as verify compares it. A row that could not be shaped (SourceRecord.rejected)
 * matches no document: whatever the index holds does not describe the row.
 */
function contentOf(r: SourceRecord): string {
  return r.rejected ? `\u0000rejected: ${r.rejected.reason}` : normalise(r.document);
}

/** Content as JSON text after one parse: both sides lose big-number precision the same way. */
function normalise(doc: unknown): string {
  return JSON.stringify(JSON.parse(JSON.stringify(doc ?? null)));
}

async function collect<T>(pages: AsyncIterable<readonly T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const p of pages) out.push(...p);
  return out;
}
