// One pipeline for every table of a keyspace (`tables`), each table into its own index, with
// settings by table (`byTable`), through the built CLI: sync, status, verify, --pipeline by group
// and by table, a second run with nothing to do, and the errors of a selection that cannot work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { openTestClients, rawConfig, runCli, tempDir, writeConfig } from './harness.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const KS = 'cesync_tables';
const dir = tempDir();
let cql: cassandra.Client;
let es: EsClient;

/** The tables synced (sorted by name, as the pipelines are), with their rows. */
const ROWS = { courses: 3, enrolments: 4, users: 5 };
const TABLES = Object.keys(ROWS);

const group = {
  name: 'tb',
  keyspace: KS,
  tables: { include: ['*'], exclude: ['tmp_*'] },
  index: 'tables_{table}',
  splits: 4,
  byTable: [{ tables: 'users', fields: { name: 'fullName' } }],
};

/** A configuration file of its own directory; cesync's state is kept in the synced keyspace itself, by the default store (its tables are never synced). */
function configFile(name: string, pipelines: Record<string, unknown>[]): string {
  const sub = join(dir, name);
  mkdirSync(sub, { recursive: true });
  return writeConfig(sub, rawConfig(pipelines, { state: { keyspace: KS }, failureLedger: join(sub, 'failures.ndjson') }));
}

const indices = async (pattern: string) => (await es.cat.indices({ index: pattern, format: 'json', h: 'index' })).map((i) => i.index!).sort();
const count = async (index: string) => {
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
};

interface Report {
  pipeline: string;
  index: string;
  read: number;
  indexed: number;
  unchanged: number;
  failed: number;
}
const reportsOf = (stdout: string) => (JSON.parse(stdout) as { reports: Report[] }).reports;

