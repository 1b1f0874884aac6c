/**
 * A PostgreSQL table as a RecordSource: read in spans of its primary key, in parallel, each span
 * page by page with keyset pagination (`WHERE key > last ORDER BY key LIMIT n`), or by given keys.
 *
 * Positions (ports.ts SourceSpan): the leading key column gives each row its position, a signed
 * 64-bit integer that keeps the key's order: an integer key is its own position; a uuid's is its
 * first 8 bytes (minus 2^63, so that byte order and number order agree). A span is a range of
 * positions, so it is a range of the primary key index, read by the index in key order.
 *
 * Keyset pages hold no transaction or cursor open between pages (nothing holds back vacuum, as a
 * long-lived cursor's snapshot would), and each page is a fresh, short query: a checkpoint
 * resumes with the same query. Resuming after a position is exact for a single integer key; for
 * other keys rows may share a position, so a resume point is placed just before the last row's
 * position, and those rows are read again (writes are idempotent).
 */
import type pg from 'pg';
import type { ParsedKey, RecordSource, SourceSpan, SpanProgress, VersionBatch, VersionEntry, Watermark } from '../engine/ports.js';
import type { SourceBatch, SourceRecord } from '../engine/record.js';
import { compileDocumentId, splitDelimitedId, splitJsonId, type IdFormat } from '../engine/document-id.js';
import { throwIfInterrupted } from '../engine/interrupt.js';
import { CesyncError } from '../errors.js';
import { mergeConcurrent } from '../streams/merge-concurrent.js';
import { postgresError, quoteIdent, type PostgresPool } from './client.js';
import { checkPgVersionColumn, INTEGER_BITS, type PgColumn, type PgTableSchema, type VersionKind } from './table-schema.js';
import { pgConverter } from './value-converter.js';

export interface PgSourceOptions {
  readonly pageSize: number;
  readonly splits: number;
  readonly rangesInFlight: number;
  readonly version: { readonly column: string };
  /** A timestamp (or integer of microseconds) column every writer sets, for incremental syncs; default the version column when it is a timestamp. */
  readonly changeColumn?: string;
  readonly id: IdFormat;
  /** Shown in errors: where PostgreSQL is. */
  readonly where: string;
  /** Keys read by one query (`read`). */
  readonly keysPerRead?: number;
  /**
   * An SQL condition on the table's columns (the pipeline's `filter`): only the rows that meet it
   * are this source's rows, in every read (scans, versions, keys, changes).
   */
  readonly filter?: string;
}

/** Version of a row whose version column is null: such rows are compared by content digest. */
export const CONSTANT_VERSION = 1;

const MIN_POSITION = -(2n ** 63n);
const MAX_POSITION = 2n ** 63n - 1n;
const VERSION_ALIAS = 'cesync__v';
const CHANGE_ALIAS = 'cesync__c';

/** Key column types: their values' texts round-trip exactly through document ids. */
const KEY_TYPES = new Set(['int2', 'int4', 'int8', 'uuid', 'text', 'varchar', 'citext', 'date', 'bool']);

export class PostgresTableSource implements RecordSource {
  readonly schema: PgTableSchema;
  private readonly pool: PostgresPool;
  private readonly options: PgSourceOptions;
  private readonly table: string;
  private readonly keys: readonly PgColumn[];
  private readonly keyList: string;
  /** `integer`: the leading key column is an integer (its own position); `uuid`: a uuid. */
  private readonly positions: 'integer' | 'uuid';
  /** A resume point after a position loses no row: one integer key column. */
  private readonly exact: boolean;
  private readonly selectRows: string;
  private readonly selectVersions: string;
  private readonly selectChanges: string | undefined;
  private readonly versionKind: VersionKind;
  private readonly change: { readonly column: PgColumn; readonly kind: VersionKind } | undefined;
  private readonly toRecord: (row: Record<string, unknown>) => SourceRecord;
  private readonly toEntry: (row: Record<string, unknown>) => VersionEntry;
  private readonly idOf: (doc: Readonly<Record<string, unknown>>) => string;
  private readonly keyConverters: readonly ((v: unknown) => unknown)[];
  private cuts: readonly bigint[] = [];
  private lastPosition = MAX_POSITION;
  private widthTotal = 0n;
  private widthDone = 0n;

