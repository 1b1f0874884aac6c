/**
 * Full sync of one configured pipeline: wires the Cassandra table source and the Elasticsearch
 * index sink into the engine. Everything store-specific is decided here, once per run.
 */
import type { Config, PipelineConfig } from '../config/schema.js';
import { fieldDescriptions } from '../cassandra/fields.js';
import { CassandraTableSource } from '../cassandra/table-source.js';
import { loadTableSchema } from '../cassandra/table-schema.js';
import { indexMapping } from '../elasticsearch/index-mapping.js';
import { ElasticsearchIndexSink, META_FIELD } from '../elasticsearch/index-sink.js';
import { fullSync } from '../engine/full-sync.js';
import type { FailureSink } from '../engine/ports.js';
import type { RunCounters, RunReport } from '../engine/run-report.js';
import { cassandraError, type Stores } from './stores.js';
import { CesyncError } from '../errors.js';

export interface SyncPipelineOptions {
  readonly failures: FailureSink;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (counters: Readonly<RunCounters>, estimatedTotal: number | undefined) => void;
}

export async function syncPipeline(
  stores: Stores,
  pipeline: PipelineConfig,
  options: SyncPipelineOptions,
): Promise<RunReport> {
  let schema;
  try {
    schema = await loadTableSchema(stores.cassandra, pipeline.keyspace, pipeline.table);
  } catch (e) {
    throw e instanceof CesyncError ? e : cassandraError(e, stores.cassandraWhere);
  }
  const source = new CassandraTableSource(stores.cassandra, schema, {
    pageSize: pipeline.pageSize,
    splits: pipeline.splits,
    rangesInFlight: pipeline.rangesInFlight,
    version: pipeline.version,
    id: pipeline.id,
    where: stores.cassandraWhere,
  });
  const sink = new ElasticsearchIndexSink(stores.elasticsearch, {
    index: pipeline.index,
    mapping: indexMapping(fieldDescriptions(schema), META_FIELD, `${schema.keyspace}.${schema.table}`),
    settings: pipeline.indexSettings,
    metaField: META_FIELD,
    bulk: pipeline.bulk,
    where: stores.elasticsearchWhere,
  });
  return fullSync(
    { source, sink, failures: options.failures, onProgress: options.onProgress },
    { pipeline: pipeline.name, index: pipeline.index, failureLedgerPath: options.failureLedgerPath, signal: options.signal },
  );
}

/** The pipelines named (all when none), or a USAGE error naming the unknown ones. */
export function selectPipelines(config: Readonly<Config>, names: readonly string[] | undefined): PipelineConfig[] {
  if (!names || names.length === 0) return [...config.pipelines];
  const unknown = names.filter((n) => !config.pipelines.some((p) => p.name === n));
  if (unknown.length > 0) {
    const known = config.pipelines.map((p) => p.name).join(', ');
    throw new CesyncError('USAGE', `unknown pipeline ${unknown.join(', ')} (this configuration has: ${known})`);
  }
  return config.pipelines.filter((p) => names.includes(p.name));
}
