/**
 * Syncs of one configured pipeline: wires its table source (Cassandra or PostgreSQL) and the
 * Elasticsearch index sink into the engine. Everything store-specific is decided here, once per run.
 */
import type { PipelineConfig } from '../config/schema.js';
import { cassandraError } from '../cassandra/client.js';
import { fieldDescriptions } from '../cassandra/fields.js';
import { CassandraTableSource } from '../cassandra/table-source.js';
import { loadTableSchema, mapFields } from '../cassandra/table-schema.js';
import { indexMapping } from '../search-index/index-mapping.js';
import { SearchIndexSink, META_FIELD } from '../search-index/index-sink.js';
import { fullSync } from '../engine/full-sync.js';
import { incrementalSync, type IncrementalReport } from '../engine/incremental-sync.js';
import { reverseSync, type ReverseReport } from '../engine/reverse-sync.js';
import { CassandraTableWriter } from '../cassandra/table-writer.js';
import { SearchIndexChangeFeed } from '../search-index/change-feed.js';
import { START, type WindowRunOptions } from '../engine/watermark.js';
import { parseKeyInputs, type KeyInput } from '../engine/key-input.js';
import type { Direction, FailureSink, RecordSource, RunObserver } from '../engine/ports.js';
import { observedFailures } from '../engine/observed-failures.js';
import type { RunCounters, RunReport } from '../engine/run-report.js';
import { targetedSync, type TargetedSyncOptions } from '../engine/targeted-sync.js';
import type { ThrottleOptions } from '../engine/throttle.js';
import { CesyncError } from '../errors.js';
import type { Stores } from './stores.js';
import type { ExpandedConfig } from './expand-pipelines.js';
import { shapedSource } from '../shape/shaped-source.js';
import { columnNames, openShape } from './pipeline-shape.js';
import { openComposition } from './pipeline-composition.js';
import { composedSource } from '../shape/composed-source.js';
import type { FieldDescription } from '../engine/field-schema.js';
import { pendingSync } from '../engine/pending-sync.js';
import { openPostgresTable, type OpenedPostgresTable } from './postgres-pipeline.js';
import { cassandraOf } from './stores.js';

export interface PipelineRunOptions {
  readonly failures: FailureSink;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (counters: Readonly<RunCounters>, estimatedTotal: number | undefined) => void;
  readonly dryRun?: boolean;
  readonly planPath?: string;
  /** Overrides the pipeline's configured throttle. */
  readonly throttle?: ThrottleOptions;
  /**
   * Told what the run does (rows, outcomes, failures, retries, bulk requests, progress,
   * watermark): one observer per run of one pipeline in one direction (src/metrics makes them).
   */
  readonly observer?: RunObserver;
}

export interface OpenedPipeline {
  /** The table as read: documents shaped as the pipeline declares (what every sync writes). */
  readonly source: RecordSource;
  /** The Cassandra table itself (its schema, its change index), for a Cassandra pipeline. */
  readonly table?: CassandraTableSource;
  /** The PostgreSQL table itself (pending rows, open transactions), for a PostgreSQL pipeline. */
  readonly postgres?: OpenedPostgresTable;
  readonly sink: SearchIndexSink;
  /** The mapping an index of this pipeline is created with. */
  readonly mapping: Record<string, unknown>;
}

/**
 * The source and sink of a pipeline (reads the table's schema, compiles its shaping). `observer`
 * is told of the sink's bulk requests and of whole requests sent again.
 */
export async function openPipeline(stores: Stores, pipeline: PipelineConfig, observer?: RunObserver): Promise<OpenedPipeline> {
  const opened = pipeline.source === 'postgres' ? await openPostgres(stores, pipeline) : await openCassandra(stores, pipeline);
  const mapping = indexMapping(opened.fields, META_FIELD, opened.where, stores.target.dialect);
  return { ...opened, mapping, sink: pipelineSink(stores, pipeline, mapping, observer) };
}

