/**
 * JSON document value -> CQL value (what cassandra-driver takes as a prepared statement
 * parameter), compiled once per column type and applied per document: the inverse of
 * value-converter.ts. The table in docs/types.md is the contract, read backwards.
 *
 * Each converter accepts exactly what value-converter.ts produces, after a trip through JSON:
 * `compileRowConverter(t)(JSON.parse(JSON.stringify(compileConverter(t)(v))))` equals `v` (for
 * bigint, varint and decimal see below). A value of the wrong shape throws a `RowValueError`
 * that says what was expected and where (`element 2`, `key "x"`, `field zip`).
 *
 * Big numbers: a JavaScript number holds integers exactly only up to 2^53, and `JSON.parse`
 * rounds longer numbers before anyone sees them. So bigint, counter and varint take a number
 * only when it is a safe integer, and otherwise a string of digits or a `JSON.rawJSON` value
 * (which the change feed produces for every number a plain parse would round). decimal takes a
 * number (its shortest text: the scale of `1.50` is lost in a number), a string or a raw JSON
 * number (every digit and the scale kept).
 *
 * Collections: an empty list, set or map is null (Cassandra stores it as null); collections
 * cannot hold null elements, keys or values. Sets are written as arrays (Cassandra orders and
 * de-duplicates them); maps as `Map`s, so the client must be created with
 * `encoding: { map: Map }` (see client.ts) for keys that are not text.
 */
import { isIP } from 'node:net';
import cassandra from 'cassandra-driver';
import { exactNumbers } from '../engine/exact-numbers.js';
import { T, cqlTypeName, isVector, type CqlType, type UdtInfo } from './cql-type.js';
import { quoteIdentifier, type TableSchema } from './table-schema.js';

const { Long, Integer, BigDecimal, Uuid, TimeUuid, LocalDate, LocalTime, InetAddress, Duration, Tuple, Vector } = cassandra.types;

export type RowConverter = (json: unknown) => unknown;

/** A document value that does not fit its column's type; `path` leads to the value inside it. */
export class RowValueError extends Error {
  readonly expected: string;
  readonly got: unknown;
  readonly path: readonly string[];
  constructor(expected: string, got: unknown, path: readonly string[] = []) {
    super(`${path.length ? `${path.join(', ')}: ` : ''}expected ${expected}, got ${describe(got)}`);
    this.name = 'RowValueError';
    this.expected = expected;
    this.got = got;
    this.path = path;
  }

  /** The same error one level further out (`element 2` of a list, `field zip` of a UDT). */
  within(step: string): RowValueError {
    return new RowValueError(this.expected, this.got, [step, ...this.path]);
  }
}

/**
 * The converter of one column type. `null` and `undefined` become `null`.
 *
 * @example compileRowConverter(intType)(42) // 42
 * @example compileRowConverter(bigintType)('9223372036854775807') // Long
 * @example compileRowConverter(intType)('abc') // throws: expected an int ..., got "abc"
 */
export function compileRowConverter(type: CqlType): RowConverter {
  const c = compileNonNull(type);
  return (v) => (v === null || v === undefined ? null : c(v));
}

/** Converts a nested value, putting `step` in front of the path of its error. */
function inside<R>(step: string, fn: () => R): R {
  try {
    return fn();
  } catch (e) {
    throw e instanceof RowValueError ? e.within(step) : e;
  }
}

