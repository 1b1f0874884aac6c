/**
 * The mapping of a new index, derived from the source's field descriptions (docs/types.md).
 * Used only when cesync creates the index; an existing index's mapping is never changed.
 */
import type { FieldDescription, FieldType } from '../engine/field-schema.js';
import type { SearchDialect } from './api.js';

type Mapping = Record<string, unknown>;
type Style = SearchDialect['dataKeyedObject'];

/** `dialect`: how the server maps objects whose keys are data (maps); default Elasticsearch 8.3+'s. */
export function indexMapping(fields: readonly FieldDescription[], metaField: string, source: string, dialect: Pick<SearchDialect, 'dataKeyedObject'> = { dataKeyedObject: 'subobjects' }): Mapping {
  const templates: Mapping[] = [];
  const properties: Mapping = {};
  const style = dialect.dataKeyedObject;
  for (const f of fields) {
    // Left to dynamic mapping: the index maps such a field from the first values it sees.
    if (f.type.kind === 'dynamic' && !f.key) continue;
    properties[f.name] = f.key ? keyMapping(f.type, style) : fieldMapping(f.type, f.name, templates, style);
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

function keyMapping(t: FieldType, style: Style): Mapping {
  return t.kind === 'text' ? { type: 'keyword' } : fieldMapping(t, '', [], style);
}

/** `templates` collects dynamic templates for map values under `path`. */
function fieldMapping(t: FieldType, path: string, templates: Mapping[], style: Style): Mapping {
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
            .map(([name, ft]) => [name, fieldMapping(ft, `${path}.${name}`, templates, style)]),
        ),
      };
    case 'map': {
      // Keys are data and may hold dots (timestamps, e-mail addresses): each key must stay one
      // field. Where the server has `subobjects: false`, every value under this path gets the
      // value type's mapping; elsewhere the whole map is one flattened field (leaves searchable
      // as keywords) or, without such a type, kept in _source only (docs/targets.md).
      if (style === 'flattened') return { type: 'flattened' };
      if (style === 'flat_object') return { type: 'flat_object' };
      if (style === 'stored') return { type: 'object', enabled: false };
      if (t.values.kind === 'dynamic') return { type: 'object', dynamic: true, subobjects: false };
      const leaf = t.values.kind !== 'object' && t.values.kind !== 'map' && t.values.kind !== 'opaque';
      if (leaf) {
        templates.push({ [`cesync_map_${path}`]: { path_match: `${path}.*`, mapping: fieldMapping(t.values, '', [], style) } });
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
