// Deletes never resurrect, against the real servers: once cesync deleted the document of a
// deleted row, a late write of a copy of that row read before the delete is refused by the
// tombstone, and the engine, reading the row again, does not re-create it under the tombstone's
// version. A document written meanwhile survives a delete decided on an older version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { fullSync } from '../../src/engine/full-sync.js';
import type { RecordSource, SpanProgress } from '../../src/engine/ports.js';
import type { SourceBatch, SourceRecord, WriteOp, WriteOutcome } from '../../src/engine/record.js';
import { digestOfJson } from '../../src/engine/planner.js';
import { fromArray } from '../../src/streams/from-array.js';
import { connectStores, type Stores } from '../../src/sync/stores.js';
import { openPipeline, syncPipelineIds, type OpenedPipeline } from '../../src/sync/sync-pipeline.js';
import type { PipelineConfig } from '../../src/config/schema.js';
import { config, deleteIndex, openTestClients } from './harness.js';

const KS = 'cesync_deletes';
let cql: cassandra.Client;
let es: EsClient;
let stores: Stores;
let pipeline: PipelineConfig;
let opened: OpenedPipeline;

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.items (id text PRIMARY KEY, body text)`);
  await deleteIndex(es, 'deletes_items');
  const cfg = config([{ name: 'items', keyspace: KS, table: 'items', index: 'deletes_items' }]);
  pipeline = cfg.pipelines[0]!;
  stores = await connectStores(cfg);
  opened = await openPipeline(stores, pipeline);
});

afterAll(async () => {
  await stores?.close();
  await cql?.shutdown();
  await es?.close();
});

async function readRow(id: string): Promise<SourceRecord> {
  for await (const b of opened.source.read([{ id, values: [id] }], {})) return b.records[0]!;
  throw new Error(`no row ${id}`);
}

async function write(ops: WriteOp[]): Promise<WriteOutcome[]> {
  const out: WriteOutcome[] = [];
  await opened.sink.write(fromArray(ops), (_op, o) => out.push(o));
  return out;
}

const indexOp = (r: SourceRecord): WriteOp => {
  const json = JSON.stringify(r.document);
  return { kind: 'index', id: r.id, version: r.version, json, meta: { ...r.meta, digest: digestOfJson(json), version: r.version } };
};

const ids = (list: string[]) => list.map((id, i) => ({ line: i + 1, fields: [id] }));

describe('deletes never resurrect', () => {
  it('a late copy of a deleted row is refused by the tombstone', async () => {
    await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('a', 'alive')`);
    const copy = await readRow('a'); // a sync read the row ...
    expect((await syncPipelineIds(stores, pipeline, ids(['a']), { failures: new MemoryFailureLedger() })).indexed).toBe(1);
    await cql.execute(`DELETE FROM ${KS}.items WHERE id = 'a'`);
    const del = await syncPipelineIds(stores, pipeline, ids(['a']), { failures: new MemoryFailureLedger(), deleteMissing: true });
    expect(del.deleted).toBe(1);
    // ... and writes it only now, at the version it read.
    const [late] = await write([indexOp(copy)]);
    expect(late).toMatchObject({ kind: 'conflict' });
    expect(await es.exists({ index: 'deletes_items', id: 'a' })).toBe(false);
  });

  it('the engine, refused by a tombstone, re-creates only a row that exists now', async () => {
    await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('b', 'alive')`);
    const copy = await readRow('b');
    await syncPipelineIds(stores, pipeline, ids(['b']), { failures: new MemoryFailureLedger() });
    await cql.execute(`DELETE FROM ${KS}.items WHERE id = 'b'`);
    await syncPipelineIds(stores, pipeline, ids(['b']), { failures: new MemoryFailureLedger(), deleteMissing: true });
    // A full sync whose scan read the row before it was deleted: its rows are confirmed by the real table.
    const src = opened.source;
    const late: RecordSource = {
      scanVersions: (spans, options) => src.scanVersions(spans, options),
      keyColumns: () => src.keyColumns(),
      changed: (from, to, options) => src.changed(from, to, options),
      spans: () => [{ start: '0', end: null }],
      scan: async function* (_spans: readonly SpanProgress[]): AsyncGenerator<SourceBatch> {
        yield { records: [copy], position: { span: 0, after: '0', last: true } };
      },
      read: (keys, options) => opened.source.read(keys, options),
      parseKey: (parts) => opened.source.parseKey(parts),
      idParts: (id) => opened.source.idParts(id),
      estimateCount: async () => 1,
      fractionDone: () => 1,
    };
    const report = await fullSync({ source: late, sink: opened.sink, failures: new MemoryFailureLedger() }, { pipeline: 'items', index: 'deletes_items' });
    expect(report).toMatchObject({ read: 1, indexed: 0, unchanged: 1 });
    expect(await es.exists({ index: 'deletes_items', id: 'b' })).toBe(false);

    // Written again in Cassandra: now it exists, and the same refused creation is re-created from the row.
    await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('b', 'back')`);
    const again = await fullSync({ source: late, sink: opened.sink, failures: new MemoryFailureLedger() }, { pipeline: 'items', index: 'deletes_items' });
    expect(again).toMatchObject({ indexed: 1 });
    expect((await es.get({ index: 'deletes_items', id: 'b' }))._source).toMatchObject({ body: 'back' });
  });

  it('a delete decided on an older version spares the document written meanwhile', async () => {
    await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('c', 'first')`);
    const first = await readRow('c');
    await write([indexOp(first)]);
    // Newer: written by another sync after the delete was decided on `first.version`.
    await write([indexOp({ ...first, version: first.version + 1, document: { ...first.document, body: 'newer' } })]);
    const [outcome] = await write([{ kind: 'delete', id: 'c', version: first.version }]);
    expect(outcome).toMatchObject({ kind: 'conflict' });
    expect((await es.get({ index: 'deletes_items', id: 'c' }))._source).toMatchObject({ body: 'newer' });
  });
});
