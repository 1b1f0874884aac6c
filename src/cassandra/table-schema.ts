/**
 * A table's schema as cesync needs it: key columns in order, every column with its CQL type,
 * which are static, and how a row's version is read. Loaded from the driver's metadata.
 */
import type { CassandraClient } from './client.js';
import { T, cqlTypeName, isMultiCell, type CqlType } from './cql-type.js';
import { CesyncError } from '../errors.js';

export interface ColumnSchema {
  readonly name: string;
  readonly type: CqlType;
  readonly kind: 'partition' | 'clustering' | 'static' | 'regular';
  /** Name of the column's field in documents (the column's name unless the pipeline maps it). */
  readonly field: string;
}

export type VersionSource = 'writetime' | { readonly column: string };

export interface TableSchema {
  readonly keyspace: string;
  readonly table: string;
  /** All columns: partition keys, clustering keys, then the rest in the driver's order. */
  readonly columns: readonly ColumnSchema[];
  readonly partitionKeys: readonly string[];
  readonly keyColumns: readonly string[];
  /**
   * Columns whose write time bounds the row's version: every non-key, non-counter column
   * (static ones included: a static change changes each row's document).
   */
  readonly writetimeColumns: readonly ColumnSchema[];
  readonly hasCounters: boolean;
}

/** Unquoted identifiers are case-insensitive in CQL: `User` names the table `user`. */
export function normaliseIdentifier(id: string): string {
  return id.startsWith('"') && id.endsWith('"') ? id.slice(1, -1) : id.toLowerCase();
}

/** A column name quoted for CQL: always quoted, so any case and any character work. */
export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;

export async function loadTableSchema(client: CassandraClient, keyspace: string, table: string): Promise<TableSchema> {
  const ks = normaliseIdentifier(keyspace);
  const tb = normaliseIdentifier(table);
  const meta = await client.metadata.getTable(ks, tb);
  if (!meta) {
    const known = client.metadata.keyspaces[ks];
    throw new CesyncError(
      'SCHEMA_MISMATCH',
      known ? `table ${ks}.${tb} does not exist` : `keyspace ${ks} does not exist (looking for table ${ks}.${tb})`,
    );
  }
  const pk = meta.partitionKeys.map((c) => c.name);
  const ck = meta.clusteringKeys.map((c) => c.name);
  const keySet = new Set([...pk, ...ck]);
  const kindOf = (c: { name: string; isStatic?: boolean }): ColumnSchema['kind'] =>
    pk.includes(c.name) ? 'partition' : ck.includes(c.name) ? 'clustering' : c.isStatic ? 'static' : 'regular';
  const byName = new Map(meta.columns.map((c) => [c.name, c]));
  const ordered = [...pk, ...ck, ...meta.columns.map((c) => c.name).filter((n) => !keySet.has(n))];
  const columns: ColumnSchema[] = ordered.map((name) => {
    const c = byName.get(name)! as unknown as { name: string; type: CqlType; isStatic?: boolean };
    return { name, type: c.type, kind: kindOf(c), field: name };
  });
  const nonKey = columns.filter((c) => c.kind === 'regular' || c.kind === 'static');
  return {
    keyspace: ks,
    table: tb,
    columns,
    partitionKeys: pk,
    keyColumns: [...pk, ...ck],
    writetimeColumns: nonKey.filter((c) => c.type.code !== T.counter),
    hasCounters: nonKey.some((c) => c.type.code === T.counter),
  };
}

/** The CQL types a version or change column may have (see checkVersionColumn). */
const VERSION_COLUMN_TYPES: readonly number[] = [T.timestamp, T.bigint];

/**
 * Checks a column that versions are read from (`version: { column }`, `changeColumn`) exists and
 * holds microseconds since the epoch, as write times and watermarks are: a `timestamp`
 * (milliseconds, scaled) or a `bigint` of microseconds. Anything else is refused by name: an
 * `int` holds at most 2^31 microseconds (36 minutes after 1970), and a `varint` is neither read
 * as a version nor bound in a change query as one.
 */
export function checkVersionColumn(schema: TableSchema, column: string): ColumnSchema {
  const name = normaliseIdentifier(column);
  const where = `${schema.keyspace}.${schema.table}`;
  const col = schema.columns.find((c) => c.name === name);
  if (!col) throw new CesyncError('SCHEMA_MISMATCH', `version column (version.column or changeColumn) ${name} is not a column of ${where}`);
  if (!VERSION_COLUMN_TYPES.includes(col.type.code)) {
    throw new CesyncError(
      'SCHEMA_MISMATCH',
      `version column (version.column or changeColumn) ${name} of ${where} is ${cqlTypeName(col.type)}; ` +
        'it must be a timestamp (milliseconds, scaled to microseconds) or a bigint of microseconds since the epoch',
    );
  }
  return col;
}

/** The selector that reads a column's write time (MAXWRITETIME for multi-cell collections and UDTs). */
export function writetimeSelector(c: ColumnSchema): string {
  return `${isMultiCell(c.type) ? 'maxwritetime' : 'writetime'}(${quoteIdentifier(c.name)})`;
}

/**
 * The pipeline's field mapping applied to a table: `{ column: field }` renames a column's field in
 * documents (both ways), `{ column: null }` leaves the column out of documents (it is neither read
 * nor written back). Checked against the real schema: every column named must exist, key columns
 * cannot be left out, and field names must be distinct.
 */
/** `at`: where the mapping is declared, for messages (default: the pipeline's own `fields`). */
export function mapFields(schema: TableSchema, fields: Readonly<Record<string, string | null>> | undefined, at?: string): TableSchema {
  if (!fields || Object.keys(fields).length === 0) return schema;
  const where = `${at ? `${at}: ` : ''}${schema.keyspace}.${schema.table}`;
  for (const column of Object.keys(fields)) {
    if (!schema.columns.some((c) => c.name === column)) {
      throw new CesyncError('SCHEMA_MISMATCH', `fields: ${column} is not a column of ${where} (columns: ${schema.columns.map((c) => c.name).join(', ')})`);
    }
    if (fields[column] === null && schema.keyColumns.includes(column)) {
      throw new CesyncError('SCHEMA_MISMATCH', `fields: ${column} is a primary key column of ${where}; it cannot be left out`);
    }
  }
  const columns = schema.columns
    .filter((c) => fields[c.name] !== null)
    .map((c) => ({ ...c, field: fields[c.name] ?? c.name }));
  const seen = new Map<string, string>();
  for (const c of columns) {
    const other = seen.get(c.field);
    if (other !== undefined) throw new CesyncError('SCHEMA_MISMATCH', `fields: columns ${other} and ${c.name} both map to the field ${c.field}`);
    seen.set(c.field, c.name);
  }
  const kept = new Set(columns.map((c) => c.name));
  return { ...schema, columns, writetimeColumns: schema.writetimeColumns.filter((c) => kept.has(c.name)).map((c) => columns.find((x) => x.name === c.name)!) };
}
