// Composed documents under SIGTERM and kill -9 at random points: a full sync and incremental
// runs of a pipeline whose documents nest the rows of a second table, each enriched by a lookup
// of a third, while nested rows and looked-up rows change between the runs. Each case is then
// finished by a normal run, and both stores are compared: every document present once, and verify
// (by versions and digests of parts, then by content) finds no drift.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from '../integration/harness.js';
import { random, runAndStop, sleep } from './cli.js';
import { CASE_TIMEOUT_MS, printTable, record, scale } from './results.js';
import { expectCleanStop, landed, outcomes, stopPoint } from './stops.js';

const KS = 'cesync_rel_composed';
const INDEX = 'rel_composed';
const PIPELINE = 'composed';
const PARENTS = scale(3_000, 12_000);
const CHILDREN = 3; // nested rows per document
const GROUPS = 50; // looked-up rows
const STOPS = scale(3, 12);
const RUN_SECONDS = 5;
const SEED = Number(process.env.CESYNC_RELIABILITY_SEED ?? Date.now() % 100_000);
const rnd = random(SEED);

let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;
const q = (text: string, params: unknown[] = []) => cql.execute(text, params, { prepare: true });

async function inBatches(n: number, f: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += 400) await Promise.all(Array.from({ length: Math.min(400, n - i) }, (_, j) => f(i + j)));
}

async function verify(...extra: string[]): Promise<Record<string, number>> {
  const res = await runCli(['verify', '--config', configFile, '--json', '--quiet', ...extra]);
  expect([0, 1], res.stderr).toContain(res.code);
  return (JSON.parse(res.stdout).reports[0] as { counts: Record<string, number> }).counts;
}

async function docCount(): Promise<number> {
  await es.indices.refresh({ index: INDEX });
  return (await es.count({ index: INDEX })).count;
}

/** Changes behind cesync's back: nested rows of `n` random documents, and a few looked-up rows. */
async function changeParts(n: number, tag: string): Promise<void> {
  const ids = [...new Set(Array.from({ length: n }, () => Math.floor(rnd() * PARENTS)))];
  await inBatches(ids.length, (i) => q(`UPDATE ${KS}.child SET note = ? WHERE pid = ? AND k = ?`, [`${tag} ${ids[i]}`, ids[i], Math.floor(rnd() * CHILDREN)]));
  for (let g = 0; g < 3; g++) await q(`UPDATE ${KS}.grp SET title = ? WHERE gid = ?`, [`${tag} group`, Math.floor(rnd() * GROUPS)]);
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', [PIPELINE], { prepare: true }).catch(() => undefined);
  await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', [PIPELINE], { prepare: true }).catch(() => undefined);
  await deleteIndex(es, INDEX);
  await q(`CREATE TABLE ${KS}.parent (id int PRIMARY KEY, body text)`);
  await q(`CREATE TABLE ${KS}.child (pid int, k int, gid int, note text, PRIMARY KEY ((pid), k))`);
  await q(`CREATE TABLE ${KS}.grp (gid int PRIMARY KEY, title text)`);
  await inBatches(GROUPS, (g) => q(`INSERT INTO ${KS}.grp (gid, title) VALUES (?, ?)`, [g, `group ${g}`]));
  await inBatches(PARENTS, (i) => q(`INSERT INTO ${KS}.parent (id, body) VALUES (?, ?)`, [i, `parent ${i} `.padEnd(120, 'x')]));
  await inBatches(PARENTS * CHILDREN, (i) => q(`INSERT INTO ${KS}.child (pid, k, gid, note) VALUES (?, ?, ?, ?)`, [Math.floor(i / CHILDREN), i % CHILDREN, (i * 7) % GROUPS, `note ${i}`]));
  configFile = writeConfig(
    dir,
    rawConfig(
      [
        {
          name: PIPELINE,
          keyspace: KS,
          table: 'parent',
          index: INDEX,
          pageSize: 250,
          splits: 32,
          bulk: { flushBytes: 200_000, concurrency: 2 },
          incremental: { safetyLagMs: 300, batchSize: 500 },
          nest: [{ field: 'children', table: 'child', match: { pid: 'id' }, fields: { pid: null }, lookups: [{ table: 'grp', match: { gid: 'gid' }, fields: { title: 'group' } }] }],
        },
      ],
      { failureLedger: join(dir, 'failures.ndjson'), maxChanges: 1_000_000 },
    ),
  );
  console.log(`composed stop points seeded with ${SEED} (CESYNC_RELIABILITY_SEED=${SEED} repeats them)`);
}, 600_000);

afterAll(async () => {
  printTable();
  await cql?.shutdown();
  await es?.close();
});

describe('composed documents stopped at random points, then finished by a normal run', () => {
  it('full sync: every document once, with its parts; verify in sync', async () => {
    const runs = [];
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      const { signal, delayMs } = stopPoint(i, rnd, RUN_SECONDS);
      const r = await runAndStop(['sync', '--config', configFile, '--quiet', '--rate', String(Math.round(PARENTS / RUN_SECONDS))], signal, delayMs);
      expectCleanStop(r, signal);
      runs.push(r);
      if (!r.stopped) await deleteIndex(es, INDEX).then(() => cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', [PIPELINE], { prepare: true }));
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['sync', '--config', configFile, '--json']);
    expect(last.code, last.stderr).toBe(0);
    expect(await docCount()).toBe(PARENTS);
    expect(await verify()).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    expect(await verify('--content')).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({ suite: 'stop points', tried: `composed full sync (${PARENTS} documents of ${1 + CHILDREN} rows + lookups) stopped by SIGTERM / kill -9`, times: runs.length, outcome: `${outcomes(runs)}; every document once; verify (versions, parts, content): in sync` });
  }, CASE_TIMEOUT_MS);

  it('incremental runs while nested and looked-up rows change: nothing lost; verify in sync', async () => {
    const runs = [];
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      await changeParts(Math.round(PARENTS / 3), `round ${i}`);
      await sleep(400); // older than the safety lag
      const { signal, delayMs } = stopPoint(i, rnd, RUN_SECONDS);
      const r = await runAndStop(['sync', '--config', configFile, '--since', 'last', '--quiet', '--rate', String(Math.round(PARENTS / 2 / RUN_SECONDS))], signal, delayMs);
      expectCleanStop(r, signal);
      runs.push(r);
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['sync', '--config', configFile, '--since', 'last', '--json']);
    expect(last.code, last.stderr).toBe(0);
    expect(await docCount()).toBe(PARENTS);
    expect(await verify()).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    expect(await verify('--content')).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({ suite: 'stop points', tried: 'composed --since last stopped by SIGTERM / kill -9 (nested and looked-up rows changed before each)', times: runs.length, outcome: `${outcomes(runs)}; one finishing --since last; verify (versions, parts, content): in sync` });
  }, CASE_TIMEOUT_MS);
});
