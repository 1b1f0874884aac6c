// PostgreSQL pipelines through the CLI, against the machine's real PostgreSQL and Elasticsearch:
// a full sync of a CCD-like table (documents exactly as documented, compared row by row with
// PostgreSQL's own rendering), uuid and composite keys, tables and configurations refused with
// clear messages, a full sync stopped by SIGTERM and resumed, targeted syncs (ids, CSV files,
// dry runs, the max-changes guard), incremental syncs across transactions that commit out of
// order, and verify and repair of deletes and drift. Everything lives in a schema of its own
// and indices of its own prefix, dropped afterwards.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../reliability/cli.js';
import { runCli, tempDir, writeConfig } from './harness.js';
import {
  cliJson,
  deleteIndices,
  expectedDocs,
  expectIndexMatchesTable,
  indexCount,
  indexDocs,
  pgRawConfig,
  savedProgress,
  sleep,
  testSchema,
  until,
  type VerifyResult,
} from './postgres-harness.js';

let S: string;
let pool: pg.Pool;
let drop: () => Promise<void>;
/** Index names: `${S}_...`, all deleted afterwards. */
let IX: string;
const dir = tempDir();
const ledger = join(dir, 'failures.ndjson');
let configFile: string;

const BULK_ROWS = 8000;

/** The CCD case_data of the tests: every type a case row holds, nulls included. */
async function createCases(): Promise<void> {
  await pool.query(`CREATE TYPE ${S}.case_state AS ENUM ('Open', 'Stayed', 'Closed')`);
  await pool.query(`
    CREATE TABLE ${S}.cases (
      id bigserial PRIMARY KEY,
      reference bigint NOT NULL UNIQUE,
      jurisdiction text NOT NULL,
      case_type_id varchar(70) NOT NULL,
      state ${S}.case_state,
      data jsonb,
      amount numeric(20,4),
      created_date timestamptz NOT NULL,
      last_modified timestamp NOT NULL,
      tags text[],
      refs int8[],
      archived bool,
      external_id uuid,
      due date,
      attachment bytea
    )`);
  await pool.query(`
    INSERT INTO ${S}.cases (reference, jurisdiction, case_type_id, state, data, amount, created_date, last_modified, tags, refs, archived, external_id, due, attachment)
    SELECT 1600000000000000 + g * 7919,
           (ARRAY['PROBATE', 'DIVORCE', 'SSCS'])[1 + g % 3],
           'GrantOfRepresentation',
           CASE WHEN g % 11 = 0 THEN NULL ELSE (ARRAY['Open', 'Stayed', 'Closed']::${S}.case_state[])[1 + g % 3] END,
           CASE WHEN g % 13 = 0 THEN NULL ELSE jsonb_build_object(
             'applicant', jsonb_build_object('firstName', 'Name ' || g, 'address', jsonb_build_object('line1', g || ' High St', 'postCode', 'SW1A ' || g % 10 || 'AA')),
             'collection', jsonb_build_array(jsonb_build_object('id', md5(g::text)::uuid, 'value', jsonb_build_object('amount', g * 100, 'note', 'n' || g))),
             'bigNumber', 9007199254740993 + g * 2,
             'fee', (g % 100) + 0.50,
             'urgent', g % 2 = 0,
             'nothing', null) END,
           CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 12345.6789)::numeric(20,4) END,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour 1.234567 second',
           timestamp '2025-01-01 00:00:00' + g * interval '1 minute 0.000123 second',
           CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['tag' || g % 5, 'with space', 'comma,quote"'] END,
           ARRAY[9223372036854775807 - g, -g]::int8[],
           CASE WHEN g % 17 = 0 THEN NULL ELSE g % 4 = 0 END,
           CASE WHEN g % 9 = 0 THEN NULL ELSE md5('x' || g)::uuid END,
           date '2024-02-29' + g,
           CASE WHEN g % 5 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 8, '0'), 'hex') END
      FROM generate_series(1, 400) g`);
  // One case at the edges: the largest bigint, every digit of a numeric(20,4), a microsecond.
  await pool.query(`
    INSERT INTO ${S}.cases (id, reference, jurisdiction, case_type_id, state, data, amount, created_date, last_modified, tags, refs, archived, external_id, due, attachment)
    VALUES (100000, 9223372036854775807, 'PROBATE', 'Caveat', 'Closed',
            '{"applicant": {"firstName": "Édith", "address": {"line1": "1 Rue", "postCode": "75001"}}, "collection": [{"id": "c", "value": {"amount": 1, "note": "x"}}], "bigNumber": 12345678901234567, "fee": 1.50, "urgent": false, "deep": {"a": {"b": {"c": {"d": [1, 2, 3]}}}}}',
            9999999999999999.9999, '1970-01-01 00:00:00.000001+00', '2025-06-30 23:59:59.999999', '{}', '{1,NULL}', true,
            'ffffffff-ffff-4fff-bfff-ffffffffffff', '2000-01-01', '\\x00ff')`);
}

