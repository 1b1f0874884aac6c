/**
 * A pipeline's `nest` (composed documents) wired to Cassandra: the nested and looked-up tables
 * opened as sources, their match columns checked against their keys, and the field descriptions
 * of the nested lists (for the mapping). The composing itself is store-neutral
 * (src/shape/composed-source.ts).
 */
import type { LookupConfig, NestConfig, PipelineConfig } from '../config/schema.js';
import { cassandraError } from '../cassandra/client.js';
import { fieldDescriptions } from '../cassandra/fields.js';
import { CassandraTableSource, matchingRows } from '../cassandra/table-source.js';
import { loadTableSchema, mapFields, type ColumnSchema, type TableSchema } from '../cassandra/table-schema.js';
import { cqlTypeName, isCollection } from '../cassandra/cql-type.js';
import { fieldTypeOf } from '../cassandra/value-converter.js';
import type { FieldDescription, FieldType } from '../engine/field-schema.js';
import { CesyncError } from '../errors.js';
import type { Lookup, Nesting, RelatedTable } from '../shape/composed-source.js';
import { columnNames, openShape } from './pipeline-shape.js';
import { cassandraOf, type Stores } from './stores.js';

export interface Composition {
  readonly nestings: Nesting[];
  /** Lookups by the document's own fields (`lookups`). */
  readonly lookups: Lookup[];
  /** Descriptions of the nested lists and of the looked-up fields. */
  readonly fields: FieldDescription[];
}

export async function openComposition(stores: Stores, pipeline: PipelineConfig, parent: TableSchema, parentFields: readonly FieldDescription[]): Promise<Composition> {
  const nestings: Nesting[] = [];
  const fields: FieldDescription[] = [];
  for (const [i, n] of pipeline.nest.entries()) {
    const at = `nest.${i} (${n.field})`;
    if (parentFields.some((f) => f.name === n.field)) throw new CesyncError('SCHEMA_MISMATCH', `${at}: ${n.field} is already a field of ${parent.keyspace}.${parent.table}; nest under another name`);
    const { nesting, field } = await openNesting(stores, pipeline, parent, n, at);
    nestings.push(nesting);
    fields.push(field);
  }
  const lookups: Lookup[] = [];
  const taken = new Set([...parentFields.map((f) => f.name), ...fields.map((f) => f.name)]);
  for (const [j, l] of pipeline.lookups.entries()) {
    const at = `lookups.${j}`;
    const fieldOf = (column: string, what: string) => {
      const c = parent.columns.find((x) => x.name === column);
      if (!c) throw new CesyncError('SCHEMA_MISMATCH', `${at}: ${what}: ${column} is not a column of ${parent.keyspace}.${parent.table} (or is left out by its fields)`);
      return c.field;
    };
    const opened = await openLookup(stores, pipeline, l, pipeline.keyspace, parent, fieldOf, at, parsedFields(pipeline));
    lookups.push(opened.lookup);
    for (const [name, type] of Object.entries(opened.fields)) {
      if (taken.has(name)) throw new CesyncError('SCHEMA_MISMATCH', `${at}: adds ${name}, which is already a field of the documents`);
      taken.add(name);
      fields.push({ name, type, key: false });
    }
  }
  return { nestings, lookups, fields };
}

/**
 * A lookup: the table opened (only its key and copied columns read, so a change to another column
 * moves no version), its key matched by columns of the row it enriches (`of`, whose key positions
 * are used when all of them are key columns). Returns it with the types of the fields it adds.
 */
