/**
 * A Cassandra table as ValueRows (src/events/ports.ts): rows found by a value a column holds, and
 * changed in batches.
 *
 * Finding cannot miss a row: `WHERE column = ?` (a scalar) or `WHERE column CONTAINS ?` (a list or
 * set) with ALLOW FILTERING, read page by page to the end. With a secondary index (or SAI) on the
 * column Cassandra answers from the index; without one it scans the table itself, in pages, on
 * every node: slower, never capped. Reads and writes use the decision consistency.
 *
 * A batch of changes is one logged BATCH of `UPDATE ... USING TIMESTAMP version SET ...` statements
 * (Cassandra applies all of it or, after a crash, the rest on replay of its batchlog), each row at
 * its own version.
 */
import cassandra from 'cassandra-driver';
import type { HeldRow, HoldingKind, RowChange, ValueRows } from '../events/ports.js';
import { CesyncError } from '../errors.js';
import { cassandraError, type CassandraClient } from './client.js';
import { T, cqlTypeName, isMultiCell, type CqlType } from './cql-type.js';
import { parseKeyValue } from './key-parser.js';
import { loadTableSchema, normaliseIdentifier, quoteIdentifier, writetimeSelector, type ColumnSchema, type TableSchema } from './table-schema.js';
import { compileConverter } from './value-converter.js';

const PAGE = 1000;

export interface ValueRowsOptions {
  readonly where: string;
  readonly consistency: number;
}

export async function openValueRows(client: CassandraClient, keyspace: string, table: string, options: ValueRowsOptions): Promise<CassandraValueRows> {
  let schema: TableSchema;
  try {
    schema = await loadTableSchema(client, keyspace, table);
  } catch (e) {
    throw e instanceof CesyncError ? e : cassandraError(e, options.where);
  }
  return new CassandraValueRows(client, schema, options);
}

export class CassandraValueRows implements ValueRows {
  readonly where: string;
  readonly keyColumns: readonly string[];
  private readonly client: CassandraClient;
  private readonly schema: TableSchema;
  private readonly options: ValueRowsOptions;
  private readonly keyTexts: ((v: unknown) => string)[];

  constructor(client: CassandraClient, schema: TableSchema, options: ValueRowsOptions) {
    this.client = client;
    this.schema = schema;
    this.options = options;
    this.where = `${schema.keyspace}.${schema.table}`;
    this.keyColumns = schema.keyColumns;
    this.keyTexts = schema.keyColumns.map((k) => {
      const convert = compileConverter(this.column(k).type);
      return (v: unknown) => {
        const d = convert(v);
        return typeof d === 'string' ? d : JSON.stringify(d);
      };
    });
  }

  private column(name: string): ColumnSchema {
    const n = normaliseIdentifier(name);
    const c = this.schema.columns.find((col) => col.name === n) ?? this.schema.columns.find((col) => col.name === name);
    if (!c) throw new CesyncError('SCHEMA_MISMATCH', `${this.where} has no column ${name} (it has ${this.schema.columns.map((col) => col.name).join(', ')})`);
    return c;
  }

  resolve(name: string): string {
    return this.column(name).name;
  }

  isKey(name: string): boolean {
    return this.keyColumns.includes(this.column(name).name);
  }

  same(name: string, cell: unknown, value: unknown): boolean {
    if (cell === null || cell === undefined || value === null || value === undefined) return cell === value;
    const c = this.column(name);
    const type: CqlType = c.type.code === T.list || c.type.code === T.set ? (c.type.info as CqlType) : c.type;
    const canonical = compileConverter(type);
    let bound: unknown;
    try {
      bound = this.bindable(c, value);
    } catch {
      // A value the column's type cannot hold is held by no cell.
      return false;
    }
    return JSON.stringify(canonical(cell)) === JSON.stringify(canonical(bound));
  }

  holding(name: string): HoldingKind {
    const c = this.column(name);
    if (c.type.code === T.list) return 'list';
    if (c.type.code === T.set) return 'set';
    if (c.type.code === T.map || c.type.code === T.udt || c.type.code === T.tuple || c.type.code === T.counter) {
      throw new CesyncError('SCHEMA_MISMATCH', `${this.where}.${c.name} is ${cqlTypeName(c.type)}: a value is replaced in a scalar column, a list or a set`);
    }
    return 'scalar';
  }

  /** A value from an event as the column (or a collection's element) takes it. */
  private bindable(c: ColumnSchema, value: unknown): unknown {
    const type: CqlType = c.type.code === T.list || c.type.code === T.set ? (c.type.info as CqlType) : c.type;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return value;
    if (typeof value === 'boolean' && type.code === T.boolean) return value;
    const parsed = parseKeyValue(type, String(value));
    if (!parsed.ok) throw new CesyncError('USAGE', `${this.where}.${c.name} (${cqlTypeName(type)}): ${parsed.error}`);
    return parsed.value;
  }

