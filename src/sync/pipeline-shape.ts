/**
 * A pipeline's `fields` and `transform`, as the parts of the code that use them need them: the
 * column renames and omissions for the source, and the shaping of documents (src/shape).
 */
import type { PipelineConfig } from '../config/schema.js';
import type { FieldDescription } from '../engine/field-schema.js';
import { compileShape, shapeFields, type FieldShape, type ShapeRecord } from '../shape/document-shape.js';
import { loadTransformModule } from '../shape/load-module.js';

/** { column: field name, or null when left out }, from `fields` in any of its forms. */
export function columnNames(pipeline: Pick<PipelineConfig, 'fields'>): Record<string, string | null> | undefined {
  if (!pipeline.fields) return undefined;
  return Object.fromEntries(Object.entries(pipeline.fields).map(([column, f]) => [column, f === null || typeof f === 'string' ? f : (f.name ?? column)]));
}

/** The per-field shaping declared in `fields`, by field name. */
export function fieldShapes(pipeline: Pick<PipelineConfig, 'fields'>): FieldShape[] {
  const out: FieldShape[] = [];
  for (const [column, f] of Object.entries(pipeline.fields ?? {})) {
    if (f === null || typeof f === 'string' || (f.parse === undefined && f.default === undefined)) continue;
    out.push({ field: f.name ?? column, ...(f.parse !== undefined ? { parse: f.parse } : {}), ...(f.default !== undefined ? { default: f.default } : {}) });
  }
  return out;
}

export interface PipelineShape {
  /** Field descriptions of the documents after `fields` (for the mapping). */
  readonly fields: FieldDescription[];
  /** The per-field shaping; undefined when `fields` only renames and leaves out. */
  readonly fieldShape?: ShapeRecord;
  /** The transform module, applied last (after nesting); undefined without one. */
  readonly moduleShape?: ShapeRecord;
}

/**
 * Checks the shaping against the source's fields and compiles it (loading the transform module).
 * Throws SCHEMA_MISMATCH or CONFIG_INVALID with the field or module at fault.
 */
export async function openShape(pipeline: Pick<PipelineConfig, 'name' | 'fields' | 'transform'>, fields: FieldDescription[], where: string): Promise<PipelineShape> {
  const shapes = fieldShapes(pipeline);
  const spec = { pipeline: pipeline.name, fields: shapes };
  const module = pipeline.transform ? { path: pipeline.transform.module, fn: await loadTransformModule(pipeline.transform.module, pipeline.name) } : undefined;
  return {
    fields: shapes.length > 0 ? shapeFields(fields, spec, where) : fields,
    ...(shapes.length > 0 ? { fieldShape: compileShape(spec) } : {}),
    ...(module ? { moduleShape: compileShape({ pipeline: pipeline.name, fields: [], module }) } : {}),
  };
}

/** What `config check` can check without connecting: declarations compile, modules load. */
export async function checkShape(pipeline: PipelineConfig): Promise<void> {
  if (pipeline.transform) await loadTransformModule(pipeline.transform.module, pipeline.name);
  compileShape({ pipeline: pipeline.name, fields: fieldShapes(pipeline) });
  for (const n of pipeline.nest) compileShape({ pipeline: `${pipeline.name}: nest ${n.field}`, fields: fieldShapes(n) });
}