async function openLookup(
  stores: Stores,
  pipeline: PipelineConfig,
  l: LookupConfig,
  keyspace: string,
  of: TableSchema,
  fieldOf: (column: string, what: string) => string,
  at: string,
  parsed: ReadonlySet<string>,
): Promise<{ lookup: Lookup; fields: Record<string, FieldType> }> {
  const lraw = await tableSchema(stores, l.keyspace ?? keyspace, l.table);
  const lwhere = `${lraw.keyspace}.${lraw.table}`;
  for (const c of Object.keys(l.fields)) if (!lraw.columns.some((x) => x.name === c)) throw new CesyncError('SCHEMA_MISMATCH', `${at}: fields: ${c} is not a column of ${lwhere}`);
  const keep = new Set([...lraw.keyColumns, ...Object.keys(l.fields)]);
  const lschema = mapFields(lraw, Object.fromEntries(lraw.columns.filter((c) => !keep.has(c.name)).map((c) => [c.name, null])), at);
  const lmatch = Object.keys(l.match);
  if (lmatch.length !== lschema.keyColumns.length || lschema.keyColumns.some((k) => l.match[k] === undefined)) {
    throw new CesyncError('SCHEMA_MISMATCH', `${at}: match must name the whole primary key of ${lwhere} (${lschema.keyColumns.join(', ')}), each by a column of the rows it adds to`);
  }
  for (const k of lschema.keyColumns) {
    const c = l.match[k]!;
    fieldOf(c, 'match');
    if (parsed.has(c)) throw new CesyncError('SCHEMA_MISMATCH', `${at}: match: ${c} is converted by parse; a lookup matches by a column's own value`);
    sameType(lschema, k, of, c, `${at}: match`);
  }
  const keyFields = lschema.keyColumns.map((k) => fieldOf(l.match[k]!, 'match'));
  const positions = lschema.keyColumns.map((k) => of.keyColumns.indexOf(l.match[k]!));
  const source = openSource(stores, pipeline, lschema);
  const ltypes = new Map(fieldDescriptions(lschema).map((d) => [d.name, d.type]));
  return {
    lookup: {
      table: { source, find: matchingRows(source, lschema.keyColumns, { where: stores.cassandraWhere, consistency: stores.decisionConsistency }) },
      keyFields,
      ...(positions.every((p) => p >= 0) ? { keyPositions: positions } : {}),
      copy: Object.entries(l.fields).map(([c, name]) => [c, name] as const),
    },
    fields: Object.fromEntries(Object.entries(l.fields).map(([c, name]) => [name, ltypes.get(c)!])),
  };
}

async function openNesting(stores: Stores, pipeline: PipelineConfig, parent: TableSchema, n: NestConfig, at: string): Promise<{ nesting: Nesting; field: FieldDescription }> {
  // Key columns of the nested table cannot leave its schema (they make its ids): the ones left
  // out (null) are kept for reading and left out of the listed rows.
  const names = columnNames(n) ?? {};
  const keyspace = n.keyspace ?? pipeline.keyspace;
  const raw = await tableSchema(stores, keyspace, n.table);
  const omitted = raw.keyColumns.filter((k) => names[k] === null);
  const schema = mapFields(raw, { ...names, ...Object.fromEntries(omitted.map((k) => [k, k])) }, at);
  const where = `${schema.keyspace}.${schema.table}`;
  const fieldOf = (column: string, what: string) => {
    const c = schema.columns.find((x) => x.name === column);
    if (!c) throw new CesyncError('SCHEMA_MISMATCH', `${at}: ${what}: ${column} is not a column of ${where} (or is left out by its fields)`);
    return c.field;
  };

  // match: { childColumn: parentColumn }, every key column of the parent once.
  const match = Object.entries(n.match);
  for (const [c, p] of match) {
    fieldOf(c, 'match');
    if (!parent.keyColumns.includes(p)) throw new CesyncError('SCHEMA_MISMATCH', `${at}: match: ${p} is not a primary key column of ${parent.keyspace}.${parent.table} (${parent.keyColumns.join(', ')})`);
  }
  const missingKey = parent.keyColumns.filter((k) => !match.some(([, p]) => p === k));
  if (missingKey.length > 0 || match.length !== parent.keyColumns.length) {
    throw new CesyncError('SCHEMA_MISMATCH', `${at}: match must name each primary key column of ${parent.keyspace}.${parent.table} once (${parent.keyColumns.join(', ')}), by a column of ${where}`);
  }
  for (const [c, p] of match) sameType(schema, c, parent, p, `${at}: match`);
  const childMatch = schema.keyColumns.filter((k) => n.match[k] !== undefined);
  if (childMatch.length !== match.length) {
    throw new CesyncError('SCHEMA_MISMATCH', `${at}: match: the nested rows are found by their partition key: ${match.map(([c]) => c).join(', ')} must be key columns of ${where} (${schema.keyColumns.join(', ')})`);
  }
  const child = openSource(stores, pipeline, schema);
  const table: RelatedTable = { source: child, find: matchingRows(child, childMatch, { where: stores.cassandraWhere, consistency: stores.decisionConsistency }) };

  const shaping = await openShape({ name: `${pipeline.name}: nest ${n.field}`, fields: n.fields }, fieldDescriptions(schema), where);
  const lookups: Lookup[] = [];
  const lookupFields: Record<string, FieldType> = {};
  for (const [j, l] of n.lookups.entries()) {
    const opened = await openLookup(stores, pipeline, l, keyspace, schema, fieldOf, `${at}: lookups.${j}`, parsedFields(n));
    lookups.push(opened.lookup);
    for (const [name, type] of Object.entries(opened.fields)) {
      if (lookupFields[name] !== undefined) throw new CesyncError('SCHEMA_MISMATCH', `${at}: lookups.${j} adds ${name}, which another lookup adds too`);
      lookupFields[name] = type;
    }
  }

  const whereFields = Object.fromEntries(
    Object.entries(n.where ?? {}).map(([c, v]) => {
      const field = fieldOf(c, 'where');
      checkWhereValue(schema.columns.find((x) => x.name === c)!, v, `${at}: where: ${c}`);
      return [field, v];
    }),
  );
  const omit = omitted.map((k) => fieldOf(k, 'fields'));
  const listed: Record<string, FieldType> = {};
  for (const d of shaping.fields) if (!omit.includes(d.name)) listed[d.name] = d.type;
  for (const [name, t] of Object.entries(lookupFields)) {
    if (listed[name] !== undefined) throw new CesyncError('SCHEMA_MISMATCH', `${at}: lookups add ${name}, which is already a field of the nested rows`);
    listed[name] = t;
  }
  return {
    nesting: {
      field: n.field,
      table,
      tupleFromParent: childMatch.map((c) => parent.keyColumns.indexOf(n.match[c]!)),
      parentFromChild: parent.keyColumns.map((k) => schema.keyColumns.indexOf(match.find(([, p]) => p === k)![0])),
      where: whereFields,
      maxRows: n.maxRows,
      omit,
      ...(shaping.fieldShape ? { shape: shaping.fieldShape } : {}),
      lookups,
    },
    field: { name: n.field, type: { kind: 'object', fields: listed }, key: false },
  };
}

