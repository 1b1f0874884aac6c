// Bad inputs as a new user gives them: configuration files, flags, id files, ids, and bodies of
// the HTTP API of `cesync serve`. Each must end with an error that names what is wrong, the
// documented exit code (README) or HTTP status and envelope (docs/http-api.md), nothing written
// (the populated indices and the tables unchanged, no document in an index the case names, no
// failure ledger entry) and no secret printed.
// A table of every case and its outcome is printed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { stringify } from 'yaml';
import { onTargetKey, openTestClients, rawConfig, runCli, tempDir, testEnv, type CliResult, target } from './harness.js';

const KS = 'cesync_badinput';
const dir = tempDir();
const LEDGER = join(dir, 'failures.ndjson');
const STATE = join(dir, 'state.json');

// Secrets that must never be printed. Each is distinctive, so finding it anywhere is a leak.
const CASSANDRA_PASSWORD = 'Pw-badinput-4d2f91';
const NUMERIC_PASSWORD = 86420975;
const ES_API_KEY = 'YmFkaW5wdXQ6ZXMta2V5LTcxYjNlOQ==';
const URL_PASSWORD = 'UrlPw-badinput-93c1';
const API_KEY = 'badinput-api-key-5e0c7a2f91d4b6';
const WRONG_KEY = 'badinput-wrong-key-0a9b8c7d6e5f4';
const SHORT_KEY = 'short-k3y';
const SECRETS = [CASSANDRA_PASSWORD, String(NUMERIC_PASSWORD), ES_API_KEY, URL_PASSWORD, API_KEY, WRONG_KEY, SHORT_KEY];
/** The environment of every run: the ES API key is given through ${BADINPUT_ES_API_KEY}. */
const ENV = { BADINPUT_ES_API_KEY: ES_API_KEY };

/** The shared, populated indices: bad inputs must leave them exactly as they are. */
const SHARED = ['badinput_users', 'badinput_enrol', 'badinput_scores'];
const PIPELINES = [
  { name: 'users', keyspace: KS, table: 'users', index: 'badinput_users' },
  { name: 'enrol', keyspace: KS, table: 'enrol', index: 'badinput_enrol' },
  { name: 'scores', keyspace: KS, table: 'scores', index: 'badinput_scores' },
  // Same rows, an index that is never written: the --max-changes guard is tried on it.
  { name: 'fresh', keyspace: KS, table: 'users', index: 'badinput_fresh' },
];

let cql: cassandra.Client;
let es: EsClient;
let goodConfig: string;

/** A configuration as a user writes it, against the test servers, with the ES key from the environment. */
function goodRaw(pipelines: Record<string, unknown>[] = PIPELINES, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return rawConfig(pipelines, {
    // (OpenSearch takes no API keys: there the secret is a password. A server without security ignores either.)
    elasticsearch: target().product === 'opensearch' ? { node: target().node, username: 'cesync', password: '${BADINPUT_ES_API_KEY}' } : { node: target().node, apiKey: '${BADINPUT_ES_API_KEY}' },
    failureLedger: LEDGER,
    state: { store: 'file', path: STATE },
    ...extra,
  });
}

/** The same with the Cassandra password written in the file: for cases refused before connecting. */
function literalRaw(pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const raw = goodRaw(pipelines, extra);
  return { ...raw, cassandra: { ...(raw.cassandra as object), password: CASSANDRA_PASSWORD } };
}

let fileNo = 0;
/** Writes a file of the test directory and returns its path. */
function file(name: string, content: string | Buffer): string {
  const path = join(dir, `${String(++fileNo).padStart(2, '0')}-${name}`);
  writeFileSync(path, content);
  return path;
}
const yamlFile = (name: string, raw: Record<string, unknown>) => file(name, stringify(raw));

// ---------------------------------------------------------------------------------------------
// What "nothing was written" means: the shared indices hold the same documents at the same
// sequence numbers, the tables the same rows, the failure ledger no entry, and the indices a
// case names were not created (or hold nothing).

interface Snapshot {
  readonly indices: Record<string, Record<string, number>>;
  readonly tables: string;
}

async function snapshot(): Promise<Snapshot> {
  const indices: Record<string, Record<string, number>> = {};
  for (const index of SHARED) {
    await es.indices.refresh({ index });
    const res = await es.search({ index, size: 1000, seq_no_primary_term: true, query: { match_all: {} } });
    indices[index] = Object.fromEntries(res.hits.hits.map((h) => [h._id!, h._seq_no!]));
  }
  const rows: string[] = [];
  for (const q of [
    `SELECT id, name, note, updated, writetime(name) AS w FROM ${KS}.users`,
    `SELECT course, cohort, userid, role, writetime(role) AS w FROM ${KS}.enrol`,
    `SELECT id, score, writetime(score) AS w FROM ${KS}.scores`,
  ]) {
    const res = await cql.execute(q);
    rows.push(...res.rows.map((r) => JSON.stringify(r)).sort());
  }
  return { indices, tables: rows.join('\n') };
}

let initial: Snapshot;

/** Documents in an index, or 0 when it does not exist. */
async function docCount(index: string): Promise<number> {
  if (!(await es.indices.exists({ index }))) return 0;
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
}

const ledgerSize = () => (existsSync(LEDGER) ? statSync(LEDGER).size : 0);

