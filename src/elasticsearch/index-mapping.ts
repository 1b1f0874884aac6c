/**
 * The mapping of a new index, derived from the source's field descriptions (docs/types.md).
 * Used only when cesync creates the index; an existing index's mapping is never changed.
 */
import type { FieldDescription, FieldType } from '../engine/field-schema.js';

type Mapping = Record<string, unknown>;

export function indexMapping(fields: readonly FieldDescription[], metaField: string, source: string): Mapping {
  const templates: Mapping[] = [];
  const properties: Mapping = {};
  for (const f of fields) {
    // Left to dynamic mapping: the index maps such a field from the first values it sees.
    if (f.type.kind === 'dynamic' && !f.key) continue;
    properties[f.name] = f.key ? keyMapping(f.type) : fieldMapping(f.type, f.name, templates);
  }
  properties[metaField] = {
    properties: {
      // Digest of the content cesync wrote (write-plan.ts); token of the partition key, version and
      // hash of (id, version), for comparing token buckets with the table (verify).
      digest: { type: 'keyword' },
      token: { type: 'long' },
      version: { type: 'long' },
      hv: { type: 'long' },
    },
  };
  return {
    // Strings that look like dates stay strings: a text column is text, whatever a value looks like.
    date_detection: false,
    dynamic_templates: templates,
    properties,
    _meta: { cesync: { source } },
  };
}

function keyMapping(t: FieldType): Mapping {
  return t.kind === 'text' ? { type: 'keyword' } : fieldMapping(t, '', []);
}

/** `templates` collects dynamic templates for map values under `path`. */
function fieldMapping(t: FieldType, path: string, templates: Mapping[]): Mapping {
  switch (t.kind) {
    case 'keyword':
    case 'big-integer':
      return { type: 'keyword' };
    case 'text':
      return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
    case 'integer':
      return { type: ({ 8: 'byte', 16: 'short', 32: 'integer', 64: 'long' } as const)[t.bits] };
    case 'decimal':
    case 'double':
      return { type: 'double' };
    case 'float':
      return { type: 'float' };
    case 'boolean':
      return { type: 'boolean' };
    case 'timestamp':
    case 'date':
      return { type: 'date' };
    case 'ip':
      return { type: 'ip' };
    case 'binary':
      return { type: 'binary' };
    case 'object':
      return {
        properties: Object.fromEntries(
          // Fields of dynamic structure (parsed JSON) are left to the index, as at the top level.
          Object.entries(t.fields)
            .filter(([, ft]) => ft.kind !== 'dynamic')
            .map(([name, ft]) => [name, fieldMapping(ft, `${path}.${name}`, templates)]),
        ),
      };
    case 'map': {
      // Keys are data; every value under this path gets the value type's mapping. Keys may hold
      // dots (timestamps, e-mail addresses): `subobjects: false` keeps each key one field.
      if (t.values.kind === 'dynamic') return { type: 'object', dynamic: true, subobjects: false };
      const leaf = t.values.kind !== 'object' && t.values.kind !== 'map' && t.values.kind !== 'opaque';
      if (leaf) {
        templates.push({ [`cesync_map_${path}`]: { path_match: `${path}.*`, mapping: fieldMapping(t.values, '', []) } });
        return { type: 'object', dynamic: true, subobjects: false };
      }
      return { type: 'object', enabled: false };
    }
    case 'opaque':
      return { type: 'object', enabled: false };
    case 'dynamic':
      return { type: 'object', dynamic: true };
  }
}