  constructor(pool: PostgresPool, schema: PgTableSchema, options: PgSourceOptions) {
    this.pool = pool;
    this.schema = schema;
    this.options = options;
    const where = `${schema.schema}.${schema.table}`;
    this.table = `${quoteIdent(schema.schema)}.${quoteIdent(schema.table)}`;
    this.keys = schema.keyColumns.map((k) => schema.columns.find((c) => c.name === k)!);
    for (const k of this.keys) {
      if (k.type.array || !KEY_TYPES.has(k.type.name)) {
        throw new CesyncError('SCHEMA_MISMATCH', `primary key column ${k.name} of ${where} is ${k.type.sql}; key columns may be integers, uuid, text, varchar, citext, date or boolean`);
      }
    }
    const lead = this.keys[0]!;
    if (INTEGER_BITS[lead.type.name] !== undefined) this.positions = 'integer';
    else if (lead.type.name === 'uuid') this.positions = 'uuid';
    else {
      throw new CesyncError(
        'SCHEMA_MISMATCH',
        `the first primary key column of ${where}, ${lead.name}, is ${lead.type.sql}; cesync splits a PostgreSQL table by it and needs an integer (smallint, integer, bigint) or a uuid there`,
      );
    }
    this.exact = this.positions === 'integer' && this.keys.length === 1;
    this.keyList = this.keys.map((k) => quoteIdent(k.name)).join(', ');

    const version = checkPgVersionColumn(schema, options.version.column, 'version column');
    this.versionKind = version.kind;
    const micros = (c: PgColumn, kind: VersionKind) => {
      const q = quoteIdent(c.name);
      // A timestamp of ±infinity has no microseconds: the row is versioned as one without a version.
      return kind === 'timestamp' ? `(CASE WHEN isfinite(${q}) THEN ${epochMicros(q)} END)` : `${q}::int8`;
    };
    const versionSelector = `${micros(version.column, version.kind)} AS ${VERSION_ALIAS}`;
    if (options.changeColumn !== undefined) {
      this.change = checkPgVersionColumn(schema, options.changeColumn, 'changeColumn');
      // The watermark is in microseconds (now minus the safety lag): a counter would pass it once and be behind it for ever.
      if (this.change.kind === 'integer' && this.change.column.type.name !== 'int8') {
        throw new CesyncError('SCHEMA_MISMATCH', `changeColumn ${this.change.column.name} of ${where} is ${this.change.column.type.sql}; a change column is a timestamp, or a bigint of microseconds since the epoch`);
      }
    }
    else if (version.kind === 'timestamp') this.change = version;
    // The change column itself too (as `cesync__cc`), for the keyset of the next page.
    const changeSelector = this.change ? `${micros(this.change.column, this.change.kind)} AS ${CHANGE_ALIAS}, ${quoteIdent(this.change.column.name)} AS cesync__cc` : undefined;

    this.selectRows = `SELECT ${[...schema.columns.map((c) => quoteIdent(c.name)), versionSelector].join(', ')} FROM ${this.table}`;
    this.selectVersions = `SELECT ${[this.keyList, versionSelector].join(', ')} FROM ${this.table}`;
    this.selectChanges = changeSelector ? `SELECT ${[this.keyList, changeSelector].join(', ')} FROM ${this.table}` : undefined;

    const converters = schema.columns.map((c) => [c.name, c.field, pgConverter(c.type)] as const);
    this.keyConverters = this.keys.map((k) => pgConverter(k.type));
    const keyFields = this.keys.map((k) => k.field);
    this.idOf = compileDocumentId(keyFields, options.id);
    const idOfRow = (row: Record<string, unknown>) => {
      const doc: Record<string, unknown> = {};
      for (let i = 0; i < this.keys.length; i++) doc[keyFields[i]!] = this.keyConverters[i]!(row[this.keys[i]!.name]);
      return this.idOf(doc);
    };
    const versionOf = (row: Record<string, unknown>) => {
      const v = row[VERSION_ALIAS];
      return v === null || v === undefined ? CONSTANT_VERSION : Math.max(0, Number(v));
    };
    this.toEntry = (row) => ({ id: idOfRow(row), version: versionOf(row) });
    this.toRecord = (row) => {
      const document: Record<string, unknown> = {};
      for (const [name, field, conv] of converters) document[field] = conv(row[name]);
      return { id: this.idOf(document), version: versionOf(row), document, meta: { token: JSON.rawJSON(this.positionOf(row).toString()) } };
    };
  }