/** The index sink of a pipeline: its index (or alias), created with `mapping` when missing. */
export function pipelineSink(stores: Stores, pipeline: PipelineConfig, mapping: Record<string, unknown>, observer?: RunObserver): SearchIndexSink {
  return new SearchIndexSink(stores.target, {
    index: pipeline.index,
    mapping,
    settings: pipeline.indexSettings,
    alias: pipeline.alias,
    metaField: META_FIELD,
    bulk: pipeline.bulk,
    bulkRetry: { retries: stores.targetRetries },
    observer,
  });
}

type OpenedSource = Omit<OpenedPipeline, 'sink' | 'mapping'> & { readonly fields: FieldDescription[]; readonly where: string };

async function openCassandra(stores: Stores, pipeline: PipelineConfig): Promise<OpenedSource> {
  let schema;
  try {
    schema = mapFields(await loadTableSchema(cassandraOf(stores), pipeline.keyspace, pipeline.table), columnNames(pipeline));
  } catch (e) {
    throw e instanceof CesyncError ? e : cassandraError(e, stores.cassandraWhere);
  }
  const where = `${schema.keyspace}.${schema.table}`;
  const shaping = await openShape(pipeline, fieldDescriptions(schema), where);
  const composition = pipeline.nest.length > 0 || pipeline.lookups.length > 0 ? await openComposition(stores, pipeline, schema, shaping.fields) : undefined;
  const table = new CassandraTableSource(cassandraOf(stores), schema, {
    pageSize: pipeline.pageSize,
    splits: pipeline.splits,
    rangesInFlight: pipeline.rangesInFlight,
    version: pipeline.version,
    id: pipeline.id,
    where: stores.cassandraWhere,
    changeColumn: pipeline.changeColumn,
    keyReadConsistency: stores.decisionConsistency,
  });
  // The row's own fields shaped, then rows of other tables nested, then the user's module.
  let source: RecordSource = table;
  if (shaping.fieldShape) source = shapedSource(source, shaping.fieldShape);
  if (composition) source = composedSource(source, composition.nestings, composition.lookups);
  if (shaping.moduleShape) source = shapedSource(source, shaping.moduleShape);
  return { source, table, fields: [...shaping.fields, ...(composition?.fields ?? [])], where };
}

async function openPostgres(stores: Stores, pipeline: PipelineConfig): Promise<OpenedSource> {
  const postgres = await openPostgresTable(stores, pipeline);
  const shaping = await openShape(pipeline, postgres.fields, postgres.where);
  let source: RecordSource = postgres.table;
  if (shaping.fieldShape) source = shapedSource(source, shaping.fieldShape);
  if (shaping.moduleShape) source = shapedSource(source, shaping.moduleShape);
  return { source, postgres, fields: shaping.fields, where: postgres.where };
}

/** Full sync (resumes saved progress unless `restart`). */
export async function syncPipeline(
  stores: Stores,
  pipeline: PipelineConfig,
  options: PipelineRunOptions & { readonly restart?: boolean },
): Promise<RunReport> {
  return fullSyncOpened(stores, await openPipeline(stores, pipeline, options.observer), pipeline, options);
}

/** The same, for a pipeline already opened. */
export function fullSyncOpened(stores: Stores, opened: OpenedPipeline, pipeline: PipelineConfig, options: PipelineRunOptions & { readonly restart?: boolean }): Promise<RunReport> {
  return fullSync(
    { source: opened.source, sink: opened.sink, failures: observedFailures(options.failures, options.observer), onProgress: options.onProgress, observer: options.observer, state: stores.state },
    {
      pipeline: pipeline.name,
      index: pipeline.index,
      failureLedgerPath: options.failureLedgerPath,
      signal: options.signal,
      restart: options.restart,
      dryRun: options.dryRun,
      planPath: options.planPath,
      throttle: options.throttle ?? pipeline.throttle,
      safetyLagMs: pipeline.incremental.safetyLagMs,
    },
  );
}

/** Where an incremental run starts: the saved watermark, or a given time (microseconds). */
export type IncrementalStart = { readonly last: true } | { readonly from: number; readonly to?: number };

/**
 * Incremental sync: rows changed after the pipeline's watermark (`last`, which it then moves) or
 * in a given window (which leaves the watermark alone).
 *
 * A pipeline with no watermark yet has never been synced whole: "since the last run" is then a
 * full sync (resumable, read span by span, never every id in memory), which starts the watermark
 * at its own start minus the safety lag; later runs continue from there.
 */
