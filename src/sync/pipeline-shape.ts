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
function fieldShapes(pipeline: Pick<PipelineConfig, 'fields'>): FieldShape[] {
  const out: FieldShape[] = [];
  for (const [column, f] of Object.entries(pipeline.fields ?? {})) {
    if (f === null || typeof f === 'string' || (f.parse === undefined && f.default === undefined)) continue;
    out.push({ field: f.name ?? column, ...(f.parse !== undefined ? { parse: f.parse } : {}), ...(f.default !== undefined ? { default: f.default } : {}) });
  }
  return out;
}

/** Whether the pipeline shapes documents beyond renaming and leaving out columns. */
export function shapesDocuments(pipeline: Pick<PipelineConfig, 'fields' | 'transform'>): boolean {
  return pipeline.transform !== undefined || fieldShapes(pipeline).length > 0;
}

export interface PipelineShape {
  /** Field descriptions of the shaped documents (for the mapping). */
  readonly fields: FieldDescription[];
  /** Undefined when documents are not shaped. */
  readonly shape?: ShapeRecord;
}

/**
 * Checks the shaping against the source's fields and compiles it (loading the transform module).
 * Throws SCHEMA_MISMATCH or CONFIG_INVALID with the field or module at fault.
 */
export async function openShape(pipeline: PipelineConfig, fields: FieldDescription[], where: string): Promise<PipelineShape> {
  if (!shapesDocuments(pipeline)) return { fields };
  const module = pipeline.transform ? { path: pipeline.transform.module, fn: await loadTransformModule(pipeline.transform.module, pipeline.name) } : undefined;
  const spec = { pipeline: pipeline.name, fields: fieldShapes(pipeline), ...(module ? { module } : {}) };
  return { fields: shapeFields(fields, spec, where), shape: compileShape(spec) };
}

/** What `config check` can check without connecting: declarations compile, modules load. */
export async function checkShape(pipeline: PipelineConfig): Promise<void> {
  if (!shapesDocuments(pipeline)) return;
  if (pipeline.transform) await loadTransformModule(pipeline.transform.module, pipeline.name);
  compileShape({ pipeline: pipeline.name, fields: fieldShapes(pipeline) });
}
