// The way back against the real servers: an index read as a change feed (version order, bounds,
// pages) and documents written into a Cassandra table as rows USING TIMESTAMP version, every
// CQL type converting back exactly (document -> row -> document gives the same JSON text).
import { ALL_TYPES_COLUMNS, createAllTypesTable } from './all-types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import cassandra from 'cassandra-driver';
import { loadTableSchema } from '../../src/cassandra/table-schema.js';
import { CassandraTableWriter } from '../../src/cassandra/table-writer.js';
import { compileConverter } from '../../src/cassandra/value-converter.js';
import { SearchIndexChangeFeed } from '../../src/search-index/change-feed.js';
import { META_FIELD } from '../../src/search-index/index-sink.js';
import type { ChangedDocument, RowWrite, RowWriteOutcome } from '../../src/engine/ports.js';
import { CesyncError } from '../../src/errors.js';
import { fromArray } from '../../src/streams/from-array.js';
import { deleteIndex, endpoints, openTestClients, targetApi } from './harness.js';
import type { SearchApi } from '../../src/search-index/api.js';

const KS = 'cesync_back';
let cql: cassandra.Client;
let es: EsClient;
let api: SearchApi;

/** The table of test/integration/types.test.ts: every CQL type. */


const V0 = 1_700_000_000_000_000;

/** Every row of a table as documents (value-converter.ts), by id. */
async function documentsOf(table: string): Promise<Map<string, Record<string, unknown>>> {
  const schema = await loadTableSchema(cql, KS, table);
  const convert = schema.columns.map((c) => [c.name, compileConverter(c.type)] as const);
  const rows = (await cql.execute(`SELECT * FROM ${KS}.${table}`)).rows;
  return new Map(rows.map((r) => [String(r.id), Object.fromEntries(convert.map(([name, conv]) => [name, conv(r[name])]))]));
}

async function indexDocuments(index: string, docs: { id: string; body: Record<string, unknown> }[], properties: Record<string, unknown> = {}) {
  await deleteIndex(es, index);
  // Not dynamic: every field stays in _source as written, whatever its type (tuples mix types).
  await es.indices.create({
    index,
    mappings: { dynamic: false, properties: { [META_FIELD]: { properties: { version: { type: 'long' }, digest: { type: 'keyword' } } }, ...properties } },
  });
  for (const d of docs) await es.index({ index, id: d.id, document: d.body });
  await es.indices.refresh({ index });
}

async function collect(feed: SearchIndexChangeFeed, from: number, to: number, pageSize?: number) {
  const pages: (readonly ChangedDocument[])[] = [];
  for await (const page of feed.changes({ version: from, id: '' }, to, { pageSize })) pages.push(page);
  return { pages, docs: pages.flat() };
}

async function writeBack(writer: CassandraTableWriter, rows: RowWrite[]) {
  const outcomes = new Map<string, RowWriteOutcome>();
  await writer.write(fromArray(rows), (row, outcome) => {
    expect(outcomes.has(`${row.id}@${row.version}`)).toBe(false);
    outcomes.set(`${row.id}@${row.version}`, outcome);
  });
  return outcomes;
}

const feedOf = (index: string, versionField?: string) => new SearchIndexChangeFeed(api, { index, metaField: META_FIELD, versionField });

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  api = await targetApi();
  await createAllTypesTable(cql, KS);
  await cql.execute(`CREATE TABLE ${KS}.all_types_back (${ALL_TYPES_COLUMNS})`);
  await cql.execute(`CREATE TABLE ${KS}.people (id text PRIMARY KEY, name text, age int, tags set<text>, attrs map<text, text>)`);
  await cql.execute(`CREATE TABLE ${KS}.hits (page text PRIMARY KEY, views counter)`);
  // The rows of types.test.ts, and one with the edge values of each type.
  await cql.execute(`INSERT INTO ${KS}.all_types (id, a, i, bi, si, ti, vi, f, d, de, b, ts, dt, tm, du, ip, bl, m, tup, vec) VALUES (
    'r2', '', 2147483647, -9223372036854775808, 32767, 127, -1, NaN, -Infinity, -0.000000000000000000001, false,
    '1969-12-31 23:59:59.999+0000', '-0044-03-15', '23:59:59.999999999', -1mo2d3ns, '2001:db8::ff00:42:8329', 0x,
    {'a.b': -1}, (null, '', null), [0, -0.5, 3.4028235e38])`);
  await cql.execute(`INSERT INTO ${KS}.all_types (id) VALUES ('r3')`);
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
  await api?.close();
});