export async function syncPipelineIncremental(
  stores: Stores,
  pipeline: PipelineConfig,
  start: IncrementalStart,
  options: PipelineRunOptions & { readonly createIndex?: boolean; readonly createQueue?: boolean; readonly now?: number },
): Promise<IncrementalReport | RunReport> {
  const opened = await openPipeline(stores, pipeline, options.observer);
  if (options.createIndex) await (opened.table ?? opened.postgres!.table).createChangeIndex();
  if (options.createQueue) {
    if (!opened.postgres?.createQueue) throw new CesyncError('USAGE', `${pipeline.name}: --create-queue goes with a PostgreSQL pipeline whose pending names a queue table`);
    await opened.postgres.createQueue();
  }
  const deps = { source: opened.source, sink: opened.sink, failures: observedFailures(options.failures, options.observer), onProgress: options.onProgress, observer: options.observer };
  const pending = opened.postgres?.pending;
  if (pending && 'last' in start) {
    // Pending rows (a flag, a queue) are what changed: index them, then mark them done.
    return pendingSync(
      { ...deps, pending },
      { pipeline: pipeline.name, index: pipeline.index, batchSize: pipeline.pending!.batchSize, dryRun: options.dryRun, planPath: options.planPath, throttle: options.throttle ?? pipeline.throttle, failureLedgerPath: options.failureLedgerPath, signal: options.signal },
    );
  }
  if ('last' in start && !(await stores.state.loadWatermark(pipeline.name, 'to-elasticsearch'))) {
    return fullSyncOpened(stores, opened, pipeline, options);
  }
  const window = await windowOf(stores, pipeline, 'to-elasticsearch', start, options.now, opened.source);
  const report = await incrementalSync(
    { ...deps, state: stores.state },
    {
      ...window,
      dryRun: options.dryRun,
      planPath: options.planPath,
      throttle: options.throttle ?? pipeline.throttle,
      failureLedgerPath: options.failureLedgerPath,
      signal: options.signal,
    },
  );
  return window.heldBackSince !== undefined ? { ...report, heldBackSince: new Date(Math.floor(window.heldBackSince / 1000)).toISOString() } : report;
}

/**
 * The window of an incremental run in one direction: from the saved watermark (`last`, saved
 * again as it moves), from the start (`all`), or a given time range; never later than now minus
 * the pipeline's safety lag.
 */
export async function windowOf(
  stores: Stores,
  pipeline: PipelineConfig,
  direction: Direction,
  start: IncrementalStart | { readonly all: true },
  nowMs = Date.now(),
  writes?: Pick<RecordSource, 'openWritesSince'>,
): Promise<WindowRunOptions & { readonly heldBackSince?: number }> {
  // Never past the start of a transaction still open (PostgreSQL commits out of order: its rows
  // carry versions from its start, and appear only at its commit).
  const open = await writes?.openWritesSince?.();
  const lagged = (nowMs - pipeline.incremental.safetyLagMs) * 1000;
  const upper = Math.min(lagged, open !== undefined ? open - 1 : Infinity);
  // Said in the report when it holds the window back by more than ten safety lags (at least a
  // second): a session idle in transaction stops every window at its start until it ends.
  const notice = Math.max(10 * pipeline.incremental.safetyLagMs, 1000) * 1000;
  const heldBackSince = open !== undefined && lagged - open > notice ? open : undefined;
  const from = 'last' in start ? ((await stores.state.loadWatermark(pipeline.name, direction)) ?? START) : 'all' in start ? START : { version: start.from, id: '' };
  return {
    pipeline: pipeline.name,
    index: pipeline.index,
    from,
    to: 'from' in start ? Math.min(start.to ?? upper, upper) : upper,
    saveWatermark: !('from' in start),
    batchSize: pipeline.incremental.batchSize,
    ...(heldBackSince !== undefined ? { heldBackSince } : {}),
  };
}


/**
 * Incremental sync from the index back to the table: documents changed after the pipeline's
 * watermark for this direction (`last`, which it then moves), or in a given window.
 */