function expectNothingWritten(after: Snapshot, ledgerBytes: number): void {
  expect(after.indices, 'the shared indices are unchanged').toEqual(initial.indices);
  expect(after.tables === initial.tables, 'the tables are unchanged').toBe(true);
  expect(ledgerBytes, 'no failure ledger entry').toBe(0);
}

function expectNoSecret(text: string): void {
  for (const s of SECRETS) expect(text.includes(s), `a secret (${s.slice(0, 4)}...) was printed`).toBe(false);
}

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/internal error/);
  expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
}

// ---------------------------------------------------------------------------------------------
// The table of what was tried.

interface Row {
  area: string;
  name: string;
  expected: string;
  got: string;
  result: 'ok' | 'FAILED';
}
const rows: Row[] = [];

/** Runs a case's assertions and records its line of the table, whatever they find. */
async function recorded(row: Omit<Row, 'result'>, assertions: () => Promise<void> | void): Promise<void> {
  try {
    await assertions();
    rows.push({ ...row, result: 'ok' });
  } catch (e) {
    rows.push({ ...row, result: 'FAILED' });
    throw e;
  }
}

/** What a run printed, for the table: the part the case looks for (else the first line), without the temporary directory. */
function shown(text: string, message?: RegExp): string {
  const line = (message && text.match(message)?.[0]) || text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('{"level"')) || '';
  return line.split('\n')[0]!.replaceAll(`${dir}/`, '').replace(/^cesync: /, '').replace(/x{20,}/, 'xxx...');
}

// ---------------------------------------------------------------------------------------------
// CLI cases: each runs the built CLI once; the cases of a group run a few at a time.

interface CliCase {
  readonly name: string;
  readonly args: () => string[];
  readonly env?: Record<string, string>;
  readonly input?: string;
  readonly code: number;
  /** Matched against stderr, or stdout for runs that finish with a report (exit codes 0 and 1). */
  readonly message: RegExp;
  /** Indices the case names that must not have been created (or must be empty). */
  readonly untouched?: readonly string[];
  readonly also?: (r: CliResult) => void;
}

interface Ran {
  readonly result: CliResult;
  readonly counts: Record<string, number>;
}

/** Runs the cases `width` at a time, then records what the stores hold. */
async function runAll(cases: readonly CliCase[], width = 5): Promise<{ ran: Map<string, Ran>; after: Snapshot; ledgerBytes: number }> {
  const ran = new Map<string, Ran>();
  for (let i = 0; i < cases.length; i += width) {
    await Promise.all(
      cases.slice(i, i + width).map(async (c) => {
        const result = await runCli(c.args(), { ...ENV, ...c.env }, c.input);
        const counts: Record<string, number> = {};
        for (const index of c.untouched ?? []) counts[index] = await docCount(index);
        ran.set(c.name, { result, counts });
      }),
    );
  }
  return { ran, after: await snapshot(), ledgerBytes: ledgerSize() };
}

