// Both directions at once against the real servers: writers on both sides update the same keys
// for a while under `cesync watch`; when they stop and watch catches up, every row and document
// holds the newest version on both sides, and a further round finds nothing to do. A change
// crosses once and comes back as a no-op (an echo).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_both';
const KEYS = 40;
let cql: cassandra.Client;
let es: EsClient;
let configFile: string;
let clock = Date.now() * 1000;
/** Unique, increasing microsecond timestamps shared by both writers (no two writes tie). */
const nextVersion = () => (clock = Math.max(clock + 1, Date.now() * 1000));

async function sync(...args: string[]) {
  const res = await runCli(['sync', '--config', configFile, '--json', ...args]);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout).reports as (Record<string, unknown> & { direction: string; read: number; indexed: number; unchanged: number })[];
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.kv (id text PRIMARY KEY, body text, v bigint)`);
  await cql.execute(`CREATE TABLE ${KS}.echo (id text PRIMARY KEY, body text, v bigint)`);
  for (const i of ['both_kv', 'both_echo']) await deleteIndex(es, i);
  for (const p of ['kv', 'echo']) {
    await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', [p], { prepare: true }).catch(() => undefined);
    await cql.execute('DELETE FROM cesync.pipeline_state WHERE pipeline = ?', [p], { prepare: true }).catch(() => undefined);
  }
  const common = { direction: 'both', elasticsearchVersionField: 'v', incremental: { safetyLagMs: 300, batchSize: 500 } };
  configFile = writeConfig(
    tempDir(),
    rawConfig([
      { name: 'kv', keyspace: KS, table: 'kv', index: 'both_kv', ...common },
      { name: 'echo', keyspace: KS, table: 'echo', index: 'both_echo', ...common },
    ]),
  );
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

describe('echoes', () => {
  it('a change crosses once and comes back as a no-op', async () => {
    const v = nextVersion();
    await cql.execute(`INSERT INTO ${KS}.echo (id, body, v) VALUES ('e1', 'from cassandra', ?) USING TIMESTAMP ?`, [v, v], { prepare: true });
    await new Promise((r) => setTimeout(r, 600));
    const [toEs, toC] = await sync('--pipeline', 'echo', '--since', 'last');
    expect(toEs).toMatchObject({ direction: 'to-elasticsearch', read: 1, indexed: 1 });
    expect(toC).toMatchObject({ direction: 'to-cassandra', indexed: 0, echoes: 1 });
    await new Promise((r) => setTimeout(r, 600));
    const [again] = await sync('--pipeline', 'echo', '--since', 'last', '--direction', 'to-elasticsearch');
    expect(again).toMatchObject({ indexed: 0 });
    const row = (await cql.execute(`SELECT body, writetime(body) AS w FROM ${KS}.echo WHERE id = 'e1'`)).first()!;
    expect(String(row['w'])).toBe(String(v));
  });
});

describe('writers on both sides', () => {
  it('converge on the newest version of every key, on both sides, under watch', async () => {
    await sync('--pipeline', 'kv'); // full sync both ways of the empty table: starts the watermarks
    const watcher = spawn(process.execPath, ['bin/cesync.js', 'watch', '--config', configFile, '--pipeline', 'kv', '--interval', '100'], {
      env: { ...process.env, ...testEnv() },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => watcher.on('exit', r));
    const newest = new Map<string, { v: number; body: string }>();
    const note = (id: string, v: number, body: string) => {
      if ((newest.get(id)?.v ?? 0) < v) newest.set(id, { v, body });
    };
    let writes = 0;
    const until = Date.now() + 6000;
    const writer = async (side: 'cassandra' | 'elasticsearch') => {
      while (Date.now() < until) {
        const id = `k${Math.floor(Math.random() * KEYS)}`;
        const v = nextVersion();
        const body = `${side} ${v}`;
        if (side === 'cassandra') {
          await cql.execute(`UPDATE ${KS}.kv USING TIMESTAMP ? SET body = ?, v = ? WHERE id = ?`, [v, body, v, id], { prepare: true });
        } else {
          // An application writing with external versions: refused (409) when the index already holds newer.
          const ok = await es.index({ index: 'both_kv', id, version: v, version_type: 'external_gte', document: { id, body, v } }).then(
            () => true,
            (e: { meta?: { statusCode?: number } }) => {
              if (e.meta?.statusCode === 409) return false;
              throw e;
            },
          );
          if (!ok) continue;
        }
        note(id, v, body);
        writes += 1;
      }
    };
    await Promise.all([writer('cassandra'), writer('cassandra'), writer('elasticsearch'), writer('elasticsearch')]);

    // Wait until both sides hold the newest write of every key.
    const converged = async () => {
      await es.indices.refresh({ index: 'both_kv' });
      for (const [id, want] of newest) {
        const row = (await cql.execute(`SELECT body, writetime(body) AS w FROM ${KS}.kv WHERE id = ?`, [id], { prepare: true })).first();
        if (!row || row['body'] !== want.body || String(row['w']) !== String(want.v)) return false;
        const doc = await es.get<{ body: string }>({ index: 'both_kv', id }).catch(() => undefined);
        if (!doc || doc._source?.body !== want.body || doc._version !== want.v) return false;
      }
      return true;
    };
    const deadline = Date.now() + 30_000;
    while (!(await converged())) {
      expect(Date.now(), 'both sides hold the newest version of every key').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 250));
    }
    watcher.kill('SIGTERM');
    await exited;
    console.log(JSON.stringify({ writes, keys: newest.size }));
    expect(writes).toBeGreaterThan(1000);

    // Nothing is left for a third round.
    await new Promise((r) => setTimeout(r, 600));
    const third = await sync('--pipeline', 'kv', '--since', 'last');
    expect(third.map((r) => r.indexed)).toEqual([0, 0]);
    const verify = await runCli(['verify', '--config', configFile, '--pipeline', 'kv', '--content', '--json']);
    expect(JSON.parse(verify.stdout).reports[0]).toMatchObject({ inSync: true });
  });
});

describe('a new two-way pipeline', () => {
  it('runs its first sync when no document holds the version field yet (it is not even mapped)', async () => {
    await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.fresh (id text PRIMARY KEY, body text)`);
    await cql.execute(`INSERT INTO ${KS}.fresh (id, body) VALUES ('f1', 'from cassandra')`);
    await deleteIndex(es, 'both_fresh');
    const file = writeConfig(
      tempDir(),
      rawConfig([{ name: 'fresh', keyspace: KS, table: 'fresh', index: 'both_fresh', direction: 'both', elasticsearchVersionField: 'updated_us' }]),
    );
    for (const args of [[], ['--since', 'last']]) {
      const res = await runCli(['sync', '--config', file, '--json', ...args]);
      expect(res.code, res.stderr).toBe(0);
      const [toEs, toC] = JSON.parse(res.stdout).reports as { direction: string; read: number; failed: number }[];
      expect(toEs).toMatchObject({ direction: 'to-elasticsearch', failed: 0 });
      expect(toC).toMatchObject({ direction: 'to-cassandra', read: 0, failed: 0 });
    }
  });
});

