/**
 * CQL value -> JSON document value, compiled once per column type (a closure tree), applied per
 * row. The table in docs/types.md is the contract; this file implements it.
 *
 * No silent loss of precision: bigint and counter become JSON numbers with every digit
 * (`JSON.rawJSON`), varint a string of digits, decimal a JSON number with every digit and its
 * scale, float the shortest decimal that reads back as the same 32-bit float.
 */
import type { FieldType } from '../engine/field-schema.js';
import { T, isVector, type CqlType, type UdtInfo } from './cql-type.js';

export type Converter = (value: unknown) => unknown;

/** A JSON number written exactly as given (Node >= 21). */
const rawNumber = (digits: string): unknown => JSON.rawJSON(digits);

export function compileConverter(type: CqlType): Converter {
  const c = compileNonNull(type);
  return (v) => (v === null || v === undefined ? null : c(v));
}

function compileNonNull(t: CqlType): Converter {
  switch (t.code) {
    case T.ascii:
    case T.text:
    case T.varchar:
    case T.boolean:
    case T.int:
    case T.smallint:
    case T.tinyint:
      return (v) => v;
    case T.double:
      return (v) => finiteOrText(v as number);
    case T.float:
      return (v) => floatValue(v as number);
    case T.bigint:
    case T.counter:
      return (v) => rawNumber(String(v)); // a driver Long: its decimal digits
    case T.varint:
      return (v) => String(v);
    case T.decimal:
      return (v) => rawNumber(decimalText(v));
    case T.uuid:
    case T.timeuuid:
    case T.inet:
    case T.date:
    case T.time:
      return (v) => String(v);
    case T.timestamp:
      return (v) => timestampText(v as Date);
    case T.duration:
      return (v) => durationIso(v as DurationLike);
    case T.blob:
      return (v) => (v as Buffer).toString('base64');
    case T.list:
    case T.set: {
      const el = compileConverter(t.info as CqlType);
      return (v) => Array.from(v as Iterable<unknown>, el);
    }
    case T.map: {
      const [kt, vt] = t.info as [CqlType, CqlType];
      const key = compileMapKey(kt);
      const val = compileConverter(vt);
      return (v) => {
        const out: Record<string, unknown> = {};
        for (const [k, x] of v as Map<unknown, unknown>) out[key(k)] = val(x);
        return out;
      };
    }
    case T.tuple: {
      const parts = (t.info as CqlType[]).map(compileConverter);
      return (v) => (v as { values(): unknown[] }).values().map((x, i) => parts[i]!(x));
    }
    case T.udt: {
      const fields = (t.info as UdtInfo).fields.map((f) => [f.name, compileConverter(f.type)] as const);
      return (v) => {
        const src = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const [name, conv] of fields) out[name] = conv(src[name]);
        return out;
      };
    }
    default:
      if (isVector(t)) {
        const el = compileConverter((t.info as [CqlType, number])[0]);
        return (v) => Array.from(v as Iterable<unknown>, el);
      }
      // Unknown custom types: their raw bytes, so nothing is lost.
      return (v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v));
  }
}

/** Map keys become object keys: the key's JSON rendering, without quotes for strings. */
function compileMapKey(kt: CqlType): (k: unknown) => string {
  const conv = compileConverter(kt);
  return (k) => {
    const v = conv(k);
    return typeof v === 'string' ? v : JSON.stringify(v);
  };
}

