// The two ceilings a sync is compared with:
//   write: Elasticsearch's _bulk rate for the same documents, built in memory beforehand and sent
//          with the same client and bulk helper (nothing read from Cassandra);
//   read:  the raw token-range scan of the table with the driver (no conversion, nothing written).
import cassandra from 'cassandra-driver';
import type { PipelineConfig } from '../src/config/schema.ts';
import type { Stores } from '../src/sync/stores.ts';
import type { SourceRecord } from '../src/engine/record.ts';
import type { CesyncModules } from './cesync-modules.ts';

/** One document exactly as cesync sends it: id, external version, body with its `_cesync` metadata. */
export interface PreparedDocument {
  id: string;
  version: number;
  body: string;
}

/** Reads the table once with cesync's own source and converter, and builds every bulk body. */
export async function buildDocuments(m: CesyncModules, stores: Stores, pipeline: PipelineConfig): Promise<PreparedDocument[]> {
  const { source } = await m.pipeline.openPipeline(stores, pipeline);
  const metaField = m.indexSink.META_FIELD;
  const docs: PreparedDocument[] = [];
  for await (const batch of source.scan(source.spans().map((s) => ({ ...s, done: false })), {})) {
    for (const r of batch.records) docs.push({ id: r.id, version: r.version, body: documentBody(m, metaField, r) });
  }
  return docs;
}

function documentBody(m: CesyncModules, metaField: string, r: SourceRecord): string {
  const json = JSON.stringify(r.document);
  const meta = `${JSON.stringify(metaField)}:${JSON.stringify({ ...r.meta, digest: m.planner.digestOfRecord(r, json) })}}`;
  return json === '{}' ? `{${meta}` : `${json.slice(0, -1)},${meta}`;
}

export interface DocumentStats {
  documents: number;
  /** Records the pipeline refused (shaping or composing failed): nothing would be written for them. */
  rejected: number;
  /** Mean bytes of a bulk body, built as buildDocuments builds them. */
  bytesMean: number;
  /** Mean length of each listed array field (the nested rows of a composed document). */
  listedMean: Record<string, number>;
}

/**
 * Reads the whole table with the pipeline's own source (shaped and composed as the CLI does) and
 * measures its documents without keeping them: how many, mean body size, mean rows nested per
 * document in each of `listFields`.
 */
export async function documentStats(m: CesyncModules, stores: Stores, pipeline: PipelineConfig, listFields: readonly string[] = []): Promise<DocumentStats> {
  const { source } = await m.pipeline.openPipeline(stores, pipeline);
  const metaField = m.indexSink.META_FIELD;
  let documents = 0;
  let rejected = 0;
  let bytes = 0;
  const listed: Record<string, number> = Object.fromEntries(listFields.map((f) => [f, 0]));
  for await (const batch of source.scan(source.spans().map((s) => ({ ...s, done: false })), {})) {
    for (const r of batch.records) {
      if (r.rejected) {
        rejected++;
        continue;
      }
      documents++;
      bytes += Buffer.byteLength(documentBody(m, metaField, r));
      for (const f of listFields) {
        const v = r.document[f];
        if (Array.isArray(v)) listed[f]! += v.length;
      }
    }
  }
  return {
    documents,
    rejected,
    bytesMean: documents ? bytes / documents : NaN,
    listedMean: Object.fromEntries(Object.entries(listed).map(([f, n]) => [f, documents ? n / documents : NaN])),
  };
}

/** Deletes `index` and creates it again as cesync would (same mapping and settings). */
export async function freshIndex(m: CesyncModules, stores: Stores, pipeline: PipelineConfig, index: string): Promise<void> {
  await stores.target.deleteIndex(index);
  await (await m.pipeline.openPipeline(stores, { ...pipeline, index })).sink.prepare();
}

export interface BulkSettings {
  flushBytes: number;
  concurrency: number;
}

/** Sends the documents to `index` with the bulk helper, then refreshes (as cesync does at the end). */
export async function bulkLoad(stores: Stores, index: string, docs: readonly PreparedDocument[], bulk: BulkSettings): Promise<number> {
  let successful = 0;
  let dropped: string | undefined;
  await stores.target.bulk<PreparedDocument>({
    datasource: (async function* () {
      yield* docs;
    })(),
    flushBytes: bulk.flushBytes,
    concurrency: bulk.concurrency,
    flushIntervalMs: 30_000,
    retry: { retries: 0 },
    action: (d) => [{ index: { _index: index, _id: d.id, version: d.version, version_type: 'external_gte' } }, d.body],
    applied: () => void successful++,
    refused: (d, answer) => void (dropped ??= `document ${d.id} dropped: ${answer.status} ${JSON.stringify(answer.error)}`),
  });
  if (dropped) throw new Error(dropped);
  await stores.target.refresh(index);
  return successful;
}

export interface ScanSettings {
  pageSize: number;
  rangesInFlight: number;
}

/**
 * Reads every row of the table by token ranges, exactly the SELECT cesync issues (token, every
 * column, the write times), `rangesInFlight` ranges at a time, page by page; counts the rows.
 */
export async function rawScan(m: CesyncModules, stores: Stores, pipeline: PipelineConfig, settings: ScanSettings): Promise<number> {
  const client = stores.cassandra!;
  const schema = await m.tableSchema.loadTableSchema(client, pipeline.keyspace, pipeline.table);
  const q = m.tableSchema.quoteIdentifier;
  const pk = schema.partitionKeys.map(q).join(', ');
  const selectors = [
    `token(${pk}) AS cesync__token`,
    ...schema.columns.map((c) => q(c.name)),
    ...schema.writetimeColumns.map((c, i) => `${m.tableSchema.writetimeSelector(c)} AS cesync__wt${i}`),
  ].join(', ');
  const from = `FROM ${q(schema.keyspace)}.${q(schema.table)}`;
  const selectSpan = `SELECT ${selectors} ${from} WHERE token(${pk}) > ? AND token(${pk}) <= ?`;
  const selectToEnd = `SELECT ${selectors} ${from} WHERE token(${pk}) > ?`;
  const { source } = await m.pipeline.openPipeline(stores, pipeline);
  const spans = source.spans();
  const long = (t: string) => cassandra.types.Long.fromString(t);
  let next = 0;
  let rows = 0;
  const worker = async () => {
    for (let i = next++; i < spans.length; i = next++) {
      const span = spans[i]!;
      const [query, params] = span.end === null ? [selectToEnd, [long(span.start)]] : [selectSpan, [long(span.start), long(span.end)]];
      let pageState: string | undefined;
      do {
        const rs = await client.execute(query, params, { prepare: true, fetchSize: settings.pageSize, pageState });
        rows += rs.rowLength;
        pageState = rs.pageState ?? undefined;
      } while (pageState);
    }
  };
  await Promise.all(Array.from({ length: settings.rangesInFlight }, worker));
  return rows;
}
