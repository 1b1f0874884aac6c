/**
 * A Cassandra table as a RecordSource: a token-range scan in parallel, or reads of given keys,
 * converting each row to a document with its id and version.
 *
 * Spans are start-exclusive, end-inclusive (as the driver's TokenRange); `end: null` is the end
 * of the ring. The ring is split into at least `splits` spans; `rangesInFlight` of them are read
 * at once, each page by page (`pageSize` rows, explicit paging state), so memory holds at most
 * `rangesInFlight` pages.
 */
import cassandra from 'cassandra-driver';
import type { ParsedKey, RecordSource, SpanProgress, SourceSpan, VersionBatch, VersionEntry, Watermark } from '../engine/ports.js';
import { CesyncError } from '../errors.js';
import { throwIfInterrupted } from '../engine/interrupt.js';
import type { SourceBatch, SourceRecord } from '../engine/record.js';
import { mergeConcurrent } from '../streams/merge-concurrent.js';
import { cassandraError, type CassandraClient } from './client.js';
import { compileDocumentId, splitDelimitedId, splitJsonId, type IdFormat } from '../engine/document-id.js';
import { T } from './cql-type.js';
import { parseKeyValue } from './key-parser.js';
import { checkVersionColumn, quoteIdentifier, writetimeSelector, type ColumnSchema, type TableSchema, type VersionSource } from './table-schema.js';
import { compileConverter } from './value-converter.js';

export interface TableSourceOptions {
  readonly pageSize: number;
  readonly splits: number;
  readonly rangesInFlight: number;
  readonly version: VersionSource;
  readonly id: IdFormat;
  /** Shown in errors: where Cassandra is. */
  readonly where: string;
  /** Key reads in flight for `read` (targeted sync). */
  readonly keyReadsInFlight?: number;
  /**
   * Consistency of key reads (`read`): they decide deletes (an id without a row) and confirm
   * writes, so they want a quorum where scans may read one replica. Default: the client's.
   */
  readonly keyReadConsistency?: number;
  /**
   * A timestamp (or bigint of microseconds) column every writer sets: incremental syncs find
   * changed rows with a range query on it, through a Storage-Attached Index. Without one they
   * scan keys and write times of the whole table.
   */
  readonly changeColumn?: string;
}

/**
 * Version of a row whose cells carry no write time: counter tables, key-only tables, rows whose
 * regular cells are all null. Such rows are compared by content digest (see write-plan.ts).
 */
export const CONSTANT_VERSION = 1;

const TOKEN_ALIAS = 'cesync__token';
const wtAlias = (i: number) => `cesync__wt${i}`;
const RING_END = 2n ** 63n - 1n;

export class CassandraTableSource implements RecordSource {
  readonly schema: TableSchema;
  private readonly client: CassandraClient;
  private readonly options: TableSourceOptions;
  private readonly selectSpan: string;
  private readonly selectToEnd: string;
  private readonly selectKey: string;
  private readonly selectVersionsSpan: string;
  private readonly selectVersionsToEnd: string;
  private readonly toVersionEntry: (row: cassandra.types.Row) => VersionEntry;
  private readonly change: { readonly column: ColumnSchema; readonly select: string; readonly toEntry: (row: cassandra.types.Row) => VersionEntry } | undefined;
  private readonly toRecord: (row: cassandra.types.Row) => SourceRecord;
  private readonly idOf: (doc: Readonly<Record<string, unknown>>) => string;
  private readonly keyConverters: readonly ((v: unknown) => unknown)[];
  /** Progress of the current scan: token widths of all spans and of the finished ones. */
  private widthTotal = 0n;
  private widthDone = 0n;