  /** A new value of a column: a collection's elements each as the element type takes it. */
  private bindValue(c: ColumnSchema, value: unknown): unknown {
    return Array.isArray(value) ? value.map((v) => this.bindable(c, v)) : this.bindable(c, value);
  }

  private selectList(read: readonly string[]): { text: string; columns: ColumnSchema[]; timed: ColumnSchema[] } {
    const columns = [...new Set(read.map((r) => this.column(r).name))].map((n) => this.column(n)).filter((c) => !this.keyColumns.includes(c.name));
    const timed = columns;
    const parts = [...this.keyColumns.map(quoteIdentifier), ...columns.map((c) => quoteIdentifier(c.name)), ...timed.map((c, i) => `${writetimeSelector(c)} AS "cesync_wt${i}"`)];
    return { text: parts.join(', '), columns, timed };
  }

  private held(row: cassandra.types.Row, columns: readonly ColumnSchema[], timed: readonly ColumnSchema[]): HeldRow {
    const key: Record<string, unknown> = {};
    for (const k of this.keyColumns) key[k] = row.get(k);
    // Key columns too: a `where` may name one.
    const values: Record<string, unknown> = { ...key };
    for (const c of columns) {
      const v = row.get(c.name);
      values[c.name] = v === null || v === undefined ? null : isMultiCell(c.type) && !Array.isArray(v) && typeof v === 'object' && Symbol.iterator in v ? [...(v as Iterable<unknown>)] : v;
    }
    let writtenAt = 0;
    timed.forEach((_, i) => {
      const wt = row.get(`cesync_wt${i}`) as unknown;
      const n = wt === null || wt === undefined ? 0 : Number(String(wt));
      if (n > writtenAt) writtenAt = n;
    });
    return { key, keyText: this.keyColumns.map((k, i) => this.keyTexts[i]!(key[k])), values, writtenAt };
  }

  async *find(name: string, value: unknown, read: readonly string[], signal?: AbortSignal): AsyncGenerator<HeldRow> {
    const c = this.column(name);
    const op = c.type.code === T.list || c.type.code === T.set ? 'CONTAINS' : '=';
    const { text, columns, timed } = this.selectList([...read, c.name]);
    const query = `SELECT ${text} FROM ${quoteIdentifier(this.schema.keyspace)}.${quoteIdentifier(this.schema.table)} WHERE ${quoteIdentifier(c.name)} ${op} ? ALLOW FILTERING`;
    const params = [this.bindable(c, value)];
    let pageState: string | undefined;
    do {
      signal?.throwIfAborted();
      let rs: cassandra.types.ResultSet;
      try {
        rs = await this.client.execute(query, params, { prepare: true, fetchSize: PAGE, pageState, consistency: this.options.consistency, isIdempotent: true });
      } catch (e) {
        throw cassandraError(e, this.options.where);
      }
      for (const row of rs.rows) yield this.held(row, columns, timed);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
  }

  async get(key: Readonly<Record<string, unknown>>, read: readonly string[]): Promise<HeldRow | undefined> {
    const { text, columns, timed } = this.selectList(read);
    const keyCols = this.keyColumns.map((k) => this.column(k));
    const query = `SELECT ${text} FROM ${quoteIdentifier(this.schema.keyspace)}.${quoteIdentifier(this.schema.table)} WHERE ${keyCols.map((k) => `${quoteIdentifier(k.name)} = ?`).join(' AND ')}`;
    const params = keyCols.map((k) => this.bindable(k, key[k.name] ?? key[Object.keys(key).find((n) => normaliseIdentifier(n) === k.name) ?? '']));
    try {
      const rs = await this.client.execute(query, params, { prepare: true, consistency: this.options.consistency, isIdempotent: true });
      const row = rs.first();
      return row ? this.held(row, columns, timed) : undefined;
    } catch (e) {
      throw e instanceof CesyncError ? e : cassandraError(e, this.options.where);
    }
  }

  async change(changes: readonly RowChange[]): Promise<void> {
    if (changes.length === 0) return;
    const table = `${quoteIdentifier(this.schema.keyspace)}.${quoteIdentifier(this.schema.table)}`;
    const where = this.keyColumns.map((k) => `${quoteIdentifier(k)} = ?`).join(' AND ');
    const queries = changes.map((ch) => {
      const cols = Object.keys(ch.set).map((n) => this.column(n));
      return {
        query: `UPDATE ${table} USING TIMESTAMP ? SET ${cols.map((c) => `${quoteIdentifier(c.name)} = ?`).join(', ')} WHERE ${where}`,
        params: [cassandra.types.Long.fromNumber(ch.version), ...cols.map((c) => this.bindValue(c, ch.set[c.name])), ...this.keyColumns.map((k) => ch.row.key[k])],
      };
    });
    try {
      await this.client.batch(queries, { prepare: true, logged: true, consistency: this.options.consistency, isIdempotent: true });
    } catch (e) {
      throw cassandraError(e, this.options.where);
    }
  }
}
