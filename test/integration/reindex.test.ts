// `cesync reindex` against the real servers: a rebuild behind the alias while `watch` runs and a
// writer keeps changing the table (no write lost at the swap, the verify after it in sync), kill -9
// during the fill, the catch-up and the check (the next run goes on and finishes), two rebuilds
// at once, --dry-run, --no-swap, --rollback, retention, the refusals, and serve and repair on the
// alias across a swap.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_reindex';
const ALIAS = 'reindex_users';
const ROWS = 3000;
let cql: cassandra.Client;
let es: EsClient;
const children: ChildProcess[] = [];
/** Pipeline names are new per run: the state store keeps what earlier runs left under theirs. */
const run = Date.now().toString(36);

interface Started {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}

function start(args: string[]): Started {
  const child = spawn(process.execPath, ['bin/cesync.js', ...args], { env: { ...process.env, ...testEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, exit: new Promise((r) => child.on('exit', (code) => r(code))), output: () => out };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, output?: () => string) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${output ? `; its output:\n${output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function configFor(name: string, alias: string, extra: Record<string, unknown> = {}): string {
  return writeConfig(
    tempDir(),
    rawConfig([{ name, keyspace: KS, table: 'users', index: alias, alias: true, incremental: { safetyLagMs: 500, batchSize: 500 }, ...extra }]),
  );
}

async function aliasIndices(alias: string): Promise<string[]> {
  const exists = await es.indices.existsAlias({ name: alias });
  return exists ? Object.keys(await es.indices.getAlias({ name: alias })).sort() : [];
}

async function indicesOf(alias: string): Promise<string[]> {
  const rows = (await es.cat.indices({ index: `${alias}-*`, format: 'json', h: 'index' })) as unknown as { index: string }[];
  return rows.map((r) => r.index).sort();
}

async function tableRows(): Promise<Map<string, string>> {
  const rs = await cql.execute(`SELECT id, name FROM ${KS}.users`, [], { fetchSize: 10_000 });
  return new Map(rs.rows.map((r) => [r.id as string, r.name as string]));
}

async function indexDocs(alias: string): Promise<Map<string, string>> {
  await es.indices.refresh({ index: alias });
  const out = new Map<string, string>();
  let res = await es.search<{ name: string }>({ index: alias, size: 5000, scroll: '30s', query: { match_all: {} } });
  while (res.hits.hits.length > 0) {
    for (const h of res.hits.hits) out.set(h._id!, h._source!.name);
    res = await es.scroll<{ name: string }>({ scroll_id: res._scroll_id!, scroll: '30s' });
  }
  return out;
}

/** Table and index hold the same ids with the same names. */
async function expectSame(alias: string) {
  const [rows, docs] = [await tableRows(), await indexDocs(alias)];
  const missing = [...rows.keys()].filter((id) => !docs.has(id));
  const orphans = [...docs.keys()].filter((id) => !rows.has(id));
  const stale = [...rows].filter(([id, name]) => docs.has(id) && docs.get(id) !== name).map(([id]) => id);
  expect({ missing: missing.slice(0, 5), orphans: orphans.slice(0, 5), stale: stale.slice(0, 5) }).toEqual({ missing: [], orphans: [], stale: [] });
}

/** Inserts and updates rows until stopped; returns how many writes it made. */
function writer(prefix: string): { stop: () => Promise<number> } {
  let stopped = false;
  let writes = 0;
  const loop = (async () => {
    while (!stopped) {
      const n = writes++;
      if (n % 2 === 0) await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [`${prefix}-${n}`, `new ${n}`], { prepare: true });
      // An UPDATE is an upsert: it only touches odd ids of u101..u2899, so the rows a test deletes
      // (u10-u12, u2990) or stamps itself (even ids) are never written again, however long it runs.
      else await cql.execute(`UPDATE ${KS}.users SET name = ? WHERE id = ?`, [`changed ${prefix} ${n}`, `u${100 + (n % 2800)}`], { prepare: true });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return writes;
    },
  };
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text, age int)`);
  const insert = `INSERT INTO ${KS}.users (id, name, age) VALUES (?, ?, ?)`;
  for (let i = 0; i < ROWS; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, k) => cql.execute(insert, [`u${i + k}`, `user ${i + k}`, (i + k) % 90], { prepare: true })));
  }
}, 120_000);

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  for (const a of [ALIAS, `${ALIAS}_k`, `${ALIAS}_x`]) await es.indices.delete({ index: `${a}*`, ignore_unavailable: true }).catch(() => undefined);
  await es.indices.delete({ index: `${ALIAS}_plain`, ignore_unavailable: true }).catch(() => undefined);
  await cql?.shutdown();
  await es?.close();
});

