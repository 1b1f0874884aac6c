// The CLI as a user runs it: reports, exit codes, and clear errors that write nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from './harness.js';

const KS = 'cesync_cli';
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
const pipeline = { name: 'users', keyspace: KS, table: 'users', index: 'cli_users' };

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text, age text)`);
  for (let i = 0; i < 300; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name, age) VALUES (?, ?, ?)`, [`u${i}`, `user ${i}`, String(i)], { prepare: true });
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

const indexExists = async (index: string) => es.indices.exists({ index });

describe('cesync sync', () => {
  it('syncs, prints a summary, writes the JSON report and exits 0', async () => {
    await deleteIndex(es, 'cli_users');
    const file = writeConfig(dir, rawConfig([pipeline]));
    const report = join(dir, 'report.json');
    const res = await runCli(['sync', '--config', file, '--pipeline', 'users', '--report', report]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/users: read 300, indexed 300, unchanged 0, failed 0/);
    const json = JSON.parse(readFileSync(report, 'utf8')) as { reports: Record<string, unknown>[] };
    expect(json.reports[0]).toMatchObject({ pipeline: 'users', read: 300, indexed: 300, unchanged: 0, failed: 0 });
    expect(json.reports[0]!.durationMs).toEqual(expect.any(Number));
    // Logs are JSON lines when stderr is not a terminal.
    const lines = res.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; pipeline: string });
    expect(lines.map((l) => l.msg)).toEqual(['sync started', 'sync finished']);

    const again = await runCli(['sync', '--pipeline', 'users', '--json'], { CESYNC_CONFIG: file });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).reports[0]).toMatchObject({ read: 300, indexed: 0, unchanged: 300 });
  });

  it('exits 1 and fills the ledger when documents fail', async () => {
    await deleteIndex(es, 'cli_typed');
    await es.indices.create({ index: 'cli_typed', mappings: { properties: { name: { type: 'integer' } } } });
    const ledger = join(dir, 'failures.ndjson');
    const file = writeConfig(dir, rawConfig([{ ...pipeline, name: 'typed', index: 'cli_typed' }], { failureLedger: ledger }));
    const res = await runCli(['sync', '--config', file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/failed 300/);
    const entries = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toHaveLength(300);
    expect(entries[0]).toMatchObject({ pipeline: 'typed', errorClass: 'mapping', attempt: 1 });
  });
});

describe('bad configurations give a clear error and write nothing', () => {
  const cases: { name: string; raw: () => Record<string, unknown>; env?: Record<string, string>; code: number; message: RegExp }[] = [
    {
      name: 'an unknown key',
      raw: () => rawConfig([{ ...pipeline, index: 'cli_bad1', pagesize: 10 }]),
      code: 2,
      message: /pipelines\.0: unknown key "pagesize"/,
    },
    {
      name: 'a value of the wrong type',
      raw: () => rawConfig([{ ...pipeline, index: 'cli_bad2', rangesInFlight: 'four' }]),
      code: 2,
      message: /pipelines\.0\.rangesInFlight: .*expected number/,
    },
    {
      name: 'an unreachable Cassandra',
      raw: () => ({ ...rawConfig([{ ...pipeline, index: 'cli_bad3' }]), cassandra: { ...(rawConfig([]).cassandra as object), contactPoints: ['127.0.0.1:1'] } }),
      code: 3,
      message: /Cassandra at 127\.0\.0\.1:1 is unreachable/,
    },
    {
      name: 'an unreachable Elasticsearch',
      raw: () => rawConfig([{ ...pipeline, index: 'cli_bad4' }]),
      env: { CESYNC_ES_NODE: 'http://127.0.0.1:1' },
      code: 3,
      message: /(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:1 is unreachable/,
    },
    {
      name: 'a wrong password',
      raw: () => rawConfig([{ ...pipeline, index: 'cli_bad5' }]),
      env: { TEST_CASSANDRA_PASSWORD: 'not-the-password-42' },
      code: 3,
      message: /refused the credentials/,
    },
    {
      name: 'a missing table',
      raw: () => rawConfig([{ ...pipeline, table: 'nope', index: 'cli_bad6' }]),
      code: 2,
      message: /table cesync_cli\.nope does not exist/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = writeConfig(dir, c.raw());
      const index = ((c.raw().pipelines as { index: string }[])[0]!).index;
      await deleteIndex(es, index);
      const res = await runCli(['sync', '--config', file], c.env);
      expect(res.stderr).toMatch(c.message);
      expect(res.code).toBe(c.code);
      expect(res.stderr).not.toContain('not-the-password-42');
      expect(await indexExists(index)).toBe(false);
    });
  }

  it('an unknown pipeline name', async () => {
    const file = writeConfig(dir, rawConfig([pipeline]));
    const res = await runCli(['sync', '--config', file, '--pipeline', 'nope']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown pipeline nope \(this configuration has: users\)/);
  });

  it('no configuration at all', async () => {
    const res = await runCli(['sync'], { CESYNC_CONFIG: '' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/no configuration: pass --config FILE or set CESYNC_CONFIG/);
  });
});

describe('cesync config', () => {
  it('prints the effective configuration with secrets redacted', async () => {
    const file = writeConfig(dir, rawConfig([pipeline]));
    const res = await runCli(['config', 'print', '--config', file], { TEST_CASSANDRA_PASSWORD: 'hunter2-secret' });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('password: "***"');
    expect(res.stdout).not.toContain('hunter2-secret');
    expect(res.stdout).toContain('pageSize: 1000');
  });

  it('prints its JSON Schema', async () => {
    const res = await runCli(['config', 'schema']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toHaveProperty('properties.pipelines');
  });

  it('has --help on every command', async () => {
    for (const args of [['--help'], ['sync', '--help'], ['config', '--help'], ['config', 'print', '--help']]) {
      const res = await runCli(args);
      expect(res.code, args.join(' ')).toBe(0);
      expect(res.stdout).toContain('Usage: cesync');
    }
  });

  it('rejects an unknown flag with exit code 2', async () => {
    const res = await runCli(['sync', '--no-such-flag']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("unknown option '--no-such-flag'");
  });
});

