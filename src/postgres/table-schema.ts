/**
 * A PostgreSQL table's schema as cesync needs it: its columns with their types, its primary key in
 * order, and the fields of documents (after the pipeline's renames and omissions). Read from the
 * catalog (pg_attribute, pg_index), so it is exactly what the server holds.
 */
import { CesyncError } from '../errors.js';
import { postgresError, quoteIdent, type PostgresPool } from './client.js';

/** A column's type as the catalog names it. */
export interface PgType {
  /** pg_type.typname of the column (of the element, for arrays): int8, numeric, jsonb, uuid... */
  readonly name: string;
  /** The type as SQL spells it (format_type), for casts: bigint, numeric(10,2), text[]... */
  readonly sql: string;
  /** An array of `name`. */
  readonly array: boolean;
  /** pg_type.typtype of the element: b base, e enum, c composite, d domain, r range. */
  readonly kind: string;
}

export interface PgColumn {
  readonly name: string;
  readonly type: PgType;
  /** Name of the column's field in documents. */
  readonly field: string;
  readonly key: boolean;
}

export interface PgTableSchema {
  readonly schema: string;
  readonly table: string;
  /** Every column, key columns first in key order, then the rest in table order. */
  readonly columns: readonly PgColumn[];
  readonly keyColumns: readonly string[];
}

export async function loadPgTableSchema(pool: PostgresPool, schema: string, table: string, where: string): Promise<PgTableSchema> {
  let rows: { name: string; typname: string; sql: string; array: boolean; kind: string; keypos: number | null; relkind: string }[];
  try {
    const rs = await pool.query(
      `SELECT a.attname AS name,
              coalesce(bt.typname, et.typname, t.typname) AS typname,
              format_type(a.atttypid, a.atttypmod) AS sql,
              (t.typcategory = 'A') AS array,
              coalesce(bt.typtype, et.typtype, t.typtype)::text AS kind,
              array_position(pk.indkey::int2[], a.attnum) AS keypos,
              c.relkind::text AS relkind
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
         LEFT JOIN pg_type bt ON bt.oid = coalesce(et.typbasetype, t.typbasetype) AND coalesce(et.typbasetype, t.typbasetype) <> 0
         LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
        WHERE n.nspname = $1 AND c.relname = $2
        ORDER BY a.attnum`,
      [schema, table],
    );
    rows = rs.rows;
  } catch (cause) {
    throw postgresError(cause, where);
  }
  const name = `${schema}.${table}`;
  if (rows.length === 0) throw new CesyncError('SCHEMA_MISMATCH', `table ${name} does not exist in PostgreSQL at ${where} (or this role cannot see it)`);
  if (!['r', 'p'].includes(rows[0]!.relkind)) throw new CesyncError('SCHEMA_MISMATCH', `${name} is not a table (a view or another relation): give a table with a primary key`);
  const key = rows.filter((r) => r.keypos !== null).sort((a, b) => a.keypos! - b.keypos!);
  if (key.length === 0) throw new CesyncError('SCHEMA_MISMATCH', `table ${name} has no primary key: cesync makes document ids from it and splits the table by it (ALTER TABLE ${quoteIdent(schema)}.${quoteIdent(table)} ADD PRIMARY KEY (...))`);
  const column = (r: (typeof rows)[number]): PgColumn => ({
    name: r.name,
    type: { name: r.typname, sql: r.sql, array: r.array, kind: r.kind },
    field: r.name,
    key: r.keypos !== null,
  });
  return {
    schema,
    table,
    columns: [...key.map(column), ...rows.filter((r) => r.keypos === null).map(column)],
    keyColumns: key.map((r) => r.name),
  };
}

/**
 * The pipeline's `fields` applied: `{ column: field }` renames, `{ column: null }` leaves a column
 * out (not read). Every column named must exist, key columns stay, field names stay distinct.
 */
export function mapPgFields(schema: PgTableSchema, fields: Readonly<Record<string, string | null>> | undefined): PgTableSchema {
  if (!fields || Object.keys(fields).length === 0) return schema;
  const where = `${schema.schema}.${schema.table}`;
  for (const column of Object.keys(fields)) {
    if (!schema.columns.some((c) => c.name === column)) throw new CesyncError('SCHEMA_MISMATCH', `fields: ${column} is not a column of ${where} (columns: ${schema.columns.map((c) => c.name).join(', ')})`);
    if (fields[column] === null && schema.keyColumns.includes(column)) throw new CesyncError('SCHEMA_MISMATCH', `fields: ${column} is a primary key column of ${where}; it cannot be left out`);
  }
  const columns = schema.columns.filter((c) => fields[c.name] !== null).map((c) => ({ ...c, field: fields[c.name] ?? c.name }));
  const seen = new Map<string, string>();
  for (const c of columns) {
    const other = seen.get(c.field);
    if (other !== undefined) throw new CesyncError('SCHEMA_MISMATCH', `fields: columns ${other} and ${c.name} both map to the field ${c.field}`);
    seen.set(c.field, c.name);
  }
  return { ...schema, columns };
}

/** A configured name as PostgreSQL resolves it: "Quoted" exactly, unquoted folded to lower case. */
export function resolveName(name: string): string {
  return name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1) : name.toLowerCase();
}

/** A column as configured: "Quoted" by its exact name, unquoted by its name or its lower case (as PostgreSQL folds it). */
export function findColumn(schema: PgTableSchema, name: string): PgColumn | undefined {
  if (name.startsWith('"') && name.endsWith('"')) return schema.columns.find((c) => c.name === name.slice(1, -1));
  return schema.columns.find((c) => c.name === name) ?? schema.columns.find((c) => c.name === name.toLowerCase());
}

/** Integer types, by the bits they hold. */
export const INTEGER_BITS: Readonly<Record<string, 16 | 32 | 64>> = { int2: 16, int4: 32, int8: 64 };
const TIMESTAMPS = new Set(['timestamp', 'timestamptz']);

/** How a row's version is read from a version or change column (microseconds, or the integer itself). */
export type VersionKind = 'timestamp' | 'integer';

/**
 * Checks a column that versions are read from: a timestamp (with or without zone: microseconds
 * since the epoch, zone-less ones taken as UTC) or an integer (its value; a bigint of
 * microseconds, or a counter every writer raises).
 */
export function checkPgVersionColumn(schema: PgTableSchema, column: string, what: string): { column: PgColumn; kind: VersionKind } {
  const where = `${schema.schema}.${schema.table}`;
  const col = findColumn(schema, column);
  if (!col) throw new CesyncError('SCHEMA_MISMATCH', `${what} ${column} is not a column of ${where} (or is left out by fields)`);
  if (col.type.array || (!TIMESTAMPS.has(col.type.name) && INTEGER_BITS[col.type.name] === undefined)) {
    throw new CesyncError('SCHEMA_MISMATCH', `${what} ${col.name} of ${where} is ${col.type.sql}; it must be a timestamp, timestamptz, bigint, integer or smallint`);
  }
  return { column: col, kind: TIMESTAMPS.has(col.type.name) ? 'timestamp' : 'integer' };
}
