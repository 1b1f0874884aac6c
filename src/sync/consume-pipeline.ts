/**
 * From a configured consumer to the consume loop: its handler wired to the pipeline it serves
 * (the pipeline's table and index, its targeted sync), its topic and dead letters on Kafka. The
 * one way a consumer is run: `cesync consume` uses it, and so do the tests.
 */
import type { Config, PipelineConfig } from '../config/schema.js';
import type { ConsumerConfig } from '../config/consumer-schema.js';
import { openValueRows } from '../cassandra/value-rows.js';
import { NdjsonFailureLedger } from '../engine/failure-ledger.js';
import type { FailureSink, RunObserver } from '../engine/ports.js';
import { CesyncError } from '../errors.js';
import type { EventHandler } from '../events/handler.js';
import type { IdSyncResult, SyncIds } from '../events/ports.js';
import { replaceValueHandler } from '../events/replace-value.js';
import { syncIdsHandler } from '../events/sync-ids.js';
import { SearchIndexValueDocuments } from '../search-index/value-documents.js';
import type { ExpandedConfig } from './expand-pipelines.js';
import { cassandraOf, type Stores } from './stores.js';
import { openPipeline, selectPipelines, syncOpenedPipelineIds } from './sync-pipeline.js';

export interface ConsumerWiring {
  readonly handler: EventHandler;
  readonly pipeline: PipelineConfig;
}

/** The consumers named (all when none), or a USAGE error naming the unknown ones. */
export function selectConsumers(config: Pick<Config, 'consumers'>, names: readonly string[] | undefined): ConsumerConfig[] {
  if (config.consumers.length === 0) throw new CesyncError('USAGE', 'this configuration has no consumers: add a consumers section (docs/events.md)');
  if (!names || names.length === 0) return [...config.consumers];
  const unknown = names.filter((n) => !config.consumers.some((c) => c.name === n));
  if (unknown.length > 0) throw new CesyncError('USAGE', `unknown consumer ${unknown.join(', ')} (this configuration has: ${config.consumers.map((c) => c.name).join(', ')})`);
  return config.consumers.filter((c) => names.includes(c.name));
}

/** A failure sink that also counts the failures a store outage caused. */
class CountingFailures implements FailureSink {
  transient = 0;
  private readonly inner: FailureSink;
  constructor(inner: FailureSink) {
    this.inner = inner;
  }
  record(entry: Parameters<FailureSink['record']>[0]): void {
    if (entry.errorClass === 'transient') this.transient++;
    this.inner.record(entry);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export async function openConsumer(
  stores: Stores,
  config: ExpandedConfig & Pick<Config, 'failureLedger'>,
  consumer: ConsumerConfig,
  options: { readonly observer?: RunObserver } = {},
): Promise<ConsumerWiring> {
  let selected: PipelineConfig[];
  try {
    selected = selectPipelines(config, [consumer.handler.pipeline]);
  } catch (e) {
    throw e instanceof CesyncError ? new CesyncError(e.code, `consumer ${consumer.name}: handler.pipeline: ${e.message}`) : e;
  }
  const [pipeline, ...more] = selected;
  if (!pipeline || more.length > 0) throw new CesyncError('USAGE', `consumer ${consumer.name}: handler.pipeline ${consumer.handler.pipeline} names ${more.length + 1} pipelines; name one table (NAME.TABLE)`);
  const opened = await openPipeline(stores, pipeline, options.observer);
  const deleteMissing = consumer.handler.kind === 'sync-ids' && consumer.handler.deleteMissing;
  const syncIds: SyncIds = async (keys, { signal }) => {
    const failures = new CountingFailures(new NdjsonFailureLedger(config.failureLedger));
    const report = await syncOpenedPipelineIds(
      opened,
      pipeline,
      keys.map((fields, i) => ({ line: i + 1, fields })),
      { failures, failureLedgerPath: config.failureLedger, signal, deleteMissing, observer: options.observer },
    );
    // Documents that failed because a store did not answer are not done: the batch is tried
    // again (and not committed) rather than left to the failure ledger alone.
    if (failures.transient > 0) {
      throw new CesyncError('STORE_UNAVAILABLE', `${pipeline.name}: ${failures.transient} documents could not be written (the search cluster did not answer); the batch will be tried again`);
    }
    const result: IdSyncResult = { indexed: report.indexed, unchanged: report.unchanged, deleted: report.deleted, missing: report.missing, failed: report.failed };
    return result;
  };
  if (consumer.handler.kind === 'sync-ids') return { handler: syncIdsHandler(consumer.handler, syncIds), pipeline };
  if (pipeline.source !== 'cassandra' || !opened.table) {
    throw new CesyncError('USAGE', `consumer ${consumer.name}: replace-value changes a Cassandra table, and pipeline ${pipeline.name} reads ${pipeline.source}`);
  }
  const client = cassandraOf(stores);
  const rowOptions = { where: stores.cassandraWhere, consistency: stores.decisionConsistency };
  const handler = await replaceValueHandler(consumer.handler, {
    rows: await openValueRows(client, pipeline.keyspace, pipeline.table, rowOptions),
    openRows: (keyspace, table) => openValueRows(client, keyspace ?? pipeline.keyspace, table, rowOptions),
    documents: new SearchIndexValueDocuments(stores.target, pipeline.index),
    syncIds,
    fieldOf: (column) => opened.table!.schema.columns.find((c) => c.name === column)?.field,
  });
  return { handler, pipeline };
}
