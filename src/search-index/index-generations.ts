/**
 * Generations of an index behind an alias: the physical indices `<alias>-000001`, `-000002`, ...
 * that a rebuild creates one after the other, and the record each rebuilt index carries in its
 * mapping's `_meta` (`cesync.reindex`). The record lives on the server, beside the data it
 * describes, so a rebuild interrupted anywhere is found again by any process, and `--rollback`
 * knows where the alias came from. Pure functions; the calls to the server are the caller's.
 */
import { createHash } from 'node:crypto';

const DIGITS = 6;

export function generationName(alias: string, n: number): string {
  return `${alias}-${String(n).padStart(DIGITS, '0')}`;
}

/** The generation number of `index` behind `alias`, or undefined when it is not one of them. */
export function generationOf(alias: string, index: string): number | undefined {
  if (!index.startsWith(`${alias}-`)) return undefined;
  const rest = index.slice(alias.length + 1);
  return /^\d{6,}$/.test(rest) ? Number(rest) : undefined;
}

/** The name of the next generation: one past the highest among `indices`. */
export function nextGeneration(alias: string, indices: readonly string[]): string {
  const highest = Math.max(0, ...indices.map((i) => generationOf(alias, i) ?? 0));
  return generationName(alias, highest + 1);
}

/**
 * What a rebuilt index records of its rebuild:
 * - `building`: being filled and caught up, not serving; the alias is still on `previous`;
 * - `swapped`: the alias was moved onto it; the changes made around the swap are being carried;
 * - `done`: finished.
 */
export interface ReindexRecord {
  readonly alias: string;
  /** The index the alias was on when the rebuild began (null: there was none). */
  readonly previous: string | null;
  readonly state: 'building' | 'swapped' | 'done';
  /** When the rebuild began, ISO 8601. */
  readonly startedAt: string;
  /** When the alias moved onto this index, ISO 8601. */
  readonly swappedAt?: string;
  /** Digest of the mapping and settings it was built with (a changed pipeline starts again). */
  readonly shape: string;
  /**
   * Two-way pipelines: the way back's watermark (microseconds) when the rebuild began; documents
   * changed in the previous index since then are carried back after the swap.
   */
  readonly backFrom?: number;
}

export function recordOf(meta: Record<string, unknown> | undefined): ReindexRecord | undefined {
  const r = (meta?.cesync as { reindex?: Partial<ReindexRecord> } | undefined)?.reindex;
  if (!r || typeof r.alias !== 'string' || typeof r.state !== 'string' || typeof r.shape !== 'string' || typeof r.startedAt !== 'string') return undefined;
  return r as ReindexRecord;
}

/** `meta` with the record set in it (everything else of it kept). */
export function withRecord(meta: Record<string, unknown> | undefined, record: ReindexRecord): Record<string, unknown> {
  const cesync = (meta?.cesync ?? {}) as Record<string, unknown>;
  return { ...meta, cesync: { ...cesync, reindex: record } };
}

/** A digest of what an index is built with: its mapping (without cesync's records) and settings. */
export function shapeDigest(mapping: Record<string, unknown>, settings: Record<string, unknown> | undefined): string {
  const { _meta, ...rest } = mapping;
  const cesync = { ...((_meta as { cesync?: Record<string, unknown> } | undefined)?.cesync ?? {}) };
  delete cesync.reindex;
  delete cesync.pendingSettings;
  const text = canonical({ mapping: { ...rest, _meta: { ...(_meta as object), cesync } }, settings: settings ?? {} });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** JSON text with object keys sorted, so equal values give equal text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export interface MappingDifference {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly { readonly field: string; readonly from: string; readonly to: string }[];
}

/**
 * Fields of two mappings compared by path (`a.b.c`) and type: those only in `next`, those only in
 * `current`, and those whose type or parameters differ.
 */
export function mappingDifference(current: Record<string, unknown>, next: Record<string, unknown>): MappingDifference {
  const a = fieldsOf(current.properties);
  const b = fieldsOf(next.properties);
  const added = [...b.keys()].filter((f) => !a.has(f)).sort();
  const removed = [...a.keys()].filter((f) => !b.has(f)).sort();
  const changed = [...b.keys()]
    .filter((f) => a.has(f) && a.get(f) !== b.get(f))
    .sort()
    .map((field) => ({ field, from: a.get(field)!, to: b.get(field)! }));
  return { added, removed, changed };
}

/** path -> the field's own definition (its type and parameters, without sub-fields) as text. */
function fieldsOf(properties: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (!properties || typeof properties !== 'object') return out;
  for (const [name, def] of Object.entries(properties as Record<string, Record<string, unknown>>)) {
    const path = `${prefix}${name}`;
    const { properties: inner, ...own } = def ?? {};
    if (!('type' in own)) own.type = 'object';
    out.set(path, describeField(own));
    fieldsOf(inner, `${path}.`, out);
  }
  return out;
}

function describeField(own: Record<string, unknown>): string {
  const { type, ...params } = own;
  // The server gives some parameters back as text ("dynamic": "false"): compared as text.
  const texts = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v !== null && typeof v === 'object' ? v : String(v)]));
  const rest = Object.keys(texts).length > 0 ? ` ${canonical(texts)}` : '';
  return `${String(type)}${rest}`;
}
