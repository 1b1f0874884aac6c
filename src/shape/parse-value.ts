/**
 * Conversions of text values (docs/shaping.md): JSON held in text, dates held in text (ISO 8601
 * or a given format), numbers, booleans, separated lists. A conversion either returns the value
 * or throws a ShapeError that says why; it never lets a text through that it could not convert.
 */
import { DateTime, IANAZone } from 'luxon';
import type { FieldType } from '../engine/field-schema.js';

/** A conversion as configured (config/schema.ts `parse`). */
export type ParseSpec =
  | 'json'
  | 'date'
  | 'number'
  | 'integer'
  | 'boolean'
  | { readonly date: string; readonly zone: string }
  | { readonly split: string };

/** Why a value could not be shaped; the document goes to the failure ledger with this reason. */
export class ShapeError extends Error {}

export type Convert = (text: string) => unknown;

/** The conversion of one text, or throws (at compile time) for a zone Luxon does not know. */
export function compileParse(spec: ParseSpec): Convert {
  if (spec === 'json') return parseJson;
  if (spec === 'number') return parseNumber;
  if (spec === 'integer') return parseInteger;
  if (spec === 'boolean') return parseBoolean;
  if (spec === 'date') return (text) => isoOf(DateTime.fromISO(text.trim(), { zone: 'UTC', setZone: true }), text, 'an ISO 8601 date');
  if ('split' in spec) {
    const sep = spec.split;
    return (text) => text.split(sep).map((s) => s.trim()).filter((s) => s !== '');
  }
  const { date: format, zone } = spec;
  if (!IANAZone.isValidZone(zone) && zone.toUpperCase() !== 'UTC') throw new ShapeError(`unknown time zone ${JSON.stringify(zone)} (an IANA name such as Asia/Kolkata, or UTC)`);
  // A format that cannot read back a date it writes would refuse every row: refused here instead.
  const sample = DateTime.fromISO('2021-03-04T05:06:07.089Z', { zone });
  const back = DateTime.fromFormat(sample.toFormat(format), format, { zone, setZone: true });
  if (!back.isValid || !/[yYuUGkLMdDoEcaHhKmsSnNqWXxZz]/.test(format)) {
    throw new ShapeError(`the date format ${JSON.stringify(format)} cannot read the dates it describes${back.invalidExplanation ? ` (${back.invalidExplanation})` : ''}: use Luxon's tokens, e.g. "yyyy-MM-dd HH:mm:ss:SSSZZZ"`);
  }
  return (text) => isoOf(DateTime.fromFormat(text.trim(), format, { zone, setZone: true }), text, `a date in the format ${JSON.stringify(format)}`);
}

/** The field type of converted values (for the target's mapping). */
export function parsedType(spec: ParseSpec): FieldType {
  if (spec === 'json') return { kind: 'dynamic' };
  if (spec === 'number') return { kind: 'double' };
  if (spec === 'integer') return { kind: 'integer', bits: 64 };
  if (spec === 'boolean') return { kind: 'boolean' };
  if (spec === 'date' || 'date' in spec) return { kind: 'timestamp' };
  return { kind: 'keyword' };
}

/** Name of a conversion, for messages. */
export function parseName(spec: ParseSpec): string {
  return typeof spec === 'string' ? spec : 'split' in spec ? 'split' : 'date';
}

function isoOf(dt: DateTime, text: string, what: string): string {
  if (!dt.isValid) throw new ShapeError(`${quote(text)} is not ${what}${dt.invalidExplanation ? ` (${dt.invalidExplanation})` : ''}`);
  return dt.toUTC().toISO({ suppressMilliseconds: false })!;
}

/**
 * JSON with every digit: a number that a double would change (a 64-bit id, a long decimal) is
 * kept as its own text (JSON.rawJSON), as cesync does for the table's own numbers.
 */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
      typeof value === 'number' && context?.source !== undefined && String(value) !== context.source && !/[eE.]/.test(context.source)
        ? JSON.rawJSON(context.source)
        : value,
    );
  } catch (e) {
    throw new ShapeError(`${quote(text)} is not JSON (${(e as Error).message})`);
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

function parseNumber(text: string): number {
  const t = text.trim();
  const n = Number(t);
  if (!NUMBER.test(t) || !Number.isFinite(n)) throw new ShapeError(`${quote(text)} is not a number`);
  return n;
}

/** An integer of any size: beyond 2^53 kept as its digits, not rounded. */
function parseInteger(text: string): unknown {
  const t = text.trim();
  if (!INTEGER.test(t)) throw new ShapeError(`${quote(text)} is not an integer`);
  const n = Number(t);
  if (Number.isSafeInteger(n)) return n;
  const big = BigInt(t);
  if (big > 2n ** 63n - 1n || big < -(2n ** 63n)) throw new ShapeError(`${quote(text)} does not fit a 64-bit integer`);
  return JSON.rawJSON(big.toString());
}

const TRUE = new Set(['true', 'yes', 'y', '1', 't']);
const FALSE = new Set(['false', 'no', 'n', '0', 'f']);

function parseBoolean(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  throw new ShapeError(`${quote(text)} is not a boolean (true/false, yes/no, 1/0)`);
}

/** A value quoted for a message, cut to a readable length. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}
