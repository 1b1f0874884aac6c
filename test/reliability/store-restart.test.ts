// The stores themselves stopped and started again mid-run, with the project's service scripts:
// Elasticsearch, then Cassandra, under a running full sync, and Elasticsearch under a running
// watch. A run waits for the store (bulk requests are retried with backoff) or stops cleanly with
// exit code 3 and a message that names the store; the next run completes from the saved
// progress, and verify finds no drift.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { startServices, stopServices, type ServiceName } from '../../scripts/services/index.ts';
import { cassandraClient, deleteIndex, esClient, openTestClients, rawConfig, runCli, target, tempDir, writeConfig } from '../integration/harness.js';
import { sleep, start, type Running } from './cli.js';
import { CASE_TIMEOUT_MS, printTable, record, scale } from './results.js';

const KS = 'cesync_rel_restart';
const ROWS = scale(6_000, 30_000);
const PIPELINES = ['es_down', 'cassandra_down', 'watched'] as const;
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;

async function reconnect(): Promise<void> {
  await cql?.shutdown().catch(() => undefined);
  cql = cassandraClient();
  for (let i = 0; ; i++) {
    try {
      await cql.connect();
      return;
    } catch (e) {
      if (i > 60) throw e;
      await sleep(1000);
    }
  }
}

/** Stops a server and starts it again with the project's scripts; how long it was away. */
async function restart(name: ServiceName, downMs: number): Promise<number> {
  const t0 = Date.now();
  await stopServices([name]);
  await sleep(downMs);
  await startServices([name]);
  return Date.now() - t0;
}

async function savedSpans(pipeline: string): Promise<number> {
  const rs = await cql.execute('SELECT state FROM cesync.pipeline_state WHERE pipeline = ?', [pipeline], { prepare: true }).catch(() => undefined);
  const text = rs?.first()?.['state'] as string | undefined;
  return text ? (JSON.parse(text) as { spans: { done: boolean }[] }).spans.filter((s) => s.done).length : 0;
}

async function verifyCounts(pipeline: string): Promise<Record<string, number>> {
  const res = await runCli(['verify', '--config', configFile, '--pipeline', pipeline, '--json', '--quiet']);
  expect([0, 1], res.stderr).toContain(res.code);
  return (JSON.parse(res.stdout).reports[0] as { counts: Record<string, number> }).counts;
}

const inSync = { missing: 0, orphan: 0, stale: 0, different: 0 };

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  for (const p of PIPELINES) {
    await cql.execute(`CREATE TABLE ${KS}.${p} (id int PRIMARY KEY, body text)`);
    const rows = p === 'watched' ? 500 : ROWS;
    for (let i = 0; i < rows; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, rows - i) }, (_, j) => cql.execute(`INSERT INTO ${KS}.${p} (id, body) VALUES (?, ?)`, [i + j, `row ${i + j}`.padEnd(300, '.')], { prepare: true })));
    }
    await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', [p], { prepare: true }).catch(() => undefined);
    await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', [p], { prepare: true }).catch(() => undefined);
    await cql.execute('DELETE FROM cesync.leases WHERE name = ?', [`watch:${p}`], { prepare: true }).catch(() => undefined);
    await deleteIndex(es, `rel_restart_${p}`);
  }
  configFile = writeConfig(
    dir,
    rawConfig(
      PIPELINES.map((p) => ({ name: p, keyspace: KS, table: p, index: `rel_restart_${p}`, pageSize: 500, splits: 32, bulk: { flushBytes: 200_000, concurrency: 2 }, incremental: { safetyLagMs: 300 } })),
    ),
  );
}, 600_000);

afterAll(async () => {
  printTable();
  // Whatever happened, the servers are left running for the suites after this one.
  await startServices(['postgres', 'cassandra', target().service]);
  await cql?.shutdown();
  await es?.close();
});

/** Starts a throttled full sync and waits until it has saved progress of its own. */
async function syncUnderway(pipeline: string): Promise<Running> {
  const run = start(['sync', '--config', configFile, '--pipeline', pipeline, '--quiet', '--rate', String(Math.round(ROWS / 15))]);
  while (!run.exited() && (await savedSpans(pipeline)) === 0) await sleep(200);
  return run;
}

