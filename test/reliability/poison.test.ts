// Poison documents among good ones: an index whose mapping was created beforehand (an integer
// field, a date field) and a table where a random, known set of rows holds values that mapping
// refuses. Every good row arrives, the failure ledger holds exactly the poison ids (class
// mapping), and once the rows are fixed `cesync retry` of the ledger brings them in. The same for
// a sync of given ids that mixes poison and good ones.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from '../integration/harness.js';
import { random } from './cli.js';
import { printTable, record, scale } from './results.js';

const KS = 'cesync_rel_poison';
const INDEX = 'rel_poison_items';
const PIPELINE = 'rel_poison_items';
const GOOD = scale(5_000, 50_000);
/** 1% more rows, poison: their `n` is no integer, or their `born` no date. */
const POISON = Math.round(GOOD / 100);
const TOTAL = GOOD + POISON;
/** Per test, for the full pass. */
const TIMEOUT = scale(180_000, 1_800_000);
const SEED = Number(process.env.CESYNC_RELIABILITY_SEED ?? Date.now() % 2 ** 31);
const rnd = random(SEED);

let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;
const ids = Array.from({ length: TOTAL }, (_, i) => `item-${i}`);
/** What each row holds now, as the document should show it. */
const rows = new Map<string, { name: string; n: string; born: string }>();

type Report = { read: number; indexed: number; unchanged: number; failed: number; missing: number; malformed: number };
type Entry = { id: string; pipeline: string; errorClass: string; errorType: string; reason: string; attempt: number };
type Verify = { inSync: boolean; counts: Record<string, number>; ids: Record<string, string[]> };

/** `count` distinct ids drawn from `from` (seeded). */
function pick(from: readonly string[], count: number): string[] {
  const pool = [...from];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, count);
}

const good = (id: string, name = `name of ${id}`) => ({ name, n: String(Number(id.slice(5)) % 1000), born: `19${String(Number(id.slice(5)) % 90 + 10)}-0${Number(id.slice(5)) % 9 + 1}-15` });
/** Every other poison row breaks the integer field, the others the date field. */
const poison = (id: string, k: number) => (k % 2 === 0 ? { ...good(id), n: `not a number ${id}` } : { ...good(id), born: `garbage ${id}` });
const brokenField = (id: string) => (rows.get(id)!.n.startsWith('not a number') ? 'n' : 'born');

async function write(changes: Iterable<readonly [string, { name: string; n: string; born: string }]>): Promise<void> {
  const all = [...changes];
  const insert = `INSERT INTO ${KS}.items (id, name, n, born) VALUES (?, ?, ?, ?)`;
  for (let i = 0; i < all.length; i += 500) {
    await Promise.all(all.slice(i, i + 500).map(([id, r]) => cql.execute(insert, [id, r.name, r.n, r.born], { prepare: true })));
  }
  for (const [id, r] of all) rows.set(id, r);
}

async function cli(args: string[]) {
  return runCli([...args, '--config', configFile]);
}

async function run(args: string[]) {
  const res = await cli([...args, '--json']);
  const report = res.code === 0 || res.code === 1 ? (JSON.parse(res.stdout) as { reports: Report[] }).reports[0] : undefined;
  return { ...res, report };
}

async function verify(): Promise<Verify & { code: number | null }> {
  const res = await cli(['verify', '--pipeline', PIPELINE, '--content', '--json', '--quiet']);
  return { code: res.code, ...(JSON.parse(res.stdout) as { reports: Verify[] }).reports[0]! };
}

function ledger(path: string): Entry[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Entry)
    : [];
}

async function indexCount(): Promise<number> {
  await es.indices.refresh({ index: INDEX });
  return (await es.count({ index: INDEX })).count;
}