it('rebuilds behind the alias under watch with a concurrent writer: no write lost at the swap, verify in sync after it', async () => {
  await es.indices.delete({ index: `${ALIAS}*`, ignore_unavailable: true });
  const config = configFor(`users_${run}`, ALIAS);
  const first = await runCli(['sync', '--config', config]);
  expect(first.code, first.stderr).toBe(0);
  expect(await aliasIndices(ALIAS)).toEqual([`${ALIAS}-000001`]);

  // The plan: the next name, the same mapping, an estimate; nothing created.
  const plan = await runCli(['reindex', '--config', config, '--pipeline', `users_${run}`, '--dry-run']);
  expect(plan.code, plan.stderr).toBe(0);
  expect(plan.stdout).toContain(`would build ${ALIAS}-000002 behind the alias ${ALIAS} (now on ${ALIAS}-000001 (${ROWS.toLocaleString('en-US')} documents`);
  expect(plan.stdout).toContain('mapping: the same fields and types');
  expect(plan.stdout).toMatch(/estimate: ~[\d,]+ documents, ~[\d.]+ MB; ~\d+ s to fill at [\d,]+ rows\/s \(the last full sync\)/);
  expect(await indicesOf(ALIAS)).toEqual([`${ALIAS}-000001`]);

  const watch = start(['watch', '--config', config, '--interval', '200']);
  await until('watch started', () => /watch started/.test(watch.output()));
  const w = writer('w');
  // Rows deleted once the rebuild began: the new index must not keep them.
  const reindex = start(['reindex', '--config', config, '--pipeline', `users_${run}`]);
  await until('the fill began', () => /filling/.test(reindex.output()));
  const gone = ['u10', 'u11', 'u12', 'u2990'];
  for (const id of gone) await cql.execute(`DELETE FROM ${KS}.users WHERE id = ?`, [id], { prepare: true });
  expect(await reindex.exit, reindex.output()).toBe(0);
  expect(reindex.output()).toContain(`alias ${ALIAS} now on ${ALIAS}-000002 (was ${ALIAS}-000001)`);
  // The writer goes on across the swap, then stops; watch carries its last writes.
  await new Promise((r) => setTimeout(r, 1000));
  const writes = await w.stop();
  expect(writes).toBeGreaterThan(50);
  await new Promise((r) => setTimeout(r, 2500));
  watch.child.kill('SIGTERM');
  expect(await watch.exit).toBe(0);

  expect(await aliasIndices(ALIAS)).toEqual([`${ALIAS}-000002`]);
  // reindex.keep 1: the index it replaced is kept (for --rollback).
  expect(await indicesOf(ALIAS)).toEqual([`${ALIAS}-000001`, `${ALIAS}-000002`]);
  for (const id of gone) expect(await es.exists({ index: ALIAS, id })).toBe(false);
  await expectSame(ALIAS);
  const verify = await runCli(['verify', '--config', config, '--pipeline', `users_${run}`]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  // Replicas and refresh are put back after the load.
  const settings = await es.indices.getSettings({ index: `${ALIAS}-000002` });
  expect(settings[`${ALIAS}-000002`]!.settings!.index!.refresh_interval).toBeUndefined();

  // Rollback: the alias goes back, and the index it goes back to gets what was written since.
  await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES ('after-swap', 'late')`);
  const sync = await runCli(['sync', '--config', config, '--since', 'last']);
  expect(sync.code, sync.stderr).toBe(0);
  const back = await runCli(['reindex', '--config', config, '--pipeline', `users_${run}`, '--rollback']);
  expect(back.code, back.stdout + back.stderr).toBe(0);
  expect(back.stdout).toContain(`alias ${ALIAS} now on ${ALIAS}-000001 (was ${ALIAS}-000002)`);
  expect(await aliasIndices(ALIAS)).toEqual([`${ALIAS}-000001`]);
  expect(await es.exists({ index: ALIAS, id: 'after-swap' })).toBe(true);
  await expectSame(ALIAS);

  // The next rebuild is -000003, built from -000001 (-000002, rolled back, is not taken for one in
  // progress); keep 1 keeps the index it was built from, where a rollback would go.
  const again = await runCli(['reindex', '--config', config, '--pipeline', `users_${run}`]);
  expect(again.code, again.stdout + again.stderr).toBe(0);
  expect(await aliasIndices(ALIAS)).toEqual([`${ALIAS}-000003`]);
  expect(await indicesOf(ALIAS)).toEqual([`${ALIAS}-000001`, `${ALIAS}-000003`]);
  expect(again.stdout).toContain(`deleted: ${ALIAS}-000002`);
  await expectSame(ALIAS);
}, 240_000);

it('goes on after kill -9 during the fill, the catch-up and the check; a second rebuild at once is refused', async () => {
  const alias = `${ALIAS}_k`;
  await es.indices.delete({ index: `${alias}*`, ignore_unavailable: true });
  // Slowed to about 400 writes a second, so that a kill lands in the middle of the fill; bulk
  // requests every 200 ms (not the default 30 s), so documents arrive while it runs.
  const config = configFor(`killed_${run}`, alias, { throttle: { ratePerSecond: 400 }, pageSize: 100, bulk: { flushIntervalMs: 200 } });
  const first = await runCli(['sync', '--config', config]);
  expect(first.code, first.stderr).toBe(0);
  const args = ['reindex', '--config', config, '--pipeline', `killed_${run}`, '--lease-ttl', '3000'];
  const w = writer('k');
  try {

  // kill -9 in the middle of the fill.
  const a = start(args);
  await until('the fill began', () => /filling/.test(a.output()));
  // Meanwhile, a second rebuild of the same pipeline is refused (exit 6).
  const twice = await runCli(args);
  expect(twice.code, twice.stderr).toBe(6);
  expect(twice.stderr).toMatch(/another cesync reindex of this pipeline is running/);
  // Killed once part of the table is in the new index (checkpoints are saved every second).
  const filled = async () => {
    await es.indices.refresh({ index: `${alias}-000002` }).catch(() => undefined);
    return (await es.count({ index: `${alias}-000002` }).catch(() => ({ count: 0 }))).count;
  };
  await until('part of the fill', async () => (await filled()) >= 1000, 60_000, a.output);
  a.child.kill('SIGKILL');
  await a.exit;
  expect(await filled()).toBeLessThan((await tableRows()).size);
  expect(await aliasIndices(alias)).toEqual([`${alias}-000001`]);
  // The lease of the killed run expires (--lease-ttl) before the next can start.
  await new Promise((r) => setTimeout(r, 3500));

  // kill -9 during the catch-up.
  const b = start(args);
  await until('the catch-up began', () => /catch-up pass 1/.test(b.output()), 90_000, b.output);
  expect(b.output()).toContain(`continuing to fill ${alias}-000002`);
  b.child.kill('SIGKILL');
  await b.exit;
  expect(await aliasIndices(alias)).toEqual([`${alias}-000001`]);
  await new Promise((r) => setTimeout(r, 3500));

  // kill -9 during the check, just before the swap.
  const c = start(args);
  await until('the check began', () => /verify of .* \(round 1\)/.test(c.output()), 90_000, c.output);
  c.child.kill('SIGKILL');
  await c.exit;
  await new Promise((r) => setTimeout(r, 3500));

  const d = start(args);
  expect(await d.exit, d.output()).toBe(0);
  expect(d.output()).toMatch(/was filled by an earlier run|alias .* now on/);
  await w.stop();
  expect(await aliasIndices(alias)).toEqual([`${alias}-000002`]);
  expect(d.output()).not.toMatch(/dropping/);
  // The writer stopped after the swap; one incremental run carries its last writes (no watch here).
  await new Promise((r) => setTimeout(r, 700));
  const sync = await runCli(['sync', '--config', config, '--since', 'last']);
  expect(sync.code, sync.stderr).toBe(0);
  await expectSame(alias);
  } finally {
    await w.stop();
  }
}, 300_000);

it('--no-swap builds and checks but leaves the alias; a concrete index and an alias on two indices are refused', async () => {
  const alias = `${ALIAS}_x`;
  await es.indices.delete({ index: `${alias}*`, ignore_unavailable: true });
  const config = configFor(`noswap_${run}`, alias);
  expect((await runCli(['sync', '--config', config])).code).toBe(0);
  const built = await runCli(['reindex', '--config', config, '--pipeline', `noswap_${run}`, '--no-swap']);
  expect(built.code, built.stdout + built.stderr).toBe(0);
  expect(built.stdout).toContain('--no-swap');
  expect(await aliasIndices(alias)).toEqual([`${alias}-000001`]);
  expect(await indicesOf(alias)).toEqual([`${alias}-000001`, `${alias}-000002`]);
  // Rows changed after the build, that a catch-up with a safety lag of a minute does not reach:
  // the check finds them stale, the writers' pace, and repairs them whatever --max-changes says.
  const lagged = writeConfig(
    tempDir(),
    rawConfig([{ name: `noswap_${run}`, keyspace: KS, table: 'users', index: alias, alias: true, incremental: { safetyLagMs: 60_000, batchSize: 500 } }]),
  );
  for (let i = 0; i < 30; i++) await cql.execute(`UPDATE ${KS}.users SET name = ? WHERE id = ?`, [`after the build ${i}`, `u${2100 + 2 * i}`], { prepare: true });
  const paced = await runCli(['reindex', '--config', lagged, '--pipeline', `noswap_${run}`, '--no-swap', '--max-changes', '10']);
  expect(paced.code, paced.stdout + paced.stderr).toBe(0);
  expect(paced.stderr).toMatch(/verify of reindex_users_x-000002 \(round 1\): 30 differences \(stale 30\)/);
  expect((await es.get<{ name: string }>({ index: `${alias}-000002`, id: 'u2100' }))._source?.name).toBe('after the build 0');
  expect(await aliasIndices(alias)).toEqual([`${alias}-000001`]);

  // What the fill and the catch-up should have carried, and did not: 15 documents lost from the
  // built index, and 15 rows changed with a write time the catch-up had already passed (as if it
  // had dropped them). The next check finds the 30, more than --max-changes 20 (so the stale ones
  // count), repairs nothing and leaves the alias (exit 5).
  const before = (await es.count({ index: `${alias}-000002` })).count;
  const lost = Array.from({ length: 15 }, (_, i) => `u${1000 + i}`);
  await es.bulk({ refresh: true, operations: lost.map((id) => ({ delete: { _index: `${alias}-000002`, _id: id } })) });
  // Even ids of u100..u2899: no writer of this file updates them.
  for (let i = 0; i < 15; i++) {
    const id = `u${2000 + 2 * i}`;
    const wt = (await cql.execute(`SELECT WRITETIME(name) AS wt FROM ${KS}.users WHERE id = ?`, [id], { prepare: true })).first()!.wt as cassandra.types.Long;
    await cql.execute(`UPDATE ${KS}.users USING TIMESTAMP ? SET name = ? WHERE id = ?`, [wt.add(1), `late ${id}`, id], { prepare: true });
  }
  const guarded = await runCli(['reindex', '--config', config, '--pipeline', `noswap_${run}`, '--max-changes', '20']);
  expect(guarded.code, guarded.stdout + guarded.stderr).toBe(5);
  expect(guarded.stderr).toMatch(/\(round 1\) found 30 documents that the fill and the catch-up should have carried \(of missing 15, stale 15; rows written since the catch-up: 0\), more than --max-changes 20; nothing was repaired/);
  expect(await aliasIndices(alias)).toEqual([`${alias}-000001`]);
  expect((await es.count({ index: `${alias}-000002` })).count).toBe(before - 15);
  // The next run finds it built, repairs the 30 (within the default 1000) and swaps it in.
  const swapped = await runCli(['reindex', '--config', config, '--pipeline', `noswap_${run}`]);
  expect(swapped.code, swapped.stdout + swapped.stderr).toBe(0);
  expect(swapped.stderr).toContain('was filled by an earlier run');
  expect(await aliasIndices(alias)).toEqual([`${alias}-000002`]);

  // A concrete index where the alias should be.
  const plain = `${ALIAS}_plain`;
  await es.indices.delete({ index: plain, ignore_unavailable: true });
  await es.indices.create({ index: plain });
  const onIndex = await runCli(['reindex', '--config', configFor(`plain_${run}`, plain), '--pipeline', `plain_${run}`]);
  expect(onIndex.code).toBe(2);
  expect(onIndex.stderr).toMatch(/is an index, not an alias/);

  // An alias that does not exist yet: the first sync makes the first index behind it.
  const missing = await runCli(['reindex', '--config', configFor(`missing_${run}`, `${ALIAS}_none`), '--pipeline', `missing_${run}`]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toMatch(/does not exist yet: run cesync sync --pipeline missing_\w+ first/);
  expect(await indicesOf(`${ALIAS}_none`)).toEqual([]);

  // An alias on two indices.
  await es.indices.updateAliases({ actions: [{ add: { index: `${alias}-000001`, alias } }] });
  const two = await runCli(['reindex', '--config', config, '--pipeline', `noswap_${run}`]);
  expect(two.code).toBe(2);
  expect(two.stderr).toMatch(/is on 2 indices/);
}, 120_000);

it('two-way: a document changed in the index in use before the swap reaches the table and the new index', async () => {
  const alias = `${ALIAS}_both`;
  await es.indices.delete({ index: `${alias}*`, ignore_unavailable: true });
  await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.kv (id text PRIMARY KEY, body text, v bigint)`);
  const base = Date.now() * 1000;
  for (let i = 0; i < 50; i++) await cql.execute(`INSERT INTO ${KS}.kv (id, body, v) VALUES (?, ?, ?) USING TIMESTAMP ?`, [`k${i}`, `row ${i}`, base + i, base + i], { prepare: true });
  const name = `both_${run}`;
  const config = writeConfig(
    tempDir(),
    rawConfig([{ name, keyspace: KS, table: 'kv', index: alias, alias: true, direction: 'both', elasticsearchVersionField: 'v', incremental: { safetyLagMs: 300, batchSize: 500 } }]),
  );
  expect((await runCli(['sync', '--config', config])).code).toBe(0);
  const built = await runCli(['reindex', '--config', config, '--pipeline', name, '--no-swap']);
  expect(built.code, built.stdout + built.stderr).toBe(0);
  // Edited in the index in use (through the alias) after the new index was built: no sync runs
  // between this edit and the swap.
  const v = Date.now() * 1000;
  await es.index({ index: alias, id: 'k7', version: v, version_type: 'external', document: { id: 'k7', body: 'edited in the index', v }, refresh: true });
  const swapped = await runCli(['reindex', '--config', config, '--pipeline', name]);
  expect(swapped.code, swapped.stdout + swapped.stderr).toBe(0);
  expect(swapped.stdout).toContain(`alias ${alias} now on ${alias}-000002`);
  expect(swapped.stdout).toMatch(/1 carried back to the table/);
  const row = await cql.execute(`SELECT body FROM ${KS}.kv WHERE id = 'k7'`);
  expect(row.first()?.body).toBe('edited in the index');
  const doc = await es.get<{ body: string }>({ index: alias, id: 'k7' });
  expect(doc._index).toBe(`${alias}-000002`);
  expect(doc._source?.body).toBe('edited in the index');
}, 120_000);