describe('a store stopped and started again mid-run', () => {
  it('Elasticsearch: the sync waits or stops with exit 3; the next run completes; no drift', async () => {
    const run = await syncUnderway('es_down');
    const away = await restart(target().service, 1000);
    es = esClient();
    const first = await run.done;
    expect([0, 3], first.stderr).toContain(first.code);
    if (first.code === 3) expect(first.stderr).toMatch(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:\d+ is (unreachable|overloaded or failing)/);
    const next = await runCli(['sync', '--config', configFile, '--pipeline', 'es_down', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const report = JSON.parse(next.stdout).reports[0] as { read: number; resumedSpans: number };
    await es.indices.refresh({ index: 'rel_restart_es_down' });
    expect((await es.count({ index: 'rel_restart_es_down' })).count).toBe(ROWS);
    expect(await verifyCounts('es_down')).toEqual(inSync);
    record({
      suite: 'store restart',
      tried: `Elasticsearch stopped and started (${(away / 1000).toFixed(0)} s away) under a full sync of ${ROWS} rows`,
      times: 1,
      outcome: `the run ${first.code === 0 ? 'waited and finished (exit 0)' : 'stopped with exit 3'}; next run read ${report.read} rows (resumed ${report.resumedSpans} ranges); ${ROWS} documents; verify: in sync`,
    });
  }, CASE_TIMEOUT_MS);

  it('Cassandra: the sync stops with exit 3 (or finishes); the next run resumes and completes; no drift', async () => {
    const run = await syncUnderway('cassandra_down');
    const saved = await savedSpans('cassandra_down');
    const away = await restart('cassandra', 1000);
    await reconnect();
    const first = await run.done;
    expect([0, 3], first.stderr).toContain(first.code);
    if (first.code === 3) expect(first.stderr).toMatch(/Cassandra at 127\.0\.0\.1[^ ]* is unreachable|Cassandra at/);
    const next = await runCli(['sync', '--config', configFile, '--pipeline', 'cassandra_down', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const report = JSON.parse(next.stdout).reports[0] as { read: number; resumedSpans: number };
    await es.indices.refresh({ index: 'rel_restart_cassandra_down' });
    expect((await es.count({ index: 'rel_restart_cassandra_down' })).count).toBe(ROWS);
    expect(await verifyCounts('cassandra_down')).toEqual(inSync);
    record({
      suite: 'store restart',
      tried: `Cassandra stopped and started (${(away / 1000).toFixed(0)} s away) under a full sync of ${ROWS} rows`,
      times: 1,
      outcome: `the run ${first.code === 0 ? 'finished (exit 0)' : 'stopped with exit 3'} with ${saved}+ ranges saved; next run read ${report.read} rows (resumed ${report.resumedSpans} ranges); verify: in sync`,
    });
  }, CASE_TIMEOUT_MS);

  it('Elasticsearch under watch: watch waits and goes on; changes made meanwhile arrive; no drift', async () => {
    const watch = start(['watch', '--config', configFile, '--pipeline', 'watched', '--interval', '200', '--lease-ttl', '10000', '--log-level', 'warn']);
    while (!watch.exited() && (await es.exists({ index: 'rel_restart_watched', id: '499' }).catch(() => false)) !== true) await sleep(200);
    expect(watch.exited(), 'watch made its first full sync').toBe(false);
    await stopServices([target().service]);
    for (let i = 0; i < 100; i++) await cql.execute(`UPDATE ${KS}.watched SET body = ? WHERE id = ?`, [`changed while Elasticsearch was away ${i}`, i], { prepare: true });
    await sleep(1000);
    expect(watch.exited(), 'watch is still running while Elasticsearch is away').toBe(false);
    await startServices([target().service]);
    es = esClient();
    let counts: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      await sleep(1000);
      counts = await verifyCounts('watched');
      if (Object.values(counts).every((n) => n === 0)) break;
    }
    expect(watch.exited(), 'watch went on after the outage').toBe(false);
    watch.kill('SIGTERM');
    const end = await watch.done;
    expect(end.code, end.stderr).toBe(0);
    expect(counts).toEqual(inSync);
    record({ suite: 'store restart', tried: 'Elasticsearch stopped and started under watch, 100 rows changed meanwhile', times: 1, outcome: 'watch kept running, caught up after the restart, stopped cleanly (exit 0); verify: in sync' });
  }, CASE_TIMEOUT_MS);
});
