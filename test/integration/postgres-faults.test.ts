// PostgreSQL pipelines when things go wrong, through the CLI against the real servers:
// Elasticsearch failing in the middle of a batch (answering 503, or cutting connections) leaves
// pending exactly what it did not acknowledge, and the next run completes; a full sync and a
// flag-mode watch killed with kill -9 end, once resumed or restarted, with both stores alike;
// a server that refuses the role or the database, or does not answer, and a configuration that
// cannot be, are told apart by exit code and message.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { start, type Running } from '../reliability/cli.js';
import { endpoints, runCli, tempDir, writeConfig } from './harness.js';
import {
  cliJson,
  deleteIndices,
  esProxy,
  expectIndexMatchesTable,
  indexDocs,
  pgRawConfig,
  savedProgress,
  sleep,
  testSchema,
  until,
  type EsProxy,
  type VerifyResult,
} from './postgres-harness.js';

let S: string;
let pool: pg.Pool;
let drop: () => Promise<void>;
let IX: string;
let proxy: EsProxy;
const dir = tempDir();
let configFile: string;
const running: Running[] = [];

const FLAG_ROWS = 2000;
const QUEUE_ROWS = 1000;
const BULK_ROWS = 8000;
const WATCH_ROWS = 3000;

beforeAll(async () => {
  ({ name: S, pool, drop } = await testSchema('pgt'));
  IX = `${S}_`;
  proxy = await esProxy();
  const pad = `repeat('x', 80)`;
  for (const t of ['flagged', 'watched']) {
    await pool.query(`CREATE TABLE ${S}.${t} (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp(), marked boolean NOT NULL DEFAULT false)`);
  }
  await pool.query(`INSERT INTO ${S}.flagged (id, body) SELECT g, 'row ' || g || ${pad} FROM generate_series(1, ${FLAG_ROWS}) g`);
  await pool.query(`INSERT INTO ${S}.watched (id, body) SELECT g, 'row ' || g || ${pad} FROM generate_series(1, ${WATCH_ROWS}) g`);
  await pool.query(`CREATE TABLE ${S}.queued (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await pool.query(`CREATE TABLE ${S}.bulk (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await pool.query(`INSERT INTO ${S}.bulk (id, body) SELECT g, 'row ' || g || ${pad} FROM generate_series(1, ${BULK_ROWS}) g`);
  await deleteIndices(IX);
  const version = { column: 'last_modified' };
  const small = { flushBytes: 8192, concurrency: 1 };
  configFile = writeConfig(
    dir,
    pgRawConfig(
      S,
      [
        { name: 'flag', table: 'flagged', index: `${IX}flagged`, version, pending: { flag: 'marked', batchSize: 200 }, fields: { marked: null }, bulk: small },
        { name: 'queue', table: 'queued', index: `${IX}queued`, version, pending: { queue: { table: 'queued_q' }, batchSize: 100 }, bulk: small },
        { name: 'bulk', table: 'bulk', index: `${IX}bulk`, version, splits: 16, pageSize: 200, bulk: { flushBytes: 100_000, concurrency: 2 } },
        { name: 'watched', table: 'watched', index: `${IX}watched`, version, pending: { flag: 'marked', batchSize: 100 }, fields: { marked: null }, throttle: { ratePerSecond: 1000 } },
      ],
      { elasticsearch: { node: proxy.url, maxRetries: 1, requestTimeoutMs: 5000 }, failureLedger: join(dir, 'failures.ndjson'), watch: { intervalMs: 200, leaseTtlMs: 1500 } },
    ),
  );
}, 120_000);

afterEach(async () => {
  proxy.mode = 'pass';
  proxy.onBulk = () => undefined;
  for (const r of running.splice(0)) {
    r.kill('SIGKILL');
    await r.done;
  }
});

afterAll(async () => {
  await proxy?.close();
  await deleteIndices(IX);
  await drop?.();
});

const sync = (...args: string[]) => cliJson(['sync', '--config', configFile, '--quiet', ...args]);
const verify = (pipeline: string) => cliJson<VerifyResult>(['verify', '--config', configFile, '--quiet', '--pipeline', pipeline]);
const flagged = async (table: string) => {
  const rs = await pool.query<{ id: string; marked: boolean; v: string }>(`SELECT id::text, marked, (extract(epoch from last_modified) * 1000000)::int8::text AS v FROM ${S}.${table}`);
  return rs.rows.map((r) => ({ id: r.id, marked: r.marked, version: Number(r.v) }));
};
const queued = async () => new Set((await pool.query<{ id: string }>(`SELECT id::text FROM ${S}.queued_q`)).rows.map((r) => r.id));

/** Every row marked done has its document in the index, at the row's version. */
async function expectMarkedAreIndexed(table: string, index: string): Promise<{ marked: number; pending: number }> {
  const rows = await flagged(table);
  const docs = await indexDocs(index);
  const marked = rows.filter((r) => r.marked);
  for (const r of marked) expect(docs.get(r.id)?.version, `row ${r.id} is marked done`).toBe(r.version);
  return { marked: marked.length, pending: rows.length - marked.length };
}

describe('Elasticsearch failing mid-batch', () => {
  it('flag mode, 503s: marks nothing done that was not acknowledged, and the next run completes', async () => {
    proxy.acked.clear();
    proxy.onBulk = () => {
      // Batches of 200 rows, several bulk requests each: failing from the middle of the second on.
      if (proxy.acked.size >= 300) proxy.mode = 'fail-503';
    };
    const failed = await sync('--pipeline', 'flag', '--since', 'last');
    expect(failed.code, failed.stderr).toBe(3);
    expect(failed.stderr).toMatch(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:\d+ is (overloaded or failing \(503\)|unreachable)/);
    const rows = await flagged('flagged');
    const marked = rows.filter((r) => r.marked).map((r) => r.id);
    // Nothing marked that Elasticsearch did not acknowledge (a batch cut short is marked not at all).
    for (const id of marked) expect(proxy.acked.has(id), `row ${id} marked but never acknowledged`).toBe(true);
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.length).toBeLessThan(FLAG_ROWS);
    // The documents of the batch cut short that were acknowledged stay pending too (written again, unchanged).
    expect(proxy.acked.size).toBeGreaterThan(marked.length);
    proxy.mode = 'pass';
    await expectMarkedAreIndexed('flagged', `${IX}flagged`);

    proxy.onBulk = () => undefined;
    const res = await sync('--pipeline', 'flag', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'pending', read: FLAG_ROWS - marked.length, failed: 0 });
    expect((await flagged('flagged')).filter((r) => !r.marked)).toEqual([]);
    await expectIndexMatchesTable(pool, S, 'flagged', `${IX}flagged`, { omit: ['marked'], version: 'last_modified' });
  });

  it('queue mode, connections cut: entries stay for what was not acknowledged, and the next run completes', async () => {
    let res = await sync('--pipeline', 'queue', '--since', 'last', '--create-queue');
    expect(res.code, res.stderr).toBe(0);
    await pool.query(`INSERT INTO ${S}.queued (id, body) SELECT g, 'row ' || g FROM generate_series(1, ${QUEUE_ROWS}) g`);
    expect((await queued()).size).toBe(QUEUE_ROWS);
    proxy.acked.clear();
    proxy.onBulk = () => {
      if (proxy.acked.size >= 250) proxy.mode = 'close'; // from here on, every connection is cut
    };
    res = await sync('--pipeline', 'queue', '--since', 'last');
    expect(res.code, res.stderr).toBe(3);
    expect(res.stderr).toMatch(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    const left = await queued();
    const done = Array.from({ length: QUEUE_ROWS }, (_, i) => String(i + 1)).filter((id) => !left.has(id));
    expect(done.length).toBeGreaterThan(0);
    expect(left.size).toBeGreaterThan(0);
    for (const id of done) expect(proxy.acked.has(id), `entry of ${id} removed but never acknowledged`).toBe(true);
    proxy.mode = 'pass';
    proxy.onBulk = () => undefined;
    const docs = await indexDocs(`${IX}queued`);
    for (const id of done) expect(docs.has(id), `entry of ${id} removed, no document`).toBe(true);

    res = await sync('--pipeline', 'queue', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect((await queued()).size).toBe(0);
    await expectIndexMatchesTable(pool, S, 'queued', `${IX}queued`, { version: 'last_modified' });
  });
});

describe('kill -9', () => {
  const progress = () => savedProgress(pool, S, 'bulk');

  it('of a full sync mid-run: the next run resumes, and both stores end alike', async () => {
    const run = start(['sync', '--config', configFile, '--pipeline', 'bulk', '--quiet', '--rate', '2000']);
    running.push(run);
    await until('a quarter of the spans saved as done', async () => {
      const p = await progress();
      return run.exited() || (p.total > 0 && p.done >= p.total / 4);
    });
    expect(run.exited(), 'the throttled run finished before it could be killed').toBe(false);
    run.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    const saved = await progress();
    expect(saved.status).toBe('running'); // killed: it never got to say otherwise
    expect(saved.done).toBeLessThan(saved.total);

    const res = await sync('--pipeline', 'bulk');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report!.resumedSpans).toBe(saved.done);
    expect(res.report!.read).toBeLessThan(BULK_ROWS);
    await expectIndexMatchesTable(pool, S, 'bulk', `${IX}bulk`, { version: 'last_modified' });
    expect((await progress()).status).toBe('finished');
    const v = await verify('bulk');
    expect(v.code, v.stderr).toBe(0);
    expect(v.report).toMatchObject({ inSync: true });
  });

  it('of a flag-mode watch mid-run: a restarted watch marks every row, each indexed at its version', async () => {
    const watch = () => {
      const w = start(['watch', '--config', configFile, '--pipeline', 'watched']);
      running.push(w);
      return w;
    };
    const first = watch();
    await until('a sixth of the rows marked', async () => first.exited() || (await flagged('watched')).filter((r) => r.marked).length >= WATCH_ROWS / 6, 30_000);
    if (first.exited()) throw new Error(`the watch ended by itself: ${(await first.done).stderr}`);
    first.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    const atKill = await expectMarkedAreIndexed('watched', `${IX}watched`);
    expect(atKill.pending).toBeGreaterThan(0);

    // The dead watcher's lease blocks a new one until it expires (1.5 s).
    await sleep(1700);
    const second = watch();
    await until('every row marked', async () => second.exited() || (await flagged('watched')).every((r) => r.marked), 60_000, 250);
    if (second.exited()) throw new Error(`the watch ended by itself: ${(await second.done).stderr}`);
    second.kill('SIGTERM');
    const stopped = await second.done;
    expect(stopped.code, stopped.stderr).toBe(0);
    await expectIndexMatchesTable(pool, S, 'watched', `${IX}watched`, { omit: ['marked'], version: 'last_modified' });
    const v = await verify('watched');
    expect(v.code, v.stderr).toBe(0);
    expect(v.report).toMatchObject({ inSync: true });
  });
});

describe('bad connections and configurations', () => {
  it('tells a refused role, a missing database, a server that does not answer and an impossible configuration apart', async () => {
    const e = endpoints().postgres;
    const url = (user: string, port: number, database: string) => `postgres://${user}:${encodeURIComponent(e.password)}@${e.host}:${port}/${database}`;
    const pipeline = { name: 'p', table: 'flagged', index: `${IX}never`, version: { column: 'last_modified' } };
    const file = (name: string, raw: Record<string, unknown>) => {
      const sub = join(dir, name);
      mkdirSync(sub, { recursive: true });
      return writeConfig(sub, raw);
    };
    const cases = {
      role: file('role', pgRawConfig(S, [pipeline], { postgres: { connectionString: url('cesync_no_such_role', e.port, e.database) } })),
      database: file('database', pgRawConfig(S, [pipeline], { postgres: { connectionString: url(e.user, e.port, 'cesync_no_such_database') } })),
      port: file('port', pgRawConfig(S, [pipeline], { postgres: { connectionString: url(e.user, 1, e.database) } })),
      writetime: file('writetime', pgRawConfig(S, [{ ...pipeline, version: 'writetime' }])),
    };
    const t0 = Date.now();
    const [role, database, port, writetime] = await Promise.all(
      Object.values(cases).map(async (config) => {
        const started = Date.now();
        const res = await runCli(['sync', '--config', config, '--quiet']);
        return { ...res, ms: Date.now() - started };
      }),
    );
    expect(role!.code, role!.stderr).toBe(3);
    expect(role!.stderr).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+\/\w+ refused the credentials \(check postgres\.user\/password\): role "cesync_no_such_role" does not exist/);
    expect(database!.code, database!.stderr).toBe(3);
    expect(database!.stderr).toMatch(/database "cesync_no_such_database" does not exist \(check postgres\.database\)/);
    expect(port!.code, port!.stderr).toBe(3);
    expect(port!.stderr).toMatch(/PostgreSQL at 127\.0\.0\.1:1\/\w+ is unreachable: .*ECONNREFUSED/);
    expect(port!.ms).toBeLessThan(10_000);
    expect(writetime!.code, writetime!.stderr).toBe(2);
    expect(writetime!.stderr).toMatch(/pipelines\.0\.version: a PostgreSQL row has no write time: give version: \{ column: NAME \}/);
    for (const r of [role, database, port, writetime]) expect(r!.stderr).not.toContain(e.password);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect((await indexDocs(`${IX}never`)).size).toBe(0);
  });
});
