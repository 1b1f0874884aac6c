import cassandra from 'cassandra-driver';
import { describe, expect, it } from 'vitest';
import type { CassandraClient } from '../../src/cassandra/client.js';
import { T, type CqlType } from '../../src/cassandra/cql-type.js';
import { compileDocumentId, splitDelimitedId, splitJsonId } from '../../src/engine/document-id.js';
import type { ColumnSchema, TableSchema } from '../../src/cassandra/table-schema.js';
import { CassandraTableSource } from '../../src/cassandra/table-source.js';
import { compileConverter } from '../../src/cassandra/value-converter.js';

describe('document id', () => {
  it('is the value itself for one key column', () => {
    const id = compileDocumentId(['id'], { format: 'delimited', separator: ':' });
    expect(id({ id: 'a:b' })).toBe('a:b');
    expect(id({ id: 7 })).toBe('7');
  });
  it('joins and escapes several key columns, and splits back', () => {
    const id = compileDocumentId(['a', 'b', 'c'], { format: 'delimited', separator: ':' });
    const text = id({ a: 'x:y', b: 'back\\slash', c: JSON.rawJSON('9223372036854775807') });
    expect(text).toBe('x\\:y:back\\\\slash:9223372036854775807');
    expect(splitDelimitedId(text, ':')).toEqual(['x:y', 'back\\slash', '9223372036854775807']);
  });
  it('can be a JSON array', () => {
    const id = compileDocumentId(['a', 'b'], { format: 'json', separator: ':' });
    expect(id({ a: 'x', b: 2 })).toBe('["x",2]');
  });
});

const { Long, Integer, BigDecimal, Uuid, TimeUuid, LocalDate } = cassandra.types;

/** One key column: its CQL type and a value as the driver reads it. */
interface KeyCase {
  readonly name: string;
  readonly type: CqlType;
  readonly value: unknown;
}

const KEYS: readonly KeyCase[] = [
  { name: 'bigint above 2^53', type: { code: T.bigint }, value: Long.fromString('9007199254740993') },
  { name: 'bigint minimum', type: { code: T.bigint }, value: Long.fromString('-9223372036854775808') },
  { name: 'bigint maximum', type: { code: T.bigint }, value: Long.fromString('9223372036854775807') },
  { name: 'varint', type: { code: T.varint }, value: Integer.fromString('-123456789012345678901234567890') },
  { name: 'decimal with trailing zero', type: { code: T.decimal }, value: BigDecimal.fromString('1.50') },
  { name: 'decimal beyond a double', type: { code: T.decimal }, value: BigDecimal.fromString('-12345678901234567890.123456789') },
  { name: 'small decimal', type: { code: T.decimal }, value: BigDecimal.fromString('0.000000000000000000001') },
  { name: 'text with quotes', type: { code: T.text }, value: 'say "hi", \\n [1,2] : ü' },
  { name: 'text of digits', type: { code: T.text }, value: '9007199254740993' },
  { name: 'empty text', type: { code: T.text }, value: '' },
  { name: 'uuid', type: { code: T.uuid }, value: Uuid.fromString('6f1c1b0e-2d3a-4b5c-8d9e-0a1b2c3d4e5f') },
  { name: 'timeuuid', type: { code: T.timeuuid }, value: TimeUuid.fromString('d2177dd0-eaa2-11de-a572-001b779c76e3') },
  { name: 'timestamp', type: { code: T.timestamp }, value: new Date('2024-02-29T23:59:59.999Z') },
  { name: 'date', type: { code: T.date }, value: LocalDate.fromString('2024-02-29') },
  { name: 'int', type: { code: T.int }, value: -2147483648 },
  { name: 'double', type: { code: T.double }, value: 0.1 },
  { name: 'boolean', type: { code: T.boolean }, value: true },
];

/** A table keyed by (k, <the case's column>), read with json ids; no client is needed for ids. */
function sourceKeyedBy(c: KeyCase): CassandraTableSource {
  const columns: ColumnSchema[] = [
    { name: 'k', type: { code: T.text }, kind: 'partition', field: 'k' },
    { name: 'c', type: c.type, kind: 'clustering', field: 'c' },
    { name: 'v', type: { code: T.text }, kind: 'regular', field: 'v' },
  ];
  const schema: TableSchema = {
    keyspace: 'ks',
    table: 't',
    columns,
    partitionKeys: ['k'],
    keyColumns: ['k', 'c'],
    writetimeColumns: [columns[2]!],
    hasCounters: false,
  };
  return new CassandraTableSource({} as CassandraClient, schema, {
    pageSize: 100,
    splits: 1,
    rangesInFlight: 1,
    version: 'writetime',
    id: { format: 'json', separator: ':' },
    where: 'nowhere',
  });
}

describe('json document ids round-trip every key type exactly', () => {
  const idOf = compileDocumentId(['k', 'c'], { format: 'json', separator: ':' });

  it.each(KEYS)('$name', (c) => {
    const document = { k: 'p"1', c: compileConverter(c.type)(c.value) };
    const id = idOf(document);
    const source = sourceKeyedBy(c);
    const parts = source.idParts(id);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toBe('p"1');
    const key = source.parseKey(parts);
    if ('error' in key) throw new Error(key.error);
    // The id made again from the key read back is the same id: the key is the row's key.
    expect(key.id).toBe(id);
    expect(String(key.values[1])).toBe(String(c.value));
  });

  it('keeps number texts as written', () => {
    expect(splitJsonId('[9007199254740993,-9223372036854775808,1.50,1E+3,-0,"1.50",true,null]')).toEqual([
      '9007199254740993',
      '-9223372036854775808',
      '1.50',
      '1E+3',
      '-0',
      '1.50',
      'true',
      'null',
    ]);
  });

  it('gives bigint parts digit for digit, where a double would round them', () => {
    const id = idOf({ k: 'a', c: JSON.rawJSON('9007199254740993') });
    expect(id).toBe('["a",9007199254740993]');
    expect(splitJsonId(id)).toEqual(['a', '9007199254740993']);
    expect(String(JSON.parse(id)[1])).toBe('9007199254740992'); // what a plain JSON.parse gives
  });

  it('gives nested values their exact JSON text', () => {
    expect(splitJsonId('[[9007199254740993,"x"],{"n":0.10}]')).toEqual(['[9007199254740993,"x"]', '{"n":0.10}']);
  });

  it('is undefined for what is not a JSON array', () => {
    expect(splitJsonId('a:b')).toBeUndefined();
    expect(splitJsonId('"a"')).toBeUndefined();
    expect(splitJsonId('[1,')).toBeUndefined();
  });

  it('leaves what is not a JSON array to be reported as one malformed part', () => {
    const source = sourceKeyedBy(KEYS[0]!);
    expect(source.idParts('a:1')).toEqual(['a:1']);
  });
});
