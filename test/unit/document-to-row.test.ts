// Document -> row is the exact inverse of row -> document (docs/types.md): every CQL value,
// converted to its document value, written as JSON and read back, converts to an equal value
// (by the driver's own equality); values of the wrong shape are refused with a clear reason.
import { describe, expect, it } from 'vitest';
import cassandra from 'cassandra-driver';
import { T, type CqlType } from '../../src/cassandra/cql-type.js';
import { RowValueError, compileRowConverter, documentToRow } from '../../src/cassandra/document-to-row.js';
import { exactNumbers } from '../../src/engine/exact-numbers.js';
import { cqlTypeName as typeName } from '../../src/cassandra/cql-type.js';
import type { TableSchema } from '../../src/cassandra/table-schema.js';
import { compileConverter } from '../../src/cassandra/value-converter.js';

const { Long, Integer, BigDecimal, Uuid, TimeUuid, LocalDate, LocalTime, InetAddress, Duration, Tuple, Vector } = cassandra.types;

const t = (code: number, info?: unknown): CqlType => ({ code, info });
const frozen = (type: CqlType): CqlType => ({ ...type, options: { frozen: true } });
const vector = (el: CqlType, n: number): CqlType => ({ code: T.custom, customTypeName: 'vector', info: [el, n] });
const address = t(T.udt, {
  name: 'address',
  fields: [
    { name: 'street', type: t(T.text) },
    { name: 'zip', type: t(T.int) },
    { name: 'tags', field: 'tags', type: frozen(t(T.list, t(T.text))) },
  ],
});

/** Equality as the driver defines it, through collections, tuples, UDTs and vectors. */
function same(a: unknown, b: unknown): boolean {
  if (a === null || b === null || a === undefined || b === undefined) return a === b;
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || a === b;
  if (a instanceof BigDecimal) return a.equals(b as never) && String(a) === String(b); // value and scale
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof Tuple) return b instanceof Tuple && same(a.values(), b.values());
  if (a instanceof Vector) return b instanceof Vector && same([...a.elements], [...b.elements]);
  if (a instanceof Set) return same([...a], b instanceof Set ? [...b] : b);
  // Cassandra orders map entries by key; a document's object may list integer keys first.
  if (a instanceof Map) return b instanceof Map && a.size === b.size && [...a].every(([k, v]) => [...b].some(([k2, v2]) => same(k, k2) && same(v, v2)));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  const eq = (a as { equals?: (o: unknown) => boolean }).equals;
  if (typeof eq === 'function') return a.constructor === (b as object).constructor && eq.call(a, b);
  if (typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a as object);
    return same(keys, Object.keys(b as object)) && keys.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

interface Case {
  readonly type: CqlType;
  readonly value: unknown;
  /** The value survives a plain JSON.parse (no number beyond what a double holds exactly). */
  readonly plain?: boolean;
}

const c = (type: CqlType, value: unknown, plain = true): Case => ({ type, value, plain });
const f32 = Math.fround;