let file: string;

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  for (const index of await indices('tables_*')) await es.indices.delete({ index });
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text, age int)`);
  await cql.execute(`CREATE TABLE ${KS}.courses (id int PRIMARY KEY, title text)`);
  await cql.execute(`CREATE TABLE ${KS}.enrolments (course text, cohort int, userid text, role text, PRIMARY KEY ((course, cohort), userid))`);
  await cql.execute(`CREATE TABLE ${KS}.tmp_import (id text PRIMARY KEY, payload text)`);
  const inserts: Promise<unknown>[] = [];
  for (let i = 0; i < ROWS.users; i++) inserts.push(cql.execute(`INSERT INTO ${KS}.users (id, name, age) VALUES (?, ?, ?)`, [`u${i}`, `user ${i}`, 20 + i], { prepare: true }));
  for (let i = 0; i < ROWS.courses; i++) inserts.push(cql.execute(`INSERT INTO ${KS}.courses (id, title) VALUES (?, ?)`, [i, `course ${i}`], { prepare: true }));
  for (let i = 0; i < ROWS.enrolments; i++) {
    inserts.push(cql.execute(`INSERT INTO ${KS}.enrolments (course, cohort, userid, role) VALUES (?, ?, ?, ?)`, ['maths', i % 2, `u${i}`, 'student'], { prepare: true }));
  }
  for (let i = 0; i < 2; i++) inserts.push(cql.execute(`INSERT INTO ${KS}.tmp_import (id, payload) VALUES (?, ?)`, [`t${i}`, 'x'], { prepare: true }));
  await Promise.all(inserts);
  file = configFile('good', [group]);
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

describe('a tables pipeline', () => {
  it('syncs each matching table into its own index, with its byTable settings', async () => {
    const res = await runCli(['sync', '--config', file, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const reports = reportsOf(res.stdout);
    expect(reports.map((r) => [r.pipeline, r.index, r.read, r.indexed, r.failed])).toEqual(TABLES.map((t) => [`tb.${t}`, `tables_${t}`, ROWS[t as keyof typeof ROWS], ROWS[t as keyof typeof ROWS], 0]));
    for (const t of TABLES) expect(await count(`tables_${t}`), t).toBe(ROWS[t as keyof typeof ROWS]);
    // Excluded, and cesync's own state tables (kept in this keyspace) are not synced.
    expect(await indices('tables_*')).toEqual(TABLES.map((t) => `tables_${t}`));
    // The rename of byTable is for users only.
    const user = await es.get<Record<string, unknown>>({ index: 'tables_users', id: 'u1' });
    expect(user._source).toMatchObject({ id: 'u1', fullName: 'user 1', age: 21 });
    expect(user._source).not.toHaveProperty('name');
    const course = await es.get<Record<string, unknown>>({ index: 'tables_courses', id: '1' });
    expect(course._source).toMatchObject({ id: 1, title: 'course 1' });
    // The composite key makes the ids of enrolments.
    const enrolment = await es.search({ index: 'tables_enrolments', size: 10 });
    expect(enrolment.hits.hits.map((h) => h._id).sort()).toEqual(['maths:0:u0', 'maths:0:u2', 'maths:1:u1', 'maths:1:u3']);
  });

  it('finds everything unchanged on a second run, its state tables still left out', async () => {
    const res = await runCli(['sync', '--config', file, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const reports = reportsOf(res.stdout);
    expect(reports.map((r) => r.pipeline)).toEqual(TABLES.map((t) => `tb.${t}`));
    for (const r of reports) expect(r, r.pipeline).toMatchObject({ read: ROWS[r.pipeline.slice(3) as keyof typeof ROWS], indexed: 0, failed: 0, unchanged: r.read });
    const state = await cql.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [KS]);
    expect(state.rows.map((r) => r['table_name'] as string)).toEqual(expect.arrayContaining(['pipeline_state', 'watermarks', 'leases']));
    expect(await indices('tables_*')).toEqual(TABLES.map((t) => `tables_${t}`));
  });

  it('shows each table in status and verify', async () => {
    const status = await runCli(['status', '--config', file, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const rows = (JSON.parse(status.stdout) as { pipelines: { pipeline: string; table: string; index: string; status: string }[] }).pipelines;
    expect(rows.map((r) => [r.pipeline, r.table, r.index, r.status])).toEqual(TABLES.map((t) => [`tb.${t}`, `${KS}.${t}`, `tables_${t}`, 'finished']));
    const text = await runCli(['status', '--config', file]);
    expect(text.stdout).toMatch(/^tb\.courses: finished/m);
    expect(text.stdout).toMatch(/^tb\.users: finished/m);

    const verify = await runCli(['verify', '--config', file, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    const reports = (JSON.parse(verify.stdout) as { reports: { pipeline: string; index: string; inSync: boolean; rowsScanned: number }[] }).reports;
    expect(reports.map((r) => [r.pipeline, r.index, r.inSync, r.rowsScanned])).toEqual(TABLES.map((t) => [`tb.${t}`, `tables_${t}`, true, ROWS[t as keyof typeof ROWS]]));
  });

  it('selects all its tables by its name, one by NAME.TABLE', async () => {
    const all = await runCli(['verify', '--config', file, '--pipeline', 'tb', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(reportsOf(all.stdout).map((r) => r.pipeline)).toEqual(TABLES.map((t) => `tb.${t}`));

    const one = await runCli(['sync', '--config', file, '--pipeline', 'tb.users', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(reportsOf(one.stdout).map((r) => [r.pipeline, r.read, r.unchanged])).toEqual([['tb.users', ROWS.users, ROWS.users]]);

    const status = await runCli(['status', '--config', file, '--pipeline', 'tb.enrolments', 'tb.courses', '--json']);
    expect((JSON.parse(status.stdout) as { pipelines: { pipeline: string }[] }).pipelines.map((r) => r.pipeline)).toEqual(['tb.courses', 'tb.enrolments']);

    // Ids belong to one table: of its pipeline, by NAME.TABLE.
    await cql.execute(`UPDATE ${KS}.enrolments SET role = 'teacher' WHERE course = 'maths' AND cohort = 1 AND userid = 'u3'`);
    const ids = await runCli(['sync', '--config', file, '--pipeline', 'tb.enrolments', '--ids', 'maths:1:u3', '--json']);
    expect(ids.code, ids.stderr).toBe(0);
    expect(reportsOf(ids.stdout)[0]).toMatchObject({ pipeline: 'tb.enrolments', read: 1, indexed: 1 });
    expect((await es.get<Record<string, unknown>>({ index: 'tables_enrolments', id: 'maths:1:u3' }))._source).toMatchObject({ role: 'teacher' });
    const many = await runCli(['sync', '--config', file, '--pipeline', 'tb', '--ids', 'u1']);
    expect(many.code).toBe(2);
    expect(many.stderr).toMatch(/ids belong to one table: name one --pipeline \(this selects tb\.courses, tb\.enrolments, tb\.users\)/);
  });

  it('lists its tables when a name is unknown', async () => {
    const res = await runCli(['sync', '--config', file, '--pipeline', 'tb.tmp_import']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown pipeline tb\.tmp_import \(this configuration has: tb \(tb\.courses, tb\.enrolments, tb\.users\)\)/);
    expect(await indices('tables_*')).toEqual(TABLES.map((t) => `tables_${t}`));
  });

  it('is checked and printed as written by config check and config print', async () => {
    const check = await runCli(['config', 'check', '--config', file]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/configuration is valid: 1 pipeline\(s\): tb \(the tables \* except tmp_\* of keyspace cesync_tables: one pipeline per table, tb\.TABLE\)/);
    const print = await runCli(['config', 'print', '--config', file, '--json']);
    expect(print.code, print.stderr).toBe(0);
    const printed = (JSON.parse(print.stdout) as { pipelines: Record<string, unknown>[] }).pipelines;
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatchObject({ name: 'tb', tables: { include: ['*'], exclude: ['tmp_*'] }, index: 'tables_{table}', byTable: [{ tables: 'users', fields: { name: 'fullName' } }] });
    expect(printed[0]).not.toHaveProperty('table');
  });
});

describe('a tables pipeline that cannot work gives a clear error and writes nothing', () => {
  const cases: { name: string; pipeline: Record<string, unknown>; args?: string[]; message: RegExp; prefix: string }[] = [
    {
      name: 'a pattern that matches no table',
      pipeline: { ...group, name: 'none', tables: 'nothing_*', index: 'tables_none_{table}', byTable: undefined },
      message: /pipeline none: tables: nothing_\* matches no table of keyspace cesync_tables \(its tables: courses, enrolments, tmp_import, users(; cesync's own state tables are never synced)?\)/,
      prefix: 'tables_none_',
    },
    {
      name: 'a pattern in the wrong case',
      pipeline: { ...group, name: 'case', tables: 'Users', index: 'tables_case_{table}', byTable: undefined },
      message: /pipeline case: tables: Users matches no table of keyspace cesync_tables \(table names are matched case-sensitively\)/,
      prefix: 'tables_case_',
    },
    {
      name: 'a selection whose tables are all excluded',
      pipeline: { ...group, name: 'out', tables: { include: ['tmp_*'], exclude: ['tmp_*'] }, index: 'tables_out_{table}', byTable: undefined },
      message: /pipeline out: tables: every table that tmp_\* matches is excluded by tmp_\*/,
      prefix: 'tables_out_',
    },
    {
      name: 'a byTable entry for none of its tables',
      pipeline: { ...group, name: 'by', index: 'tables_by_{table}', byTable: [{ tables: 'user', pageSize: 10 }] },
      message: /pipeline by: byTable\.0\.tables: user matches none of the tables this pipeline syncs \(courses, enrolments, users\)/,
      prefix: 'tables_by_',
    },
    {
      name: 'a keyspace that does not exist',
      pipeline: { ...group, name: 'ks', keyspace: 'cesync_tables_nope', index: 'tables_ks_{table}' },
      message: /pipeline ks: keyspace cesync_tables_nope does not exist \(keyspaces: .*cesync_tables/,
      prefix: 'tables_ks_',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const res = await runCli(['sync', '--config', configFile(c.name.replaceAll(' ', '-'), [c.pipeline])]);
      expect(res.stderr).toMatch(c.message);
      expect(res.code).toBe(2);
      expect(await indices(`${c.prefix}*`)).toEqual([]);
    });
  }

  it('an index without {table}, refused before connecting (config check too)', async () => {
    const bad = configFile('no-template', [{ ...group, name: 'flat', index: 'tables_flat' }]);
    for (const args of [['sync', '--config', bad], ['config', 'check', '--config', bad], ['status', '--config', bad]]) {
      const res = await runCli(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(/pipelines\.0\.index: with tables, index must hold \{table\} \(e\.g\. sunbird_\{table\}\): each table is synced into its own index/);
    }
    expect(await indices('tables_flat*')).toEqual([]);
  });

  it('a table pipeline named like the pipeline of a table', async () => {
    const clash = configFile('clash', [group, { name: 'tb.users', keyspace: KS, table: 'users', index: 'tables_clash' }]);
    const res = await runCli(['sync', '--config', clash]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/pipeline tb: a table's pipeline would be named tb\.users, which is also the name of another pipeline; rename one of them/);
    expect(await indices('tables_clash*')).toEqual([]);
  });
});