/** Columns whose values `parse` converts (by column name). */
function parsedFields(p: { readonly fields?: PipelineConfig['fields'] }): Set<string> {
  return new Set(Object.entries(p.fields ?? {}).filter(([, f]) => f !== null && typeof f === 'object' && f.parse !== undefined).map(([c]) => c));
}

/**
 * Columns matched with each other must hold the same CQL type: a key read by the text of another
 * type would find nothing (an int 7 is no text "007"), silently.
 */
function sameType(a: TableSchema, ac: string, b: TableSchema, bc: string, at: string): void {
  const ta = a.columns.find((c) => c.name === ac)?.type;
  const tb = b.columns.find((c) => c.name === bc)?.type;
  if (!ta || !tb) return;
  if (isCollection(ta) || isCollection(tb) || cqlTypeName(ta) !== cqlTypeName(tb)) {
    throw new CesyncError(
      'SCHEMA_MISMATCH',
      `${at}: ${a.keyspace}.${a.table}.${ac} (${cqlTypeName(ta)}) and ${b.keyspace}.${b.table}.${bc} (${cqlTypeName(tb)}) must be of one type to match`,
    );
  }
}

/** A `where` value must be one the column can hold: compared as texts, a mismatch would never match. */
function checkWhereValue(column: ColumnSchema, value: unknown, at: string): void {
  if (value === null) return;
  const kind = fieldTypeOf(column.type).kind;
  const ok =
    typeof value === 'boolean'
      ? kind === 'boolean'
      : typeof value === 'number'
        ? kind === 'integer' || kind === 'big-integer' || kind === 'float' || kind === 'double' || kind === 'decimal'
        : !isCollection(column.type) && (kind === 'text' || kind === 'keyword' || kind === 'ip');
  if (!ok) throw new CesyncError('SCHEMA_MISMATCH', `${at}: ${JSON.stringify(value)} cannot be a value of ${column.name}, a ${cqlTypeName(column.type)} column (where takes text, numbers and booleans)`);
}

async function tableSchema(stores: Stores, keyspace: string, table: string): Promise<TableSchema> {
  try {
    return await loadTableSchema(cassandraOf(stores), keyspace, table);
  } catch (e) {
    throw e instanceof CesyncError ? e : cassandraError(e, stores.cassandraWhere);
  }
}

/** A related table as a source: read as the pipeline reads its own (write times as versions). */
function openSource(stores: Stores, pipeline: PipelineConfig, schema: TableSchema): CassandraTableSource {
  return new CassandraTableSource(cassandraOf(stores), schema, {
    pageSize: pipeline.pageSize,
    splits: pipeline.splits,
    rangesInFlight: pipeline.rangesInFlight,
    version: 'writetime',
    // Ids of related rows never leave cesync: the JSON form splits back exactly, whatever the values.
    id: { format: 'json', separator: ':' },
    where: stores.cassandraWhere,
    keyReadConsistency: stores.decisionConsistency,
  });
}