const INT_RANGE: Record<number, [number, number]> = {
  [T.tinyint]: [-128, 127],
  [T.smallint]: [-32768, 32767],
  [T.int]: [-2147483648, 2147483647],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MAX = 2 ** 31 - 1;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INTEGER_RE = /^-?\d+$/;
const DECIMAL_RE = /^([+-]?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const NON_FINITE = new Map([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

function compileNonNull(t: CqlType): RowConverter {
  const name = cqlTypeName(t);
  switch (t.code) {
    case T.text:
    case T.varchar:
      return (v) => {
        if (typeof v !== 'string') throw new RowValueError('a string', v);
        return v;
      };
    case T.ascii:
      return (v) => {
        if (typeof v !== 'string' || !isAscii(v)) throw new RowValueError('a string of ASCII characters', v);
        return v;
      };
    case T.tinyint:
    case T.smallint:
    case T.int: {
      const [lo, hi] = INT_RANGE[t.code]!;
      const expected = `${withArticle(name)} (a whole number from ${lo} to ${hi})`;
      return (v) => {
        const n = numberOf(v);
        if (n === undefined || !Number.isInteger(n) || n < lo || n > hi) throw new RowValueError(expected, v);
        return n;
      };
    }
    case T.bigint:
    case T.counter:
      return (v) => {
        const digits = integerText(v);
        if (digits === undefined || BigInt(digits) < INT64_MIN || BigInt(digits) > INT64_MAX) {
          throw new RowValueError(`a ${name} (a whole number within 64 bits, as a safe JSON number or a string of digits)`, v);
        }
        return Long.fromString(digits);
      };
    case T.varint:
      return (v) => {
        const digits = integerText(v);
        if (digits === undefined) throw new RowValueError('a varint (a string of digits, or a safe whole JSON number)', v);
        return Integer.fromString(digits);
      };
    case T.decimal:
      return (v) => {
        const d = typeof v === 'number' && Number.isFinite(v) ? decimalOf(String(v)) : typeof v === 'string' || JSON.isRawJSON(v) ? decimalOf(textOf(v)) : undefined;
        if (d === undefined) throw new RowValueError('a decimal (a JSON number or a string such as "12.50")', v);
        return d;
      };
    case T.float:
    case T.double: {
      const isFloat = t.code === T.float;
      return (v) => {
        const n = typeof v === 'string' ? NON_FINITE.get(v) : numberOf(v);
        // A finite double beyond a 32-bit float's range would be written as Infinity.
        if (n === undefined || (isFloat && Number.isFinite(n) && !Number.isFinite(Math.fround(n)))) {
          throw new RowValueError(`a ${name} (a JSON number, or "NaN", "Infinity", "-Infinity")`, v);
        }
        // 3.14 is the shortest text of the float 3.140000104904175: read back, it is that float.
        return isFloat ? Math.fround(n) : n;
      };
    }
    case T.boolean:
      return (v) => {
        if (typeof v !== 'boolean') throw new RowValueError('true or false', v);
        return v;
      };
    case T.uuid:
      return (v) => {
        if (typeof v !== 'string' || !UUID_RE.test(v)) throw new RowValueError('a uuid', v);
        return Uuid.fromString(v.toLowerCase());
      };
    case T.timeuuid:
      return (v) => {
        if (typeof v !== 'string' || !UUID_RE.test(v) || v[14] !== '1') throw new RowValueError('a timeuuid (a version 1 uuid)', v);
        return TimeUuid.fromString(v.toLowerCase());
      };
    case T.timestamp:
      return (v) => {
        const d = timestampOf(v);
        if (d === undefined) throw new RowValueError('a timestamp (ISO 8601 text such as "2020-09-28T15:47:15.919Z", or epoch milliseconds)', v);
        return d;
      };
    case T.date:
      return (v) => {
        const d = typeof v === 'string' ? localDateOf(v) : undefined;
        if (d === undefined) throw new RowValueError('a date (YYYY-MM-DD)', v);
        return d;
      };
    case T.time:
      return (v) => {
        const m = typeof v === 'string' ? /^(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?$/.exec(v) : null;
        if (!m || Number(m[1]) > 23 || Number(m[2]) > 59 || Number(m[3] ?? 0) > 59) {
          throw new RowValueError('a time (HH:MM:SS[.fraction], up to nanoseconds)', v);
        }
        return LocalTime.fromString(v as string);
      };
    case T.duration:
      return (v) => {
        const d = typeof v === 'string' ? durationOf(v) : undefined;
        if (d === undefined) throw new RowValueError('a duration (ISO 8601, such as "P1Y2M3DT4H5M6.007008009S")', v);
        return d;
      };
    case T.inet:
      return (v) => {
        if (typeof v !== 'string' || isIP(v) === 0) throw new RowValueError('an IP address', v);
        return InetAddress.fromString(v);
      };
    case T.blob:
      return (v) => {
        const b = typeof v === 'string' ? base64Of(v) : undefined;
        if (b === undefined) throw new RowValueError('bytes in base64', v);
        return b;
      };
    case T.list:
    case T.set: {
      const el = compileElement(t.info as CqlType);
      return (v) => {
        if (!Array.isArray(v)) throw new RowValueError(`an array (${name})`, v);
        return v.length === 0 ? null : v.map((x, i) => inside(`element ${i}`, () => el(x)));
      };
    }
    case T.map: {
      const [kt, vt] = t.info as [CqlType, CqlType];
      const key = compileMapKey(kt);
      const val = compileElement(vt);
      return (v) => {
        if (!isPlainObject(v)) throw new RowValueError(`an object (${name})`, v);
        const out = new Map<unknown, unknown>();
        for (const [k, x] of Object.entries(v)) {
          const kv = inside(`key ${JSON.stringify(k)}`, () => key(k));
          out.set(kv, inside(`value at ${JSON.stringify(k)}`, () => val(x)));
        }
        return out.size === 0 ? null : out;
      };
    }
    case T.tuple: {
      const parts = (t.info as CqlType[]).map(compileRowConverter);
      return (v) => {
        if (!Array.isArray(v) || v.length !== parts.length) throw new RowValueError(`an array of ${parts.length} parts (${name})`, v);
        return Tuple.fromArray(parts.map((p, i) => inside(`part ${i}`, () => p(v[i]))));
      };
    }
    case T.udt: {
      const info = t.info as UdtInfo;
      const fields = info.fields.map((f) => [f.name, compileRowConverter(f.type)] as const);
      const known = new Set(info.fields.map((f) => f.name));
      return (v) => {
        if (!isPlainObject(v)) throw new RowValueError(`an object (${name})`, v);
        // A field the type does not have would be lost silently: refuse it.
        const unknown = Object.keys(v).filter((k) => !known.has(k));
        if (unknown.length) {
          const fields = [...known].join(', ');
          throw new RowValueError(`only the fields of ${name} (${fields}), not ${unknown.map((k) => JSON.stringify(k)).join(', ')}`, v);
        }
        const out: Record<string, unknown> = {};
        for (const [field, conv] of fields) out[field] = inside(`field ${field}`, () => conv(v[field]));
        return out;
      };
    }
    default:
      if (isVector(t)) {
        const [elType, n] = t.info as [CqlType, number];
        const el = compileElement(elType);
        const subtype = cqlTypeName(elType);
        return (v) => {
          if (!Array.isArray(v) || v.length !== n) throw new RowValueError(`an array of ${n} numbers (${name})`, v);
          return new Vector(v.map((x, i) => inside(`element ${i}`, () => el(x))), subtype);
        };
      }
      // Unknown custom types were written as their raw bytes in base64.
      return (v) => {
        const b = typeof v === 'string' ? base64Of(v) : undefined;
        if (b === undefined) throw new RowValueError(`bytes in base64 (${name})`, v);
        return b;
      };
  }
}

/** Elements of collections and vectors: like a column value, but never null. */
function compileElement(t: CqlType): RowConverter {
  const c = compileNonNull(t);
  return (v) => {
    if (v === null || v === undefined) throw new RowValueError(`${withArticle(cqlTypeName(t))} (collections cannot hold null)`, v);
    return c(v);
  };
}

/**
 * Map keys are object keys: the key's document value as text (value-converter.ts'
 * `compileMapKey`). Types whose document value is a string or a number read the text itself;
 * the others (boolean, frozen collections, tuples, UDTs used as keys) read it as JSON first.
 */
function compileMapKey(kt: CqlType): (text: string) => unknown {
  const conv = compileElement(kt);
  switch (kt.code) {
    case T.tinyint:
    case T.smallint:
    case T.int:
      return (k) => conv(INTEGER_RE.test(k) ? Number(k) : k);
    case T.float:
    case T.double:
      return (k) => conv(!NON_FINITE.has(k) && DECIMAL_RE.test(k) ? Number(k) : k);
    case T.boolean:
    case T.list:
    case T.set:
    case T.map:
    case T.tuple:
    case T.udt:
      return (k) => conv(parseKeyJson(k, kt));
    default:
      // Vectors are JSON arrays; every other type (bigint and decimal too) reads the text itself.
      return isVector(kt) ? (k) => conv(parseKeyJson(k, kt)) : conv;
  }
}

function parseKeyJson(text: string, kt: CqlType): unknown {
  try {
    return JSON.parse(text, exactNumbers);
  } catch {
    throw new RowValueError(`${withArticle(cqlTypeName(kt))} written as JSON text`, text);
  }
}

/** `-0012.3400e1` -> `-1234e-1`: sign, significant digits and exponent (`0` for zero). */
function normalisedDecimal(text: string): string | undefined {
  const m = DECIMAL_RE.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  let digits = (m[2]! + frac).replace(/^0+/, '');
  let exp = Number(m[4] ?? 0) - frac.length;
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  return `${m[1] === '-' ? '-' : ''}${digits}e${exp}`;
}

/** Every UTF-16 unit below 0x80 is exactly when the UTF-8 bytes are as many as the units. */
const isAscii = (s: string): boolean => Buffer.byteLength(s, 'utf8') === s.length;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !JSON.isRawJSON(v);
}

/** The text of a string or of a raw JSON value. */
function textOf(v: unknown): string {
  return JSON.isRawJSON(v) ? (v as { rawJSON: string }).rawJSON : String(v);
}

/** A number from a JSON number or a raw JSON number; undefined for anything else. */
function numberOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (JSON.isRawJSON(v) && DECIMAL_RE.test(textOf(v))) return Number(textOf(v));
  return undefined;
}

/** The digits of a whole number given as a safe JSON number, a string of digits or a raw JSON number. */
function integerText(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : undefined;
  if (typeof v !== 'string' && !JSON.isRawJSON(v)) return undefined;
  const text = textOf(v);
  if (INTEGER_RE.test(text)) return text;
  // A raw number such as 1.0 or 1e3 that is still a whole number.
  const m = JSON.isRawJSON(v) ? /^(-?)(\d+)e(\d+)$/.exec(normalisedDecimal(text) ?? '') : null;
  if (JSON.isRawJSON(v) && normalisedDecimal(text) === '0') return '0';
  return m ? `${m[1]}${m[2]}${'0'.repeat(Number(m[3]))}` : undefined;
}

/** Decimal text -> BigDecimal with every digit and its scale (`1.50` has scale 2, `123E+5` scale -5). */
function decimalOf(text: string): unknown {
  const m = DECIMAL_RE.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const scale = frac.length - Number(m[4] ?? 0);
  if (!Number.isInteger(scale) || Math.abs(scale) > INT32_MAX) return undefined;
  const unscaled = `${m[1] === '-' ? '-' : ''}${(m[2]! + frac).replace(/^0+(?=\d)/, '')}`;
  // The constructor takes an Integer too (its typings say number only); fromString would
  // misread exponents (`1.5e3` as 0.015).
  return new BigDecimal(Integer.fromString(unscaled) as unknown as number, scale);
}

/**
 * ISO 8601 text (a date alone is midnight UTC; a time without an offset is UTC, as in
 * Elasticsearch) or epoch milliseconds -> Date. Digits below the millisecond are dropped:
 * Cassandra's timestamp holds milliseconds.
 */
function timestampOf(v: unknown): Date | undefined {
  if (typeof v === 'number' || JSON.isRawJSON(v)) {
    const n = numberOf(v);
    return n !== undefined && Number.isSafeInteger(n) ? validDate(new Date(n)) : undefined;
  }
  if (typeof v !== 'string') return undefined;
  const m = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', f = '', zone = 'Z'] = m;
  // Date rolls 2021-02-30 over to March 2: refuse days and times that do not exist.
  const fields = `-${mo}-${d}T${h}:${mi}:${s}`;
  const utc = validDate(new Date(`${y}${fields}.000Z`));
  if (!utc || utc.toISOString().slice(-20, -5) !== fields) return undefined;
  const offset = zone === 'Z' || zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  return validDate(new Date(`${y}${fields}.${f.padEnd(3, '0').slice(0, 3)}${offset}`));
}

const validDate = (d: Date): Date | undefined => (Number.isNaN(d.getTime()) ? undefined : d);

/** `YYYY-MM-DD` (or days since the epoch, the form of dates JavaScript cannot hold) -> LocalDate. */
function localDateOf(text: string): unknown {
  if (!/^-?\d{4,}-\d{2}-\d{2}$/.test(text) && !INTEGER_RE.test(text)) return undefined;
  try {
    const d = LocalDate.fromString(text);
    // LocalDate rolls 2021-02-30 over to March: refuse dates that do not exist.
    return d.toString() === text ? d : undefined;
  } catch {
    return undefined;
  }
}

/** Canonical base64 (padding optional) -> bytes; anything else is refused, not skipped. */
function base64Of(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '') ? bytes : undefined;
}

const DURATION_RE = /^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?)?$/;

/**
 * ISO 8601 duration -> Duration, exact to the nanosecond (the inverse of `durationIso`):
 * years and months become months, weeks and days days, the time part nanoseconds; a leading
 * `-` negates all three.
 */
function durationOf(text: string): unknown {
  const m = DURATION_RE.exec(text);
  if (!m || text.endsWith('P') || text.endsWith('T')) return undefined;
  const [, neg, y = '0', mo = '0', w = '0', d = '0', h = '0', mi = '0', s = '0', f = ''] = m;
  const months = BigInt(y) * 12n + BigInt(mo);
  const days = BigInt(w) * 7n + BigInt(d);
  const nanos =
    BigInt(h) * 3_600_000_000_000n + BigInt(mi) * 60_000_000_000n + BigInt(s) * 1_000_000_000n + BigInt(f.padEnd(9, '0') || '0');
  const sign = neg ? -1n : 1n;
  if (months > BigInt(INT32_MAX) || days > BigInt(INT32_MAX) || nanos > INT64_MAX) return undefined;
  return new Duration(Number(sign * months), Number(sign * days), Long.fromString(String(sign * nanos)));
}

/** A document as a row: the values of every column of the table, in schema order. */
export interface RowValues {
  readonly columns: readonly string[];
  readonly values: unknown[];
}

/**
 * Document (fields named as mapFields says) -> the values of all the table's columns, in schema
 * order. A field missing from the document is null (so the row's cell is deleted, as the
 * document says); fields that are not columns are ignored (cesync's metadata among them). A
 * key column without a value, or a value that does not fit its column, throws a RowValueError
 * naming the column.
 *
 * @example documentToRow(schema)({ id: 'r1', age: 41 }) // { columns: ['id', 'age', 'city'], values: ['r1', 41, null] }
 */
export function documentToRow(schema: TableSchema): (doc: Readonly<Record<string, unknown>>) => RowValues {
  const columns = schema.columns.map((c) => c.name);
  // Documents name columns by their fields (the pipeline's field mapping; the column name by default).
  const fields = schema.columns.map((c) => c.field);
  const keys = new Set(schema.keyColumns);
  const converters = schema.columns.map((c) => compileRowConverter(c.type));
  return (doc) => {
    const values = converters.map((conv, i) => {
      const name = columns[i]!;
      const field = fields[i]!;
      const value = Object.hasOwn(doc, field) ? doc[field] : undefined;
      if (keys.has(name) && (value === null || value === undefined)) {
        throw new RowValueError('a value (it is a primary key column)', value, [`column ${quoteIdentifier(name)}`]);
      }
      return inside(`column ${quoteIdentifier(name)}`, () => conv(value));
    });
    return { columns, values };
  };
}


const withArticle = (name: string): string => `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;

/** A value as a message shows it: JSON, shortened. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
