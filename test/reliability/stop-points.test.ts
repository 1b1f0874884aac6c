// SIGTERM and kill -9 at random points of every command that writes: a full sync, a targeted
// sync, a repair, an incremental run and watch. Each case then runs the command once more,
// normally, and counts and compares both stores: every row arrives exactly once, no document of a
// live row is ever deleted (checked after every stop), verify finds no drift, and a full sync
// resumes instead of starting over. The stop points are random (seeded, printed) moments of runs
// slowed by a throttle to a known pace, so they fall all over each run on any machine.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from '../integration/harness.js';
import { random, runAndStop, sleep, start } from './cli.js';
import { expectCleanStop, landed, outcomes, stopPoint as randomStop } from './stops.js';
import { CASE_TIMEOUT_MS, printTable, record, scale } from './results.js';

const KS = 'cesync_rel_stop';
const ROWS = scale(8_000, 20_000);
const STOPS = scale(3, 20);
/** Documents per second of the throttled runs: each run would take about this many seconds. */
const RUN_SECONDS = 5;
const RATE = Math.round(ROWS / RUN_SECONDS);
const SEED = Number(process.env.CESYNC_RELIABILITY_SEED ?? Date.now() % 100_000);
const rnd = random(SEED);
const CASES = ['full', 'ids', 'repair', 'incr', 'watch'] as const;

let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;

const table = (c: string) => `${KS}.t_${c}`;
const index = (c: string) => `rel_stop_${c}`;

async function load(c: string, rows: number): Promise<void> {
  await cql.execute(`CREATE TABLE ${table(c)} (id int PRIMARY KEY, body text, n bigint, tags set<text>)`);
  const insert = `INSERT INTO ${table(c)} (id, body, n, tags) VALUES (?, ?, ?, ?)`;
  for (let i = 0; i < rows; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, rows - i) }, (_, j) => cql.execute(insert, [i + j, `row ${i + j} `.padEnd(200, 'x'), i + j, new Set(['a', `t${(i + j) % 7}`])], { prepare: true })),
    );
  }
}

/** Changes `count` rows behind cesync's back (a newer write time, other content). */
async function change(c: string, ids: readonly number[], tag: string): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(ids.slice(i, i + 500).map((id) => cql.execute(`UPDATE ${table(c)} SET body = ?, n = ? WHERE id = ?`, [`${tag} ${id}`, id * 2, id], { prepare: true })));
  }
}

async function docCount(c: string): Promise<number> {
  await es.indices.refresh({ index: index(c) });
  return (await es.count({ index: index(c) })).count;
}

interface VerifyReport {
  inSync: boolean;
  counts: Record<string, number>;
  ids: Record<string, string[]>;
}

async function verify(c: string): Promise<VerifyReport> {
  const res = await runCli(['verify', '--config', configFile, '--pipeline', c, '--json', '--quiet']);
  expect([0, 1], res.stderr).toContain(res.code);
  return JSON.parse(res.stdout).reports[0] as VerifyReport;
}

/** A random stop of a run of about RUN_SECONDS. */
const stopPoint = (i: number) => randomStop(i, rnd, RUN_SECONDS);

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  for (const c of CASES) {
    await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', [c], { prepare: true }).catch(() => undefined);
    await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', [c], { prepare: true }).catch(() => undefined);
    await cql.execute('DELETE FROM cesync.leases WHERE name = ?', [`watch:${c}`], { prepare: true }).catch(() => undefined);
    await deleteIndex(es, index(c));
    await load(c, c === 'watch' ? Math.round(ROWS / 4) : ROWS);
  }
  configFile = writeConfig(
    dir,
    rawConfig(
      CASES.map((c) => ({
        name: c,
        keyspace: KS,
        table: `t_${c}`,
        index: index(c),
        pageSize: 500,
        splits: 32,
        bulk: { flushBytes: 300_000, concurrency: 2 },
        incremental: { safetyLagMs: 300, batchSize: 1000 },
      })),
      { failureLedger: join(dir, 'failures.ndjson'), maxChanges: 1_000_000 },
    ),
  );
  console.log(`stop points seeded with ${SEED} (CESYNC_RELIABILITY_SEED=${SEED} repeats them)`);
}, 600_000);

afterAll(async () => {
  printTable();
  await cql?.shutdown();
  await es?.close();
});

const spansDone = async (c: string): Promise<number> => {
  const res = await runCli(['status', '--config', configFile, '--json']);
  const p = (JSON.parse(res.stdout).pipelines as { pipeline: string; spansDone?: number; status?: string }[]).find((x) => x.pipeline === c);
  return p?.status === 'finished' ? Infinity : (p?.spansDone ?? 0);
};

