/** A table's columns as store-neutral field descriptions (for the target's mapping). */
import type { FieldDescription } from '../engine/field-schema.js';
import type { TableSchema } from './table-schema.js';
import { fieldTypeOf } from './value-converter.js';

export function fieldDescriptions(schema: TableSchema): FieldDescription[] {
  return schema.columns.map((c) => ({
    name: c.field,
    type: fieldTypeOf(c.type),
    key: c.kind === 'partition' || c.kind === 'clustering',
  }));
}