it('serve and repair keep working on the alias across a swap: a sync request after it and a repair reach the new index', async () => {
  const alias = `${ALIAS}_served`;
  const key = 'reindex-serve-key-0123456789abcdef';
  await es.indices.delete({ index: `${alias}*`, ignore_unavailable: true });
  await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.served (id text PRIMARY KEY, name text)`);
  for (let i = 0; i < 100; i++) await cql.execute(`INSERT INTO ${KS}.served (id, name) VALUES (?, ?)`, [`s${i}`, `served ${i}`], { prepare: true });
  const name = `served_${run}`;
  const config = writeConfig(tempDir(), rawConfig([{ name, keyspace: KS, table: 'served', index: alias, alias: true, incremental: { safetyLagMs: 300 } }], { api: { key } }));
  expect((await runCli(['sync', '--config', config])).code).toBe(0);

  // The server starts while the alias is on -000001 and keeps running across the swap.
  const serve = start(['serve', '--config', config, '--port', '0']);
  await until('serve listening', () => /listening on http:\/\/\S+/.test(serve.output()), 60_000, serve.output);
  const url = /listening on (http:\/\/\S+)/.exec(serve.output())![1]!;
  const swapped = await runCli(['reindex', '--config', config, '--pipeline', name]);
  expect(swapped.code, swapped.stdout + swapped.stderr).toBe(0);
  expect(await aliasIndices(alias)).toEqual([`${alias}-000002`]);

  // A change synced through the API after the swap lands in the index the alias is on now.
  await cql.execute(`UPDATE ${KS}.served SET name = 'through the API' WHERE id = 's5'`);
  const res = await fetch(`${url}/api/data/v1/index/sync`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ request: { objectType: name, objectIds: ['s5'] } }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const doc = await es.get<{ name: string }>({ index: alias, id: 's5' });
  expect(doc._index).toBe(`${alias}-000002`);
  expect(doc._source?.name).toBe('through the API');
  expect((await es.get<{ name: string }>({ index: `${alias}-000001`, id: 's5' }))._source?.name).toBe('served 5');
  serve.child.kill('SIGTERM');
  expect(await serve.exit, serve.output()).toBe(0);

  // A document lost from the new index and one deleted in the table: repair on the alias fixes both.
  await es.delete({ index: alias, id: 's6', refresh: true });
  await cql.execute(`DELETE FROM ${KS}.served WHERE id = 's7'`);
  const repair = await runCli(['repair', '--config', config, '--pipeline', name]);
  expect(repair.code, repair.stdout + repair.stderr).toBe(0);
  await es.indices.refresh({ index: alias });
  expect((await es.get({ index: alias, id: 's6' }))._index).toBe(`${alias}-000002`);
  expect(await es.exists({ index: alias, id: 's7' })).toBe(false);
  expect((await es.count({ index: alias })).count).toBe(99);
  const verify = await runCli(['verify', '--config', config, '--pipeline', name]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
}, 120_000);