const CASES: Case[] = [
  c(t(T.ascii), 'ascii'),
  c(t(T.text), 'text ü'),
  c(t(T.varchar), ''),
  c(t(T.int), -2147483648),
  c(t(T.int), 2147483647),
  c(t(T.smallint), -32768),
  c(t(T.tinyint), 127),
  c(t(T.bigint), Long.fromString('9223372036854775807'), false),
  c(t(T.bigint), Long.fromString('-9223372036854775808'), false),
  c(t(T.bigint), Long.fromNumber(-5)),
  c(t(T.bigint), Long.fromNumber(Number.MAX_SAFE_INTEGER)),
  c(t(T.counter), Long.fromNumber(42)),
  c(t(T.varint), Integer.fromString('123456789012345678901234567890')),
  c(t(T.varint), Integer.fromString('-7')),
  c(t(T.decimal), BigDecimal.fromString('12345678901234567890.000000000001'), false),
  c(t(T.decimal), BigDecimal.fromString('1.50'), false),
  c(t(T.decimal), new BigDecimal(Integer.fromNumber(123) as never, -5), false),
  c(t(T.decimal), BigDecimal.fromString('-0.00012')),
  c(t(T.decimal), BigDecimal.fromString('0.5')),
  c(t(T.float), f32(3.14)),
  c(t(T.float), f32(-1e-30)),
  c(t(T.float), Number.NaN),
  c(t(T.float), Number.NEGATIVE_INFINITY),
  c(t(T.double), 0.1),
  c(t(T.double), Number.MAX_VALUE),
  c(t(T.double), Number.POSITIVE_INFINITY),
  c(t(T.double), Number.NaN),
  c(t(T.boolean), true),
  c(t(T.boolean), false),
  c(t(T.uuid), Uuid.fromString('5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91')),
  c(t(T.timeuuid), TimeUuid.fromString('50554d6e-29bb-11e5-b345-feff819cdc9f')),
  c(t(T.timestamp), new Date('2020-09-28T15:47:15.919Z')),
  c(t(T.timestamp), new Date(-1)),
  c(t(T.timestamp), new Date('+275760-09-13T00:00:00.000Z')),
  c(t(T.date), LocalDate.fromString('1987-12-31')),
  c(t(T.date), LocalDate.fromString('-0044-03-15')),
  c(t(T.date), LocalDate.fromString('-2147483648')), // beyond JavaScript dates: days since the epoch
  c(t(T.time), LocalTime.fromString('13:30:54.234')),
  c(t(T.time), LocalTime.fromString('00:00:00')),
  c(t(T.time), LocalTime.fromString('23:59:59.999999999')),
  c(t(T.duration), new Duration(14, 3, Long.fromString('14706007008009'))),
  c(t(T.duration), new Duration(-1, -2, Long.fromString('-1'))),
  c(t(T.duration), new Duration(0, 0, Long.ZERO)),
  c(t(T.duration), new Duration(0, 10, Long.fromString('9223372036854775807'))),
  c(t(T.inet), InetAddress.fromString('192.168.0.1')),
  c(t(T.inet), InetAddress.fromString('2001:db8::ff00:42:8329')),
  c(t(T.blob), Buffer.from([0xca, 0xfe])),
  c(t(T.blob), Buffer.alloc(0)),
  c(t(T.list, t(T.int)), [3, 1, 2]),
  c(t(T.set, t(T.text)), new Set(['a', 'b'])),
  c(frozen(t(T.list, t(T.text))), ['p', 'q']),
  c(t(T.list, t(T.bigint)), [Long.fromString('9223372036854775807'), Long.ONE], false),
  c(t(T.map, [t(T.text), t(T.int)]), new Map([['x', 1], ['y.z', 2]])),
  c(t(T.map, [t(T.timestamp), t(T.text)]), new Map([[new Date('2020-01-01T00:00:00.000Z'), 'new year']])),
  c(t(T.map, [t(T.int), t(T.text)]), new Map([[-1, 'minus one'], [2, 'two']])),
  c(t(T.map, [t(T.bigint), t(T.text)]), new Map([[Long.fromString('9223372036854775807'), 'max']])),
  c(t(T.map, [t(T.decimal), t(T.text)]), new Map([[BigDecimal.fromString('1.50'), 'one and a half']])),
  c(t(T.map, [t(T.double), t(T.text)]), new Map([[Number.NaN, 'nan'], [0.1, 'tenth']])),
  c(t(T.map, [t(T.boolean), t(T.int)]), new Map([[false, 0], [true, 1]])),
  c(t(T.map, [t(T.uuid), t(T.date)]), new Map([[Uuid.fromString('5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91'), LocalDate.fromString('2024-02-29')]])),
  c(t(T.map, [frozen(t(T.tuple, [t(T.int), t(T.text)])), t(T.int)]), new Map([[new Tuple(1, 'a'), 1]])),
  c(t(T.map, [frozen(t(T.list, t(T.int))), t(T.text)]), new Map([[[1, 2], 'pair']])),
  c(t(T.map, [t(T.text), frozen(t(T.list, t(T.text)))]), new Map([['board', ['State (Tamil Nadu)']], ['medium', ['English', 'Hindi']]])),
  c(t(T.map, [t(T.text), t(T.decimal)]), new Map([['price', BigDecimal.fromString('19.99')]])),
  c(t(T.tuple, [t(T.int), t(T.text), t(T.boolean)]), new Tuple(1, 'two', false)),
  c(t(T.tuple, [t(T.int), t(T.timestamp)]), new Tuple(null, new Date(0))),
  c(address, { street: 'Main', zip: 600001, tags: ['home'] }),
  c(frozen(address), { street: 'Side', zip: null, tags: null }),
  c(t(T.list, frozen(address)), [{ street: 'A', zip: 1, tags: ['x', 'y'] }]),
  c(vector(t(T.float), 3), new Vector([f32(1.5), f32(-2.25), f32(3.1)], 'float')),
  c(vector(t(T.int), 2), new Vector([1, -2], 'int')),
];