  /**
   * Reads where the table's key values lie (the planner's histogram of the leading key column,
   * else its lowest and highest value), to split it into spans of similar size. Called before spans().
   */
  async load(): Promise<void> {
    const lead = this.keys[0]!;
    const cuts: bigint[] = [];
    try {
      const stats = await this.pool.query<{ bounds: string | null }>('SELECT histogram_bounds::text AS bounds FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3', [
        this.schema.schema,
        this.schema.table,
        lead.name,
      ]);
      const bounds = parseBounds(stats.rows[0]?.bounds).map((b) => this.positionOfText(b));
      // The first and last key by the primary key index, not min() and max(): those are not
      // defined for every key type (PostgreSQL 15 has none for uuid).
      const k = quoteIdent(lead.name);
      const range = await this.pool.query<{ lo: string | null; hi: string | null }>(
        `SELECT (SELECT ${k}::text FROM ${this.table} ORDER BY ${k} LIMIT 1) AS lo, (SELECT ${k}::text FROM ${this.table} ORDER BY ${k} DESC LIMIT 1) AS hi`,
      );
      const lo = range.rows[0]?.lo;
      const hi = range.rows[0]?.hi;
      if (lo !== null && lo !== undefined && hi !== null && hi !== undefined) {
        const [a, b] = [this.positionOfText(lo), this.positionOfText(hi)];
        this.lastPosition = b;
        const n = BigInt(Math.max(1, this.options.splits));
        if (bounds.length >= 3 && this.options.splits > 1) {
          // Equal-frequency bounds: every k-th of them.
          for (let i = 1n; i < n; i++) cuts.push(bounds[Number((i * BigInt(bounds.length - 1)) / n)]!);
        } else {
          for (let i = 1n; i < n; i++) cuts.push(a - 1n + ((b - a + 1n) * i) / n);
        }
      }
    } catch (cause) {
      throw postgresError(cause, this.options.where);
    }
    this.cuts = [...new Set(cuts.map(String))].map(BigInt).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  }

  spans(): SourceSpan[] {
    const points = [MIN_POSITION, ...this.cuts.filter((c) => c > MIN_POSITION && c < MAX_POSITION)];
    return points.map((start, i) => ({ start: start.toString(), end: i + 1 < points.length ? points[i + 1]!.toString() : null }));
  }

  async estimateCount(): Promise<number | undefined> {
    try {
      const rs = await this.pool.query<{ n: string }>('SELECT reltuples::int8::text AS n FROM pg_class WHERE oid = $1::regclass', [this.table]);
      const n = Number(rs.rows[0]?.n ?? -1);
      return n > 0 ? n : undefined;
    } catch {
      return undefined; // estimates are a nicety; never fail a sync over them
    }
  }

  fractionDone(): number {
    return this.widthTotal > 0n ? Number((this.widthDone * 1_000_000n) / this.widthTotal) / 1_000_000 : 0;
  }

  scan(spans: readonly SpanProgress[], options: { signal?: AbortSignal }): AsyncIterable<SourceBatch> {
    this.widthTotal = spans.reduce((sum, s) => sum + this.spanWidth(s), 0n);
    this.widthDone = spans.filter((s) => s.done).reduce((sum, s) => sum + this.spanWidth(s), 0n);
    const todo = spans.map((s, i) => [s, i] as const).filter(([s]) => !s.done);
    return mergeConcurrent(
      todo.map(([s, i]) => () => this.scanSpan(s, i, options.signal)),
      this.options.rangesInFlight,
    );
  }

  private async *scanSpan(span: SpanProgress, index: number, signal?: AbortSignal): AsyncGenerator<SourceBatch> {
    const from = BigInt(span.after ?? span.start);
    for await (const { rows, last } of this.pages(this.selectRows, { ...span, start: from.toString() }, signal)) {
      if (last) this.widthDone += this.spanWidth(span);
      let after = from;
      if (rows.length > 0) {
        const p = this.positionOf(rows[rows.length - 1]!);
        after = this.exact ? p : p - 1n;
        if (after < from) after = from;
      }
      if (rows.length > 0 || last) yield { records: rows.map(this.toRecord), position: { span: index, after: after.toString(), last } };
    }
  }

