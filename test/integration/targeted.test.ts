// Sync of given ids, dry runs, the max-changes guard, and retry of a failure ledger, through the
// CLI as a user runs them, against the real servers.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from './harness.js';

const KS = 'cesync_ids';
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;
const ledger = join(dir, 'failures.ndjson');

const reportOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { reports: Record<string, unknown>[] }).reports[0]!;
const count = async (index: string) => {
  if (!(await es.indices.exists({ index }))) return 0; // a run that writes nothing creates no index
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
};

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id uuid PRIMARY KEY, name text, age text)`);
  await cql.execute(`CREATE TABLE ${KS}.enrol (course text, cohort int, userid text, role text, PRIMARY KEY ((course, cohort), userid))`);
  configFile = writeConfig(
    dir,
    rawConfig(
      [
        { name: 'users', keyspace: KS, table: 'users', index: 'ids_users' },
        { name: 'enrol', keyspace: KS, table: 'enrol', index: 'ids_enrol' },
        { name: 'typed', keyspace: KS, table: 'users', index: 'ids_typed' },
      ],
      { failureLedger: ledger, state: { store: 'file', path: join(dir, 'state.json') } },
    ),
  );
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

beforeEach(async () => {
  await cql.execute(`TRUNCATE ${KS}.users`);
  for (let i = 0; i < 20; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name, age) VALUES (?, ?, ?)`, [uuid(i), `user ${i}`, String(20 + i)], { prepare: true });
  for (const index of ['ids_users', 'ids_enrol', 'ids_typed']) await deleteIndex(es, index);
  for (const f of [ledger]) if (existsSync(f)) writeFileSync(f, '');
});

describe('sync of ids from a CSV file', () => {
  it('syncs the good ids and reports malformed, duplicate and missing ones with their lines', async () => {
    const csv = [uuid(1), uuid(2), 'not-a-uuid', '', uuid(1), uuid(99), `${uuid(3)},extra`, uuid(4).toUpperCase()].join('\n');
    const file = join(dir, 'ids.csv');
    writeFileSync(file, `${csv}\n`);
    const report = join(dir, 'r1.json');
    const res = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids-file', file, '--report', report]);
    expect(res.code).toBe(1); // missing and malformed ids are failures of the request
    const r = reportOf(report);
    expect(r).toMatchObject({ mode: 'ids', read: 3, indexed: 3, missing: 1, malformed: 2, duplicates: 1 });
    expect(r.inputProblems).toEqual([
      { line: 3, kind: 'malformed', text: 'not-a-uuid', reason: 'id: "not-a-uuid" is not a uuid' },
      { line: 5, kind: 'duplicate', text: uuid(1), reason: 'same id as line 1' },
      { line: 6, kind: 'missing', text: uuid(99), reason: 'no row with this key' },
      { line: 7, kind: 'malformed', text: `${uuid(3)},extra`, reason: 'expected 1 key column (id), got 2' },
    ]);
    expect(res.stdout).toContain('line 3: malformed "not-a-uuid"');
    expect(await count('ids_users')).toBe(3);
    // An upper-case uuid is the same key: its document id is the canonical form.
    expect((await es.get({ index: 'ids_users', id: uuid(4) })).found).toBe(true);
    const entries = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toEqual([expect.objectContaining({ id: uuid(99), pipeline: 'users', errorClass: 'missing' })]);
  });

  it('reads ids from stdin and from --ids, and composite keys as columns or as document ids', async () => {
    await cql.execute(`INSERT INTO ${KS}.enrol (course, cohort, userid, role) VALUES ('maths', 1, 'u:1', 'student')`);
    await cql.execute(`INSERT INTO ${KS}.enrol (course, cohort, userid, role) VALUES ('maths', 2, 'u2', 'mentor')`);
    let res = await runCli(['sync', '--config', configFile, '--pipeline', 'enrol', '--ids-file', '-', '--json'], {}, 'maths,1,u:1\n');
    expect(res.code).toBe(0);
    expect(await count('ids_enrol')).toBe(1);
    expect((await es.get({ index: 'ids_enrol', id: 'maths:1:u\\:1' }))._source).toMatchObject({ role: 'student' });
    res = await runCli(['sync', '--config', configFile, '--pipeline', 'enrol', '--ids', 'maths:2:u2', '--json']);
    expect(JSON.parse(res.stdout).reports[0]).toMatchObject({ indexed: 1 });
    expect(await count('ids_enrol')).toBe(2);
  });

  it('deletes the documents of ids without a row with --delete-missing, guarded by version', async () => {
    await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', `${uuid(5)},${uuid(6)}`]);
    await cql.execute(`DELETE FROM ${KS}.users WHERE id = ?`, [uuid(5)], { prepare: true });
    const res = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', `${uuid(5)},${uuid(6)}`, '--delete-missing', '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).reports[0]).toMatchObject({ missing: 1, deleted: 1, unchanged: 1 });
    expect(await count('ids_users')).toBe(1);
  });
});