export async function syncPipelineToCassandra(
  stores: Stores,
  pipeline: PipelineConfig,
  start: IncrementalStart | { readonly all: true },
  options: Pick<PipelineRunOptions, 'failures' | 'failureLedgerPath' | 'signal' | 'observer'> & { readonly now?: number },
): Promise<ReverseReport> {
  const opened = await openPipeline(stores, pipeline);
  const feed = new SearchIndexChangeFeed(stores.target, {
    index: pipeline.index,
    metaField: META_FIELD,
    versionField: pipeline.elasticsearchVersionField,
  });
  if (!opened.table) throw new CesyncError('USAGE', `${pipeline.name}: the way back writes into Cassandra tables only`);
  const rows = new CassandraTableWriter(cassandraOf(stores), opened.table.schema, { where: stores.cassandraWhere, consistency: stores.decisionConsistency });
  return reverseSync(
    { feed, rows, failures: observedFailures(options.failures, options.observer), observer: options.observer, state: stores.state },
    { ...(await windowOf(stores, pipeline, 'to-cassandra', start, options.now)), failureLedgerPath: options.failureLedgerPath, signal: options.signal },
  );
}

/** The directions a pipeline runs in. */
export function directionsOf(pipeline: PipelineConfig): ('to-elasticsearch' | 'to-cassandra')[] {
  return pipeline.direction === 'both' ? ['to-elasticsearch', 'to-cassandra'] : [pipeline.direction];
}

/** Options of a targeted sync beyond the common ones (see engine/targeted-sync.ts). */
export type IdSyncOptions = PipelineRunOptions &
  Partial<Pick<TargetedSyncOptions, 'deleteMissing' | 'maxChanges' | 'mode' | 'attempt' | 'collectOutcomes' | 'alsoDelete' | 'force'>>;

/** Sync of given ids (CSV fields or document ids), with the guard and missing-id handling. */
export async function syncPipelineIds(stores: Stores, pipeline: PipelineConfig, inputs: Iterable<KeyInput>, options: IdSyncOptions): Promise<RunReport> {
  return syncOpenedPipelineIds(await openPipeline(stores, pipeline, options.observer), pipeline, inputs, options);
}

/** The same, for a pipeline already opened. */
export function syncOpenedPipelineIds(
  opened: OpenedPipeline,
  pipeline: PipelineConfig,
  inputs: Iterable<KeyInput>,
  options: IdSyncOptions,
): Promise<RunReport> {
  const { failures, failureLedgerPath, onProgress, throttle, observer, ...targeted } = options;
  return targetedSync(
    { source: opened.source, sink: opened.sink, failures: observedFailures(failures, observer), onProgress, observer },
    {
      ...targeted,
      pipeline: pipeline.name,
      index: pipeline.index,
      input: parseKeyInputs(inputs, opened.source),
      failureLedgerPath,
      throttle: throttle ?? pipeline.throttle,
    },
  );
}

/**
 * The pipelines named (all when none), or a USAGE error naming the unknown ones. Of an expanded
 * configuration: a `tables` pipeline is named by its own name (all its tables) or by NAME.TABLE
 * (one of them).
 */
export function selectPipelines(config: ExpandedConfig, names: readonly string[] | undefined): PipelineConfig[] {
  if (!names || names.length === 0) return [...config.pipelines];
  const named = (p: PipelineConfig, n: string) => p.name === n || (config.tableGroups.get(n)?.includes(p.name) ?? false);
  const unknown = names.filter((n) => !config.pipelines.some((p) => named(p, n)));
  if (unknown.length > 0) {
    // A tables pipeline listed with its tables' pipelines: "sb (sb.course, sb.user)".
    const listed = new Set<string>();
    const known = config.pipelines.flatMap((p) => {
      const group = [...config.tableGroups].find(([, members]) => members.includes(p.name));
      if (!group) return [p.name];
      if (listed.has(group[0])) return [];
      listed.add(group[0]);
      return [`${group[0]} (${group[1].join(', ')})`];
    });
    throw new CesyncError('USAGE', `unknown pipeline ${unknown.join(', ')} (this configuration has: ${known.join(', ')})`);
  }
  return config.pipelines.filter((p) => names.some((n) => named(p, n)));
}
