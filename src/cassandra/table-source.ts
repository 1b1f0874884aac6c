/**
 * A Cassandra table as a RecordSource: a token-range scan, in parallel, converting each row to
 * a document with its id and version.
 *
 * Ranges are start-exclusive, end-inclusive (the driver's TokenRange). The ring is split into
 * at least `splits` ranges; `rangesInFlight` of them are read at once, each page by page
 * (`pageSize` rows, explicit paging state), so memory holds at most rangesInFlight pages.
 */
import cassandra from 'cassandra-driver';
import type { RecordSource } from '../engine/ports.js';
import type { SourceRecord } from '../engine/record.js';
import { mergeConcurrent } from '../streams/merge-concurrent.js';
import { cassandraError, type CassandraClient } from './client.js';
import { compileDocumentId, type IdFormat } from './document-id.js';
import { T } from './cql-type.js';
import { checkVersionColumn, quoteIdentifier, writetimeSelector, type TableSchema, type VersionSource } from './table-schema.js';
import { compileConverter } from './value-converter.js';

export interface TableSourceOptions {
  readonly pageSize: number;
  readonly splits: number;
  readonly rangesInFlight: number;
  readonly version: VersionSource;
  readonly id: IdFormat;
  /** Shown in errors: where Cassandra is. */
  readonly where: string;
}

/**
 * Version of a row whose cells carry no write time: counter tables, key-only tables, rows whose
 * regular cells are all null. Such rows are compared by content digest (see write-plan.ts).
 */
export const CONSTANT_VERSION = 1;

const TOKEN_ALIAS = 'cesync__token';
const wtAlias = (i: number) => `cesync__wt${i}`;

export class CassandraTableSource implements RecordSource {
  private readonly select: string;
  private readonly selectAll: string;
  private readonly toRecord: (row: cassandra.types.Row) => SourceRecord;
  private readonly client: CassandraClient;
  readonly schema: TableSchema;
  private readonly options: TableSourceOptions;
  /** Progress of the current scan: token widths of all ranges and of the finished ones. */
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
    ];
    const from = `FROM ${quoteIdentifier(schema.keyspace)}.${quoteIdentifier(schema.table)}`;
    this.select = `SELECT ${selectors.join(', ')} ${from} WHERE token(${pk}) > ? AND token(${pk}) <= ?`;
    this.selectAll = `SELECT ${selectors.join(', ')} ${from} WHERE token(${pk}) > ?`;

    const converters = schema.columns.map((c) => [c.name, compileConverter(c.type)] as const);
    const idOf = compileDocumentId(schema.keyColumns, options.id);
    const wtNames = wtColumns.map((_c, i) => wtAlias(i));
    const versionOf = versionColumn ? versionFromColumn(versionColumn.name, versionColumn.type.code) : versionFromWritetimes(wtNames);

    this.toRecord = (row) => {
      const document: Record<string, unknown> = {};
      for (const [name, conv] of converters) document[name] = conv(row[name]);
      return {
        id: idOf(document),
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

  scan(options: { signal?: AbortSignal }): AsyncIterable<readonly SourceRecord[]> {
    const ranges = this.tokenRanges();
    this.widthTotal = ranges.reduce((sum, r) => sum + rangeWidth(r), 0n);
    this.widthDone = 0n;
    return mergeConcurrent(
      ranges.map((r) => () => this.scanRange(r, options.signal)),
      this.options.rangesInFlight,
    );
  }

  /** The ring split into at least `splits` non-wrapping ranges. */
  private tokenRanges(): cassandra.token.TokenRange[] {
    const ring = [...this.client.metadata.getTokenRanges()];
    const perRange = Math.max(1, Math.ceil(this.options.splits / Math.max(1, ring.length)));
    return ring.flatMap((r) => r.splitEvenly(perRange)).flatMap((r) => r.unwrap());
  }

  private async *scanRange(range: cassandra.token.TokenRange, signal?: AbortSignal): AsyncGenerator<SourceRecord[]> {
    // A range ending at the ring's minimum token runs to the end of the ring.
    const toEnd = isMinToken(range, range.end);
    const query = toEnd ? this.selectAll : this.select;
    const params = toEnd ? [range.start.getValue()] : [range.start.getValue(), range.end.getValue()];
    let pageState: string | undefined;
    do {
      if (signal?.aborted) return;
      let rs: cassandra.types.ResultSet;
      try {
        rs = await this.client.execute(query, params, { prepare: true, fetchSize: this.options.pageSize, pageState });
      } catch (cause) {
        throw cassandraError(cause, this.options.where);
      }
      pageState = rs.pageState ?? undefined;
      // Counted as done as its last page is handed on: progress, not a checkpoint.
      if (!pageState) this.widthDone += rangeWidth(range);
      if (rs.rows.length > 0) yield rs.rows.map(this.toRecord);
    } while (pageState);
  }
}

/** Number of tokens in a non-wrapping range (start exclusive, end inclusive; min end = ring end). */
function rangeWidth(range: cassandra.token.TokenRange): bigint {
  const start = BigInt(String(range.start.getValue()));
  const end = isMinToken(range, range.end) ? 2n ** 63n - 1n : BigInt(String(range.end.getValue()));
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