  scanVersions(spans: readonly SourceSpan[], options: { signal?: AbortSignal }): AsyncIterable<VersionBatch> {
    return mergeConcurrent(
      spans.map((s, i) => () => this.versionsOfSpan(s, i, options.signal)),
      this.options.rangesInFlight,
    );
  }

  private async *versionsOfSpan(span: SourceSpan, index: number, signal?: AbortSignal): AsyncGenerator<VersionBatch> {
    for await (const { rows } of this.pages(this.selectVersions, span, signal)) yield { span: index, entries: rows.map(this.toEntry) };
  }

  /**
   * The rows of one span in key order, page by page: the first page by position, the next ones
   * after the last key read (a row value comparison, which the primary key index serves).
   */
  private async *pages(select: string, span: SourceSpan, signal?: AbortSignal): AsyncGenerator<{ rows: Record<string, unknown>[]; last: boolean }> {
    const lead = quoteIdent(this.keys[0]!.name);
    const leadType = this.keys[0]!.type.sql;
    const bound = (p: string) => (this.positions === 'integer' ? p : uuidAtPosition(BigInt(p)));
    const upper = span.end === null ? [] : [bound(span.end)];
    let cursor: unknown[] | undefined;
    for (;;) {
      throwIfInterrupted(signal, `the read of ${this.schema.schema}.${this.schema.table}`);
      const params: unknown[] = [];
      const conds: string[] = [];
      if (cursor === undefined) {
        params.push(bound(span.start));
        // The lowest position is the start of the space: its rows belong to the first span.
        conds.push(BigInt(span.start) === MIN_POSITION ? 'true' : `${lead} > $1::${leadType}`);
        if (BigInt(span.start) === MIN_POSITION) params.pop();
      } else {
        params.push(...cursor);
        conds.push(`(${this.keyList}) > (${this.keys.map((k, i) => `$${i + 1}::${k.type.sql}`).join(', ')})`);
      }
      if (upper.length > 0) {
        params.push(upper[0]);
        conds.push(`${lead} <= $${params.length}::${leadType}`);
      }
      params.push(this.options.pageSize);
      if (this.options.filter) conds.push(`(${this.options.filter}\n)`);
      const sql = `${select} WHERE ${conds.join(' AND ')} ORDER BY ${this.keyList} LIMIT $${params.length}`;
      const rows = await this.query(sql, params);
      const last = rows.length < this.options.pageSize;
      yield { rows, last };
      if (last) return;
      const tail = rows[rows.length - 1]!;
      cursor = this.keys.map((k) => tail[k.name]);
    }
  }

