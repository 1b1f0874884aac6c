// Incremental sync against the real servers: since the last run (a watermark of version and id),
// many rows sharing one timestamp, a run killed mid-way, explicit windows, and a change column
// queried through a Storage-Attached Index.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_incr';
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;
const LAG = 300;

const count = async (index: string) => {
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
};
async function sync(...args: string[]) {
  const res = await runCli(['sync', '--config', configFile, '--json', ...args]);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout).reports[0] as Record<string, unknown> & { read: number; indexed: number };
}
const settle = () => new Promise((r) => setTimeout(r, LAG + 200));
const micros = () => Date.now() * 1000;

async function insertMany(table: string, ids: string[], timestamp: number) {
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map((id) => cql.execute(`INSERT INTO ${KS}.${table} (id, body) VALUES (?, ?) USING TIMESTAMP ?`, [id, `body ${id}`, timestamp], { prepare: true })),
    );
  }
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.events (id text PRIMARY KEY, body text)`);
  await cql.execute(`CREATE TABLE ${KS}.bulk (id text PRIMARY KEY, body text)`);
  await cql.execute(`CREATE TABLE ${KS}.stamped (id text PRIMARY KEY, body text, updated_at timestamp)`);
  for (const i of ['incr_events', 'incr_bulk', 'incr_stamped']) await deleteIndex(es, i);
  const incremental = { safetyLagMs: LAG, batchSize: 100 };
  configFile = writeConfig(
    dir,
    rawConfig(
      [
        { name: 'events', keyspace: KS, table: 'events', index: 'incr_events', incremental },
        { name: 'bulk', keyspace: KS, table: 'bulk', index: 'incr_bulk', incremental },
        { name: 'stamped', keyspace: KS, table: 'stamped', index: 'incr_stamped', changeColumn: 'updated_at', incremental },
      ],
      { state: { store: 'file', path: join(dir, 'state.json') } },
    ),
  );
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

describe('since the last run', () => {
  it('picks up exactly the rows written since, including many written in the same microsecond', async () => {
    await insertMany('events', Array.from({ length: 200 }, (_, i) => `old-${i}`), micros());
    expect(await sync('--pipeline', 'events')).toMatchObject({ mode: 'full', read: 200, indexed: 200 });
    await settle();
    const same = micros();
    await insertMany('events', Array.from({ length: 300 }, (_, i) => `new-${String(i).padStart(3, '0')}`), same);
    await cql.execute(`UPDATE ${KS}.events SET body = 'changed' WHERE id IN ('old-1', 'old-2')`);
    await settle();
    const r = await sync('--pipeline', 'events', '--since', 'last');
    expect(r).toMatchObject({ mode: 'incremental', read: 302, indexed: 302, changeDetection: 'scan' });
    expect(await count('incr_events')).toBe(500);
    expect((await es.get({ index: 'incr_events', id: 'old-1' }))._source).toMatchObject({ body: 'changed' });
    // Nothing new: nothing read.
    expect(await sync('--pipeline', 'events', '--since', 'last')).toMatchObject({ read: 0, indexed: 0 });
  });

  it('loses nothing when a run is killed mid-way among rows sharing one timestamp', async () => {
    await insertMany('bulk', ['seed'], micros());
    await sync('--pipeline', 'bulk'); // full sync: starts the watermark
    await settle();
    const ids = Array.from({ length: 3000 }, (_, i) => `row-${String(i).padStart(4, '0')}`);
    await insertMany('bulk', ids, micros());
    await settle();
    // Slowed down so it can be killed in the middle: 600 documents a second, batches of 100.
    const child = spawn(process.execPath, ['bin/cesync.js', 'sync', '--config', configFile, '--pipeline', 'bulk', '--since', 'last', '--rate', '600', '--quiet'], {
      env: { ...process.env, ...testEnv() },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    while ((await count('incr_bulk')) < 800) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await exited;
    const before = await count('incr_bulk');
    expect(before).toBeLessThan(3001);
    const resumed = await sync('--pipeline', 'bulk', '--since', 'last');
    expect(await count('incr_bulk')).toBe(3001);
    console.log(JSON.stringify({ documentsWhenKilled: before, resumedRunRead: resumed.read, rowsSharingOneTimestamp: ids.length }));
    expect(resumed.read).toBeLessThan(3000);
  });
});

describe('an explicit window', () => {
  it('syncs rows changed in it and leaves the watermark alone', async () => {
    await settle();
    const t0 = Date.now();
    await cql.execute(`UPDATE ${KS}.events SET body = 'window' WHERE id = 'old-3'`);
    await settle();
    const r = await sync('--pipeline', 'events', '--from', new Date(t0 - 1).toISOString(), '--to', new Date(Date.now()).toISOString());
    expect(r).toMatchObject({ read: 1, indexed: 1 });
    // The watermark did not move: "since last" still sees the change (as unchanged now).
    expect(await sync('--pipeline', 'events', '--since', 'last')).toMatchObject({ read: 1, indexed: 0, unchanged: 1 });
  });
});

describe('a change column', () => {
  it('needs its Storage-Attached Index, created only when asked, and then finds changes by query', async () => {
    await cql.execute(`INSERT INTO ${KS}.stamped (id, body, updated_at) VALUES ('a', 'one', toTimestamp(now()))`);
    const refused = await runCli(['sync', '--config', configFile, '--pipeline', 'stamped', '--since', '1h']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/no Storage-Attached Index; create it with --create-index/);
    await settle();
    const r = await sync('--pipeline', 'stamped', '--since', '1h', '--create-index');
    expect(r).toMatchObject({ read: 1, indexed: 1, changeDetection: 'change-column' });
    await cql.execute(`INSERT INTO ${KS}.stamped (id, body, updated_at) VALUES ('b', 'two', toTimestamp(now()))`);
    await settle();
    expect(await sync('--pipeline', 'stamped', '--since', '1h')).toMatchObject({ read: 2, indexed: 1, unchanged: 1 });
  });
});