function cliGroup(area: string, cases: () => CliCase[]): void {
  describe(area, () => {
    const list = cases();
    let outcome: Awaited<ReturnType<typeof runAll>>;
    beforeAll(async () => {
      outcome = await runAll(list);
    });
    for (const c of list) {
      it(c.name, async () => {
        const { result, counts } = outcome.ran.get(c.name)!;
        const text = c.code === 0 || c.code === 1 ? result.stdout : result.stderr;
        await recorded({ area, name: c.name, expected: `exit ${c.code}`, got: `exit ${result.code}: ${shown(text, c.message)}` }, () => {
          expect(result.code, `${result.stderr}\n${result.stdout}`.slice(0, 2000)).toBe(c.code);
          expect(text).toMatch(c.message);
          expectNoStackTrace(result.stderr);
          expectNoSecret(result.stdout + result.stderr);
          for (const [index, n] of Object.entries(counts)) expect(n, `${index} holds nothing`).toBe(0);
          expectNothingWritten(outcome.after, outcome.ledgerBytes);
          c.also?.(result);
        });
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text, updated timestamp, note text)`);
  await cql.execute(`CREATE TABLE ${KS}.enrol (course text, cohort int, userid text, role text, PRIMARY KEY ((course, cohort), userid))`);
  await cql.execute(`CREATE TABLE ${KS}.scores (id int PRIMARY KEY, score int)`);
  const inserts: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    inserts.push(cql.execute(`INSERT INTO ${KS}.users (id, name, updated, note) VALUES (?, ?, ?, ?)`, [`u${i}`, `user ${i}`, new Date(), `note ${i}`], { prepare: true }));
    inserts.push(cql.execute(`INSERT INTO ${KS}.enrol (course, cohort, userid, role) VALUES (?, ?, ?, ?)`, ['maths', i % 3, `u${i}`, 'student'], { prepare: true }));
    inserts.push(cql.execute(`INSERT INTO ${KS}.scores (id, score) VALUES (?, ?)`, [i, 10 * i], { prepare: true }));
  }
  await Promise.all(inserts);
  const stale = await es.cat.indices({ index: 'badinput_*', format: 'json', h: 'index' });
  for (const { index } of stale) if (index) await es.indices.delete({ index, ignore_unavailable: true });

  goodConfig = yamlFile('cesync.yaml', goodRaw());
  const populate = await runCli(['sync', '--config', goodConfig, '--pipeline', 'users', 'enrol', 'scores', '--json'], ENV);
  expect(populate.code, populate.stderr).toBe(0);
  initial = await snapshot();
  expect(Object.values(initial.indices).map((docs) => Object.keys(docs).length)).toEqual([10, 10, 10]);
});

afterAll(async () => {
  const width = (k: keyof Row) => Math.min(k === 'got' ? 100 : 60, Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const cell = (r: Row, k: keyof Row) => String(r[k]).slice(0, width(k)).padEnd(width(k));
  const keys: (keyof Row)[] = ['area', 'name', 'expected', 'got', 'result'];
  const header = Object.fromEntries(keys.map((k) => [k, k])) as unknown as Row;
  const lines = [header, ...rows].map((r, i) => `${i === 0 ? ' # ' : String(i).padStart(3)} | ${keys.map((k) => cell(r, k)).join(' | ')}`);
  console.log(`bad inputs: ${rows.length} cases, ${rows.filter((r) => r.result === 'ok').length} as documented\n${lines.join('\n')}`);
  await cql?.shutdown();
  await es?.close();
});

// ---------------------------------------------------------------------------------------------

cliGroup('configuration file', () => {
  const cfg = (name: string, raw: Record<string, unknown>) => () => ['sync', '--config', yamlFile(name, raw), '--pipeline', 'users'];
  const one = (index: string, more: Record<string, unknown> = {}) => [{ ...PIPELINES[0], index, ...more }];
  return [
    {
      name: 'a configuration file that does not exist',
      args: () => ['sync', '--config', join(dir, 'cesync.yml'), '--pipeline', 'users'],
      code: 2,
      message: /cannot read configuration .*cesync\.yml: ENOENT: no such file or directory/,
    },
    {
      name: 'not YAML: a broken line that holds the password',
      args: () => {
        const text = stringify(literalRaw(one('badinput_cfg_yaml'))).replace(`password: ${CASSANDRA_PASSWORD}`, `password: ${CASSANDRA_PASSWORD}: oops`);
        return ['sync', '--config', file('broken.yaml', text), '--pipeline', 'users'];
      },
      code: 2,
      message: /broken\.yaml is not valid YAML: .*\(line \d+, column \d+, near the key "password"\)/,
      untouched: ['badinput_cfg_yaml'],
    },
    {
      name: 'YAML, but a list instead of a mapping',
      args: () => ['sync', '--config', file('list.yaml', '- cassandra\n- pipelines\n')],
      code: 2,
      message: /list\.yaml is invalid:\n {2}- \(top level\): Invalid input: expected object, received array/,
    },
    {
      name: 'an unknown key with a typo (localDatacenter)',
      args: () => {
        const raw = literalRaw(one('badinput_cfg_typo'));
        const { localDataCenter, ...cassandra } = raw.cassandra as Record<string, unknown>;
        return ['sync', '--config', yamlFile('typo.yaml', { ...raw, cassandra: { ...cassandra, localDatacenter: localDataCenter } })];
      },
      code: 2,
      message: /cassandra: unknown key "localDatacenter" \(did you mean "localDataCenter"\?\)/,
      untouched: ['badinput_cfg_typo'],
    },
    {
      name: 'a top-level key with a typo (pipeline for pipelines)',
      args: () => {
        const { pipelines, ...rest } = literalRaw(one('badinput_cfg_pipeline'));
        return ['sync', '--config', yamlFile('pipeline.yaml', { ...rest, pipeline: pipelines })];
      },
      code: 2,
      message: /- pipelines: Invalid input: expected array, received undefined\n {2}- \(top level\): unknown key "pipeline" \(did you mean "pipelines"\?\)/,
      untouched: ['badinput_cfg_pipeline'],
    },
    {
      name: 'a wrong type: the consistency in lower case',
      args: cfg('consistency.yaml', { ...literalRaw(one('badinput_cfg_cl')), cassandra: { ...(literalRaw([]).cassandra as object), consistency: 'local_quorum' } }),
      code: 2,
      message: /cassandra\.consistency: Invalid option: expected one of "ONE"\|"LOCAL_ONE"\|"QUORUM"\|"LOCAL_QUORUM"\|"ALL"/,
      untouched: ['badinput_cfg_cl'],
    },
    {
      name: 'a wrong type: a number in quotes (pageSize: "500")',
      args: cfg('quoted-number.yaml', literalRaw(one('badinput_cfg_quoted', { pageSize: '500' }))),
      code: 2,
      message: /pipelines\.0\.pageSize: Invalid input: expected number, received string/,
      untouched: ['badinput_cfg_quoted'],
    },
    {
      name: 'a wrong type: version neither writetime nor a column',
      args: cfg('version-shape.yaml', literalRaw(one('badinput_cfg_vshape', { version: 'updated' }))),
      code: 2,
      message: /pipelines\.0\.version: expected writetime or \{ column: NAME \}/,
      untouched: ['badinput_cfg_vshape'],
    },
    {
      name: 'a typo inside the version column key (colum)',
      args: cfg('version-typo.yaml', literalRaw(one('badinput_cfg_vtypo', { version: { colum: 'updated' } }))),
      code: 2,
      message: /pipelines\.0\.version: unknown key "colum" \(did you mean "column"\?\)/,
      untouched: ['badinput_cfg_vtypo'],
    },
    {
      name: 'a bad index name (upper case and a space)',
      args: cfg('index-name.yaml', literalRaw(one('Badinput Users'))),
      code: 2,
      message: /pipelines\.0\.index: a lower-case Elasticsearch index name/,
    },
    {
      name: 'a ${ENV} variable that is not set',
      args: cfg('env.yaml', { ...goodRaw(one('badinput_cfg_env')), cassandra: { ...(goodRaw([]).cassandra as object), password: '${BADINPUT_UNSET_PASSWORD}' } }),
      code: 2,
      message: /env\.yaml: cassandra\.password: environment variable BADINPUT_UNSET_PASSWORD is not set \(referenced as \$\{BADINPUT_UNSET_PASSWORD\}\)/,
      untouched: ['badinput_cfg_env'],
    },
    {
      name: 'an int where a string is expected (an unquoted numeric password)',
      args: cfg('int-password.yaml', { ...literalRaw(one('badinput_cfg_int')), cassandra: { ...(literalRaw([]).cassandra as object), password: NUMERIC_PASSWORD } }),
      code: 2,
      message: /cassandra\.password: Invalid input: expected string, received number \(quote the value in YAML to make it a string\)/,
      untouched: ['badinput_cfg_int'],
    },
    {
      name: 'both apiKey and username for Elasticsearch',
      args: cfg('both-auth.yaml', onTargetKey({
        ...literalRaw(one('badinput_cfg_auth')),
        elasticsearch: { node: target().node, apiKey: ES_API_KEY, username: 'elastic', password: CASSANDRA_PASSWORD },
      })),
      code: 2,
      message: /(elasticsearch|opensearch): give either apiKey or username\/password, not both/,
      untouched: ['badinput_cfg_auth'],
    },
    {
      name: 'no pipelines (an empty list)',
      args: () => ['sync', '--config', yamlFile('empty-pipelines.yaml', literalRaw([]))],
      code: 2,
      message: /pipelines: give at least one pipeline \(name, keyspace, table, index\)/,
    },
    {
      name: 'two pipelines with the same name',
      args: () => ['sync', '--config', yamlFile('duplicate.yaml', literalRaw([...one('badinput_cfg_dup1'), ...one('badinput_cfg_dup2')]))],
      code: 2,
      message: /pipelines\.1\.name: pipeline names must be unique: "users" is also the name of pipelines\.0/,
      untouched: ['badinput_cfg_dup1', 'badinput_cfg_dup2'],
    },
    {
      name: 'an api.key shorter than 16 characters (cesync serve)',
      args: () => ['serve', '--config', yamlFile('short-key.yaml', literalRaw(one('badinput_cfg_key'))), '--port', '0'],
      env: { CESYNC_API_KEY: SHORT_KEY },
      code: 2,
      message: /api\.key: at least 16 characters/,
      untouched: ['badinput_cfg_key'],
    },
    {
      name: 'a version column that does not exist',
      args: cfg('version-missing.yaml', goodRaw(one('badinput_cfg_vmissing', { version: { column: 'updatd' } }))),
      code: 2,
      message: /pipeline users: .*updatd.* is not a column of cesync_badinput\.users/,
      untouched: ['badinput_cfg_vmissing'],
    },
    {
      name: 'a version column of the wrong type (text)',
      args: cfg('version-type.yaml', goodRaw(one('badinput_cfg_vtype', { version: { column: 'note' } }))),
      code: 2,
      message: /pipeline users: version column .*note.* is text; .*(timestamp|bigint)/,
      untouched: ['badinput_cfg_vtype'],
    },
    {
      name: 'a table that does not exist in that case ("Users", quoted)',
      args: cfg('table-case.yaml', goodRaw(one('badinput_cfg_table', { table: '"Users"' }))),
      code: 2,
      message: /pipeline users: table cesync_badinput\.Users does not exist/,
      untouched: ['badinput_cfg_table'],
    },
    {
      name: 'a keyspace that does not exist',
      args: cfg('keyspace.yaml', goodRaw(one('badinput_cfg_ks', { keyspace: 'cesync_badinput_nope' }))),
      code: 2,
      message: /pipeline users: keyspace cesync_badinput_nope does not exist \(looking for table cesync_badinput_nope\.users\)/,
      untouched: ['badinput_cfg_ks'],
    },
    {
      name: 'fields mapping a column that does not exist',
      args: cfg('fields.yaml', goodRaw(one('badinput_cfg_fields', { fields: { nmae: 'fullName' } }))),
      code: 2,
      message: /pipeline users: fields: nmae is not a column of cesync_badinput\.users \(columns: id, name, note, updated\)/,
      untouched: ['badinput_cfg_fields'],
    },
    {
      name: 'a password inside the Elasticsearch URL (config print)',
      args: () => ['config', 'print', '--config', yamlFile('url.yaml', onTargetKey({ ...literalRaw(one('badinput_cfg_url')), elasticsearch: { node: `http://elastic:${URL_PASSWORD}@127.0.0.1:9200` } }))],
      code: 0,
      message: /node: http:\/\/elastic:\*\*\*@127\.0\.0\.1:9200/,
      untouched: ['badinput_cfg_url'],
    },
  ];
});

cliGroup('flags', () => {
  const sync = (...args: string[]) => () => ['sync', '--config', goodConfig, ...args];
  return [
    { name: 'an unknown flag with a typo (--pipline)', args: sync('--pipline', 'users'), code: 2, message: /unknown option '--pipline'\n\(Did you mean --pipeline\?\)/ },
    {
      name: 'pipelines as one comma-separated word',
      args: sync('--pipeline', 'users,enrol'),
      code: 2,
      message: /unknown pipeline users,enrol \(this configuration has: users, enrol, scores, fresh\)/,
    },
    { name: '--ids with no value', args: sync('--pipeline', 'users', '--ids'), code: 2, message: /option '--ids <ids>' argument missing/ },
    {
      name: '--ids followed by another flag (--ids --dry-run)',
      args: sync('--pipeline', 'users', '--ids', '--dry-run'),
      code: 2,
      message: /option '--ids <ids>' is missing its value: it got the flag --dry-run/,
    },
    { name: '--ids that is empty', args: sync('--pipeline', 'users', '--ids', ' , '), code: 2, message: /--ids " , " holds no ids/ },
    {
      name: '--since garbage (yesterday)',
      args: sync('--pipeline', 'users', '--since', 'yesterday'),
      code: 2,
      message: /--since "yesterday": expected an ISO time \(2025-01-31T12:00:00Z\), epoch milliseconds, or an age like 30m, 24h, 7d/,
    },
    {
      name: '--since with a year in words (garbage 2021)',
      args: sync('--pipeline', 'users', '--since', 'garbage 2021'),
      code: 2,
      message: /--since "garbage 2021": expected an ISO time/,
    },
    { name: '--since beyond any date', args: sync('--pipeline', 'users', '--since', '99999999999999999'), code: 2, message: /--since "99999999999999999": out of range/ },
    { name: '--since in the future', args: sync('--pipeline', 'users', '--since', '2999-01-01'), code: 2, message: /--since 2999-01-01: 2999-01-01T00:00:00\.000Z is in the future/ },
    {
      name: '--from after --to',
      args: sync('--pipeline', 'users', '--from', '2025-02-01', '--to', '2025-01-01'),
      code: 2,
      message: /--from 2025-02-01 \(2025-02-01T00:00:00\.000Z\) is after --to 2025-01-01 \(2025-01-01T00:00:00\.000Z\)/,
    },
    { name: '--to garbage', args: sync('--pipeline', 'users', '--from', '2025-01-01', '--to', 'banana'), code: 2, message: /--to "banana": expected an ISO time/ },
    {
      name: '--max-changes -1',
      args: sync('--pipeline', 'users', '--ids', 'u1', '--max-changes', '-1'),
      code: 2,
      message: /option '--max-changes <n>' argument '-1' is invalid\. expected a whole number >= 0/,
    },
    {
      name: '--max-changes abc',
      args: sync('--pipeline', 'users', '--ids', 'u1', '--max-changes', 'abc'),
      code: 2,
      message: /option '--max-changes <n>' argument 'abc' is invalid\. expected a whole number >= 0/,
    },
    { name: '--rate 0', args: sync('--pipeline', 'users', '--rate', '0'), code: 2, message: /option '--rate <docs>' argument '0' is invalid\. expected a positive integer/ },
    { name: '--block-size without --sleep', args: sync('--pipeline', 'users', '--ids', 'u1', '--block-size', '10'), code: 2, message: /--block-size and --sleep go together/ },
    {
      name: '--ids and --ids-file together',
      args: sync('--pipeline', 'users', '--ids', 'u1', '--ids-file', join(dir, 'ids.csv')),
      code: 2,
      message: /give --ids or --ids-file, not both/,
    },
    {
      name: 'ids for two pipelines at once',
      args: sync('--pipeline', 'users', 'enrol', '--ids', 'u1'),
      code: 2,
      message: /ids belong to one table: name one --pipeline/,
    },
    {
      name: '--plan without --dry-run (would have written)',
      args: sync('--pipeline', 'fresh', '--plan', join(dir, 'plan.ndjson')),
      code: 2,
      message: /--plan names the plan file of a dry run: add --dry-run/,
      untouched: ['badinput_fresh'],
    },
    {
      name: 'repair --plan of a sync plan (NDJSON, no repair plan)',
      args: () => ['repair', '--config', goodConfig, '--plan', file('sync-plan.ndjson', '{"action":"create","id":"u1","version":1}\n{"action":"unchanged","id":"u2","version":1}\n')],
      code: 2,
      message: /sync-plan\.ndjson is not a repair plan .*: it is the plan of a sync dry run \(cesync sync --dry-run --plan\), which is not applied/,
    },
    {
      name: 'repair --plan of a text file',
      args: () => ['repair', '--config', goodConfig, '--plan', file('notes.txt', 'fix users u1 and u2\n')],
      code: 2,
      message: /notes\.txt is not a repair plan .*: not JSON \(/,
    },
    {
      name: 'repair --plan of a JSON null',
      args: () => ['repair', '--config', goodConfig, '--plan', file('null-plan.json', 'null\n')],
      code: 2,
      message: /null-plan\.json is not a repair plan \(expected "pipeline" and "ids" with missing, orphan, stale, different.*\): it holds null/,
    },
    {
      name: 'repair --plan with ids that are not strings',
      args: () => ['repair', '--config', goodConfig, '--plan', file('typed-plan.json', JSON.stringify({ pipeline: 'users', ids: { missing: [7], orphan: [], stale: [], different: [] } }))],
      code: 2,
      message: /typed-plan\.json is not a repair plan .*: ids\.missing\[0\] is 7, not a document id/,
    },
    { name: 'retry of a ledger that does not exist', args: () => ['retry', join(dir, 'no-ledger.ndjson'), '--config', goodConfig], code: 2, message: /cannot read ledger .*no-ledger\.ndjson: ENOENT/ },
    {
      name: 'retry of a ledger with a line that is not JSON',
      args: () => ['retry', file('torn.ndjson', '{"id":"u1","pipeline":"users","attempt":1}\n{"id":"u2","pipel\n'), '--config', goodConfig],
      code: 2,
      message: /torn\.ndjson:2: not a JSON line; expected a failure entry/,
    },
    {
      name: 'retry of a ledger with a null line',
      args: () => ['retry', file('null.ndjson', 'null\n'), '--config', goodConfig],
      code: 2,
      message: /null\.ndjson:1: not a JSON object; expected a failure entry/,
    },
    {
      name: 'retry of a ledger entry without an id',
      args: () => ['retry', file('no-id.ndjson', '{"pipeline":"users","attempt":1}\n'), '--config', goodConfig],
      code: 2,
      message: /no-id\.ndjson:1: "id" is missing; expected a failure entry/,
    },
    {
      name: 'retry of a ledger of another configuration',
      args: () => ['retry', file('other.ndjson', '{"id":"u1","pipeline":"users"}\n{"id":"u2","pipeline":"gone"}\n'), '--config', goodConfig],
      code: 2,
      message: /other\.ndjson:2: unknown pipeline "gone" \(this configuration has: users, enrol, scores, fresh\)/,
    },
    {
      name: 'retry of more ids than --max-changes',
      args: () => ['retry', file('many.ndjson', ['u1', 'u2', 'u3'].map((id) => JSON.stringify({ id, pipeline: 'fresh', attempt: 1 })).join('\n')), '--config', goodConfig, '--max-changes', '2'],
      code: 5,
      message: /fresh: this sync would change 3 documents .*more than --max-changes 2; nothing was written/,
      untouched: ['badinput_fresh'],
    },
  ];
});

cliGroup('id files and ids', () => {
  const ids = (pipeline: string, path: () => string, ...more: string[]) => () => ['sync', '--config', goodConfig, '--pipeline', pipeline, '--ids-file', path(), ...more];
  const longId = 'x'.repeat(100_000);
  return [
    {
      name: 'CSV: a composite key with a column short',
      args: ids('enrol', () => file('short.csv', 'maths,1\n')),
      code: 1,
      message: /line 1: malformed "maths,1": expected 3 key columns \(course, cohort, userid\), got 2/,
    },
    {
      name: 'CSV: abc for an int key',
      args: ids('scores', () => file('int.csv', '1\nabc\n')),
      code: 1,
      message: /line 2: malformed "abc": id: "abc" is not an int/,
    },
    { name: 'CSV: an empty file', args: ids('users', () => file('empty.csv', '')), code: 2, message: /--ids-file .*empty\.csv holds no ids/ },
    { name: 'CSV: only blank lines, from stdin', args: ids('users', () => '-'), input: '\n\n  \n', code: 2, message: /--ids-file - \(stdin\) holds no ids/ },
    {
      name: 'CSV: a byte order mark',
      args: ids('users', () => file('bom.csv', '\ufeffu1\nu2\n')),
      code: 0,
      message: /users: read 2, indexed 0, unchanged 2, failed 0, deleted 0, missing 0, malformed 0, duplicates 0 /,
      also: (r) => {
        expect(r.stdout).not.toMatch(/line \d+:/);
        expect(r.stdout + r.stderr).not.toContain('\ufeff');
      },
    },
    {
      name: 'CSV: the same id three times',
      args: ids('users', () => file('dups.csv', 'u1\nu1\nu2\nu1\n')),
      code: 0,
      message: /duplicates 2[^\n]*\n {2}line 2: duplicate "u1": same id as line 1\n {2}line 4: duplicate "u1": same id as line 1/,
    },
    {
      name: 'CSV: a huge line (100,000 characters)',
      args: ids('users', () => file('huge.csv', `u1\n${longId}\n`)),
      code: 1,
      message: /line 2: malformed "x{100,}\.\.\. \(100000 characters\)": the document id would be 100000 bytes; Elasticsearch ids are at most 512/,
    },
    {
      name: 'CSV: a header line',
      args: ids('enrol', () => file('header.csv', 'course,cohort,userid\nmaths,1,u1\n')),
      code: 1,
      message: /line 1: malformed "course,cohort,userid": a header line \(the key column names\); id files have none/,
    },
    {
      name: 'CSV: a quote that is never closed',
      args: ids('users', () => file('quote.csv', 'u1\n"u2\n')),
      code: 2,
      message: /cannot read ids from .*quote\.csv: Quote Not Closed: the parsing is finished with an opening quote at line \d+/,
    },
    { name: 'CSV: a file that does not exist', args: ids('users', () => join(dir, 'no-ids.csv')), code: 2, message: /cannot read ids from .*no-ids\.csv: ENOENT/ },
    {
      name: 'an id with too few parts (maths:1)',
      args: () => ['sync', '--config', goodConfig, '--pipeline', 'enrol', '--ids', 'maths:1'],
      code: 1,
      message: /line 1: malformed "maths:1": expected 3 key columns \(course, cohort, userid\), got 2/,
    },
    {
      name: 'an id whose int part is not a number (maths:one:u1)',
      args: () => ['sync', '--config', goodConfig, '--pipeline', 'enrol', '--ids', 'maths:one:u1'],
      code: 1,
      message: /line 1: malformed "maths:one:u1": cohort: "one" is not an int/,
    },
  ];
});

// ---------------------------------------------------------------------------------------------

interface Envelope {
  id: string;
  ver: string;
  params: { resmsgid: string; msgid: string | null; err: string | null; status: string; errmsg: string | null };
  responseCode: string;
  result: { response?: string; counts?: Record<string, number>; outcomes?: Record<string, { status: string; reason?: string }> };
}

describe('HTTP API of cesync serve', () => {
  let server: ChildProcess;
  let url = '';
  let serverOut = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    const ghost = { name: 'ghost', keyspace: KS, table: 'ghost_table', index: 'badinput_ghost' };
    const config = yamlFile('serve.yaml', goodRaw([...PIPELINES, ghost], { api: { maxIds: 5 } }));
    server = spawn(process.execPath, ['bin/cesync.js', 'serve', '--config', config, '--port', '0'], {
      env: { ...process.env, ...testEnv(), ...ENV, CESYNC_API_KEY: API_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout!.on('data', (d) => (serverOut += d));
    server.stderr!.on('data', (d) => (serverOut += d));
    exited = new Promise((resolve) => server.on('close', (code) => resolve(code)));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cesync serve did not start:\n${serverOut}`)), 60_000);
      server.stdout!.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(serverOut);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`cesync serve exited with ${code}:\n${serverOut}`)));
    });
  });

  afterAll(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await exited;
    }
  });

  interface HttpCase {
    readonly name: string;
    readonly body: unknown;
    readonly headers?: Record<string, string | null>;
    readonly method?: string;
    readonly path?: string;
    readonly status: number;
    readonly err: string | null;
    readonly responseCode: string;
    /** Matched against params.errmsg of an error. */
    readonly message?: RegExp;
    readonly also?: (body: Envelope) => void;
  }

  const sync = (objectIds: unknown, objectType: unknown = 'users') => ({ request: { objectType, objectIds } });
  const longId = 'y'.repeat(100_000);
  const cases: HttpCase[] = [
    { name: 'no API key (the key in the query string)', body: sync(['u1']), path: `/api/data/v1/index/sync?api_key=${API_KEY}`, headers: { authorization: null }, status: 401, err: 'UNAUTHORIZED', responseCode: 'UNAUTHORIZED', message: /send the header Authorization: Bearer <api\.key>/ },
    { name: 'the key in an X-API-Key header', body: sync(['u1']), headers: { authorization: null, 'x-api-key': API_KEY }, status: 401, err: 'UNAUTHORIZED', responseCode: 'UNAUTHORIZED', message: /Authorization: Bearer/ },
    { name: 'the key without the Bearer scheme', body: sync(['u1']), headers: { authorization: API_KEY }, status: 401, err: 'UNAUTHORIZED', responseCode: 'UNAUTHORIZED', message: /Authorization: Bearer/ },
    { name: 'a wrong key, with a body that is not even JSON', body: 'not json', headers: { authorization: `Bearer ${WRONG_KEY}` }, status: 401, err: 'UNAUTHORIZED', responseCode: 'UNAUTHORIZED', message: /missing or wrong API key/ },
    { name: 'the key in quotes', body: sync(['u1']), headers: { authorization: `Bearer "${API_KEY}"` }, status: 401, err: 'UNAUTHORIZED', responseCode: 'UNAUTHORIZED', message: /missing or wrong API key/ },
    { name: 'not JSON: single quotes', body: "{'request':{'objectType':'users','objectIds':['u1']}}", status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /the body is not valid JSON/ },
    { name: 'not JSON: a trailing comma', body: '{"request":{"objectType":"users","objectIds":["u1",]}}', status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /the body is not valid JSON/ },
    { name: 'missing objectType (written objecttype)', body: { request: { objecttype: 'users', objectIds: ['u1'] } }, status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectType: expected a string \(the name of a pipeline\), got nothing \(the body has "objecttype": names are case-sensitive\)/ },
    { name: 'an empty objectType', body: sync(['u1'], ''), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectType: must not be empty/ },
    { name: 'an unknown objectType in another case (Users)', body: sync(['u1'], 'Users'), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /unknown objectType "Users" \(known: users, enrol, scores, fresh, ghost\); did you mean "users"\?/ },
    { name: 'objectIds as a comma-separated string', body: sync('u1,u2'), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectIds: expected an array of ids, got a string/ },
    { name: 'objectIds as an object', body: sync({ 0: 'u1' }), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectIds: expected an array of ids, got an object/ },
    { name: 'too many ids (6, api.maxIds 5)', body: sync(['u1', 'u2', 'u3', 'u4', 'u5', 'u6']), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectIds: at most 5 ids in one request \(api\.maxIds\), got 6/ },
    { name: 'ids of the wrong JSON type (null, an object)', body: sync([null, { id: 'u1' }]), status: 400, err: 'INVALID_REQUEST', responseCode: 'CLIENT_ERROR', message: /request\.objectIds\.0: expected a string id, got null; request\.objectIds\.1: expected a string id, got an object/ },
    {
      name: 'ids of the wrong key type (abc for an int key)',
      body: sync(['abc', '1.5'], 'scores'),
      status: 200,
      err: null,
      responseCode: 'OK',
      also: (b) => {
        expect(b.result).toMatchObject({ response: 'PARTIAL_SUCCESS', counts: { requested: 2, read: 0, indexed: 0, malformed: 2 } });
        expect(b.result.outcomes).toEqual({
          abc: { status: 'malformed', reason: 'id: "abc" is not an int' },
          '1.5': { status: 'malformed', reason: 'id: "1.5" is not an int' },
        });
      },
    },
    {
      name: 'an id with the wrong number of parts (maths:1)',
      body: sync(['maths:1'], 'enrol'),
      status: 200,
      err: null,
      responseCode: 'OK',
      also: (b) => expect(b.result.outcomes).toEqual({ 'maths:1': { status: 'malformed', reason: 'expected 3 key columns (course, cohort, userid), got 2' } }),
    },
    {
      name: 'an id of 100,000 characters',
      body: sync([longId]),
      status: 200,
      err: null,
      responseCode: 'OK',
      also: (b) => expect(b.result.outcomes?.[longId]).toEqual({ status: 'malformed', reason: 'the document id would be 100000 bytes; Elasticsearch ids are at most 512' }),
    },
    { name: 'a pipeline whose table does not exist', body: sync(['u1'], 'ghost'), status: 500, err: 'SCHEMA_MISMATCH', responseCode: 'SERVER_ERROR', message: /table cesync_badinput\.ghost_table does not exist/ },
    { name: 'GET instead of POST', body: undefined, method: 'GET', status: 404, err: 'NOT_FOUND', responseCode: 'RESOURCE_NOT_FOUND', message: /no such endpoint: POST \/api\/data\/v1\/index\/sync/ },
  ];

  const answers = new Map<string, { status: number; text: string }>();
  let after: Snapshot;
  let ledgerBytes = 0;
  beforeAll(async () => {
    const ask = async (c: HttpCase) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
      for (const [k, v] of Object.entries(c.headers ?? {})) {
        if (v === null) delete headers[k];
        else headers[k] = v;
      }
      if (c.body === undefined) delete headers['content-type'];
      const res = await fetch(`${url}${c.path ?? '/api/data/v1/index/sync'}`, {
        method: c.method ?? 'POST',
        headers,
        body: c.body === undefined ? undefined : typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
      });
      answers.set(c.name, { status: res.status, text: await res.text() });
    };
    for (let i = 0; i < cases.length; i += 4) await Promise.all(cases.slice(i, i + 4).map(ask));
    after = await snapshot();
    ledgerBytes = ledgerSize();
  });

  for (const c of cases) {
    it(c.name, async () => {
      const { status, text } = answers.get(c.name)!;
      const body = JSON.parse(text) as Envelope;
      await recorded({ area: 'HTTP API', name: c.name, expected: `${c.status} ${c.err ?? 'OK'}`, got: `${status} ${body.params?.err ?? body.responseCode}${body.params?.errmsg ? `: ${shown(body.params.errmsg, c.message)}` : body.result?.outcomes ? `: ${shown(JSON.stringify(body.result.outcomes))}` : ''}` }, async () => {
        expect(status, text.slice(0, 500)).toBe(c.status);
        expect(body).toMatchObject({
          id: 'api.data.sync',
          ver: 'v1',
          params: { err: c.err, status: c.err ? 'failed' : 'success', resmsgid: expect.any(String) },
          responseCode: c.responseCode,
        });
        if (c.err) {
          expect(body.params.errmsg).toMatch(c.message!);
          expect(body.result).toEqual({});
        }
        expectNoSecret(text);
        expectNothingWritten(after, ledgerBytes);
        expect(await docCount('badinput_ghost')).toBe(0);
        c.also?.(body);
      });
    });
  }

  it('logs no secret and stops cleanly on SIGTERM', async () => {
    server.kill('SIGTERM');
    const code = await exited;
    await recorded({ area: 'HTTP API', name: 'the server log after these requests', expected: 'exit 0, no secret', got: `exit ${code}` }, () => {
      expect(code).toBe(0);
      expectNoSecret(serverOut);
      expect(serverOut.toLowerCase()).not.toContain('authorization');
      const requests = serverOut.split('\n').filter((l) => l.startsWith('{') && l.includes('"msg":"request"'));
      expect(requests.length).toBeGreaterThanOrEqual(cases.length);
    });
  });
});

// Checked last: whatever ran above, the stores hold what they held at the start.
describe('after every case', () => {
  it('the shared indices, the tables and the failure ledger are as they were', async () => {
    expectNothingWritten(await snapshot(), ledgerSize());
  });
});