describe('dry run', () => {
  it('writes nothing, and its plan is what the real run then does', async () => {
    // Some documents exist (one of them older than its row), some do not.
    await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', [0, 1, 2, 3].map(uuid).join(',')]);
    await cql.execute(`UPDATE ${KS}.users SET name = 'renamed' WHERE id = ?`, [uuid(2)], { prepare: true });
    const before = await es.search({ index: 'ids_users', size: 100, version: true });
    const ids = [0, 1, 2, 3, 4, 5, 6].map(uuid).join(',');
    const plan = join(dir, 'plan.ndjson');
    const dry = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', ids, '--dry-run', '--plan', plan, '--json']);
    expect(dry.code).toBe(0);
    const planned = JSON.parse(dry.stdout).reports[0] as Record<string, number>;
    expect(planned).toMatchObject({ dryRun: true, created: 3, updated: 1, unchanged: 3, indexed: 0 });
    const lines = readFileSync(plan, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string; id: string });
    expect(lines.filter((l) => l.action === 'update').map((l) => l.id)).toEqual([uuid(2)]);
    expect(lines.filter((l) => l.action === 'create').map((l) => l.id).sort()).toEqual([4, 5, 6].map(uuid));
    const after = await es.search({ index: 'ids_users', size: 100, version: true });
    expect(after.hits.hits.map((h) => [h._id, h._version])).toEqual(before.hits.hits.map((h) => [h._id, h._version]));

    const real = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', ids, '--json']);
    expect(JSON.parse(real.stdout).reports[0]).toMatchObject({ created: planned.created, updated: planned.updated, unchanged: planned.unchanged, indexed: 4 });
  });

  it('of a full sync creates no index and writes nothing', async () => {
    const res = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--dry-run', '--plan', join(dir, 'full-plan.ndjson'), '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).reports[0]).toMatchObject({ dryRun: true, read: 20, created: 20 });
    expect(await es.indices.exists({ index: 'ids_users' })).toBe(false);
  });
});

describe('the max-changes guard', () => {
  it('stops before writing anything, and --yes goes on', async () => {
    const ids = [0, 1, 2, 3, 4].map(uuid).join(',');
    const res = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', ids, '--max-changes', '3']);
    expect(res.code).toBe(5);
    expect(res.stderr).toContain('would change 5 documents');
    expect(res.stderr).toContain('nothing was written');
    expect(await count('ids_users')).toBe(0);
    const yes = await runCli(['sync', '--config', configFile, '--pipeline', 'users', '--ids', ids, '--max-changes', '3', '--yes']);
    expect(yes.code).toBe(0);
    expect(await count('ids_users')).toBe(5);
  });
});

describe('retry', () => {
  it('re-syncs exactly the ledger ids after the data is fixed, and writes what still fails to a new ledger', async () => {
    // `age` is an integer in this index: rows with a non-numeric age are rejected.
    await es.indices.create({ index: 'ids_typed', mappings: { properties: { age: { type: 'integer' } } } });
    await cql.execute(`UPDATE ${KS}.users SET age = 'unknown' WHERE id = ?`, [uuid(7)], { prepare: true });
    await cql.execute(`UPDATE ${KS}.users SET age = 'n/a' WHERE id = ?`, [uuid(8)], { prepare: true });
    const full = await runCli(['sync', '--config', configFile, '--pipeline', 'typed', '--json']);
    expect(full.code).toBe(1);
    expect(JSON.parse(full.stdout).reports[0]).toMatchObject({ read: 20, indexed: 18, failed: 2 });
    const entries = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.map((e) => e.id).sort()).toEqual([uuid(7), uuid(8)]);
    expect(entries[0]).toMatchObject({ pipeline: 'typed', errorClass: 'mapping', attempt: 1 });

    await cql.execute(`UPDATE ${KS}.users SET age = '27' WHERE id = ?`, [uuid(7)], { prepare: true });
    const out = join(dir, 'still-failing.ndjson');
    const retry = await runCli(['retry', ledger, '--config', configFile, '--out', out, '--json']);
    expect(retry.code).toBe(1);
    expect(JSON.parse(retry.stdout).reports[0]).toMatchObject({ mode: 'retry', read: 2, indexed: 1, failed: 1 });
    expect((await es.get({ index: 'ids_typed', id: uuid(7) }))._source).toMatchObject({ age: '27' });
    const still = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(still).toEqual([expect.objectContaining({ id: uuid(8), attempt: 2, errorClass: 'mapping' })]);
  });
});
