/**
 * A pipeline's shaping of documents (docs/shaping.md): per field, a conversion of its text
 * (`parse`) and a value for null (`default`); then, optionally, a function of the user's over the
 * whole document. Store-neutral: it takes the document a source made from a row and returns the
 * one to write, or why it cannot (a rejection that goes to the failure ledger, never silently
 * through).
 *
 * Contract: shaping is a pure function of the document (and id). Equal rows give equal shaped
 * documents, with keys in a deterministic order, so digests still tell unchanged rows apart.
 */
import type { FieldDescription, FieldType } from '../engine/field-schema.js';
import type { SourceRecord } from '../engine/record.js';
import { CesyncError } from '../errors.js';
import { compileParse, parsedType, parseName, ShapeError, type Convert, type ParseSpec } from './parse-value.js';

export interface FieldShape {
  /** The field, by its name in documents. */
  readonly field: string;
  readonly parse?: ParseSpec;
  /** Value written when the field is null or absent (after `parse`). */
  readonly default?: unknown;
}

/** The user's function: the shaped document in, the document to write out (or a promise of it). */
export type DocumentFunction = (document: Record<string, unknown>, context: { readonly id: string; readonly pipeline: string }) => unknown;

export interface ShapeSpec {
  readonly pipeline: string;
  readonly fields: readonly FieldShape[];
  readonly module?: { readonly path: string; readonly fn: DocumentFunction };
}

export type ShapeRecord = (record: SourceRecord) => Promise<SourceRecord>;

/** Error types in the ledger. */
export const SHAPE_ERROR = 'shape_error';
export const MODULE_ERROR = 'transform_module_error';

/**
 * The field descriptions of shaped documents (for the target's mapping), after checking that each
 * declaration fits its field: a known, non-key field; `parse` only of text (or lists and maps of
 * text). Throws SCHEMA_MISMATCH naming the field otherwise.
 */
export function shapeFields(fields: readonly FieldDescription[], spec: ShapeSpec, where: string): FieldDescription[] {
  const byName = new Map(spec.fields.map((f) => [f.field, f]));
  for (const f of spec.fields) {
    const d = fields.find((x) => x.name === f.field);
    if (!d) throw new CesyncError('SCHEMA_MISMATCH', `fields: ${f.field} is not a field of ${where} (fields: ${fields.map((x) => x.name).join(', ')})`);
    if (d.key) throw new CesyncError('SCHEMA_MISMATCH', `fields: ${f.field} is part of the primary key of ${where}; a key keeps its value (no parse, no default)`);
    if (f.parse !== undefined && !isText(d.type)) {
      throw new CesyncError('SCHEMA_MISMATCH', `fields: ${f.field}: parse ${parseName(f.parse)} converts text, and ${f.field} of ${where} holds ${describe(d.type)}`);
    }
  }
  return fields.map((d) => {
    const f = byName.get(d.name);
    if (f?.parse === undefined) return d;
    const to = parsedType(f.parse);
    return { ...d, type: d.type.kind === 'map' ? { kind: 'map', values: to } : to };
  });
}

/** Free text (text, varchar, ascii), or a map of it; not identifiers such as uuids or times. */
const isText = (t: FieldType): boolean => t.kind === 'text' || (t.kind === 'map' && t.values.kind === 'text');

function describe(t: FieldType): string {
  return t.kind === 'map' ? `a map of ${describe(t.values)}` : `${t.kind} values`;
}

/** Compiles the shaping of one pipeline; throws CONFIG_INVALID for a declaration that cannot work. */
export function compileShape(spec: ShapeSpec): ShapeRecord {
  const steps = spec.fields.map((f) => {
    let convert: Convert | undefined;
    try {
      convert = f.parse === undefined ? undefined : compileParse(f.parse);
    } catch (e) {
      throw new CesyncError('CONFIG_INVALID', `${spec.pipeline}: fields: ${f.field}: ${(e as Error).message}`);
    }
    return { field: f.field, convert, fallback: f.default, hasDefault: f.default !== undefined };
  });
  const module = spec.module;
  return async (record) => {
    // Already refused by an earlier step (a nested row that could not be shaped): it stays so,
    // with its reason; the user's function never sees an empty document.
    if (record.rejected) return record;
    let document: Record<string, unknown> = { ...record.document };
    for (const s of steps) {
      let value = document[s.field];
      if (s.convert && value !== null && value !== undefined) {
        try {
          value = convertValue(value, s.convert);
        } catch (e) {
          if (!(e instanceof ShapeError)) throw e;
          return rejected(record, SHAPE_ERROR, `field ${s.field}: ${e.message}`);
        }
      }
      if ((value === null || value === undefined) && s.hasDefault) value = structuredClone(s.fallback);
      if (value !== undefined || s.field in document) document[s.field] = value;
    }
    if (module) {
      let out: unknown;
      try {
        out = await module.fn(document, { id: record.id, pipeline: spec.pipeline });
      } catch (e) {
        return rejected(record, MODULE_ERROR, `${module.path} threw: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!isPlainObject(out)) return rejected(record, MODULE_ERROR, `${module.path} returned ${describeValue(out)}, not a plain document object`);
      // Written as JSON text later: a value JSON cannot hold (a BigInt, a cycle) is refused here,
      // for this document, rather than failing the whole run when the batch is serialised.
      try {
        JSON.stringify(out);
      } catch (e) {
        return rejected(record, MODULE_ERROR, `${module.path} returned a document that is not JSON: ${(e as Error).message}`);
      }
      document = out;
    }
    return { ...record, document };
  };
}

/**
 * A text converted; a list element by element and a map value by value (as a search engine sees
 * a list as many values of one field); an empty text is null (no value), in a list left out.
 */
function convertValue(value: unknown, convert: Convert): unknown {
  if (typeof value === 'string') return value.trim() === '' ? null : convert(value);
  if (Array.isArray(value)) return value.filter((v) => !(typeof v === 'string' && v.trim() === '')).map((v) => convertValue(v, convert));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null ? null : convertValue(v, convert)]));
  }
  throw new ShapeError(`${JSON.stringify(value)} is not text`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'non-plain'} object`;
  return typeof v;
}

function rejected(record: SourceRecord, errorType: string, reason: string): SourceRecord {
  return { ...record, document: {}, rejected: { errorType, reason } };
}