beforeAll(async () => {
  ({ name: S, pool, drop } = await testSchema('pgt'));
  IX = `${S}_`;
  await createCases();
  await pool.query(`CREATE TABLE ${S}.by_uuid (id uuid PRIMARY KEY, name text, last_modified timestamptz NOT NULL)`);
  await pool.query(`INSERT INTO ${S}.by_uuid SELECT md5(g::text)::uuid, 'n' || g, now() FROM generate_series(1, 300) g`);
  await pool.query(`INSERT INTO ${S}.by_uuid VALUES ('00000000-0000-0000-0000-000000000000', 'lowest', now()), ('ffffffff-ffff-ffff-ffff-ffffffffffff', 'highest', now())`);
  await pool.query(`CREATE TABLE ${S}.enrol (course bigint, userid text, role text, last_modified timestamptz NOT NULL, PRIMARY KEY (course, userid))`);
  await pool.query(`INSERT INTO ${S}.enrol SELECT g % 20, 'user:' || g, 'role' || g % 3, now() FROM generate_series(1, 300) g`);
  await pool.query(`INSERT INTO ${S}.enrol VALUES (-5, 'back\\slash', 'x', now()), (9223372036854775807, '', 'empty', now())`);
  // Tables cesync cannot sync, each for its own reason.
  await pool.query(`CREATE TABLE ${S}.by_name (name text PRIMARY KEY, last_modified timestamptz)`);
  await pool.query(`CREATE TABLE ${S}.no_key (id bigint, last_modified timestamptz)`);
  await pool.query(`CREATE TABLE ${S}.text_version (id bigint PRIMARY KEY, last_modified text)`);
  await pool.query(`CREATE TABLE ${S}.counted (id bigint PRIMARY KEY, body text, version bigint NOT NULL)`);
  // Rows for the resumable full sync.
  await pool.query(`CREATE TABLE ${S}.bulk (id bigint PRIMARY KEY, body text, last_modified timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await pool.query(`INSERT INTO ${S}.bulk (id, body) SELECT g, 'row ' || g || ' ' || repeat('x', 100) FROM generate_series(1, ${BULK_ROWS}) g`);
  for (const t of ['inc', 'drift']) {
    await pool.query(`CREATE TABLE ${S}.${t} (id bigint PRIMARY KEY, body text, last_modified timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))`);
    await pool.query(`INSERT INTO ${S}.${t} (id, body) SELECT g, 'v1 ' || g FROM generate_series(1, 50) g`);
  }
  await deleteIndices(IX);
  const cases = { table: 'cases', version: { column: 'last_modified' } };
  configFile = writeConfig(
    dir,
    pgRawConfig(
      S,
      [
        { name: 'cases', ...cases, index: `${IX}cases`, splits: 4 },
        { name: 'cases_ids', ...cases, index: `${IX}cases_ids` },
        { name: 'by_uuid', table: 'by_uuid', index: `${IX}by_uuid`, version: { column: 'last_modified' }, splits: 8, pageSize: 50 },
        { name: 'enrol', table: 'enrol', index: `${IX}enrol`, version: { column: 'last_modified' }, splits: 4, pageSize: 40 },
        { name: 'by_name', table: 'by_name', index: `${IX}by_name`, version: { column: 'last_modified' } },
        { name: 'no_key', table: 'no_key', index: `${IX}no_key`, version: { column: 'last_modified' } },
        { name: 'text_version', table: 'text_version', index: `${IX}text_version`, version: { column: 'last_modified' } },
        { name: 'no_version', table: 'cases', index: `${IX}no_version`, version: { column: 'modified_at' } },
        { name: 'bulk', table: 'bulk', index: `${IX}bulk`, version: { column: 'last_modified' }, splits: 16, pageSize: 200, bulk: { flushBytes: 100_000, concurrency: 2 } },
        // Small pages and batches: changes listed page by page, and applied batch by batch, across rows of one version.
        { name: 'inc', table: 'inc', index: `${IX}inc`, version: { column: 'last_modified' }, pageSize: 7, incremental: { safetyLagMs: 0, batchSize: 8 } },
        { name: 'counted', table: 'counted', index: `${IX}counted`, version: { column: 'version' } },
        { name: 'drift', table: 'drift', index: `${IX}drift`, version: { column: 'last_modified' } },
      ],
      { failureLedger: ledger },
    ),
  );
}, 120_000);

afterAll(async () => {
  await deleteIndices(IX);
  await drop?.();
});

const sync = (...args: string[]) => cliJson(['sync', '--config', configFile, '--quiet', ...args]);
const verify = (pipelines: string | string[], ...args: string[]) => cliJson<VerifyResult>(['verify', '--config', configFile, '--quiet', '--pipeline', ...[pipelines].flat(), ...args]);

describe('full sync', () => {
  it('indexes every row as documented (CCD-like, uuid and composite keys), _cesync.token its position, and verifies in sync', async () => {
    const res = await sync('--pipeline', 'cases', 'by_uuid', 'enrol');
    expect(res.code, res.stderr).toBe(0);
    expect(res.reports.map((r) => [r.pipeline, r.mode, r.read, r.indexed, r.failed])).toEqual([
      ['cases', 'full', 401, 401, 0],
      ['by_uuid', 'full', 302, 302, 0],
      ['enrol', 'full', 302, 302, 0],
    ]);
    const docs = await expectIndexMatchesTable(pool, S, 'cases', `${IX}cases`, { version: 'last_modified' });
    for (const [id, d] of docs) expect(d.meta['token'], `token of ${id}`).toBe(Number(id));

    // The oracle above is PostgreSQL's own rendering; the edge case spelled out by hand too.
    const edge = docs.get('100000')!;
    expect(edge.source).toEqual({
      id: 100000,
      reference: { exact: '9223372036854775807' },
      jurisdiction: 'PROBATE',
      case_type_id: 'Caveat',
      state: 'Closed',
      data: {
        applicant: { firstName: 'Édith', address: { line1: '1 Rue', postCode: '75001' } },
        collection: [{ id: 'c', value: { amount: 1, note: 'x' } }],
        bigNumber: { exact: '12345678901234567' },
        fee: { exact: '1.50' },
        urgent: false,
        deep: { a: { b: { c: { d: [1, 2, 3] } } } },
      },
      amount: { exact: '9999999999999999.9999' },
      created_date: '1970-01-01T00:00:00.000001Z',
      last_modified: '2025-06-30T23:59:59.999999Z',
      tags: [],
      refs: [1, null],
      archived: true,
      external_id: 'ffffffff-ffff-4fff-bfff-ffffffffffff',
      due: '2000-01-01',
      attachment: 'AP8=',
    });
    expect(edge.version).toBe(Date.UTC(2025, 5, 30, 23, 59, 59) * 1000 + 999_999);
    const row7 = docs.get('7')!.source;
    expect(row7).toMatchObject({ state: 'Stayed', tags: null, refs: [{ exact: '9223372036854775800' }, -7], amount: 86419.7523 });
    expect((row7['data'] as Record<string, unknown>)['bigNumber']).toEqual({ exact: '9007199254741007' });
    expect(docs.get('10')!.source).toMatchObject({ amount: null, attachment: null });
    expect(docs.get('13')!.source['data']).toBeNull();

    const uuids = await expectIndexMatchesTable(pool, S, 'by_uuid', `${IX}by_uuid`, { version: 'last_modified' });
    // A uuid's position: its first 8 bytes, less 2^63 (so that number order is byte order).
    for (const [id, d] of uuids) {
      const position = BigInt(`0x${id.replaceAll('-', '').slice(0, 16)}`) - 2n ** 63n;
      const token = d.meta['token'];
      expect(typeof token === 'number' ? BigInt(token) : BigInt((token as { exact: string }).exact), `token of ${id}`).toBe(position);
    }
    const enrol = await expectIndexMatchesTable(pool, S, 'enrol', `${IX}enrol`, { key: ['course', 'userid'], version: 'last_modified' });
    expect(enrol.get('3:user\\:3')!.source).toMatchObject({ course: 3, userid: 'user:3' });
    expect(enrol.get('-5:back\\\\slash')!.meta['token']).toBe(-5);
    expect(enrol.get('9223372036854775807:')!.source).toMatchObject({ course: { exact: '9223372036854775807' }, userid: '' });

    // Verify agrees, content included.
    const v = await verify(['cases', 'by_uuid', 'enrol'], '--content');
    expect(v.code, v.stderr).toBe(0);
    expect(v.reports.map((r) => r.inSync)).toEqual([true, true, true]);
  });

  it('refuses, with exit code 2 and a message that says why, tables and versions it cannot use', async () => {
    const cases: [string, RegExp, string[]?][] = [
      ['by_name', /pipeline by_name: the first primary key column of \w+\.by_name, name, is text; .*needs an integer \(smallint, integer, bigint\) or a uuid/],
      ['no_key', /pipeline no_key: table \w+\.no_key has no primary key.*ADD PRIMARY KEY/],
      ['text_version', /version column last_modified of \w+\.text_version is text; it must be a timestamp, timestamptz, bigint, integer or smallint/],
      ['no_version', /version column modified_at is not a column of \w+\.cases/],
      // An integer version and no changeColumn: nothing to find changed rows by.
      ['counted', /incremental syncs of \w+\.counted find changed rows by a timestamp column.*give changeColumn.*or pending/, ['--since', '1h']],
    ];
    // At once: each is a process of its own, and each fails before any work.
    const results = await Promise.all(cases.map(([pipeline, , args]) => runCli(['sync', '--config', configFile, '--pipeline', pipeline, '--quiet', ...(args ?? [])])));
    cases.forEach(([pipeline, message], i) => {
      expect(results[i]!.code, `${pipeline}: ${results[i]!.stderr}`).toBe(2);
      expect(results[i]!.stderr).toMatch(message);
    });
    for (const [p] of cases) expect(await indexCount(`${IX}${p}`)).toBe(0);
  });
});

describe('resumable full sync', () => {
  const progress = () => savedProgress(pool, S, 'bulk');

  it('stopped by SIGTERM mid-run, resumes where it stopped and ends exact', async () => {
    const run = start(['sync', '--config', configFile, '--pipeline', 'bulk', '--quiet', '--rate', '2000']);
    await until('a quarter of the spans saved as done', async () => {
      const p = await progress();
      return run.exited() || (p.total > 0 && p.done >= p.total / 4);
    });
    expect(run.exited(), 'the throttled run finished before it could be stopped').toBe(false);
    run.kill('SIGTERM');
    const stopped = await run.done;
    expect(stopped.code, stopped.stderr).toBe(4);
    const saved = await progress();
    expect(saved.done).toBeGreaterThan(0);
    expect(saved.done).toBeLessThan(saved.total);

    const resumed = await sync('--pipeline', 'bulk');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.report!.resumedSpans).toBeGreaterThan(0);
    expect(resumed.report!.resumedSpans).toBe(saved.done);
    expect(resumed.report!.read).toBeLessThan(BULK_ROWS);
    await expectIndexMatchesTable(pool, S, 'bulk', `${IX}bulk`, { version: 'last_modified' });
    expect((await progress()).status).toBe('finished');
  });
});

describe('targeted sync', () => {
  const index = () => `${IX}cases_ids`;

  it('syncs given ids, reports missing and malformed ones, and reads CSV files', async () => {
    let res = await sync('--pipeline', 'cases_ids', '--ids', '1,2,999999,abc');
    expect(res.code).toBe(1); // missing and malformed ids are failures of the request
    expect(res.report).toMatchObject({ mode: 'ids', read: 2, indexed: 2, missing: 1, malformed: 1 });
    expect(res.report!.inputProblems).toEqual([
      { line: 3, kind: 'missing', text: '999999', reason: 'no row with this key' },
      { line: 4, kind: 'malformed', text: 'abc', reason: 'id: "abc" is not an integer' },
    ]);
    expect([...(await indexDocs(index())).keys()].sort()).toEqual(['1', '2']);

    const csv = join(dir, 'ids.csv');
    writeFileSync(csv, ['3', '4', '99999999999999999999', '4', '100000', '5,6', ''].join('\n'));
    res = await sync('--pipeline', 'cases_ids', '--ids-file', csv);
    expect(res.code).toBe(1);
    expect(res.report).toMatchObject({ read: 3, indexed: 3, malformed: 2, duplicates: 1, missing: 0 });
    expect(res.report!.inputProblems!.map((p) => [p.line, p.kind])).toEqual([
      [3, 'malformed'],
      [4, 'duplicate'],
      [6, 'malformed'],
    ]);
    expect(res.report!.inputProblems![0]!.reason).toMatch(/out of range for bigint/);
    const want = await expectedDocs(pool, S, 'cases', { where: 'id IN (1, 2, 3, 4, 100000)' });
    const have = await indexDocs(index());
    expect([...have.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [id, w] of want) expect(have.get(id)!.source).toEqual(w.doc);

    // Composite keys: as CSV columns, or as document ids.
    const enrolCsv = join(dir, 'enrol.csv');
    writeFileSync(enrolCsv, '1,user:1\n2,"user:2"\nx,user:3\n');
    res = await sync('--pipeline', 'enrol', '--ids-file', enrolCsv);
    expect(res.report).toMatchObject({ read: 2, unchanged: 2, malformed: 1 });
  });

  it('writes nothing on a dry run, and --max-changes refuses a larger run before writing', async () => {
    await pool.query(`UPDATE ${S}.cases SET data = jsonb_set(data, '{fee}', '2.25'), last_modified = last_modified + interval '1 second' WHERE id IN (1, 2)`);
    const before = await indexDocs(index());
    const ids = Array.from({ length: 20 }, (_, i) => i + 1).join(',');
    const plan = join(dir, 'plan.ndjson');
    const dry = await sync('--pipeline', 'cases_ids', '--ids', ids, '--dry-run', '--plan', plan);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.report).toMatchObject({ dryRun: true, read: 20, created: 16, updated: 2, unchanged: 2, indexed: 0 });
    const after = await indexDocs(index());
    expect([...after].map(([id, d]) => [id, d.version])).toEqual([...before].map(([id, d]) => [id, d.version]));

    const guarded = await sync('--pipeline', 'cases_ids', '--ids', ids, '--max-changes', '10');
    expect(guarded.code).toBe(5);
    expect(guarded.stderr).toContain('would change 18 documents');
    expect(guarded.stderr).toContain('nothing was written');
    const unchanged = await indexDocs(index());
    expect([...unchanged].map(([id, d]) => [id, d.version])).toEqual([...before].map(([id, d]) => [id, d.version]));

    const real = await sync('--pipeline', 'cases_ids', '--ids', ids, '--max-changes', '18');
    expect(real.code, real.stderr).toBe(0);
    expect(real.report).toMatchObject({ created: 16, updated: 2, unchanged: 2 });
    const want = await expectedDocs(pool, S, 'cases', { where: 'id <= 20 OR id = 100000', version: 'last_modified' });
    const have = await indexDocs(index());
    expect(have.size).toBe(want.size);
    for (const [id, w] of want) {
      expect(have.get(id)!.source).toEqual(w.doc);
      expect(have.get(id)!.version).toBe(w.version);
    }
  });
});

describe('incremental sync --since last', () => {
  const micros = async (sql: string, c: pg.ClientBase | pg.Pool = pool) => Number((await c.query<{ v: string }>(`SELECT (extract(epoch from ${sql}) * 1000000)::int8::text AS v`)).rows[0]!.v);
  const touch = (ids: number[], body: string, c: pg.ClientBase | pg.Pool = pool) =>
    c.query(`UPDATE ${S}.inc SET body = $1, last_modified = now() AT TIME ZONE 'UTC' WHERE id = ANY($2::int8[])`, [body, ids]);
  const watermark = async () => Number((await pool.query<{ version: string }>(`SELECT version::text FROM ${S}.watermarks WHERE pipeline = 'inc'`)).rows[0]?.version ?? NaN);
  const body = async (id: number) => ((await indexDocs(`${IX}inc`)).get(String(id))?.source['body'] as string | undefined) ?? null;

  it('moves the watermark, finds updates, and never passes a transaction still open', async () => {
    // The first run has no watermark: a full sync, which starts one. --create-index: a btree on the change column.
    let res = await sync('--pipeline', 'inc', '--since', 'last', '--create-index');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'full', read: 50, indexed: 50 });
    const indexes = await pool.query<{ def: string }>(`SELECT indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename = 'inc'`, [S]);
    expect(indexes.rows.map((r) => r.def)).toContainEqual(expect.stringMatching(/USING btree \(last_modified\)/));
    const first = await watermark();
    expect(first).toBeGreaterThan(0);

    // One statement: 30 rows of one version, listed over five pages, applied in four batches.
    await touch(Array.from({ length: 30 }, (_, i) => i + 1), 'v2');
    res = await sync('--pipeline', 'inc', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'incremental', read: 30, indexed: 30 });
    const second = await watermark();
    expect(second).toBeGreaterThan(first);
    expect(second).toBe(res.report!.watermark!.version);
    expect(await body(30)).toBe('v2');

    // --since TIME: a window of its own, which leaves the watermark alone.
    const markBefore = await watermark();
    const t = new Date(Date.now() - 300).toISOString(); // rows 1 to 30 changed seconds before
    await touch([48], 'v2');
    res = await sync('--pipeline', 'inc', '--since', t);
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'incremental', read: 1, indexed: 1 });
    expect(await watermark()).toBe(markBefore);

    // Transactions that commit out of order. C commits before T1 begins; T1 updates A and stays
    // open (A's version is T1's start); T2 begins later, updates B and commits first.
    await touch([44], 'C');
    const t1 = await pool.connect();
    const t2 = await pool.connect();
    try {
      await t1.query('BEGIN');
      await touch([45], 'A', t1);
      const t1Start = await micros('now()', t1);
      await sleep(50);
      await t2.query('BEGIN');
      await touch([46], 'B', t2);
      await t2.query('COMMIT');
      const versionA = await micros(`(SELECT last_modified FROM ${S}.inc WHERE id = 45)`, t1);
      const versionB = await micros(`(SELECT last_modified FROM ${S}.inc WHERE id = 46)`);
      expect(versionA).toBe(t1Start);
      expect(versionB).toBeGreaterThan(versionA);

      res = await sync('--pipeline', 'inc', '--since', 'last');
      expect(res.code, res.stderr).toBe(0);
      // The window ends before T1's start: a window reaching B would move the watermark past A,
      // which T1 commits later with its earlier version, and A would be skipped for good.
      expect(res.report!.window!.to).toBeLessThan(t1Start);
      expect(res.report!.watermark!.version).toBeLessThan(versionA);
      expect(await watermark()).toBeLessThan(versionA);
      expect(await body(44)).toBe('C');
      expect(await body(45)).toBe('v1 45');
      expect(await body(46)).toBe('v1 46'); // after the bound: left for the next run

      await t1.query('COMMIT');
    } finally {
      await t1.query('ROLLBACK').catch(() => undefined);
      t1.release();
      t2.release();
    }
    res = await sync('--pipeline', 'inc', '--since', 'last');
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ mode: 'incremental', read: 2, indexed: 2 });
    expect(await body(45)).toBe('A');
    expect(await body(46)).toBe('B');
    await expectIndexMatchesTable(pool, S, 'inc', `${IX}inc`, { version: 'last_modified' });
  });
});

describe('verify and repair', () => {
  it('reports deleted rows as orphans and changed ones as stale or missing, and repair fixes exactly those', async () => {
    let res = await sync('--pipeline', 'drift');
    expect(res.code, res.stderr).toBe(0);
    await pool.query(`DELETE FROM ${S}.drift WHERE id IN (1, 2)`);
    await pool.query(`UPDATE ${S}.drift SET body = 'changed', last_modified = last_modified + interval '1 minute' WHERE id = 3`);
    await pool.query(`INSERT INTO ${S}.drift (id, body) VALUES (1000, 'new')`);

    let v = await verify('drift');
    expect(v.code).toBe(1);
    expect(v.report).toMatchObject({
      inSync: false,
      counts: { missing: 1, orphan: 2, stale: 1, different: 0 },
      ids: { missing: ['1000'], orphan: ['1', '2'], stale: ['3'], different: [] },
    });

    res = await cliJson(['repair', '--config', configFile, '--pipeline', 'drift', '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.report).toMatchObject({ deleted: 2, indexed: 2, failed: 0 });
    v = await verify('drift', '--content');
    expect(v.code, v.stderr).toBe(0);
    expect(v.report).toMatchObject({ inSync: true });
    await expectIndexMatchesTable(pool, S, 'drift', `${IX}drift`, { version: 'last_modified' });
  });
});
