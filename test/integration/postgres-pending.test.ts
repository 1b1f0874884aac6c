// PostgreSQL pipelines with pending rows, through the CLI against the real servers: a flag column
// (CCD's marked_by_logstash) set true only once Elasticsearch acknowledged that very version of
// the row, and queue tables (the one --create-queue makes, which carries deletes, and a user
// queue like CCD's case_data_logstash_queue). Rows changed while their documents are in flight
// stay pending; documents Elasticsearch rejects stay pending and go to the failure ledger
// without an endless loop; watch picks changes up within seconds, by a flag and by a version
// column. Elasticsearch is reached through a proxy that can change a row at the moment cesync
// writes its document.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, testEnv, writeConfig, target } from './harness.js';
import {
  cliJson,
  deleteIndices,
  esProxy,
  expectIndexMatchesTable,
  indexDocs,
  pgRawConfig,
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
const ledger = join(dir, 'failures.ndjson');
let configFile: string;
const children: ChildProcess[] = [];

const FLAGGED = 300;

beforeAll(async () => {
  ({ name: S, pool, drop } = await testSchema('pgt'));
  IX = `${S}_`;
  proxy = await esProxy();
  // CCD's case_data, with its flag (nullable, as CCD has it: a null flag is pending too).
  await pool.query(`
    CREATE TABLE ${S}.flagged (
      id bigserial PRIMARY KEY,
      reference bigint NOT NULL,
      data jsonb NOT NULL,
      last_modified timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
      marked_by_logstash boolean DEFAULT false
    )`);
  await pool.query(`
    INSERT INTO ${S}.flagged (reference, data)
    SELECT 1600000000000000 + g, jsonb_build_object('name', 'case ' || g, 'amount', 9007199254740993 + g, 'nested', jsonb_build_object('n', g))
      FROM generate_series(1, ${FLAGGED - 1}) g`);
  await pool.query(`INSERT INTO ${S}.flagged (reference, data, marked_by_logstash) VALUES (1, '{"name": "null flag", "amount": 1, "nested": {"n": 0}}', NULL)`);

  await pool.query(`CREATE TABLE ${S}.typed (id bigint PRIMARY KEY, score text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp(), marked boolean NOT NULL DEFAULT false)`);
  await pool.query(`INSERT INTO ${S}.typed (id, score) SELECT g, CASE WHEN g IN (3, 7) THEN 'n/a' ELSE (g * 10)::text END FROM generate_series(1, 22) g`);

  await pool.query(`CREATE TABLE ${S}.queued (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await pool.query(`INSERT INTO ${S}.queued (id, body) SELECT g, 'v1 ' || g FROM generate_series(1, 40) g`);

  // CCD's own queue: one entry per case (unique), filled by a trigger, emptied with its case.
  await pool.query(`CREATE TABLE ${S}.case_data (id bigserial PRIMARY KEY, reference bigint NOT NULL, data jsonb NOT NULL, last_modified timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))`);
  await pool.query(`CREATE TABLE ${S}.case_data_logstash_queue (id bigserial PRIMARY KEY, case_data_id bigint NOT NULL UNIQUE REFERENCES ${S}.case_data (id) ON DELETE CASCADE)`);
  await pool.query(`
    CREATE FUNCTION ${S}.queue_case() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO ${S}.case_data_logstash_queue (case_data_id) VALUES (NEW.id) ON CONFLICT (case_data_id) DO NOTHING;
      RETURN NEW;
    END $$`);
  await pool.query(`CREATE TRIGGER queue_case AFTER INSERT OR UPDATE ON ${S}.case_data FOR EACH ROW EXECUTE FUNCTION ${S}.queue_case()`);

  await pool.query(`CREATE TABLE ${S}.watched (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await pool.query(`INSERT INTO ${S}.watched (id, body) SELECT g, 'v1' FROM generate_series(1, 10) g`);

  await deleteIndices(IX);
  const version = { column: 'last_modified' };
  configFile = writeConfig(
    dir,
    pgRawConfig(
      S,
      [
        { name: 'flag', table: 'flagged', index: `${IX}flagged`, version, pending: { flag: 'marked_by_logstash', batchSize: 40 }, fields: { marked_by_logstash: null }, bulk: { flushBytes: 4096 } },
        { name: 'typed', table: 'typed', index: `${IX}typed`, version, pending: { flag: 'marked' }, fields: { marked: null } },
        { name: 'queue', table: 'queued', index: `${IX}queued`, version, pending: { queue: { table: 'queued_q' }, batchSize: 30 } },
        { name: 'ccd', table: 'case_data', index: `${IX}case_data`, version, pending: { queue: { table: 'case_data_logstash_queue', id: 'id', match: { id: 'case_data_id' } }, batchSize: 20 } },
        { name: 'watched', table: 'watched', index: `${IX}watched`, version, incremental: { safetyLagMs: 300 } },
      ],
      { elasticsearch: { node: proxy.url, maxRetries: 1 }, failureLedger: ledger },
    ),
  );
}, 120_000);

afterEach(() => {
  proxy.onBulk = () => undefined;
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await proxy?.close();
  await deleteIndices(IX);
  await drop?.();
});

const sync = (...args: string[]) => cliJson(['sync', '--config', configFile, '--quiet', ...args]);
const verify = (pipeline: string) => cliJson<VerifyResult>(['verify', '--config', configFile, '--quiet', '--pipeline', pipeline]);
const flags = async (table: string, column: string) => {
  const rs = await pool.query<{ id: string; f: boolean | null }>(`SELECT id::text, ${column} AS f FROM ${S}.${table} ORDER BY id`);
  return new Map(rs.rows.map((r) => [r.id, r.f]));
};
const pendingIds = async (table: string, column: string) => [...(await flags(table, column))].filter(([, f]) => f !== true).map(([id]) => id);
const queueLength = async (queue: string) => Number((await pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${S}.${queue}`)).rows[0]!.n);
const ledgerEntries = () =>
  existsSync(ledger)
    ? readFileSync(ledger, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { id: string; pipeline: string; errorClass: string })
    : [];

describe('flag mode', () => {
  it('indexes the rows whose flag is false (or null) in batches smaller than the pending set, and sets exactly their flags', async () => {
    // A dry run plans every pending row, and writes and marks nothing.
    const dry = await sync('--pipeline', 'flag', '--since', 'last', '--dry-run', '--plan', join(dir, 'plan.ndjson'));
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.report).toMatchObject({ dryRun: true, read: FLAGGED, created: FLAGGED, indexed: 0 });
    expect(await pendingIds('flagged', 'marked_by_logstash')).toHaveLength(FLAGGED);
    expect((await indexDocs(`${IX}flagged`)).size).toBe(0);

    const res = await sync('--pipeline', 'flag', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'pending', read: FLAGGED, indexed: FLAGGED, failed: 0 });
    expect(await pendingIds('flagged', 'marked_by_logstash')).toEqual([]);
    await expectIndexMatchesTable(pool, S, 'flagged', `${IX}flagged`, { omit: ['marked_by_logstash'], version: 'last_modified' });

    // The runbook's re-sync: flags set false again; two of the rows changed meanwhile.
    await pool.query(`UPDATE ${S}.flagged SET data = jsonb_set(data, '{name}', '"renamed"'), last_modified = last_modified + interval '1 second' WHERE id IN (11, 12)`);
    await pool.query(`UPDATE ${S}.flagged SET marked_by_logstash = false WHERE id IN (10, 11, 12, 13, 14)`);
    const again = await sync('--pipeline', 'flag', '--since', 'last');
    expect(again.code, again.stderr).toBe(0);
    expect(again.report).toMatchObject({ mode: 'pending', read: 5, indexed: 2, unchanged: 3 });
    expect(await pendingIds('flagged', 'marked_by_logstash')).toEqual([]);
    const docs = await expectIndexMatchesTable(pool, S, 'flagged', `${IX}flagged`, { omit: ['marked_by_logstash'], version: 'last_modified' });
    expect((docs.get('11')!.source['data'] as Record<string, unknown>)['name']).toBe('renamed');

    // Nothing pending: nothing read.
    const none = await sync('--pipeline', 'flag', '--since', 'last');
    expect(none.report).toMatchObject({ mode: 'pending', read: 0 });
  });

  it('keeps the flag false of a row changed after it was read and before its document was acknowledged, and syncs it again', async () => {
    await pool.query(`UPDATE ${S}.flagged SET data = jsonb_set(data, '{name}', '"round 2"'), last_modified = last_modified + interval '1 second', marked_by_logstash = false WHERE id BETWEEN 1 AND 20`);
    let sent = 0;
    let flagWhenSentAgain: boolean | null | undefined;
    proxy.onBulk = async (ids) => {
      if (!ids.includes('7')) return;
      sent += 1;
      // The row changes while its document is on its way: its flag must not be set on that answer.
      if (sent === 1) await pool.query(`UPDATE ${S}.flagged SET data = jsonb_set(data, '{name}', '"changed in flight"'), last_modified = now() AT TIME ZONE 'UTC' WHERE id = 7`);
      else flagWhenSentAgain = (await flags('flagged', 'marked_by_logstash')).get('7');
    };
    const res = await sync('--pipeline', 'flag', '--since', 'last');
    proxy.onBulk = () => undefined;
    expect(res.code, res.stderr).toBe(0);
    expect(sent).toBeGreaterThan(0);
    expect(res.report).toMatchObject({ mode: 'pending', read: 20 + sent - 1, indexed: 20 + sent - 1, failed: 0 });
    // Either the run took the row again (its flag still false then), or left it pending for the next.
    const after = await flags('flagged', 'marked_by_logstash');
    if (sent === 2) expect(flagWhenSentAgain).toBe(false);
    else expect(after.get('7')).toBe(false);
    expect(await pendingIds('flagged', 'marked_by_logstash')).toEqual(sent === 2 ? [] : ['7']);

    const next = await sync('--pipeline', 'flag', '--since', 'last');
    expect(next.code, next.stderr).toBe(0);
    expect(next.report).toMatchObject({ read: sent === 2 ? 0 : 1, indexed: sent === 2 ? 0 : 1 });
    expect(await pendingIds('flagged', 'marked_by_logstash')).toEqual([]);
    const docs = await expectIndexMatchesTable(pool, S, 'flagged', `${IX}flagged`, { omit: ['marked_by_logstash'], version: 'last_modified' });
    expect((docs.get('7')!.source['data'] as Record<string, unknown>)['name']).toBe('changed in flight');
  });

  it('leaves a row that Elasticsearch rejects pending and in the failure ledger, and ends the run', async () => {
    const node = target().node;
    await fetch(`${node}/${IX}typed`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mappings: { properties: { score: { type: 'integer' } } } }) });
    const t0 = Date.now();
    let res = await sync('--pipeline', 'typed', '--since', 'last');
    expect(res.code, res.stderr).toBe(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
    // Each row read once: the rejected ones are not taken again by the same run.
    expect(res.report).toMatchObject({ mode: 'pending', read: 22, indexed: 20, failed: 2 });
    expect(await pendingIds('typed', 'marked')).toEqual(['3', '7']);
    expect(ledgerEntries().filter((e) => e.pipeline === 'typed').map((e) => [e.id, e.errorClass])).toEqual([
      ['3', 'mapping'],
      ['7', 'mapping'],
    ]);
    // The next run tries them again, and ends again.
    res = await sync('--pipeline', 'typed', '--since', 'last');
    expect(res.code).toBe(1);
    expect(res.report).toMatchObject({ read: 2, failed: 2 });
    expect(await pendingIds('typed', 'marked')).toEqual(['3', '7']);
    const status = await cliJson(['status', '--config', configFile, '--pipeline', 'typed']);
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { pipelines: { pending: number }[] }).pipelines[0]!.pending).toBe(2);
    // Fixed at the source, then the ledger retried: indexed; the next pending run finds them current and marks them.
    await pool.query(`UPDATE ${S}.typed SET score = '0', last_modified = clock_timestamp() WHERE id IN (3, 7)`);
    const retry = await cliJson(['retry', ledger, '--config', configFile, '--out', join(dir, 'still-failing.ndjson')]);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.report).toMatchObject({ mode: 'retry', indexed: 2, failed: 0 });
    res = await sync('--pipeline', 'typed', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ read: 2, indexed: 0, unchanged: 2, failed: 0 });
    expect(await pendingIds('typed', 'marked')).toEqual([]);
    await expectIndexMatchesTable(pool, S, 'typed', `${IX}typed`, { omit: ['marked'], version: 'last_modified' });
  });
});

describe('queue mode', () => {
  it('--create-queue: inserts, updates, deletes and key changes are carried, and the queue is emptied', async () => {
    let res = await sync('--pipeline', 'queue', '--since', 'last', '--create-queue');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'pending', read: 0 });
    expect(await queueLength('queued_q')).toBe(0);
    // The rows from before the queue: a full sync.
    res = await sync('--pipeline', 'queue');
    expect(res.report).toMatchObject({ mode: 'full', read: 40, indexed: 40 });

    await pool.query(`INSERT INTO ${S}.queued (id, body) SELECT g, 'new ' || g FROM generate_series(100, 199) g`); // one statement, 100 keys
    await pool.query(`UPDATE ${S}.queued SET body = 'v2', last_modified = clock_timestamp() WHERE id IN (1, 2, 150)`);
    await pool.query(`DELETE FROM ${S}.queued WHERE id IN (3, 4, 199)`);
    await pool.query(`UPDATE ${S}.queued SET id = 500, last_modified = clock_timestamp() WHERE id = 5`); // a key change: 5 goes, 500 comes
    // Inserted and deleted before any sync: nothing to index, nothing to delete.
    await pool.query(`INSERT INTO ${S}.queued (id, body) VALUES (900, 'short-lived')`);
    await pool.query(`DELETE FROM ${S}.queued WHERE id = 900`);
    expect(await queueLength('queued_q')).toBeGreaterThan(100);

    res = await sync('--pipeline', 'queue', '--since', 'last');
    expect(res.code, `${res.stderr}\n${res.stdout}`).toBe(0);
    expect(res.report).toMatchObject({ mode: 'pending', failed: 0, deleted: 3 });
    expect(await queueLength('queued_q')).toBe(0);
    const docs = await expectIndexMatchesTable(pool, S, 'queued', `${IX}queued`, { version: 'last_modified' });
    for (const gone of ['3', '4', '5', '199', '900']) expect(docs.has(gone)).toBe(false);
    expect(docs.get('500')!.source['body']).toBe('v1 5');
    expect(docs.get('150')!.source['body']).toBe('v2');
    const v = await verify('queue');
    expect(v.report).toMatchObject({ inSync: true });
  });

  it("works with a user queue like CCD's (one entry per case, match: { id: case_data_id }), also for a case changed while in flight", async () => {
    await pool.query(`INSERT INTO ${S}.case_data (reference, data) SELECT 1600000000000000 + g, jsonb_build_object('n', g) FROM generate_series(1, 50) g`);
    expect(await queueLength('case_data_logstash_queue')).toBe(50);
    let res = await sync('--pipeline', 'ccd', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'pending', read: 50, indexed: 50 });
    expect(await queueLength('case_data_logstash_queue')).toBe(0);
    await expectIndexMatchesTable(pool, S, 'case_data', `${IX}case_data`, { version: 'last_modified' });

    // Changed cases are queued again. While their documents are in flight, case 6 changes again
    // (its trigger finds the entry still there and adds none), and case 7 is being changed by a
    // transaction that commits only after cesync has its acknowledgement: both entries must stay.
    await pool.query(`UPDATE ${S}.case_data SET data = '{"n": 2000}', last_modified = now() AT TIME ZONE 'UTC' WHERE id IN (5, 6, 7)`);
    const writer = await pool.connect();
    let changed = false;
    let committed: Promise<unknown> | undefined;
    proxy.onBulk = async (ids) => {
      if (changed || !ids.includes('6')) return;
      changed = true;
      await pool.query(`UPDATE ${S}.case_data SET data = '{"n": 3000}', last_modified = now() AT TIME ZONE 'UTC' WHERE id = 6`);
      await writer.query('BEGIN');
      await writer.query(`UPDATE ${S}.case_data SET data = '{"n": 4000}', last_modified = now() AT TIME ZONE 'UTC' WHERE id = 7`);
      committed = sleep(1500).then(() => writer.query('COMMIT'));
    };
    try {
      res = await sync('--pipeline', 'ccd', '--since', 'last');
      await committed;
    } finally {
      writer.release();
    }
    expect(res.code, res.stderr).toBe(0);
    expect(changed).toBe(true);
    // Each of 6 and 7: its entry kept for the next run, or taken again by this one (then current).
    const queuedNow = new Set((await pool.query<{ c: string }>(`SELECT case_data_id::text AS c FROM ${S}.case_data_logstash_queue`)).rows.map((r) => r.c));
    const afterRun = await indexDocs(`${IX}case_data`);
    expect([...queuedNow].sort()).toEqual(res.report!.read === 5 ? [] : ['6', '7']);
    for (const [id, n] of [['6', 3000], ['7', 4000]] as const) {
      if (!queuedNow.has(id)) expect(afterRun.get(id)!.source['data'], `case ${id}: entry gone, document stale`).toEqual({ n });
    }
    res = await sync('--pipeline', 'ccd', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    const docs = await expectIndexMatchesTable(pool, S, 'case_data', `${IX}case_data`, { version: 'last_modified' });
    expect(docs.get('6')!.source['data']).toEqual({ n: 3000 });
    expect(docs.get('7')!.source['data']).toEqual({ n: 4000 });
    expect(await queueLength('case_data_logstash_queue')).toBe(0);
  });
});

describe('watch', () => {
  it('picks up a change within a few seconds, by a flag and by a version column', async () => {
    const child = spawn(process.execPath, ['bin/cesync.js', 'watch', '--config', configFile, '--pipeline', 'flag', 'watched', '--interval', '200', '--lease-ttl', '3000'], {
      env: { ...process.env, ...testEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // The version-column pipeline starts with a full sync of its own (no watermark yet).
    await until('the watched table indexed', async () => (await indexDocs(`${IX}watched`)).size === 10, 20_000);

    const body = async (index: string, id: string) => (await indexDocs(index)).get(id)?.source;
    let t0 = Date.now();
    await pool.query(`UPDATE ${S}.flagged SET data = jsonb_set(data, '{name}', '"watched"'), last_modified = now() AT TIME ZONE 'UTC', marked_by_logstash = false WHERE id = 42`);
    await until('the flagged change in the index', async () => ((await body(`${IX}flagged`, '42'))?.['data'] as Record<string, unknown> | undefined)?.['name'] === 'watched', 10_000, 200);
    const flagMs = Date.now() - t0;
    await until('its flag set', async () => (await flags('flagged', 'marked_by_logstash')).get('42') === true, 5000);

    t0 = Date.now();
    await pool.query(`INSERT INTO ${S}.watched (id, body) VALUES (11, 'new')`);
    await pool.query(`UPDATE ${S}.watched SET body = 'v2', last_modified = clock_timestamp() WHERE id = 3`);
    await until('the watched changes in the index', async () => {
      const docs = await indexDocs(`${IX}watched`);
      return docs.get('11')?.source['body'] === 'new' && docs.get('3')?.source['body'] === 'v2';
    }, 10_000, 200);
    const columnMs = Date.now() - t0;
    expect(flagMs, out).toBeLessThan(5000);
    expect(columnMs, out).toBeLessThan(5000);

    child.kill('SIGTERM');
    expect(await exit, out).toBe(0);
    await expectIndexMatchesTable(pool, S, 'watched', `${IX}watched`, { version: 'last_modified' });
    await expectIndexMatchesTable(pool, S, 'flagged', `${IX}flagged`, { omit: ['marked_by_logstash'], version: 'last_modified' });
  });
});