  private async query(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(sql, params as unknown[])).rows as Record<string, unknown>[];
    } catch (cause) {
      throw postgresError(cause, this.options.where);
    }
  }

  changed(from: Watermark, to: number, options: { signal?: AbortSignal }): { readonly method: 'change-column'; readonly entries: AsyncIterable<readonly VersionEntry[]> } {
    const change = this.change;
    if (!change || !this.selectChanges) {
      throw new CesyncError(
        'SCHEMA_MISMATCH',
        `incremental syncs of ${this.schema.schema}.${this.schema.table} find changed rows by a timestamp column, and its version column ${this.options.version.column} is an integer: give changeColumn (a timestamp every writer sets, e.g. last_modified), or pending (a flag column or a queue table)`,
      );
    }
    return { method: 'change-column', entries: this.changedByColumn(change, from, to, options.signal) };
  }

  /** Rows whose change column is in [from, to], in (change, key) order, page by page. */
  private async *changedByColumn(change: { readonly column: PgColumn; readonly kind: VersionKind }, from: Watermark, to: number, signal?: AbortSignal): AsyncGenerator<VersionEntry[]> {
    const col = quoteIdent(change.column.name);
    // Bounds in the column's own type, so an index on it serves the query: exact microseconds.
    const at = (n: number) => (change.kind === 'timestamp' ? `('epoch'::${change.column.type.name} + $${n}::int8 * interval '1 microsecond')` : `$${n}::int8`);
    let cursor: unknown[] | undefined;
    const entryOf = (row: Record<string, unknown>): VersionEntry => ({ ...this.toEntry({ ...row, [VERSION_ALIAS]: row[CHANGE_ALIAS] }) });
    for (;;) {
      throwIfInterrupted(signal, `the listing of changes of ${this.schema.schema}.${this.schema.table}`);
      const params: unknown[] = [Math.floor(from.version), Math.floor(to)];
      let cond = `${col} >= ${at(1)} AND ${col} <= ${at(2)}`;
      if (cursor) {
        params.push(...cursor);
        const tuple = [`${col}`, ...this.keys.map((k) => quoteIdent(k.name))].join(', ');
        const values = [change.column.type.sql, ...this.keys.map((k) => k.type.sql)].map((t, i) => `$${i + 3}::${t}`).join(', ');
        cond += ` AND (${tuple}) > (${values})`;
      }
      if (this.options.filter) cond += ` AND (${this.options.filter}\n)`;
      params.push(this.options.pageSize);
      const rows = await this.query(`${this.selectChanges!} WHERE ${cond} ORDER BY ${col}, ${this.keyList} LIMIT $${params.length}`, params);
      yield rows.map(entryOf);
      if (rows.length < this.options.pageSize) return;
      const tail = rows[rows.length - 1]!;
      cursor = [tail['cesync__cc'], ...this.keys.map((k) => tail[k.name])];
    }
  }

  /**
   * The start of the oldest transaction open in this database, in microseconds, or undefined when
   * none (that this role can see in pg_stat_activity). A row that such a transaction commits
   * later carries a version at or after its start (set by now(), clock_timestamp() or a trigger),
   * so an incremental window that ends before it skips nothing that commits late. Every open
   * transaction counts, not only those that have written already: one that reads first and writes
   * later has its start, and its now(), from before its first write. Seeing other roles'
   * transactions takes pg_read_all_stats (docs/postgres.md).
   */
  async openWritesSince(): Promise<number | undefined> {
    const rs = await this.query(
      `SELECT (${epochMicros('min(xact_start)')})::text AS since
         FROM pg_stat_activity
        WHERE xact_start IS NOT NULL AND datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      [],
    );
    const since = rs[0]?.['since'];
    return typeof since === 'string' ? Number(since) : undefined;
  }

  /** Creates a btree index on the change column (only when asked: it costs writes), so incremental listings need no scan. */
  async createChangeIndex(): Promise<string> {
    if (!this.change) throw new CesyncError('USAGE', 'the pipeline has no timestamp change column to index');
    const name = `${this.schema.table}_${this.change.column.name}_cesync_idx`.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 63);
    // CONCURRENTLY: the table takes writes while the index is built; on a connection of its own,
    // without the statement timeout (a large table takes longer than one query may).
    const client = await this.pool.connect().catch((cause: unknown) => {
      throw postgresError(cause, this.options.where);
    });
    client.on('error', () => undefined); // a connection ended meanwhile is reported by the query
    let failed: Error | undefined;
    try {
      await client.query('SET statement_timeout = 0');
      // Nor pg's own timeout of a query's answer (0 would mean its default).
      const build = { text: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${this.table} (${quoteIdent(this.change.column.name)})`, query_timeout: 2_147_483_647 };
      await client.query(build as pg.QueryConfig); // query_timeout: honoured by pg, missing from its types
      const valid = await client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [`${quoteIdent(this.schema.schema)}.${quoteIdent(name)}`]);
      if (valid.rows[0]?.indisvalid === false) {
        throw new CesyncError('STORE_REQUEST', `index ${name} exists but is invalid (an interrupted build): DROP INDEX ${quoteIdent(this.schema.schema)}.${quoteIdent(name)}, then run --create-index again`);
      }
    } catch (cause) {
      failed = cause as Error;
      throw postgresError(cause, this.options.where);
    } finally {
      // A connection that failed is closed, not returned to the pool with its session changed.
      if (!failed) await client.query('RESET statement_timeout').catch((e: Error) => (failed = e));
      client.release(failed);
    }
    return name;
  }

  keyColumns(): readonly string[] {
    return this.schema.keyColumns;
  }

  parseKey(parts: readonly string[]): ParsedKey | { error: string } {
    const values: unknown[] = [];
    const doc: Record<string, unknown> = {};
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i]!;
      const parsed = parseKeyText(k, parts[i] ?? '');
      if ('error' in parsed) return { error: `${k.name}: ${parsed.error}` };
      values.push(parsed.value);
      doc[k.field] = this.keyConverters[i]!(parsed.value);
    }
    return { id: this.idOf(doc), values };
  }

  idParts(id: string): string[] {
    if (this.keys.length === 1) return [id];
    if (this.options.id.format === 'json') return splitJsonId(id) ?? [id];
    return splitDelimitedId(id, this.options.id.separator);
  }

  async *read(keys: readonly ParsedKey[], options: { signal?: AbortSignal }): AsyncGenerator<SourceBatch> {
    const chunk = Math.max(1, this.options.keysPerRead ?? 500);
    const arrays = this.keys.map((k, i) => `$${i + 1}::${k.type.sql}[]`).join(', ');
    const filter = this.options.filter ? ` AND (${this.options.filter}\n)` : '';
    const sql =
      this.keys.length === 1
        ? `${this.selectRows} WHERE ${this.keyList} = ANY(${arrays})${filter}`
        : `${this.selectRows} WHERE (${this.keyList}) IN (SELECT * FROM unnest(${arrays}))${filter}`;
    for (let i = 0; i < keys.length; i += chunk) {
      throwIfInterrupted(options.signal, `the read of ${keys.length} keys of ${this.schema.schema}.${this.schema.table}`);
      const part = keys.slice(i, i + chunk);
      const rows = await this.query(sql, this.keys.map((_k, j) => part.map((p) => p.values[j])));
      if (rows.length > 0) yield { records: rows.map(this.toRecord) };
    }
  }

  /** A row's position, from its leading key column. */
  private positionOf(row: Record<string, unknown>): bigint {
    return this.positionOfText(String(row[this.keys[0]!.name]));
  }

  private positionOfText(text: string): bigint {
    return this.positions === 'integer' ? BigInt(text) : uuidPosition(text);
  }

  private spanWidth(s: SourceSpan): bigint {
    const start = BigInt(s.start);
    const end = s.end === null ? (this.lastPosition > start ? this.lastPosition : start + 1n) : BigInt(s.end);
    return end > start ? end - start : 0n;
  }
}

