/**
 * PostgreSQL values as document values (docs/types.md), and their field types for the mapping.
 *
 * The pool (client.ts) hands over the server's text for int8, numeric, dates, times and
 * intervals (and arrays of them), so nothing is rounded on the way: int8 and numeric become JSON
 * numbers with every digit (`JSON.rawJSON`), timestamps ISO 8601 in UTC with every fraction digit,
 * json and jsonb objects whose big numbers keep every digit too.
 */
import pg from 'pg';
import type { FieldType } from '../engine/field-schema.js';
import { INTEGER_BITS, type PgType } from './table-schema.js';

type Convert = (v: unknown) => unknown;

export function pgFieldType(t: PgType): FieldType {
  const bits = INTEGER_BITS[t.name];
  if (bits !== undefined) return { kind: 'integer', bits };
  switch (t.name) {
    case 'numeric':
      return { kind: 'decimal' };
    case 'float4':
      return { kind: 'float' };
    case 'float8':
      return { kind: 'double' };
    case 'bool':
      return { kind: 'boolean' };
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'citext':
      return { kind: 'text' };
    case 'timestamp':
    case 'timestamptz':
      return { kind: 'timestamp' };
    case 'date':
      return { kind: 'date' };
    case 'bytea':
      return { kind: 'binary' };
    case 'json':
    case 'jsonb':
      return { kind: 'dynamic' };
    default:
      // uuid, name, enums, intervals, times, inet and cidr (a netmask is no `ip`), money, geometric,
      // composite and range types: exact strings.
      return { kind: 'keyword' };
  }
}

/** The converter of one column's values (null stays null; arrays element by element). */
export function pgConverter(t: PgType): Convert {
  const one = scalarConverter(t.name);
  if (!t.array) return (v) => (v === null || v === undefined ? null : one(v));
  return (v) => {
    if (v === null || v === undefined) return null;
    // Arrays of the types kept as text arrive as the array literal; the others already parsed.
    const items = typeof v === 'string' ? arrayLiteral(v) : (v as unknown[]);
    return flatten(items).map((x) => (x === null ? null : one(x)));
  };
}

/** The elements' texts of an array literal ({1,NULL,"a b"}), by pg's own parser. */
const arrayLiteral = (text: string): unknown[] =>
  (pg.types.arrayParser as unknown as { create(source: string, transform: (x: string) => string): { parse(): unknown[] } }).create(text, (x) => x).parse();

/** Multi-dimensional arrays are flattened: search engines index arrays of values, not matrices. */
function flatten(items: unknown[]): unknown[] {
  return items.some(Array.isArray) ? items.flatMap((x) => (Array.isArray(x) ? flatten(x) : [x])) : items;
}

function scalarConverter(name: string): Convert {
  switch (name) {
    case 'int2':
    case 'int4':
      return (v) => (typeof v === 'number' ? v : Number(v));
    case 'int8':
    case 'numeric':
      return exactNumber;
    case 'float4':
    case 'float8':
      return (v) => {
        const n = typeof v === 'number' ? v : Number(v);
        return Number.isFinite(n) ? n : String(v); // NaN and infinities are no JSON numbers
      };
    case 'bool':
      return (v) => (typeof v === 'boolean' ? v : v === 't' || v === 'true');
    case 'timestamp':
    case 'timestamptz':
      return (v) => isoTimestamp(String(v));
    case 'date':
      return (v) => String(v);
    case 'json':
    case 'jsonb':
      return (v) => (typeof v === 'string' ? JSON.parse(v, exactJsonNumbers) : v);
    case 'bytea':
      return (v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v));
    default:
      return (v) => (typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : JSON.stringify(v));
  }
}

/** An int8 or numeric's text as a JSON number with every digit; NaN and infinities stay strings. */
function exactNumber(v: unknown): unknown {
  const text = String(v);
  return /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text) ? JSON.rawJSON(text) : text;
}

/**
 * The server's ISO text of a timestamp (read in UTC: `2026-12-02 01:02:03.456789` or with `+00`)
 * as ISO 8601 with `Z`, every fraction digit kept; `infinity` and BC dates stay the server's text.
 */
export function isoTimestamp(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:\+00(?::00)?)?$/.exec(text);
  return m ? `${m[1]}T${m[2]}Z` : text;
}

/** JSON.parse reviver: numbers that a double cannot hold exactly keep their text (JSON.rawJSON). */
function exactJsonNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return String(value) === context.source ? value : JSON.rawJSON(context.source);
}

/** JSON text of a document value the way the row's jsonb gives it (see exactJsonNumbers). */
export const parseExactJson = (text: string): unknown => JSON.parse(text, exactJsonNumbers);