const toJson = (type: CqlType, value: unknown) => JSON.stringify(compileConverter(type)(value));

describe('document value -> CQL value', () => {
  for (const { type, value, plain } of CASES) {
    const name = `${typeName(type)} ${toJson(type, value)}`;
    it(`reads back ${name}`, () => {
      const json = toJson(type, value);
      const back = compileRowConverter(type)(JSON.parse(json, exactNumbers));
      expect(same(value, back)).toBe(true);
      // And the value converts to the same document text again.
      expect(toJson(type, back)).toBe(json);
      if (plain) expect(same(value, compileRowConverter(type)(JSON.parse(json)))).toBe(true);
    });
  }

  it('gives null for null, and for empty collections', () => {
    for (const { type } of CASES) expect(compileRowConverter(type)(null)).toBeNull();
    expect(compileRowConverter(t(T.list, t(T.int)))([])).toBeNull();
    expect(compileRowConverter(t(T.map, [t(T.text), t(T.int)]))({})).toBeNull();
  });

  it('takes bigints as safe numbers, strings of digits and raw JSON numbers', () => {
    const bigint = compileRowConverter(t(T.bigint));
    expect(String(bigint(42))).toBe('42');
    expect(String(bigint('-9223372036854775808'))).toBe('-9223372036854775808');
    expect(String(bigint(JSON.rawJSON('9223372036854775807')))).toBe('9223372036854775807');
    expect(String(bigint(JSON.rawJSON('1.0e3')))).toBe('1000');
    // A plain parse rounds 9223372036854775807: refused, never written rounded.
    expect(() => bigint(JSON.parse('9223372036854775807'))).toThrow(/bigint .*safe JSON number or a string of digits/);
  });

  it('reads decimals with their scale and with exponents', () => {
    const decimal = compileRowConverter(t(T.decimal));
    expect(String(decimal('1.50'))).toBe('1.50');
    expect(String(decimal(1.5e3))).toBe('1500');
    const exp = decimal('1.5e3') as InstanceType<typeof BigDecimal>;
    expect(exp.equals(BigDecimal.fromString('1500'))).toBe(true);
    expect((exp as unknown as { _scale: number })._scale).toBe(-2); // as Java reads 1.5e3: 15 x 10^2
    expect(String(decimal(JSON.rawJSON('123E+5')))).toBe(String(new BigDecimal(Integer.fromNumber(123) as never, -5)));
  });

  it('accepts other ISO 8601 forms of a timestamp, and epoch milliseconds', () => {
    const ts = compileRowConverter(t(T.timestamp));
    const ms = (v: unknown) => (ts(v) as Date).getTime();
    expect(ms('2020-09-28T15:47:15.919123Z')).toBe(Date.parse('2020-09-28T15:47:15.919Z'));
    expect(ms('2020-09-28T17:47:15.919+02:00')).toBe(Date.parse('2020-09-28T15:47:15.919Z'));
    expect(ms('2020-09-28T17:47:15.919+0200')).toBe(Date.parse('2020-09-28T15:47:15.919Z'));
    expect(ms('2020-09-28T15:47:15')).toBe(Date.parse('2020-09-28T15:47:15Z')); // no offset: UTC
    expect(ms('2020-09-28')).toBe(Date.parse('2020-09-28T00:00:00Z'));
    expect(ms(1601308035919)).toBe(1601308035919);
  });

  it('keeps numbers a double would round as raw JSON, and only those', () => {
    const text = '{"a":0.1,"b":1.50,"c":9007199254740993,"d":12345678901234567890.000000000001,"e":-7,"f":1e400,"g":[2.5]}';
    const doc = JSON.parse(text, exactNumbers) as Record<string, unknown>;
    expect(doc.a).toBe(0.1);
    expect(doc.e).toBe(-7);
    expect(doc.g).toEqual([2.5]);
    for (const k of ['b', 'c', 'd', 'f']) expect(JSON.isRawJSON(doc[k]), k).toBe(true);
    expect(JSON.stringify(doc)).toBe(text);
  });
});