describe('the change feed', () => {
  const ids = ['e', 'b', 'g', 'a', 'f', 'c', 'd'];
  // Indexed out of order; 'c' and 'd' share a version.
  const versionOf: Record<string, number> = { a: V0 + 1, b: V0 + 2, c: V0 + 3, d: V0 + 3, e: V0 + 5, f: V0 + 6, g: V0 + 7 };

  beforeAll(async () => {
    await indexDocuments(
      'back_feed',
      ids.map((id) => ({ id, body: { id, name: `name ${id}`, [META_FIELD]: { token: 1, digest: `digest-${id}`, version: versionOf[id], hv: 0 } } })),
    );
  });

  it('reads the documents of a version range in version order, page by page', async () => {
    const { pages, docs } = await collect(feedOf('back_feed'), V0 + 2, V0 + 6, 2);
    expect(docs.map((d) => d.id)).toEqual(['b', expect.any(String), expect.any(String), 'e', 'f']);
    expect(new Set(docs.slice(1, 3).map((d) => d.id))).toEqual(new Set(['c', 'd']));
    expect(docs.map((d) => d.version)).toEqual([V0 + 2, V0 + 3, V0 + 3, V0 + 5, V0 + 6]);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(docs[0]).toEqual({ id: 'b', version: V0 + 2, document: { id: 'b', name: 'name b' }, written: { digest: 'digest-b', version: V0 + 2 } });
  });

  it('includes both bounds, and finds nothing in an empty range', async () => {
    expect((await collect(feedOf('back_feed'), V0 + 7, V0 + 7)).docs.map((d) => d.id)).toEqual(['g']);
    expect((await collect(feedOf('back_feed'), V0 + 1, V0 + 1)).docs.map((d) => d.id)).toEqual(['a']);
    expect((await collect(feedOf('back_feed'), V0 + 8, V0 + 100)).docs).toEqual([]);
    expect((await collect(feedOf('back_feed'), 0, V0 + 100)).docs).toHaveLength(7);
  });

  it('reads a date version field as microseconds', async () => {
    const at = (ms: number) => new Date(Date.parse('2024-05-01T10:00:00.000Z') + ms).toISOString();
    await indexDocuments(
      'back_dated',
      [
        { id: 'x', body: { id: 'x', updated_at: at(0) } },
        { id: 'y', body: { id: 'y', updated_at: at(1) } },
        { id: 'z', body: { id: 'z', updated_at: at(2) } },
        { id: 'none', body: { id: 'none' } },
      ],
      { updated_at: { type: 'date' } },
    );
    const ms0 = Date.parse(at(0)) * 1000;
    const feed = feedOf('back_dated', 'updated_at');
    const all = (await collect(feed, 0, Number.MAX_SAFE_INTEGER)).docs;
    expect(all.map((d) => [d.id, d.version])).toEqual([['x', ms0], ['y', ms0 + 1000], ['z', ms0 + 2000]]);
    expect(all[0]!.written).toBeUndefined();
    // Microsecond bounds between milliseconds: only whole milliseconds inside the range.
    expect((await collect(feed, ms0 + 1, ms0 + 1999)).docs.map((d) => d.id)).toEqual(['y']);
    expect((await collect(feed, ms0 + 1, ms0 + 999)).docs).toEqual([]);
  });

  it('refuses a version field that holds neither a number nor a date', async () => {
    await indexDocuments('back_badfield', [{ id: 'x', body: { id: 'x', stamp: 'soon' } }], { stamp: { type: 'keyword' } });
    await expect(collect(feedOf('back_badfield', 'stamp'), 0, 1)).rejects.toMatchObject({ code: 'SCHEMA_MISMATCH' });
  });
});