describe('stopped at random points, then finished by a normal run', () => {
  it('full sync: resumes, never from zero; every row once; verify in sync', async () => {
    const runs = [];
    let done = 0;
    let loads = 1;
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      const { signal, delayMs } = stopPoint(i);
      const r = await runAndStop(['sync', '--config', configFile, '--pipeline', 'full', '--quiet', '--rate', String(RATE)], signal, delayMs);
      expectCleanStop(r, signal);
      runs.push(r);
      const now = await spansDone('full');
      expect(now, 'saved progress never goes back').toBeGreaterThanOrEqual(done);
      done = now;
      if (done === Infinity && landed(runs) < STOPS) {
        // This initial load got to its end through the stops: check it, then start another.
        expect(await docCount('full')).toBe(ROWS);
        expect((await verify('full')).counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
        await deleteIndex(es, index('full'));
        await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', ['full'], { prepare: true });
        done = 0;
        loads += 1;
      }
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['sync', '--config', configFile, '--pipeline', 'full', '--json']);
    expect(last.code, last.stderr).toBe(0);
    const report = JSON.parse(last.stdout).reports[0] as { read: number; resumedSpans: number };
    if (done !== Infinity && done > 0) expect(report.resumedSpans, 'the finishing run resumed').toBeGreaterThan(0);
    expect(await docCount('full')).toBe(ROWS);
    const v = await verify('full');
    expect(v.counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({
      suite: 'stop points',
      tried: `full sync (${loads} initial loads of ${ROWS} rows) stopped by SIGTERM / kill -9`,
      times: runs.length,
      outcome: `${outcomes(runs)}; saved progress never went back; each load complete and in sync; the last finishing run read ${report.read} of ${ROWS} rows`,
    });
  }, CASE_TIMEOUT_MS);

  it('targeted sync of changed ids: every change arrives; verify in sync', async () => {
    const sync = await runCli(['sync', '--config', configFile, '--pipeline', 'ids', '--quiet']);
    expect(sync.code, sync.stderr).toBe(0);
    const ids = Array.from({ length: Math.round(ROWS / 2) }, (_, i) => i * 2);
    await change('ids', ids, 'changed');
    const file = join(dir, 'ids.csv');
    writeFileSync(file, `${ids.join('\n')}\n`);
    const runs = [];
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      const { signal, delayMs } = stopPoint(i);
      const r = await runAndStop(['sync', '--config', configFile, '--pipeline', 'ids', '--ids-file', file, '--yes', '--quiet', '--rate', String(Math.round(ids.length / RUN_SECONDS))], signal, delayMs);
      expectCleanStop(r, signal);
      runs.push(r);
      expect(await docCount('ids'), 'no document lost').toBe(ROWS);
      if (!r.stopped) await change('ids', ids, `changed again ${i}`); // it finished: new work for the next stop
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['sync', '--config', configFile, '--pipeline', 'ids', '--ids-file', file, '--yes', '--json']);
    expect(last.code, last.stderr).toBe(0);
    const v = await verify('ids');
    expect(v.counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({ suite: 'stop points', tried: `targeted sync of ${ids.length} changed ids stopped by SIGTERM / kill -9`, times: runs.length, outcome: `${outcomes(runs)}; ${ROWS} documents after every stop; verify: in sync` });
  }, CASE_TIMEOUT_MS);

  it('repair: no live document is ever deleted; orphans go; verify in sync', async () => {
    const sync = await runCli(['sync', '--config', configFile, '--pipeline', 'repair', '--quiet']);
    expect(sync.code, sync.stderr).toBe(0);
    const changed = Array.from({ length: Math.round(ROWS / 2) }, (_, i) => i * 2 + 1);
    await change('repair', changed, 'behind cesync');
    const deleted = Array.from({ length: 100 }, (_, i) => i * 40);
    for (const id of deleted) await cql.execute(`DELETE FROM ${table('repair')} WHERE id = ?`, [id], { prepare: true });
    let live = ROWS - deleted.length;
    const livePresent = async () => {
      const total = await docCount('repair');
      const orphans = (await es.count({ index: index('repair'), query: { ids: { values: deleted.map(String) } } })).count;
      return total - orphans;
    };
    // How long a repair takes here, to spread the stop points over it.
    const t0 = Date.now();
    const dry = await runCli(['repair', '--config', configFile, '--pipeline', 'repair', '--dry-run', '--plan', join(dir, 'plan.json'), '--quiet']);
    expect(dry.code, dry.stderr).toBe(0);
    const spanMs = Math.max(1500, (Date.now() - t0) * 2);
    const runs = [];
    let drifts = 1;
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      const signal: NodeJS.Signals = i % 2 === 0 ? 'SIGTERM' : 'SIGKILL';
      const r = await runAndStop(['repair', '--config', configFile, '--pipeline', 'repair', '--yes', '--quiet'], signal, Math.round(200 + rnd() * spanMs));
      expectCleanStop(r, signal);
      runs.push(r);
      expect(await livePresent(), `stop ${i + 1} (${signal}): every live row still has its document`).toBe(live);
      if (!r.stopped) {
        // Repaired to the end: new drift, stale documents and new orphans, for the next stops.
        // (Only rows that still exist: an UPDATE of a deleted row would write it again.)
        const gone = new Set(deleted);
        await change('repair', changed.filter((id) => !gone.has(id)), `behind cesync again ${i}`);
        const more = Array.from({ length: 10 }, (_, j) => (i * 10 + j) * 40 + 1).filter((id) => id < ROWS && !deleted.includes(id));
        for (const id of more) await cql.execute(`DELETE FROM ${table('repair')} WHERE id = ?`, [id], { prepare: true });
        deleted.push(...more);
        live = ROWS - deleted.length;
        drifts += 1;
      }
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['repair', '--config', configFile, '--pipeline', 'repair', '--yes', '--json']);
    expect(last.code, last.stderr).toBe(0);
    expect(await docCount('repair')).toBe(live);
    const v = await verify('repair');
    expect(v.counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({
      suite: 'stop points',
      tried: `repair (${drifts} rounds of ${changed.length} stale documents + orphans, ${deleted.length} rows deleted in all) stopped by SIGTERM / kill -9`,
      times: runs.length,
      outcome: `${outcomes(runs)}; all ${live} live documents present after every stop; orphans removed; verify: in sync`,
    });
  }, CASE_TIMEOUT_MS);

  it('incremental run: no change is lost for later runs; verify in sync', async () => {
    const sync = await runCli(['sync', '--config', configFile, '--pipeline', 'incr', '--quiet']);
    expect(sync.code, sync.stderr).toBe(0);
    const runs = [];
    for (let i = 0; landed(runs) < STOPS && i < 3 * STOPS; i++) {
      // New changes before every stopped run, so each run has work it may be stopped in.
      const ids = Array.from({ length: Math.round(ROWS / 4) }, () => Math.floor(rnd() * ROWS));
      await change('incr', [...new Set(ids)], `round ${i}`);
      await sleep(400); // older than the safety lag
      const { signal, delayMs } = stopPoint(i);
      const r = await runAndStop(['sync', '--config', configFile, '--pipeline', 'incr', '--since', 'last', '--quiet', '--rate', String(Math.round(ROWS / 4 / RUN_SECONDS))], signal, delayMs);
      expectCleanStop(r, signal);
      runs.push(r);
    }
    expect(landed(runs), 'stops that landed mid-run').toBeGreaterThanOrEqual(STOPS);
    const last = await runCli(['sync', '--config', configFile, '--pipeline', 'incr', '--since', 'last', '--json']);
    expect(last.code, last.stderr).toBe(0);
    const v = await verify('incr');
    expect(v.counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({ suite: 'stop points', tried: 'incremental --since last stopped by SIGTERM / kill -9 (changes before each)', times: runs.length, outcome: `${outcomes(runs)}; one finishing --since last; verify: in sync` });
  }, CASE_TIMEOUT_MS);

  it('watch: stopped and restarted while rows change; nothing lost; verify in sync', async () => {
    const rows = Math.round(ROWS / 4);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const id = Math.floor(rnd() * rows);
        await cql.execute(`UPDATE ${table('watch')} SET body = ?, n = ? WHERE id = ?`, [`write ${writes}`, writes, id], { prepare: true });
        writes += 1;
        if (writes % 5 === 0) await sleep(20); // a few hundred writes a second

      }
    })();
    const runs = [];
    try {
      for (let i = 0; i < STOPS; i++) {
        const { signal, delayMs } = stopPoint(i);
        const args = ['watch', '--config', configFile, '--pipeline', 'watch', '--interval', '200', '--lease-ttl', '2000', '--log-level', 'warn'];
        // A watcher killed with kill -9 holds its lease until it expires: the next one waits for it.
        let r = await runAndStop(args, signal, delayMs + 1000);
        for (let tries = 0; r.code === 6 && tries < 20; tries++) {
          await sleep(500);
          r = await runAndStop(args, signal, delayMs + 1000);
        }
        // SIGTERM stops watch cleanly (exit 0); before it has started, as any command (exit 4).
        if (r.sent && signal === 'SIGTERM' && r.code === 4) expect(r.stderr).toMatch(/before anything was started/);
        else if (r.sent && signal === 'SIGTERM' && r.signal === null) expect(r.code, r.stderr).toBe(0);
        else expectCleanStop(r, signal);
        expect(r.sent, 'watch runs until it is stopped').toBe(true);
        runs.push({ ...r, stopped: true });
      }
    } finally {
      writing = false;
      await writer;
    }
    await sleep(400);
    // A last watcher catches up; once it has gone round with nothing left, it is stopped.
    await sleep(2100); // the last kill -9's lease
    const w = start(['watch', '--config', configFile, '--pipeline', 'watch', '--interval', '200', '--lease-ttl', '2000']);
    const caughtUp = Date.now();
    let v: VerifyReport | undefined;
    for (let i = 0; i < 60; i++) {
      await sleep(500);
      v = await verify('watch');
      if (v.inSync) break;
    }
    const catchUpMs = Date.now() - caughtUp;
    w.kill('SIGTERM');
    expect((await w.done).code).toBe(0);
    expect(v!.counts).toEqual({ missing: 0, orphan: 0, stale: 0, different: 0 });
    record({ suite: 'stop points', tried: `watch stopped by SIGTERM / kill -9 while ${writes} writes went on`, times: runs.length, outcome: `${outcomes(runs)}; a restarted watch caught up in ${(catchUpMs / 1000).toFixed(1)} s; verify: in sync` });
  }, CASE_TIMEOUT_MS);
});