  constructor(client: CassandraClient, schema: TableSchema, options: TableSourceOptions) {
    this.client = client;
    this.schema = schema;
    this.options = options;
    const pk = schema.partitionKeys.map(quoteIdentifier).join(', ');
    const versionColumn = typeof options.version === 'object' ? checkVersionColumn(schema, options.version.column) : undefined;
    const wtColumns = versionColumn ? [] : schema.writetimeColumns;
    const selectors = [
      `token(${pk}) AS ${TOKEN_ALIAS}`,
      ...schema.columns.map((c) => quoteIdentifier(c.name)),
      ...wtColumns.map((c, i) => `${writetimeSelector(c)} AS ${wtAlias(i)}`),
    ].join(', ');
    const from = `FROM ${quoteIdentifier(schema.keyspace)}.${quoteIdentifier(schema.table)}`;
    this.selectSpan = `SELECT ${selectors} ${from} WHERE token(${pk}) > ? AND token(${pk}) <= ?`;
    this.selectToEnd = `SELECT ${selectors} ${from} WHERE token(${pk}) > ?`;
    this.selectKey = `SELECT ${selectors} ${from} WHERE ${schema.keyColumns.map((k) => `${quoteIdentifier(k)} = ?`).join(' AND ')}`;
    // Keys and write times only: what verify compares, without reading the other columns' values.
    const versionSelectors = [
      `token(${pk}) AS ${TOKEN_ALIAS}`,
      ...schema.keyColumns.map(quoteIdentifier),
      ...(versionColumn ? [quoteIdentifier(versionColumn.name)] : wtColumns.map((c, i) => `${writetimeSelector(c)} AS ${wtAlias(i)}`)),
    ].join(', ');
    this.selectVersionsSpan = `SELECT ${versionSelectors} ${from} WHERE token(${pk}) > ? AND token(${pk}) <= ?`;
    this.selectVersionsToEnd = `SELECT ${versionSelectors} ${from} WHERE token(${pk}) > ?`;

    // Documents use field names (see mapFields); ids are made from the key columns' fields.
    const converters = schema.columns.map((c) => [c.name, c.field, compileConverter(c.type)] as const);
    const keyColumns = schema.keyColumns.map((k) => schema.columns.find((c) => c.name === k)!);
    this.keyConverters = keyColumns.map((c) => compileConverter(c.type));
    const keyFields = keyColumns.map((c) => c.field);
    this.idOf = compileDocumentId(keyFields, options.id);
    const wtNames = wtColumns.map((_c, i) => wtAlias(i));
    const versionOf = versionColumn ? versionFromColumn(versionColumn.name, versionColumn.type.code) : versionFromWritetimes(wtNames);

    const keyNames = schema.keyColumns;
    const idOfRow = (row: cassandra.types.Row) => {
      const keyDoc: Record<string, unknown> = {};
      for (let i = 0; i < keyNames.length; i++) keyDoc[keyFields[i]!] = this.keyConverters[i]!(row[keyNames[i]!]);
      return this.idOf(keyDoc);
    };
    this.toVersionEntry = (row) => ({ id: idOfRow(row), version: versionOf(row) });
    if (options.changeColumn) {
      const column = checkVersionColumn(schema, options.changeColumn);
      const changeVersion = versionFromColumn(column.name, column.type.code);
      this.change = {
        column,
        select: `SELECT ${[...schema.keyColumns, column.name].map(quoteIdentifier).join(', ')} ${from} WHERE ${quoteIdentifier(column.name)} >= ? AND ${quoteIdentifier(column.name)} <= ?`,
        toEntry: (row) => ({ id: idOfRow(row), version: changeVersion(row) }),
      };
    }

    this.toRecord = (row) => {
      const document: Record<string, unknown> = {};
      for (const [name, field, conv] of converters) document[field] = conv(row[name]);
      return {
        id: this.idOf(document),
        version: versionOf(row),
        document,
        meta: { token: JSON.rawJSON(String(row[TOKEN_ALIAS])) },
      };
    };
  }

  async estimateCount(): Promise<number | undefined> {
    try {
      const rs = await this.client.execute(
        'SELECT partitions_count FROM system.size_estimates WHERE keyspace_name = ? AND table_name = ?',
        [this.schema.keyspace, this.schema.table],
      );
      const n = rs.rows.reduce((sum, r) => sum + Number(r['partitions_count'] ?? 0), 0);
      return n > 0 ? n : undefined;
    } catch {
      return undefined; // estimates are a nicety; never fail a sync over them
    }
  }

  fractionDone(): number {
    return this.widthTotal > 0n ? Number((this.widthDone * 1_000_000n) / this.widthTotal) / 1_000_000 : 0;
  }