/**
 * Microseconds since the epoch of a timestamp expression, exactly: whole seconds and the
 * microseconds apart (before PostgreSQL 14, extract() returns a double, whose epoch
 * microseconds can be one off).
 */
function epochMicros(expr: string): string {
  return `(extract(epoch from date_trunc('second', ${expr}))::int8 * 1000000 + extract(microseconds from ${expr})::int8 % 1000000)`;
}

/** A uuid's position: its first 8 bytes as an unsigned number, minus 2^63. */
export function uuidPosition(uuid: string): bigint {
  const hex = uuid.replaceAll('-', '').slice(0, 16);
  return BigInt(`0x${hex}`) + MIN_POSITION;
}

/** The greatest uuid at a position (its first 8 bytes, then all ones): `uuid <= this` is `position <= p`. */
export function uuidAtPosition(p: bigint): string {
  const hex = (p - MIN_POSITION).toString(16).padStart(16, '0') + 'ffffffffffffffff';
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The texts of a histogram_bounds array literal ({1,5,9}). */
function parseBounds(text: string | null | undefined): string[] {
  if (!text || text.length < 2) return [];
  return text
    .slice(1, -1)
    .split(',')
    .map((s) => s.replace(/^"|"$/g, ''))
    .filter((s) => s.length > 0);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A key column's value from its text (as ids and CSV files give it), or why it cannot be one. */
function parseKeyText(k: PgColumn, text: string): { value: unknown } | { error: string } {
  const bits = INTEGER_BITS[k.type.name];
  if (bits !== undefined) {
    if (!/^-?\d+$/.test(text.trim())) return { error: `"${text}" is not an integer` };
    const n = BigInt(text.trim());
    const max = 2n ** BigInt(bits - 1);
    if (n < -max || n >= max) return { error: `${text} is out of range for ${k.type.sql}` };
    return { value: n.toString() };
  }
  switch (k.type.name) {
    case 'uuid':
      return UUID.test(text.trim()) ? { value: text.trim().toLowerCase() } : { error: `"${text}" is not a uuid` };
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) ? { value: text } : { error: `"${text}" is not a date (YYYY-MM-DD)` };
    case 'bool':
      return text === 'true' || text === 'false' ? { value: text === 'true' } : { error: `"${text}" is not true or false` };
    default:
      return text.includes('\u0000') ? { error: 'a text key cannot hold a NUL character' } : { value: text };
  }
}
