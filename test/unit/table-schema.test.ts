import { describe, expect, it } from 'vitest';
import type { CassandraClient } from '../../src/cassandra/client.js';
import { T } from '../../src/cassandra/cql-type.js';
import { checkVersionColumn, type ColumnSchema, type TableSchema } from '../../src/cassandra/table-schema.js';
import { CassandraTableSource, type TableSourceOptions } from '../../src/cassandra/table-source.js';
import { CesyncError } from '../../src/errors.js';

const column = (name: string, code: number, kind: ColumnSchema['kind'] = 'regular'): ColumnSchema => ({ name, type: { code }, kind, field: name });

const columns = [
  column('id', T.text, 'partition'),
  column('updated_at', T.timestamp),
  column('version_us', T.bigint),
  column('n_int', T.int),
  column('n_smallint', T.smallint),
  column('n_tinyint', T.tinyint),
  column('n_varint', T.varint),
  column('n_decimal', T.decimal),
  column('label', T.text),
];

const schema: TableSchema = {
  keyspace: 'ks',
  table: 'events',
  columns,
  partitionKeys: ['id'],
  keyColumns: ['id'],
  writetimeColumns: columns.slice(1),
  hasCounters: false,
};

const options: TableSourceOptions = { pageSize: 100, splits: 1, rangesInFlight: 1, version: 'writetime', id: { format: 'delimited', separator: ':' }, where: 'nowhere' };

/** The error a call throws (a CesyncError is expected). */
function errorOf(f: () => unknown): CesyncError {
  try {
    f();
  } catch (e) {
    if (e instanceof CesyncError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('a version column', () => {
  it.each([['updated_at'], ['version_us'], ['"version_us"'], ['VERSION_US']])('%s: a timestamp or a bigint is accepted', (name) => {
    expect(checkVersionColumn(schema, name).name).toBe(name.replaceAll('"', '').toLowerCase());
  });

  it.each([
    ['n_int', 'int'],
    ['n_smallint', 'smallint'],
    ['n_tinyint', 'tinyint'],
    ['n_varint', 'varint'],
    ['n_decimal', 'decimal'],
    ['label', 'text'],
  ])('%s: %s is refused, naming the column, its type and what is accepted', (name, type) => {
    const e = errorOf(() => checkVersionColumn(schema, name));
    expect(e.code).toBe('SCHEMA_MISMATCH');
    expect(e.message).toBe(
      `version column (version.column or changeColumn) ${name} of ks.events is ${type}; ` +
        'it must be a timestamp (milliseconds, scaled to microseconds) or a bigint of microseconds since the epoch',
    );
  });

  it('must be a column of the table', () => {
    const e = errorOf(() => checkVersionColumn(schema, 'nope'));
    expect(e.code).toBe('SCHEMA_MISMATCH');
    expect(e.message).toBe('version column (version.column or changeColumn) nope is not a column of ks.events');
  });

  it('is checked the same way for version.column and changeColumn of a table source', () => {
    const client = {} as CassandraClient;
    const expected = errorOf(() => checkVersionColumn(schema, 'n_int')).message;
    expect(errorOf(() => new CassandraTableSource(client, schema, { ...options, version: { column: 'n_int' } })).message).toBe(expected);
    expect(errorOf(() => new CassandraTableSource(client, schema, { ...options, changeColumn: 'n_int' })).message).toBe(expected);
    expect(() => new CassandraTableSource(client, schema, { ...options, version: { column: 'version_us' }, changeColumn: 'updated_at' })).not.toThrow();
  });
});