describe('writing documents back to a table', () => {
  it('writes every CQL type back exactly, USING TIMESTAMP the version', async () => {
    const source = await documentsOf('all_types');
    expect(source.size).toBe(3);
    await indexDocuments(
      'back_all',
      ['r1', 'r2', 'r3'].map((id, i) => ({ id, body: { ...source.get(id)!, [META_FIELD]: { version: V0 + i, digest: `d${i}` } } })),
    );
    const { docs } = await collect(feedOf('back_all'), 0, V0 + 10);
    expect(docs.map((d) => d.id)).toEqual(['r1', 'r2', 'r3']);
    // Read exactly: the feed keeps the digits a double would round.
    expect(JSON.stringify(docs[0]!.document.bi)).toBe('9223372036854775807');
    expect(JSON.stringify(docs[0]!.document.de)).toBe('12345678901234567890.000000000001');

    const schema = await loadTableSchema(cql, KS, 'all_types_back');
    const writer = new CassandraTableWriter(cql, schema, { where: 'test', concurrency: 2 });
    writer.check();
    const outcomes = await writeBack(writer, docs.map((d) => ({ id: d.id, version: d.version, document: d.document })));
    expect([...outcomes.values()]).toEqual([{ kind: 'written' }, { kind: 'written' }, { kind: 'written' }]);

    // document -> row -> document gives the same JSON text, field by field.
    const back = await documentsOf('all_types_back');
    for (const [id, doc] of source) {
      const row = back.get(id)!;
      expect(row, id).toBeDefined();
      for (const [field, value] of Object.entries(doc)) expect(JSON.stringify(row[field]), `${id}.${field}`).toBe(JSON.stringify(value));
    }
    const wt = await cql.execute(`SELECT id, writetime(t) AS wt FROM ${KS}.all_types_back WHERE id = 'r1'`);
    expect(String(wt.first().wt)).toBe(String(V0));
  });

  const people = async () => {
    const schema = await loadTableSchema(cql, KS, 'people');
    return new CassandraTableWriter(cql, schema, { where: 'test' });
  };
  const person = async (id: string) => (await cql.execute(`SELECT * FROM ${KS}.people WHERE id = ?`, [id], { prepare: true })).first();

  it('never lets an older version overwrite a newer row', async () => {
    const writer = await people();
    const outcomes = await writeBack(writer, [
      { id: 'p1', version: V0 + 2000, document: { id: 'p1', name: 'newer', age: null, tags: ['n'] } },
      { id: 'p1', version: V0 + 1000, document: { id: 'p1', name: 'older', age: 5, tags: ['o'], attrs: { k: 'v' } } },
    ]);
    expect([...outcomes.values()].every((o) => o.kind === 'written')).toBe(true);
    const row = await person('p1');
    expect(row.name).toBe('newer');
    expect(row.age).toBeNull();
    expect([...(row.tags as Set<string>)]).toEqual(['n']);
    expect(row.attrs).toBeNull();
    // A newer version still wins afterwards.
    await writeBack(writer, [{ id: 'p1', version: V0 + 3000, document: { id: 'p1', name: 'newest', attrs: { 'a.b': 'c' } } }]);
    const newest = await person('p1');
    expect(newest.name).toBe('newest');
    expect(newest.tags).toBeNull();
    expect(newest.attrs).toEqual(new Map([['a.b', 'c']]));
  });

  it('rejects a document with a bad value as mapping, and writes the others', async () => {
    const writer = await people();
    const outcomes = await writeBack(writer, [
      { id: 'ok1', version: V0, document: { id: 'ok1', age: 41 } },
      { id: 'bad', version: V0, document: { id: 'bad', age: 'abc' } },
      { id: 'ok2', version: V0, document: { id: 'ok2', age: 7, tags: ['x'] } },
      { id: 'huge', version: V0, document: { id: 'x'.repeat(70_000) } },
    ]);
    expect(outcomes.get(`ok1@${V0}`)).toEqual({ kind: 'written' });
    expect(outcomes.get(`ok2@${V0}`)).toEqual({ kind: 'written' });
    expect(outcomes.get(`bad@${V0}`)).toEqual({
      kind: 'rejected',
      errorClass: 'mapping',
      errorType: 'invalid_value',
      reason: 'column "age": expected an int (a whole number from -2147483648 to 2147483647), got "abc"',
    });
    // Cassandra itself refuses a key longer than 64 KiB: that row alone is rejected.
    expect(outcomes.get(`huge@${V0}`)).toMatchObject({ kind: 'rejected', errorClass: 'rejected', errorType: 'invalid' });
    expect((await person('ok1')).age).toBe(41);
    expect((await person('ok2')).age).toBe(7);
    expect(await person('bad')).toBeNull();
  });

  it('refuses counter tables', async () => {
    const schema = await loadTableSchema(cql, KS, 'hits');
    const writer = new CassandraTableWriter(cql, schema, { where: 'test' });
    expect(() => writer.check()).toThrow(CesyncError);
    expect(() => writer.check()).toThrow(/counters cannot be set/);
  });

  it('fails the whole write when Cassandra cannot be reached', async () => {
    const schema = await loadTableSchema(cql, KS, 'people');
    const e = endpoints().cassandra;
    const down = new cassandra.Client({ contactPoints: ['127.0.0.1:1'], localDataCenter: e.localDataCenter, encoding: { map: Map, set: Set } });
    try {
      const writer = new CassandraTableWriter(down, schema, { where: '127.0.0.1:1' });
      const seen: RowWriteOutcome[] = [];
      const rows = [{ id: 'p9', version: V0, document: { id: 'p9' } }];
      await expect(writer.write(fromArray(rows), (_r, o) => seen.push(o))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(seen).toEqual([]);
    } finally {
      await down.shutdown();
    }
  });
});
