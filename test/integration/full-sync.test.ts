// Full sync semantics against the real servers: every row arrives, re-runs change nothing,
// and updates, stale writes, nulls, removed collection elements and column deletes are right.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { connectStores, type Stores } from '../../src/sync/stores.js';
import { syncPipeline, syncPipelineToCassandra } from '../../src/sync/sync-pipeline.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { config, deleteIndex, openTestClients } from './harness.js';

const KS = 'cesync_full';
let cql: cassandra.Client;
let es: EsClient;
let stores: Stores;

const pipelines = [
  { name: 'people', keyspace: KS, table: 'people', index: 'full_people', splits: 16, pageSize: 500 },
  { name: 'keyonly', keyspace: KS, table: 'keyonly', index: 'full_keyonly' },
  { name: 'hits', keyspace: KS, table: 'hits', index: 'full_hits' },
  { name: 'events', keyspace: KS, table: 'events', index: 'full_events', version: { column: 'updated_at' } },
  { name: 'typed', keyspace: KS, table: 'typed', index: 'full_typed' },
];
const cfg = () => config(pipelines);

async function sync(name: string, failures = new MemoryFailureLedger()) {
  const p = cfg().pipelines.find((x) => x.name === name)!;
  const report = await syncPipeline(stores, p, { failures });
  return { report, failures: failures.entries };
}

