// A full sync killed with SIGKILL at several points resumes where it stopped: every row arrives,
// and the resumed runs read far fewer rows than a fresh run.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_resume';
const ROWS = 100_000;
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.rows (id int PRIMARY KEY, body text, n bigint)`);
  const insert = `INSERT INTO ${KS}.rows (id, body, n) VALUES (?, ?, ?)`;
  for (let i = 0; i < ROWS; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, j) => cql.execute(insert, [i + j, `row ${i + j} `.padEnd(120, 'x'), i + j], { prepare: true })));
  }
  await deleteIndex(es, 'resume_rows');
  await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', ['resume'], { prepare: true }).catch(() => undefined);
  // Small bulk requests and pages, so progress is saved many times during the run.
  configFile = writeConfig(
    dir,
    rawConfig([{ name: 'resume', keyspace: KS, table: 'rows', index: 'resume_rows', pageSize: 500, splits: 64, bulk: { flushBytes: 500_000, concurrency: 2 } }]),
  );
}, 300_000);

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

const docCount = async () => (await es.count({ index: 'resume_rows' }).catch(() => ({ count: 0 }))).count;
/**
 * Share of the token ranges the sync has saved as done, across runs (an initial load runs
 * without index refreshes, so counting documents in the index would show nothing until the end).
 */
const doneShare = async () => {
  const row = (await cql.execute('SELECT state FROM cesync.pipeline_state WHERE pipeline = ?', ['resume'], { prepare: true }).catch(() => undefined))?.first();
  if (!row) return 0;
  const spans = (JSON.parse(row['state'] as string) as { spans: { done: boolean }[] }).spans;
  return spans.length ? spans.filter((s) => s.done).length / spans.length : 0;
};

/**
 * Runs `cesync sync` and SIGKILLs it once the saved progress covers `killAt` of the table. The
 * killed runs are throttled (--rate): progress is saved about once a second, so a run of known
 * pace is observed at every step whatever the machine's speed; the kill points are what the test
 * sees in the state store, never guessed times.
 */
async function runAndKill(killAt: number): Promise<{ killed: boolean; countAtKill: number; stderr?: string }> {
  const child = spawn(process.execPath, ['bin/cesync.js', 'sync', '--config', configFile, '--quiet', '--rate', String(Math.round(ROWS / 12))], {
    env: { ...process.env, ...testEnv() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  // Each kill falls after this run made progress of its own, not on what an earlier run saved.
  const before = await doneShare();
  while (!done) {
    const n = await doneShare();
    if (n >= killAt && n > before) {
      child.kill('SIGKILL');
      await exited;
      return { killed: true, countAtKill: n };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { killed: false, countAtKill: await doneShare(), stderr };
}

async function syncJson(args: string[] = []) {
  const res = await runCli(['sync', '--config', configFile, '--json', ...args]);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout).reports[0] as { read: number; indexed: number; unchanged: number; resumedSpans: number; totalSpans: number };
}

it('resumes after kill -9 at several points and loses no row', async () => {
  const kills = [];
  for (const killAt of [0.2, 0.5, 0.8]) {
    const k = await runAndKill(killAt);
    expect(k.killed, `the sync finished before ${killAt * 100}% of the table: ${k.stderr ?? ''}`).toBe(true);
    const status = await runCli(['status', '--config', configFile, '--json']);
    const state = JSON.parse(status.stdout).pipelines[0] as { status: string; spansDone: number; spansTotal: number };
    expect(state.status).toBe('running'); // killed: it never got to say otherwise
    kills.push({ killAt, shareDone: k.countAtKill, spansDone: state.spansDone, spansTotal: state.spansTotal });
  }
  const resumed = await syncJson();
  expect(resumed.resumedSpans).toBeGreaterThan(0);
  await es.indices.refresh({ index: 'resume_rows' });
  expect(await docCount()).toBe(ROWS);
  // The killed initial load left its index without refreshes and replicas; the run that finished put them back.
  const settings = (await es.indices.getSettings({ index: 'resume_rows' })).resume_rows!.settings!.index!;
  expect(settings.refresh_interval).toBeUndefined();
  expect(settings.number_of_replicas).toBe('1');

  const fresh = await syncJson(['--restart']);
  expect(fresh).toMatchObject({ read: ROWS, indexed: 0, unchanged: ROWS, resumedSpans: 0 });
  console.log(JSON.stringify({ kills, resumedRun: { read: resumed.read, resumedSpans: resumed.resumedSpans, totalSpans: resumed.totalSpans }, freshRun: { read: fresh.read } }));
  expect(resumed.read).toBeLessThan(ROWS / 2);

  const status = JSON.parse((await runCli(['status', '--config', configFile, '--json'])).stdout).pipelines[0];
  expect(status).toMatchObject({ status: 'finished' });
});