/** Ids among `wanted` whose document is absent or does not hold what its row holds. */
async function notAsInTable(wanted: readonly string[]): Promise<string[]> {
  await es.indices.refresh({ index: INDEX });
  const wrong: string[] = [];
  for (let i = 0; i < wanted.length; i += 1000) {
    const res = await es.mget<{ name: string; n: number; born: string }>({ index: INDEX, ids: wanted.slice(i, i + 1000), _source_includes: ['name', 'n', 'born'] });
    for (const d of res.docs) {
      const want = rows.get(d._id)!;
      const got = 'found' in d && d.found ? d._source : undefined;
      if (!got || got.name !== want.name || String(got.n) !== want.n || got.born !== want.born) wrong.push(d._id);
    }
  }
  return wrong;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

beforeAll(async () => {
  console.log(`poison: seed ${SEED}, ${GOOD} good rows, ${POISON} poison`);
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.items (id text PRIMARY KEY, name text, n text, born text)`);
  await deleteIndex(es, INDEX);
  for (const table of ['pipeline_state', 'watermarks']) {
    await cql.execute(`DELETE FROM cesync.${table} WHERE pipeline = ?`, [PIPELINE], { prepare: true }).catch(() => undefined);
  }
  await cql.execute('DELETE FROM cesync.leases WHERE name = ?', [`watch:${PIPELINE}`], { prepare: true }).catch(() => undefined);
  // The index exists before the first sync, with a mapping of its own: cesync keeps it.
  await es.indices.create({
    index: INDEX,
    mappings: {
      date_detection: false,
      properties: {
        id: { type: 'keyword' },
        name: { type: 'text' },
        n: { type: 'integer' },
        born: { type: 'date', format: 'yyyy-MM-dd' },
        _cesync: { properties: { digest: { type: 'keyword' }, token: { type: 'long' }, version: { type: 'long' }, hv: { type: 'long' } } },
      },
    },
  });
  configFile = writeConfig(dir, rawConfig([{ name: PIPELINE, keyspace: KS, table: 'items', index: INDEX, bulk: { flushBytes: 200_000 } }], { failureLedger: join(dir, 'unused.ndjson') }));
});

afterAll(async () => {
  printTable();
  await cql?.shutdown();
  await es?.close();
});

describe('poison documents among good ones', () => {
  it('full sync: exit 1, the ledger holds exactly the poison ids (class mapping), every good row is indexed; retry after the fix brings them in', async () => {
    const poisoned = pick(ids, POISON);
    const poisonSet = new Set(poisoned);
    await write(ids.map((id) => [id, good(id)] as const).filter(([id]) => !poisonSet.has(id)));
    await write(poisoned.map((id, k) => [id, poison(id, k)] as const));

    const first = join(dir, 'full.ndjson');
    const sync = await run(['sync', '--pipeline', PIPELINE, '--quiet', '--failure-ledger', first]);
    expect(sync.code, sync.stderr).toBe(1);
    expect(sync.report).toMatchObject({ read: TOTAL, indexed: GOOD, failed: POISON });
    const entries = ledger(first);
    expect(entries).toHaveLength(POISON);
    expect(sorted(entries.map((e) => e.id))).toEqual(sorted(poisoned));
    expect(entries.filter((e) => e.errorClass !== 'mapping' || e.pipeline !== PIPELINE || e.attempt !== 1)).toEqual([]);
    // Each entry names the field its row broke.
    expect(entries.filter((e) => !e.reason.includes(`[${brokenField(e.id)}]`)).map((e) => [e.id, e.reason])).toEqual([]);
    expect(await indexCount()).toBe(GOOD);
    expect(await notAsInTable(ids.filter((id) => !poisonSet.has(id)))).toEqual([]);
    const before = await verify();
    expect(before.code).toBe(1);
    expect(sorted(before.ids.missing!)).toEqual(sorted(poisoned));
    expect(before.counts).toMatchObject({ missing: POISON, orphan: 0, stale: 0, different: 0 });

    // Fixed in Cassandra, the poison rows come in through the ledger.
    await write(poisoned.map((id) => [id, good(id, `fixed ${id}`)] as const));
    const retry = await run(['retry', first]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.report).toMatchObject({ read: POISON, indexed: POISON, failed: 0, missing: 0 });
    expect(ledger(first.replace(/\.ndjson$/, '.retry.ndjson'))).toEqual([]);
    expect(await indexCount()).toBe(TOTAL);
    expect(await notAsInTable(poisoned)).toEqual([]);
    const after = await verify();
    expect(after, JSON.stringify(after.counts)).toMatchObject({ code: 0, inSync: true });

    const types = [...new Set(entries.map((e) => e.errorType))].join(', ');
    record({
      suite: 'poison',
      tried: `full sync of ${GOOD} good rows and ${POISON} poison ones (integer and date fields refused), then retry of the ledger after the fix`,
      times: POISON,
      outcome: `exit 1, ledger = the ${POISON} poison ids (mapping: ${types}), ${GOOD}/${GOOD} good indexed; retry exit 0, ${TOTAL}/${TOTAL} in, new ledger empty, verify in sync`,
    });
  }, TIMEOUT);

  it('sync of given ids mixing poison and good ones: exit 1, the ledger holds exactly the poison ids, the good ones arrive; retry after the fix brings them in', async () => {
    const chosen = pick(ids, scale(25, 250) + scale(200, 2000) + scale(100, 1000));
    const poisoned = chosen.slice(0, scale(25, 250));
    const updated = chosen.slice(poisoned.length, poisoned.length + scale(200, 2000));
    const unchanged = chosen.slice(poisoned.length + updated.length);
    await write(poisoned.map((id, k) => [id, poison(id, k)] as const));
    await write(updated.map((id) => [id, good(id, `renamed ${id}`)] as const));
    // One id per line, poison and good ones mixed.
    const file = join(dir, 'ids.csv');
    writeFileSync(file, `${pick(chosen, chosen.length).join('\n')}\n`);

    const second = join(dir, 'ids.ndjson');
    const sync = await run(['sync', '--pipeline', PIPELINE, '--ids-file', file, '--yes', '--failure-ledger', second]);
    expect(sync.code, sync.stderr).toBe(1);
    expect(sync.report).toMatchObject({ read: chosen.length, indexed: updated.length, unchanged: unchanged.length, failed: poisoned.length, missing: 0, malformed: 0 });
    const entries = ledger(second);
    expect(sorted(entries.map((e) => e.id))).toEqual(sorted(poisoned));
    expect(entries.filter((e) => e.errorClass !== 'mapping' || !e.reason.includes(`[${brokenField(e.id)}]`))).toEqual([]);
    expect(await notAsInTable([...updated, ...unchanged])).toEqual([]);
    expect(await indexCount()).toBe(TOTAL);
    // The poison rows' documents still hold their previous version: stale, and nothing else.
    const before = await verify();
    expect(before.code).toBe(1);
    expect(sorted(before.ids.stale!)).toEqual(sorted(poisoned));
    expect(before.counts).toMatchObject({ missing: 0, orphan: 0, stale: poisoned.length, different: 0 });

    await write(poisoned.map((id) => [id, good(id, `fixed again ${id}`)] as const));
    const retry = await run(['retry', second]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.report).toMatchObject({ read: poisoned.length, indexed: poisoned.length, failed: 0 });
    expect(ledger(second.replace(/\.ndjson$/, '.retry.ndjson'))).toEqual([]);
    expect(await notAsInTable(chosen)).toEqual([]);
    expect(await indexCount()).toBe(TOTAL);
    const after = await verify();
    expect(after, JSON.stringify(after.counts)).toMatchObject({ code: 0, inSync: true });

    record({
      suite: 'poison',
      tried: `sync --ids-file of ${chosen.length} ids: ${poisoned.length} poison, ${updated.length} changed, ${unchanged.length} unchanged; then retry after the fix`,
      times: poisoned.length,
      outcome: `exit 1, ledger = the ${poisoned.length} poison ids (mapping), ${updated.length} indexed, ${unchanged.length} unchanged, verify: exactly those stale; retry exit 0, new ledger empty, verify in sync`,
    });
  }, TIMEOUT);
});