async function doc(index: string, id: string) {
  return es.get<Record<string, unknown>>({ index, id });
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.people (id int PRIMARY KEY, name text, city text, tags set<text>, attrs map<text, text>)`);
  await cql.execute(`CREATE TABLE ${KS}.keyonly (a text, b int, PRIMARY KEY (a, b))`);
  await cql.execute(`CREATE TABLE ${KS}.hits (page text PRIMARY KEY, views counter)`);
  await cql.execute(`CREATE TABLE ${KS}.events (id text PRIMARY KEY, body text, updated_at timestamp)`);
  await cql.execute(`CREATE TABLE ${KS}.typed (id text PRIMARY KEY, age text)`);
  stores = await connectStores(cfg());
});

afterAll(async () => {
  await stores?.close();
  await cql?.shutdown();
  await es?.close();
});

describe('full sync of a table', () => {
  const N = 5000;
  beforeEach(async () => {
    await deleteIndex(es, 'full_people');
    await cql.execute(`TRUNCATE ${KS}.people`);
    const insert = `INSERT INTO ${KS}.people (id, name, city, tags, attrs) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?`;
    const rows = Array.from({ length: N }, (_, i) => [i, `name ${i}`, `city ${i % 7}`, new Set(['a', `t${i % 3}`]), new Map([['k', `v${i}`]]), 1_600_000_000_000_000 + i]);
    for (let i = 0; i < rows.length; i += 200) {
      await Promise.all(rows.slice(i, i + 200).map((r) => cql.execute(insert, r, { prepare: true })));
    }
  });

  it('copies every row, with the row write time as the document version, and a re-run changes nothing', async () => {
    const first = await sync('people');
    expect(first.report).toMatchObject({ read: N, indexed: N, unchanged: 0, failed: 0, indexCreated: true });
    expect((await es.count({ index: 'full_people' })).count).toBe(N);
    const d = await doc('full_people', '1234');
    expect(d._source).toMatchObject({ id: 1234, name: 'name 1234', city: 'city 2', tags: ['a', 't1'], attrs: { k: 'v1234' } });
    expect(d._version).toBe(1_600_000_000_000_000 + 1234);
    // Loaded without refreshes and replicas; the defaults are back afterwards.
    const settings = (await es.indices.getSettings({ index: 'full_people' })).full_people!.settings!.index!;
    expect(settings.refresh_interval).toBeUndefined();
    expect(settings.number_of_replicas).toBe('1');

    const second = await sync('people');
    expect(second.report).toMatchObject({ read: N, indexed: 0, unchanged: N, failed: 0, indexCreated: false });
  });

  it('carries updates, nulls, removed elements and column deletes to the next sync', async () => {
    await sync('people');
    const t = 1_700_000_000_000_000;
    // Row 5 gets a newer cell first, and that version reaches its document.
    await cql.execute(`UPDATE ${KS}.people USING TIMESTAMP ${t} SET name = 'late' WHERE id = 5`);
    expect((await sync('people')).report).toMatchObject({ indexed: 1, unchanged: N - 1 });
    expect((await doc('full_people', '5'))._version).toBe(t);

    // 1: a plain update moves the version forward.
    await cql.execute(`UPDATE ${KS}.people USING TIMESTAMP ${t} SET city = 'Chennai' WHERE id = 1`);
    // 2: a column set to null; its sibling cells keep the row's newest WRITETIME where it was.
    await cql.execute(`UPDATE ${KS}.people USING TIMESTAMP ${t} SET city = null WHERE id = 2`);
    // 3: an element removed from a set: MAXWRITETIME of the set does not move.
    await cql.execute(`UPDATE ${KS}.people USING TIMESTAMP ${t} SET tags = tags - {'a'} WHERE id = 3`);
    // 4: columns deleted (a partial delete of the row).
    await cql.execute(`DELETE city, attrs FROM ${KS}.people USING TIMESTAMP ${t} WHERE id = 4`);
    // 5: the newest cell removed: the row's newest WRITETIME goes back below the document's.
    await cql.execute(`UPDATE ${KS}.people USING TIMESTAMP ${t + 1} SET name = null WHERE id = 5`);

    const r = await sync('people');
    expect(r.report).toMatchObject({ read: N, indexed: 5, unchanged: N - 5, failed: 0 });
    expect((await doc('full_people', '1'))._source).toMatchObject({ city: 'Chennai' });
    expect((await doc('full_people', '2'))._source).toMatchObject({ city: null, name: 'name 2' });
    expect((await doc('full_people', '3'))._source).toMatchObject({ tags: ['t0'] });
    expect((await doc('full_people', '4'))._source).toMatchObject({ city: null, attrs: null, name: 'name 4' });
    const five = await doc('full_people', '5');
    expect(five._source).toMatchObject({ name: null, city: 'city 5' });
    expect(five._version).toBe(t); // carried at the version the document already had
    // A third run finds nothing left to do.
    expect((await sync('people')).report).toMatchObject({ indexed: 0, unchanged: N });
  });

  it('never lets an older row overwrite a newer document', async () => {
    await sync('people');
    const newer = 1_900_000_000_000_000;
    await es.index({ index: 'full_people', id: '7', version: newer, version_type: 'external', document: { id: 7, name: 'edited elsewhere' }, refresh: true });
    const r = await sync('people');
    expect(r.report).toMatchObject({ indexed: 0, unchanged: N, failed: 0 });
    const d = await doc('full_people', '7');
    expect(d._version).toBe(newer);
    expect(d._source).toMatchObject({ name: 'edited elsewhere' });
  });
});

describe('tables without write times', () => {
  it('syncs a table with only key columns (version 1, content never changes)', async () => {
    await deleteIndex(es, 'full_keyonly');
    for (let i = 0; i < 50; i++) await cql.execute(`INSERT INTO ${KS}.keyonly (a, b) VALUES (?, ?)`, [`k${i % 5}`, i], { prepare: true });
    expect((await sync('keyonly')).report).toMatchObject({ read: 50, indexed: 50, failed: 0 });
    expect((await doc('full_keyonly', 'k0:0'))._source).toMatchObject({ a: 'k0', b: 0 });
    expect((await sync('keyonly')).report).toMatchObject({ read: 50, indexed: 0, unchanged: 50 });
  });

  it('syncs a counter table and carries counter changes by content', async () => {
    await deleteIndex(es, 'full_hits');
    await cql.execute(`UPDATE ${KS}.hits SET views = views + 5 WHERE page = 'home'`);
    await cql.execute(`UPDATE ${KS}.hits SET views = views + 1 WHERE page = 'about'`);
    expect((await sync('hits')).report).toMatchObject({ read: 2, indexed: 2 });
    await cql.execute(`UPDATE ${KS}.hits SET views = views + 3 WHERE page = 'home'`);
    expect((await sync('hits')).report).toMatchObject({ read: 2, indexed: 1, unchanged: 1 });
    expect((await doc('full_hits', 'home'))._source).toMatchObject({ views: 8 });
  });
});

describe('a version column', () => {
  it('uses the column (microseconds) as the external version', async () => {
    await deleteIndex(es, 'full_events');
    await cql.execute(`INSERT INTO ${KS}.events (id, body, updated_at) VALUES ('e1', 'one', '2024-05-01 10:00:00.123+0000')`);
    expect((await sync('events')).report).toMatchObject({ read: 1, indexed: 1 });
    expect((await doc('full_events', 'e1'))._version).toBe(Date.parse('2024-05-01T10:00:00.123Z') * 1000);
  });
});

describe('documents Elasticsearch rejects', () => {
  it('go to the failure ledger with id, class and reason, and the others arrive', async () => {
    await deleteIndex(es, 'full_typed');
    // An index that already exists keeps its mapping: `age` is an integer there.
    await es.indices.create({ index: 'full_typed', mappings: { properties: { age: { type: 'integer' } } } });
    await cql.execute(`INSERT INTO ${KS}.typed (id, age) VALUES ('ok1', '41')`);
    await cql.execute(`INSERT INTO ${KS}.typed (id, age) VALUES ('ok2', '7')`);
    await cql.execute(`INSERT INTO ${KS}.typed (id, age) VALUES ('bad', 'forty')`);
    const { report, failures } = await sync('typed');
    expect(report).toMatchObject({ read: 3, indexed: 2, failed: 1 });
    expect(failures).toEqual([
      expect.objectContaining({ id: 'bad', pipeline: 'typed', errorClass: 'mapping', reason: expect.stringContaining('age') }),
    ]);
    expect((await es.count({ index: 'full_typed' })).count).toBe(2);
  });
});

describe('a field mapping', () => {
  it('renames columns and leaves some out, both ways, and is checked against the table', async () => {
    await deleteIndex(es, 'full_mapped');
    await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.mapped (id text PRIMARY KEY, firstname text, email text, v bigint)`);
    await cql.execute(`INSERT INTO ${KS}.mapped (id, firstname, email, v) VALUES ('m1', 'Asha', 'secret@example.org', 1)`);
    const mapped = { name: 'mapped', keyspace: KS, table: 'mapped', index: 'full_mapped', fields: { firstname: 'firstName', email: null } };
    const c = config([mapped]);
    const report = await syncPipeline(stores, c.pipelines[0]!, { failures: new MemoryFailureLedger() });
    expect(report).toMatchObject({ read: 1, indexed: 1 });
    expect((await doc('full_mapped', 'm1'))._source).toEqual(expect.objectContaining({ id: 'm1', firstName: 'Asha', v: 1 }));
    expect((await doc('full_mapped', 'm1'))._source).not.toHaveProperty('email');

    // Back from the index: the renamed field reaches its column, the left-out column is untouched.
    const now = Date.now() * 1000;
    await es.index({ index: 'full_mapped', id: 'm1', version: now, version_type: 'external', document: { id: 'm1', firstName: 'Asha R', v: now }, refresh: true });
    const back = config([{ ...mapped, direction: 'to-cassandra', elasticsearchVersionField: 'v', incremental: { safetyLagMs: 0 } }]);
    await syncPipelineToCassandra(stores, back.pipelines[0]!, { all: true }, { failures: new MemoryFailureLedger() });
    const row = (await cql.execute(`SELECT firstname, email FROM ${KS}.mapped WHERE id = 'm1'`)).first()!;
    expect(row['firstname']).toBe('Asha R');
    expect(row['email']).toBe('secret@example.org');

    const bad = config([{ ...mapped, fields: { firstnme: 'x' } }]);
    await expect(syncPipeline(stores, bad.pipelines[0]!, { failures: new MemoryFailureLedger() })).rejects.toThrow(/fields: firstnme is not a column of cesync_full\.mapped/);
  });
});
