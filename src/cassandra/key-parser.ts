/**
 * Key column values from text (a CSV column, a part of a document id), checked against the
 * column's CQL type. The text forms are those of docs/types.md, so a document id's parts read
 * back as the key they came from.
 */
import cassandra from 'cassandra-driver';
import { T, cqlTypeName, type CqlType } from './cql-type.js';

const { Long, Integer, BigDecimal, Uuid, TimeUuid, LocalDate, LocalTime, InetAddress } = cassandra.types;

export type KeyValue = { ok: true; value: unknown } | { ok: false; error: string };

const INT_RANGE: Record<number, [number, number]> = {
  [T.tinyint]: [-128, 127],
  [T.smallint]: [-32768, 32767],
  [T.int]: [-2147483648, 2147483647],
};
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ok = (value: unknown): KeyValue => ({ ok: true, value });

export function parseKeyValue(type: CqlType, text: string): KeyValue {
  const bad = (what: string): KeyValue => ({ ok: false, error: `${JSON.stringify(text)} is not ${what}` });
  try {
    switch (type.code) {
      case T.ascii:
      case T.text:
      case T.varchar:
        return ok(text);
      case T.tinyint:
      case T.smallint:
      case T.int: {
        const [lo, hi] = INT_RANGE[type.code]!;
        const n = Number(text);
        return /^-?\d+$/.test(text) && n >= lo && n <= hi ? ok(n) : bad(`an ${cqlTypeName(type)}`);
      }
      case T.bigint:
      case T.counter: {
        if (!/^-?\d+$/.test(text)) return bad('a bigint');
        const v = BigInt(text);
        return v >= -(2n ** 63n) && v < 2n ** 63n ? ok(Long.fromString(text)) : bad('a bigint');
      }
      case T.varint:
        return /^-?\d+$/.test(text) ? ok(Integer.fromString(text)) : bad('a varint');
      case T.decimal:
        return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text) ? ok(BigDecimal.fromString(text)) : bad('a decimal');
      case T.float:
      case T.double: {
        const n = Number(text);
        return text.trim() !== '' && !Number.isNaN(n) ? ok(n) : bad(`a ${cqlTypeName(type)}`);
      }
      case T.boolean:
        return text === 'true' || text === 'false' ? ok(text === 'true') : bad('true or false');
      case T.uuid:
        return UUID_RE.test(text) ? ok(Uuid.fromString(text.toLowerCase())) : bad('a uuid');
      case T.timeuuid:
        return UUID_RE.test(text) && text[14] === '1' ? ok(TimeUuid.fromString(text.toLowerCase())) : bad('a timeuuid');
      case T.timestamp: {
        const d = /^-?\d+$/.test(text) ? new Date(Number(text)) : new Date(text);
        return Number.isNaN(d.getTime()) ? bad('a timestamp (ISO 8601 or epoch milliseconds)') : ok(d);
      }
      case T.date:
        return /^-?\d{4,}-\d{2}-\d{2}$/.test(text) ? ok(LocalDate.fromString(text)) : bad('a date (YYYY-MM-DD)');
      case T.time:
        return /^\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/.test(text) ? ok(LocalTime.fromString(text)) : bad('a time (HH:MM:SS[.fraction])');
      case T.inet:
        return ok(InetAddress.fromString(text));
      case T.blob:
        return /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? ok(Buffer.from(text, 'base64')) : bad('base64 bytes');
      default:
        return { ok: false, error: `keys of type ${cqlTypeName(type)} cannot be given as text` };
    }
  } catch {
    return bad(`a ${cqlTypeName(type)}`);
  }
}