  spans(): SourceSpan[] {
    const ring = [...this.client.metadata.getTokenRanges()];
    const perRange = Math.max(1, Math.ceil(this.options.splits / Math.max(1, ring.length)));
    const spans = ring
      .flatMap((r) => r.splitEvenly(perRange))
      .flatMap((r) => r.unwrap())
      .map((r) => ({ start: String(r.start.getValue()), end: isMinToken(r, r.end) ? null : String(r.end.getValue()) }));
    return spans.sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1));
  }

  scan(spans: readonly SpanProgress[], options: { signal?: AbortSignal }): AsyncIterable<SourceBatch> {
    this.widthTotal = spans.reduce((sum, s) => sum + spanWidth(s), 0n);
    this.widthDone = spans.filter((s) => s.done).reduce((sum, s) => sum + spanWidth(s), 0n);
    const todo = spans.map((s, i) => [s, i] as const).filter(([s]) => !s.done);
    return mergeConcurrent(
      todo.map(([s, i]) => () => this.scanSpan(s, i, options.signal)),
      this.options.rangesInFlight,
    );
  }

  private async *scanSpan(span: SpanProgress, index: number, signal?: AbortSignal): AsyncGenerator<SourceBatch> {
    const from = span.after ?? span.start;
    for await (const { rows, last } of this.pages(span, from, this.selectSpan, this.selectToEnd, signal)) {
      // Resume point: just before the last row's token, so a partition that continues on the next
      // page is read again whole (writes are idempotent) rather than cut.
      const lastToken = rows.length > 0 ? BigInt(String(rows[rows.length - 1]![TOKEN_ALIAS])) - 1n : undefined;
      if (last) this.widthDone += spanWidth(span);
      if (rows.length > 0 || last) {
        yield {
          records: rows.map(this.toRecord),
          position: { span: index, after: lastToken !== undefined ? maxToken(lastToken, from) : from, last },
        };
      }
    }
  }

  scanVersions(spans: readonly SourceSpan[], options: { signal?: AbortSignal }): AsyncIterable<VersionBatch> {
    return mergeConcurrent(
      spans.map((s, i) => () => this.versionsOfSpan(s, i, options.signal)),
      this.options.rangesInFlight,
    );
  }

  private async *versionsOfSpan(span: SourceSpan, index: number, signal?: AbortSignal): AsyncGenerator<VersionBatch> {
    for await (const { rows } of this.pages(span, span.start, this.selectVersionsSpan, this.selectVersionsToEnd, signal)) {
      yield { span: index, entries: rows.map(this.toVersionEntry) };
    }
  }

  changed(from: Watermark, to: number, options: { signal?: AbortSignal }) {
    const change = this.change;
    if (!change) {
      // No change column: every row's key and write time, filtered by the caller.
      const spans = this.spans();
      return { method: 'scan' as const, entries: mapAsync(this.scanVersions(spans, options), (b) => b.entries) };
    }
    return { method: 'change-column' as const, entries: this.changedByColumn(change, from, to, options.signal) };
  }

  private async *changedByColumn(change: NonNullable<CassandraTableSource['change']>, from: Watermark, to: number, signal?: AbortSignal) {
    const bound = (micros: number) => (change.column.type.code === T.timestamp ? new Date(Math.floor(micros / 1000)) : cassandra.types.Long.fromNumber(micros));
    try {
      for await (const { rows } of this.query(change.select, [bound(from.version), bound(to)], signal)) yield rows.map(change.toEntry);
    } catch (e) {
      if (e instanceof CesyncError && /ALLOW FILTERING|index/i.test(e.message)) {
        throw new CesyncError(
          'SCHEMA_MISMATCH',
          `change column ${change.column.name} of ${this.schema.keyspace}.${this.schema.table} has no Storage-Attached Index; create it with --create-index (or drop changeColumn to scan instead)`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** Creates the Storage-Attached Index on the change column (only when asked: it costs writes). */
  async createChangeIndex(): Promise<string> {
    if (!this.change) throw new CesyncError('USAGE', 'the pipeline has no changeColumn to index');
    const name = `${this.schema.table}_${this.change.column.name}_cesync_idx`.replace(/[^A-Za-z0-9_]/g, '_');
    const cql = `CREATE CUSTOM INDEX IF NOT EXISTS ${quoteIdentifier(name)} ON ${quoteIdentifier(this.schema.keyspace)}.${quoteIdentifier(this.schema.table)} (${quoteIdentifier(this.change.column.name)}) USING 'StorageAttachedIndex'`;
    try {
      await this.client.execute(cql);
      // The index answers queries only once built: wait for it (system_views.sai_column_indexes).
      const deadline = Date.now() + 120_000;
      for (;;) {
        const rs = await this.client.execute(
          'SELECT is_queryable FROM system_views.sai_column_indexes WHERE keyspace_name = ? AND index_name = ?',
          [this.schema.keyspace, name],
        );
        if (rs.first()?.['is_queryable'] === true) break;
        if (Date.now() > deadline) throw new CesyncError('STORE_UNAVAILABLE', `index ${name} is still building after 120 s; try again later`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } catch (cause) {
      throw cause instanceof CesyncError ? cause : cassandraError(cause, this.options.where);
    }
    return name;
  }

  /** The pages of one span, from the exclusive token `from`. */
  private pages(span: SourceSpan, from: string, bounded: string, toEnd: string, signal?: AbortSignal) {
    return span.end === null ? this.query(toEnd, [long(from)], signal) : this.query(bounded, [long(from), long(span.end)], signal);
  }

  /** The pages of a query, `pageSize` rows each. */
  private async *query(query: string, params: unknown[], signal?: AbortSignal) {
    let pageState: string | undefined;
    do {
      throwIfInterrupted(signal, `the read of ${this.schema.keyspace}.${this.schema.table}`);
      let rs: cassandra.types.ResultSet;
      try {
        rs = await this.client.execute(query, params, { prepare: true, fetchSize: this.options.pageSize, pageState });
      } catch (cause) {
        throw cassandraError(cause, this.options.where);
      }
      pageState = rs.pageState ?? undefined;
      yield { rows: rs.rows, last: !pageState };
    } while (pageState);
  }

  keyColumns(): readonly string[] {
    return this.schema.keyColumns;
  }

  /** The select of whole rows by equality on `columns` (see matchingRows). */
  selectWhere(columns: readonly string[]): string {
    return this.selectKey.replace(/ WHERE .*$/, ` WHERE ${columns.map((k) => `${quoteIdentifier(k)} = ?`).join(' AND ')}`);
  }

  /** The rows a select of whole rows (selectWhere) gives for these values, page by page: at most `max`. */
  async readWhere(select: string, values: readonly unknown[], consistency: number | undefined, signal?: AbortSignal, max = Infinity): Promise<SourceRecord[]> {
    const out: SourceRecord[] = [];
    let pageState: string | undefined;
    do {
      throwIfInterrupted(signal, `the read of ${this.schema.keyspace}.${this.schema.table}`);
      let rs: cassandra.types.ResultSet;
      try {
        rs = await this.client.execute(select, [...values], { prepare: true, fetchSize: this.options.pageSize, pageState, consistency });
      } catch (cause) {
        throw cassandraError(cause, this.options.where);
      }
      for (const row of rs.rows) out.push(this.toRecord(row));
      pageState = rs.pageState ?? undefined;
    } while (pageState && out.length < max);
    return out.slice(0, max);
  }

  parseKey(parts: readonly string[]): ParsedKey | { error: string } {
    const values: unknown[] = [];
    const doc: Record<string, unknown> = {};
    for (let i = 0; i < this.schema.keyColumns.length; i++) {
      const name = this.schema.keyColumns[i]!;
      const col = this.schema.columns.find((c) => c.name === name)!;
      const parsed = parseKeyValue(col.type, parts[i] ?? '');
      if (!parsed.ok) return { error: `${name}: ${parsed.error}` };
      values.push(parsed.value);
      doc[col.field] = this.keyConverters[i]!(parsed.value);
    }
    return { id: this.idOf(doc), values };
  }

  idParts(id: string): string[] {
    if (this.schema.keyColumns.length === 1) return [id];
    // Not a JSON array: the id as the one part, which the caller reports as malformed.
    if (this.options.id.format === 'json') return splitJsonId(id) ?? [id];
    return splitDelimitedId(id, this.options.id.separator);
  }

  async *read(keys: readonly ParsedKey[], options: { signal?: AbortSignal }): AsyncGenerator<SourceBatch> {
    const chunk = Math.max(1, this.options.keyReadsInFlight ?? 64);
    for (let i = 0; i < keys.length; i += chunk) {
      throwIfInterrupted(options.signal, `the read of ${keys.length} keys of ${this.schema.keyspace}.${this.schema.table}`);
      let results: cassandra.types.ResultSet[];
      try {
        results = await Promise.all(
          keys.slice(i, i + chunk).map((k) => this.client.execute(this.selectKey, [...k.values], { prepare: true, consistency: this.options.keyReadConsistency })),
        );
      } catch (cause) {
        throw cassandraError(cause, this.options.where);
      }
      const records = results.flatMap((rs) => rs.rows.map(this.toRecord));
      if (records.length > 0) yield { records };
    }
  }
}

/**
 * The rows of `source`'s table whose leading key columns `columns` (its partition key, possibly
 * followed by clustering columns, in key order) hold each tuple of key texts: one partition query
 * per tuple, `keyReadsInFlight` at a time, each page by page. Throws SCHEMA_MISMATCH when the
 * columns are not such a prefix of the key (a query by them would need a scan).
 */
export function matchingRows(source: CassandraTableSource, columns: readonly string[], options: { readonly where: string; readonly consistency?: number; readonly inFlight?: number }) {
  const schema = source.schema;
  const table = `${schema.keyspace}.${schema.table}`;
  const prefix = schema.keyColumns.slice(0, columns.length);
  if (columns.length < schema.partitionKeys.length || prefix.some((c, i) => c !== columns[i])) {
    throw new CesyncError(
      'SCHEMA_MISMATCH',
      `${table} is matched by ${columns.join(', ')}, which must be its partition key (${schema.partitionKeys.join(', ')}), optionally followed by its clustering columns in order (primary key: ${schema.keyColumns.join(', ')})`,
    );
  }
  const types = columns.map((c) => schema.columns.find((x) => x.name === c)!.type);
  const select = source.selectWhere(columns);
  const inFlight = Math.max(1, options.inFlight ?? 64);
  return async (tuples: readonly (readonly string[])[], opts: { signal?: AbortSignal; limit?: number }): Promise<SourceRecord[][]> => {
    const out: SourceRecord[][] = [];
    for (let i = 0; i < tuples.length; i += inFlight) {
      throwIfInterrupted(opts.signal, `the read of ${table}`);
      const chunk = tuples.slice(i, i + inFlight);
      out.push(
        ...(await Promise.all(
          chunk.map(async (t) => {
            const values: unknown[] = [];
            for (let j = 0; j < types.length; j++) {
              const parsed = parseKeyValue(types[j]!, t[j] ?? '');
              if (!parsed.ok) return []; // a text no row's key can hold
              values.push(parsed.value);
            }
            return source.readWhere(select, values, options.consistency, opts.signal, opts.limit === undefined ? undefined : opts.limit + 1);
          }),
        )),
      );
    }
    return out;
  };
}

async function* mapAsync<A, B>(items: AsyncIterable<A>, f: (a: A) => B): AsyncGenerator<B> {
  for await (const a of items) yield f(a);
}

const long = (token: string) => cassandra.types.Long.fromString(token);
const maxToken = (a: bigint, b: string) => (a > BigInt(b) ? a.toString() : b);

/** Number of tokens in a span (start exclusive, end inclusive). */
function spanWidth(s: SourceSpan): bigint {
  const start = BigInt(s.start);
  const end = s.end === null ? RING_END : BigInt(s.end);
  return end > start ? end - start : 0n;
}

function isMinToken(range: cassandra.token.TokenRange, token: cassandra.token.Token): boolean {
  const tokenizer = (range as unknown as { _tokenizer: { minToken(): cassandra.token.Token } })._tokenizer;
  return token.equals(tokenizer.minToken());
}

/** Newest write time over the row's cells (microseconds); CONSTANT_VERSION when none has one. */
function versionFromWritetimes(aliases: readonly string[]): (row: cassandra.types.Row) => number {
  if (aliases.length === 0) return () => CONSTANT_VERSION;
  return (row) => {
    let max = CONSTANT_VERSION;
    for (const a of aliases) {
      const wt = row[a] as { toNumber(): number } | null;
      if (wt !== null && wt !== undefined) {
        const n = wt.toNumber();
        if (n > max) max = n;
      }
    }
    return max;
  };
}

/** A version column: a timestamp (milliseconds, scaled to microseconds) or an integer of microseconds. */
function versionFromColumn(name: string, code: number): (row: cassandra.types.Row) => number {
  return (row) => {
    const v = row[name] as Date | { toNumber(): number } | number | null;
    if (v === null || v === undefined) return CONSTANT_VERSION;
    if (code === T.timestamp) return (v as Date).getTime() * 1000;
    return typeof v === 'number' ? v : Number(v.toString());
  };
}
