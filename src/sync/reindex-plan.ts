/**
 * `cesync reindex --dry-run`: what a rebuild (or a rollback) would do, read from the servers and
 * the state store, nothing written: the new index's name, how its mapping differs from the one in
 * use, and its size and duration estimated from the table's estimate, the index in use and the
 * pipeline's last full sync.
 */
import type { PipelineConfig } from '../config/schema.js';
import { mappingDifference, nextGeneration, recordOf, type MappingDifference } from '../search-index/index-generations.js';
import type { Stores } from './stores.js';
import { aliasTarget, buildKey, generationsOf, pipelineShape } from './reindex-pipeline.js';
import { openPipeline } from './sync-pipeline.js';

export interface ReindexPlan {
  readonly pipeline: string;
  readonly alias: string;
  /** The index the alias is on now. */
  readonly current: string;
  /** A rebuild: the index it builds (or continues); a rollback: the index the alias goes back to. */
  readonly next: string | null;
  readonly action: 'build' | 'continue' | 'finish' | 'rollback' | 'nothing';
  /** Why, for `nothing` (a rollback with nowhere to go). */
  readonly reason?: string;
  /** How the pipeline's mapping differs from the index in use (a rebuild). */
  readonly mapping?: MappingDifference;
  readonly estimate: {
    readonly documents?: number;
    readonly bytes?: number;
    readonly rowsPerSecond?: number;
    readonly seconds?: number;
    /** Where the rate comes from. */
    readonly rateFrom?: string;
  };
  readonly currentIndex: { readonly documents: number; readonly bytes: number };
}

export async function planReindex(stores: Stores, pipeline: PipelineConfig, options: { readonly rollback?: boolean } = {}): Promise<ReindexPlan> {
  const api = stores.target;
  const alias = pipeline.index;
  const current = await aliasTarget(stores, pipeline);
  const generations = await generationsOf(stores, alias);
  const info = (await api.listIndices(current))[0];
  const currentIndex = { documents: await api.count(current), bytes: info?.bytes ?? 0 };
  const base = { pipeline: pipeline.name, alias, current, currentIndex };

  if (options.rollback) {
    const back = recordOf(await api.mappingMeta(current))?.previous;
    if (!back) return { ...base, next: null, action: 'nothing', reason: `${current} was not built by cesync reindex from another index`, estimate: {} };
    if (!(await api.indexExists(back))) return { ...base, next: back, action: 'nothing', reason: `${back} no longer exists`, estimate: {} };
    return { ...base, next: back, action: 'rollback', estimate: {} };
  }

  const opened = await openPipeline(stores, pipeline);
  const shape = await pipelineShape(pipeline, opened.mapping);
  const serving = generations.find((g) => g.index === current);
  const unfinished = generations.find((g) => g.index !== current && g.record && g.record.state !== 'done' && g.record.previous === current && g.record.shape === shape);
  const action = serving?.record && serving.record.state !== 'done' ? 'finish' : unfinished ? 'continue' : 'build';
  const next = action === 'finish' ? current : (unfinished?.index ?? nextGeneration(alias, [...generations.map((g) => g.index), current]));

  const documents = (await opened.source.estimateCount()) ?? currentIndex.documents;
  const perDocument = currentIndex.documents > 0 ? currentIndex.bytes / currentIndex.documents : undefined;
  // The rate of the pipeline's last finished full sync, or of the last rebuild's fill.
  let rate: { rowsPerSecond: number; from: string } | undefined;
  const sources: [string, string][] = [
    [pipeline.name, 'the last full sync'],
    [buildKey(pipeline.name, current), `the fill of ${current}`],
  ];
  for (const [name, what] of sources) {
    const s = await stores.state.load(name);
    const seconds = s ? (Date.parse(s.updatedAt) - Date.parse(s.startedAt)) / 1000 : 0;
    const read = s?.counters.read ?? 0;
    if (s?.status === 'finished' && seconds > 0 && read > 0) rate = { rowsPerSecond: read / seconds, from: what };
  }
  return {
    ...base,
    next,
    action,
    mapping: mappingDifference(await api.mapping(current), opened.mapping),
    estimate: {
      ...(documents !== undefined ? { documents } : {}),
      ...(documents !== undefined && perDocument !== undefined ? { bytes: Math.round(documents * perDocument) } : {}),
      ...(rate ? { rowsPerSecond: Math.round(rate.rowsPerSecond), rateFrom: rate.from } : {}),
      ...(rate && documents !== undefined ? { seconds: Math.round(documents / rate.rowsPerSecond) } : {}),
    },
  };
}
