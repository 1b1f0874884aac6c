// Every CQL type arrives in the document exactly as docs/types.md says, checked on the raw JSON
// text Elasticsearch stores (so big numbers are checked digit by digit, not through JS numbers).
import { createAllTypesTable } from './all-types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStores, type Stores } from '../../src/sync/stores.js';
import { syncPipeline } from '../../src/sync/sync-pipeline.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { cassandraClient, config, deleteIndex, esClient, recreateKeyspace, target } from './harness.js';

const KS = 'cesync_types';
const cql = cassandraClient();
const es = esClient();
let stores: Stores;

async function rawSource(index: string, id: string): Promise<string> {
  const res = await fetch(`${target().node}/${index}/_source/${encodeURIComponent(id)}`);
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  await cql.connect();
  await recreateKeyspace(cql, KS);
  await createAllTypesTable(cql, KS);
  await cql.execute(`CREATE TABLE ${KS}.keys (p1 text, p2 int, c1 timestamp, c2 uuid, s text static, v text,
    PRIMARY KEY ((p1, p2), c1, c2))`);
  await cql.execute(`INSERT INTO ${KS}.keys (p1, p2, c1, c2, s, v) VALUES ('a:b', 7, '2021-01-01 00:00:00+0000', 5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91, 'shared', 'one')`);
  await cql.execute(`INSERT INTO ${KS}.keys (p1, p2, c1, c2, v) VALUES ('a:b', 7, '2021-01-02 00:00:00+0000', 5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91, 'two')`);
  for (const index of ['types_all', 'types_keys']) await deleteIndex(es, index);
  const c = config([
    { name: 'all', keyspace: KS, table: 'all_types', index: 'types_all' },
    { name: 'keys', keyspace: KS, table: 'keys', index: 'types_keys' },
  ]);
  stores = await connectStores(c);
  for (const p of c.pipelines) {
    const failures = new MemoryFailureLedger();
    const report = await syncPipeline(stores, p, { failures });
    expect(failures.entries).toEqual([]);
    expect(report.failed).toBe(0);
  }
});

afterAll(async () => {
  await stores?.close();
  await cql.shutdown();
  await es.close();
});

describe('CQL types in documents', () => {
  it('converts every scalar type exactly', async () => {
    const raw = await rawSource('types_all', 'r1');
    const expected: Record<string, string> = {
      id: '"r1"',
      a: '"ascii"',
      t: '"text ü"',
      vc: '"varchar"',
      i: '-2147483648',
      bi: '9223372036854775807',
      si: '-32768',
      ti: '-128',
      vi: '"123456789012345678901234567890"',
      f: '3.14',
      d: '0.1',
      de: '12345678901234567890.000000000001',
      b: 'true',
      u: '"5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91"',
      tu: '"50554d6e-29bb-11e5-b345-feff819cdc9f"',
      ts: '"2020-09-28T15:47:15.919Z"',
      dt: '"1987-12-31"',
      tm: '"13:30:54.234"',
      du: '"P1Y2M3DT4H5M6.007008009S"',
      ip: '"192.168.0.1"',
      bl: '"yv4="',
      empty_text: '""',
      nothing: 'null',
    };
    for (const [field, json] of Object.entries(expected)) expect(raw, field).toContain(`"${field}":${json}`);
  });

  it('converts collections, tuples, user-defined types and vectors', async () => {
    const doc = (await es.get({ index: 'types_all', id: 'r1' }))._source as Record<string, unknown>;
    expect(doc.l).toEqual([3, 1, 2]);
    expect(doc.s).toEqual(['a', 'b']);
    expect(doc.m).toEqual({ x: 1, y: 2 });
    expect(doc.fl).toEqual(['p', 'q']);
    expect(doc.mk).toEqual({ '2020-01-01T00:00:00.000Z': 'new year' });
    expect(doc.nested).toEqual({ board: ['State (Tamil Nadu)'], medium: ['English', 'Hindi'] });
    expect(doc.tup).toEqual([1, 'two', false]);
    expect(doc.addr).toEqual({ street: 'Main', zip: 600001, tags: ['home'] });
    expect(doc.faddr).toEqual({ street: 'Side', zip: null, tags: null });
    expect(doc.vec).toEqual([1.5, -2.25, 3.1]);
  });

  it('derives the mapping from the table', async () => {
    const m = await es.indices.getMapping({ index: 'types_all' });
    const p = m.types_all!.mappings.properties as Record<string, { type?: string; enabled?: boolean; properties?: unknown }>;
    expect(p.id!.type).toBe('keyword');
    expect(p.t!.type).toBe('text');
    expect(p.bi!.type).toBe('long');
    expect(p.vi!.type).toBe('keyword');
    expect(p.ts!.type).toBe('date');
    expect(p.dt!.type).toBe('date');
    expect(p.ip!.type).toBe('ip');
    expect(p.bl!.type).toBe('binary');
    expect(p.tup!.enabled).toBe(false);
    expect(p.addr!.properties).toBeDefined();
    // Map values get the value type through a dynamic template where the server has
    // `subobjects: false` (Elasticsearch 8.3+): m.x is an integer field. Elsewhere the map is one
    // field whose keys stay keys (docs/targets.md).
    const t = target();
    const subobjects = t.product === 'elasticsearch' && (t.major > 8 || (t.major === 8 && t.minor >= 3));
    if (subobjects) expect((p.m as { properties: Record<string, { type: string }> }).properties.x!.type).toBe('integer');
    else expect(p.m!.type).toBe(t.product === 'opensearch' ? 'flat_object' : 'flattened');
  });

  it('forms reversible ids from composite keys and repeats static columns in each row', async () => {
    const { hits } = await es.search({ index: 'types_keys', query: { match_all: {} }, sort: [{ c1: 'asc' }] });
    expect(hits.hits.map((h) => h._id)).toEqual([
      'a\\:b:7:2021-01-01T00\\:00\\:00.000Z:5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91',
      'a\\:b:7:2021-01-02T00\\:00\\:00.000Z:5e2c9d2e-1b3c-4b8a-9d2a-0b6d3c7f8e91',
    ]);
    expect(hits.hits.map((h) => (h._source as { s: string }).s)).toEqual(['shared', 'shared']);
  });
});
