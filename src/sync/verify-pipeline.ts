/**
 * Verify and repair of one configured pipeline: the table against its index, then the plan that
 * fixes exactly the differences (re-sync missing, stale and different ids from the table, delete
 * orphans), applied with the same version guards as any sync.
 */
import type { PipelineConfig } from '../config/schema.js';
import { SearchIndexInspector } from '../search-index/index-inspector.js';
import { META_FIELD } from '../search-index/index-sink.js';
import type { KeyInput } from '../engine/key-input.js';
import type { RunReport } from '../engine/run-report.js';
import { DRIFT_CLASSES, verify, verifySummary, type DriftClass, type VerifyReport } from '../engine/verify.js';
import type { Stores } from './stores.js';
import { openPipeline, syncOpenedPipelineIds, type PipelineRunOptions } from './sync-pipeline.js';

export async function verifyPipeline(
  stores: Stores,
  pipeline: PipelineConfig,
  options: {
    content?: boolean;
    sinceVersion?: number;
    signal?: AbortSignal;
    onProgress?: (scanned: number, fraction: number) => void;
    /** Told when the result could not be kept as the pipeline's last verify (the verify itself stands). */
    onWarning?: (message: string) => void;
  },
): Promise<VerifyReport> {
  const { source } = await openPipeline(stores, pipeline);
  const target = new SearchIndexInspector(stores.target, { index: pipeline.index, metaField: META_FIELD });
  const { onWarning, ...verifyOptions } = options;
  const report = await verify({ source, target }, { pipeline: pipeline.name, index: pipeline.index, ...verifyOptions });
  // Kept as the pipeline's last verify (status, the status page); a stopped verify keeps none.
  // Only for display: a state store that does not take it never fails the verify or the repair.
  try {
    await stores.state.saveVerify(verifySummary(report));
  } catch (e) {
    onWarning?.(`${pipeline.name}: the result was not kept as the last verify: ${(e as Error)?.message ?? String(e)}`);
  }
  return report;
}

/** What a repair plan holds: the ids of each class (a verify report is one). */
export interface RepairPlan {
  readonly pipeline: string;
  readonly ids: Readonly<Record<DriftClass, readonly string[]>>;
}

/**
 * Applies a repair plan. Every id is read again from the table now: a row that exists is
 * written (guarded by versions, never over a newer document); a row that does not is deleted
 * from the index, guarded by the version the index holds, so a document written meanwhile
 * survives. `different` ids are rewritten even when their digest looks current.
 */
export async function repairPipeline(
  stores: Stores,
  pipeline: PipelineConfig,
  plan: RepairPlan,
  options: PipelineRunOptions & { maxChanges?: number },
): Promise<RunReport> {
  const opened = await openPipeline(stores, pipeline);
  const all = [...new Set(DRIFT_CLASSES.flatMap((c) => plan.ids[c] ?? []))];
  // Orphans whose id cannot be a key of this table: deleted directly, at the version they hold.
  const inputs: KeyInput[] = [];
  const strays: string[] = [];
  for (const id of all) {
    const k = opened.source.parseKey(opened.source.idParts(id));
    if ('error' in k) strays.push(id);
    else inputs.push({ line: inputs.length + 1, fields: [id] });
  }
  const strayVersions = strays.length ? await opened.sink.lookup(strays) : new Map();
  return syncOpenedPipelineIds(opened, pipeline, inputs, {
    ...options,
    mode: 'repair',
    deleteMissing: true,
    alsoDelete: [...strayVersions].map(([id, s]) => ({ id, version: s.version })),
    force: new Set(plan.ids.different ?? []),
  });
}