/** NaN and the infinities have no JSON number: they go as text, which a numeric field refuses (ledger). */
function finiteOrText(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

/** The shortest decimal that reads back as the same 32-bit float (3.14f -> 3.14, not 3.140000104904175). */
export function floatValue(n: number): number | string {
  if (!Number.isFinite(n)) return String(n);
  for (let p = 1; p <= 9; p++) {
    const s = Number(n.toPrecision(p));
    if (Math.fround(s) === n) return s;
  }
  return n;
}

function timestampText(d: Date): string {
  // Dates outside JavaScript's range are invalid; keep their epoch milliseconds rather than throw.
  return Number.isNaN(d.getTime()) ? String(d) : d.toISOString();
}

/** The driver's BigDecimal: unscaled integer and scale (private fields, read here only). */
function decimalText(v: unknown): string {
  const d = v as { _intVal: { toString(): string }; _scale: number };
  const unscaled = d._intVal.toString();
  const scale = d._scale;
  if (scale === 0) return unscaled;
  if (scale < 0) return `${unscaled}E+${-scale}`;
  const neg = unscaled.startsWith('-');
  const digits = (neg ? unscaled.slice(1) : unscaled).padStart(scale + 1, '0');
  const cut = digits.length - scale;
  return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
}

interface DurationLike {
  months: number;
  days: number;
  nanoseconds: { toString(): string };
}

/** ISO 8601 duration: `P1Y2M3DT4H5M6.000000007S`, `-P...` when negative. Exact and reversible. */
export function durationIso(d: DurationLike): string {
  const nanos = BigInt(d.nanoseconds.toString());
  const negative = d.months < 0 || d.days < 0 || nanos < 0n;
  const months = Math.abs(d.months);
  const days = Math.abs(d.days);
  let n = nanos < 0n ? -nanos : nanos;
  const hours = n / 3_600_000_000_000n;
  n %= 3_600_000_000_000n;
  const minutes = n / 60_000_000_000n;
  n %= 60_000_000_000n;
  const seconds = n / 1_000_000_000n;
  const frac = n % 1_000_000_000n;
  let out = 'P';
  if (months >= 12) out += `${Math.floor(months / 12)}Y`;
  if (months % 12) out += `${months % 12}M`;
  if (days) out += `${days}D`;
  let time = '';
  if (hours) time += `${hours}H`;
  if (minutes) time += `${minutes}M`;
  if (seconds || frac) time += frac ? `${seconds}.${frac.toString().padStart(9, '0').replace(/0+$/, '')}S` : `${seconds}S`;
  if (time) out += `T${time}`;
  if (out === 'P') out = 'PT0S';
  return negative ? `-${out}` : out;
}

/** The neutral field type a CQL type is described by (for the target's mapping). */
export function fieldTypeOf(t: CqlType): FieldType {
  switch (t.code) {
    case T.ascii:
    case T.text:
    case T.varchar:
      return { kind: 'text' };
    case T.tinyint:
      return { kind: 'integer', bits: 8 };
    case T.smallint:
      return { kind: 'integer', bits: 16 };
    case T.int:
      return { kind: 'integer', bits: 32 };
    case T.bigint:
    case T.counter:
      return { kind: 'integer', bits: 64 };
    case T.varint:
      return { kind: 'big-integer' };
    case T.decimal:
      return { kind: 'decimal' };
    case T.float:
      return { kind: 'float' };
    case T.double:
      return { kind: 'double' };
    case T.boolean:
      return { kind: 'boolean' };
    case T.uuid:
    case T.timeuuid:
    case T.time:
    case T.duration:
      return { kind: 'keyword' };
    case T.timestamp:
      return { kind: 'timestamp' };
    case T.date:
      return { kind: 'date' };
    case T.inet:
      return { kind: 'ip' };
    case T.blob:
      return { kind: 'binary' };
    case T.list:
    case T.set:
      return fieldTypeOf(t.info as CqlType);
    case T.map:
      return { kind: 'map', values: fieldTypeOf((t.info as [CqlType, CqlType])[1]) };
    case T.udt:
      return {
        kind: 'object',
        fields: Object.fromEntries((t.info as UdtInfo).fields.map((f) => [f.name, fieldTypeOf(f.type)])),
      };
    default:
      if (isVector(t)) return fieldTypeOf((t.info as [CqlType, number])[0]);
      return { kind: 'opaque' };
  }
}