describe('values of the wrong shape', () => {
  const wrong: [CqlType, unknown, RegExp][] = [
    [t(T.int), 'abc', /expected an int \(a whole number from -2147483648 to 2147483647\), got "abc"/],
    [t(T.int), 2147483648, /expected an int/],
    [t(T.int), 1.5, /expected an int/],
    [t(T.tinyint), 200, /expected a tinyint \(a whole number from -128 to 127\)/],
    [t(T.bigint), '9223372036854775808', /expected a bigint/],
    [t(T.bigint), 2 ** 60, /expected a bigint/],
    [t(T.varint), '12a', /expected a varint/],
    [t(T.decimal), 'ten', /expected a decimal/],
    [t(T.float), 1e39, /expected a float/],
    [t(T.double), 'nan', /expected a double/],
    [t(T.text), 5, /expected a string, got 5/],
    [t(T.ascii), 'ü', /expected a string of ASCII characters/],
    [t(T.boolean), 'true', /expected true or false, got "true"/],
    [t(T.uuid), 'xyz', /expected a uuid/],
    [t(T.timeuuid), '5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91', /expected a timeuuid/],
    [t(T.timestamp), 'yesterday', /expected a timestamp/],
    [t(T.timestamp), '2021-02-30T00:00:00Z', /expected a timestamp/],
    [t(T.timestamp), 1.5, /expected a timestamp/],
    [t(T.date), '2021-13-01', /expected a date \(YYYY-MM-DD\)/],
    [t(T.date), '2021-02-29', /expected a date/],
    [t(T.time), '25:00:00', /expected a time/],
    [t(T.duration), '1 day', /expected a duration/],
    [t(T.duration), 'P', /expected a duration/],
    [t(T.inet), '999.1.1.1', /expected an IP address/],
    [t(T.blob), 'not base64!', /expected bytes in base64/],
    [t(T.list, t(T.int)), 'x', /expected an array \(list<int>\)/],
    [t(T.list, t(T.int)), [1, null], /element 1: expected an int \(collections cannot hold null\), got null/],
    [t(T.list, t(T.int)), ['1', 2], /element 0: expected an int/],
    [t(T.map, [t(T.text), t(T.int)]), [1], /expected an object \(map<text, int>\)/],
    [t(T.map, [t(T.int), t(T.text)]), { one: 'x' }, /key "one": expected an int/],
    [t(T.map, [t(T.text), t(T.int)]), { a: 'x' }, /value at "a": expected an int/],
    [t(T.map, [t(T.boolean), t(T.int)]), { yes: 1 }, /key "yes": expected a boolean written as JSON text/],
    [t(T.tuple, [t(T.int), t(T.text)]), [1], /expected an array of 2 parts \(tuple<int, text>\)/],
    [t(T.tuple, [t(T.int), t(T.text)]), [1, 2], /part 1: expected a string, got 2/],
    [address, { street: 'x', city: 'y' }, /expected only the fields of address \(street, zip, tags\), not "city"/],
    [address, { zip: 'x' }, /field zip: expected an int/],
    [vector(t(T.float), 3), [1, 2], /expected an array of 3 numbers \(vector<float, 3>\)/],
  ];
  for (const [type, value, message] of wrong) {
    it(`refuses ${JSON.stringify(value)} for ${typeName(type)}`, () => {
      const conv = compileRowConverter(type);
      expect(() => conv(value)).toThrow(RowValueError);
      expect(() => conv(value)).toThrow(message);
    });
  }
});

describe('documentToRow', () => {
  const schema: TableSchema = {
    keyspace: 'ks',
    table: 'people',
    columns: [
      { name: 'id', field: 'id', type: t(T.text), kind: 'partition' },
      { name: 'n', field: 'n', type: t(T.int), kind: 'clustering' },
      { name: 'age', field: 'age', type: t(T.int), kind: 'regular' },
      { name: 'tags', field: 'tags', type: t(T.set, t(T.text)), kind: 'regular' },
    ],
    partitionKeys: ['id'],
    keyColumns: ['id', 'n'],
    writetimeColumns: [],
    hasCounters: false,
  };
  const toRow = documentToRow(schema);

  it('gives every column in schema order: missing fields are null, other fields are ignored', () => {
    const row = toRow({ age: 41, id: 'r1', n: 1, extra: 'ignored', _cesync: { digest: 'x', version: 5 } });
    expect(row.columns).toEqual(['id', 'n', 'age', 'tags']);
    expect(row.values).toEqual(['r1', 1, 41, null]);
  });

  it('names the column of a bad value, and refuses a missing key', () => {
    expect(() => toRow({ id: 'r1', n: 1, age: 'abc' })).toThrow('column "age": expected an int (a whole number from -2147483648 to 2147483647), got "abc"');
    expect(() => toRow({ id: 'r1', n: 1, tags: ['a', 7] })).toThrow('column "tags", element 1: expected a string, got 7');
    expect(() => toRow({ id: 'r1', age: 1 })).toThrow(/column "n": expected a value \(it is a primary key column\)/);
  });
});