describe('the way back', () => {
  it('reads documents acknowledged but not yet searchable (an index refreshed every 30 s)', async () => {
    await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.slow (id text PRIMARY KEY, body text, v bigint)`);
    await deleteIndex(es, 'both_slow');
    await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', ['slow'], { prepare: true }).catch(() => undefined);
    const file = writeConfig(
      tempDir(),
      rawConfig([
        { name: 'slow', keyspace: KS, table: 'slow', index: 'both_slow', direction: 'both', elasticsearchVersionField: 'v', indexSettings: { refresh_interval: '30s' }, incremental: { safetyLagMs: 300 } },
      ]),
    );
    const first = await runCli(['sync', '--config', file, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const v = nextVersion();
    await es.index({ index: 'both_slow', id: 's1', version: v, version_type: 'external', document: { id: 's1', body: 'written in elasticsearch', v } });
    await new Promise((r) => setTimeout(r, 700)); // older than the safety lag, long before the next refresh
    const back = await runCli(['sync', '--config', file, '--json', '--since', 'last', '--direction', 'to-cassandra']);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout).reports[0]).toMatchObject({ direction: 'to-cassandra', read: 1, indexed: 1 });
    const row = (await cql.execute(`SELECT body FROM ${KS}.slow WHERE id = 's1'`)).first();
    expect(row?.['body']).toBe('written in elasticsearch');
  });
});
