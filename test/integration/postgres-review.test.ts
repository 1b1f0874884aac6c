// PostgreSQL pipelines where a production database bites: a transaction that reads first and
// writes late, an application transaction holding a row while cesync marks flags, a version that
// goes back, an "updated at" trigger, the flag kept out of documents, a bad filter, and two
// pipelines sharing one flag. Real servers, through the CLI.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, testEnv, writeConfig } from './harness.js';
import { cliJson, deleteIndices, indexDocs, pgRawConfig, sleep, testSchema, type Report } from './postgres-harness.js';

let S: string;
let pool: pg.Pool;
let drop: () => Promise<void>;
let IX: string;
const dir = tempDir();

beforeAll(async () => {
  ({ name: S, pool, drop } = await testSchema('pgr'));
  IX = `${S}_`;
});

afterAll(async () => {
  await deleteIndices(IX);
  await drop();
});

/** A configuration file of its own per case (each in its own folder). */
function config(name: string, pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): string {
  const at = join(dir, name);
  mkdirSync(at, { recursive: true });
  return writeConfig(at, pgRawConfig(S, pipelines, { failureLedger: join(at, 'failures.ndjson'), ...extra }));
}

async function table(name: string, rows = 5, extra = ''): Promise<void> {
  await pool.query(`CREATE TABLE ${S}.${name} (id bigint PRIMARY KEY, v text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp(), flag boolean NOT NULL DEFAULT false${extra})`);
  await pool.query(`INSERT INTO ${S}.${name} (id, v) SELECT g, 'v' || g FROM generate_series(1, ${rows}) g`);
}

describe('PostgreSQL in production conditions', () => {
  it('a transaction that reads first and writes late is not passed by the window', async () => {
    await table('late', 2);
    const file = config('late', [{ name: 'late', table: 'late', index: `${IX}late`, version: { column: 'last_modified' }, incremental: { safetyLagMs: 0 } }]);
    expect((await cliJson(['sync', '--config', file, '--since', 'last'], testEnv())).code).toBe(0); // first run: full sync
    const late = await pool.connect();
    try {
      await late.query('BEGIN');
      const started = Number((await late.query(`SELECT (extract(epoch from date_trunc('second', now()))::int8 * 1000000 + extract(microseconds from now())::int8 % 1000000)::text AS t`)).rows[0].t);
      await late.query('SELECT count(*) FROM pg_class'); // reads, has no transaction id yet
      await sleep(1500);
      const mid = await cliJson(['sync', '--config', file, '--since', 'last'], testEnv());
      expect(mid.code).toBe(0);
      // The window stops before the open transaction's start (its rows carry now() from then).
      expect(mid.report!.window!.to).toBeLessThan(started);
      // And the report says what holds it back.
      expect((mid.report as Report & { heldBackSince?: string }).heldBackSince).toBe(new Date(Math.floor(started / 1000)).toISOString());
      await late.query(`INSERT INTO ${S}.late (id, v, last_modified) VALUES (3, 'late', now())`);
      await late.query('COMMIT');
    } finally {
      await late.query('ROLLBACK').catch(() => undefined); // never back to the pool inside a transaction
      late.release();
    }
    const after = await cliJson(['sync', '--config', file, '--since', 'last'], testEnv());
    expect(after.code).toBe(0);
    expect((await indexDocs(`${IX}late`)).has('3')).toBe(true);
  });

  it('marking flags never waits for an application transaction, which commits unharmed; its row stays pending', async () => {
    await table('busy', 20);
    const file = config('busy', [{ name: 'busy', table: 'busy', index: `${IX}busy`, version: { column: 'last_modified' }, pending: { flag: 'flag' } }]);
    const app = await pool.connect();
    try {
      await app.query('BEGIN');
      await app.query(`UPDATE ${S}.busy SET v = 'app' WHERE id = 7`); // holds row 7
      const r = await cliJson(['sync', '--config', file, '--since', 'last'], testEnv());
      expect(r.code, r.stderr).toBe(0);
      expect(r.ms).toBeLessThan(30_000);
      const flags = (await pool.query(`SELECT id, flag FROM ${S}.busy ORDER BY id`)).rows as { id: string; flag: boolean }[];
      expect(flags.filter((f) => !f.flag).map((f) => Number(f.id))).toEqual([7]);
      await app.query(`UPDATE ${S}.busy SET v = 'app2' WHERE id = 8`); // the application goes on
      await app.query('COMMIT');
    } finally {
      await app.query('ROLLBACK').catch(() => undefined);
      app.release();
    }
    await pool.query(`UPDATE ${S}.busy SET flag = false WHERE id = 8`);
    expect((await cliJson(['sync', '--config', file, '--since', 'last'], testEnv())).code).toBe(0);
    const docs = await indexDocs(`${IX}busy`);
    expect(docs.get('7')?.source['v']).toBe('app');
    expect(docs.get('8')?.source['v']).toBe('app2');
    // The flag is cesync's bookkeeping: never in documents.
    expect('flag' in docs.get('1')!.source).toBe(false);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${S}.busy WHERE NOT flag`)).rows[0].n).toBe(0);
  });

  it('a row whose version went back behind the index stays pending', async () => {
    await table('back', 3);
    const file = config('back', [{ name: 'back', table: 'back', index: `${IX}back`, version: { column: 'last_modified' }, pending: { flag: 'flag' } }]);
    expect((await cliJson(['sync', '--config', file, '--since', 'last'], testEnv())).code).toBe(0);
    await pool.query(`UPDATE ${S}.back SET v = 'restored', last_modified = last_modified - interval '1 hour', flag = false WHERE id = 2`);
    const r = await cliJson<Report>(['sync', '--config', file, '--since', 'last'], testEnv());
    expect(r.code).toBe(0);
    expect((await pool.query(`SELECT flag FROM ${S}.back WHERE id = 2`)).rows[0].flag).toBe(false);
  });

  it('refuses a BEFORE UPDATE trigger that fires on the mark, a filter the server rejects, and two pipelines on one flag', async () => {
    await table('touched', 2);
    await pool.query(`CREATE FUNCTION ${S}.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.last_modified := clock_timestamp(); RETURN NEW; END $$`);
    await pool.query(`CREATE TRIGGER touch BEFORE UPDATE ON ${S}.touched FOR EACH ROW EXECUTE FUNCTION ${S}.touch()`);
    const touched = await cliJson(['sync', '--config', config('touched', [{ name: 't', table: 'touched', index: `${IX}touched`, version: { column: 'last_modified' }, pending: { flag: 'flag' } }]), '--since', 'last'], testEnv());
    expect(touched.code).toBe(2);
    expect(touched.stderr).toMatch(/trigger touch .*BEFORE UPDATE OF/);

    const bad = await cliJson(['sync', '--config', config('bad', [{ name: 'b', table: 'touched', index: `${IX}badfilter`, version: { column: 'last_modified' }, filter: 'nosuchcol = 1' }])], testEnv());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/filter of .*nosuchcol/);
    expect((await indexDocs(`${IX}badfilter`).catch(() => new Map())).size).toBe(0);

    const shared = await runCli(
      [
        'config',
        'check',
        '--config',
        config('shared', [
          { name: 'a', table: 'touched', index: `${IX}a`, version: { column: 'last_modified' }, pending: { flag: 'flag' } },
          { name: 'b', table: 'touched', index: `${IX}b`, version: { column: 'last_modified' }, pending: { flag: 'flag' } },
        ]),
      ],
      testEnv(),
    );
    expect(shared.code).toBe(2);
    expect(shared.stderr).toMatch(/marks the same flag/);
  });
});
