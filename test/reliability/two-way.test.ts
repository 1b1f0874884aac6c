// Two writers at once on a two-way pipeline: random writes to random keys, some to Cassandra
// (USING TIMESTAMP v) and some to Elasticsearch (external version v, and v in the version field),
// with one increasing microsecond clock shared by both, while `cesync watch` runs. When the
// writers stop and watch has caught up, every key holds its newest write, value and version, on
// both sides, a further round in both directions writes nothing, and a change that crosses comes
// back as an echo, counted and not written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from '../integration/harness.js';
import { random, sleep, start, type Running } from './cli.js';
import { printTable, record, scale } from './results.js';

const KS = 'cesync_rel_both';
const INDEX = 'rel_both_kv';
const PIPELINE = 'rel_both_kv';
const WRITES = scale(1_000, 10_000);
const KEYS = 500;
/** How long the writes are spread over, and how long watch gets to catch up afterwards. */
const WRITING_MS = scale(10_000, 60_000);
const SETTLE_MS = scale(30_000, 90_000);
/** Writes in flight at once, over both sides. */
const IN_FLIGHT = 8;
/** Per test, for the full pass. */
const TIMEOUT = scale(180_000, 1_800_000);
const SEED = Number(process.env.CESYNC_RELIABILITY_SEED ?? Date.now() % 2 ** 31);

let cql: cassandra.Client;
let es: EsClient;
let configFile: string;
/** The watch process, stopped in afterAll if a failed check left it running. */
let watcher: Running | undefined;
let clock = Date.now() * 1000;
/** Unique, increasing microsecond versions shared by both writers: no two writes tie. */
const nextVersion = () => (clock = Math.max(clock + 1, Date.now() * 1000));

type Side = 'cassandra' | 'elasticsearch';
type Report = { direction: string; read: number; indexed: number; unchanged: number; failed: number; echoes?: number };

/** The newest acknowledged write of each key, and how long after its version's time it was acknowledged. */
const newest = new Map<string, { v: number; body: string; side: Side; landedMs: number }>();

async function sync(...args: string[]): Promise<Report[]> {
  const res = await runCli(['sync', '--config', configFile, '--pipeline', PIPELINE, '--json', '--quiet', ...args]);
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as { reports: Report[] }).reports;
}

/** Keys whose row or document does not hold the newest write, with what each side holds. */
/** Ids of documents without cesync's digest (written by the test's application writer). */
async function stampless(): Promise<string[]> {
  const ids = [...newest.keys()];
  if (ids.length === 0) return [];
  const res = await es.mget<{ _cesync?: { digest?: string } }>({ index: INDEX, ids, _source_includes: ['_cesync.digest'] });
  return res.docs.filter((d) => 'found' in d && d.found && typeof d._source?._cesync?.digest !== 'string').map((d) => d._id);
}

async function disagreements(): Promise<{ id: string; want: string; landedMs?: number; cassandra: string; elasticsearch: string }[]> {
  const rows = new Map<string, { body: string; v: string; w: string }>();
  const result = await cql.execute(`SELECT id, body, v, writetime(body) AS w FROM ${KS}.kv`, [], { prepare: true, fetchSize: 5000 });
  for (const r of result.rows) rows.set(String(r['id']), { body: String(r['body']), v: String(r['v']), w: String(r['w']) });
  await es.indices.refresh({ index: INDEX });
  const ids = [...newest.keys()];
  const docs = new Map<string, { body?: string; v?: unknown; version?: number }>();
  if (ids.length > 0) {
    const res = await es.mget<{ body: string; v: unknown; _cesync?: { digest?: string } }>({ index: INDEX, ids, _source_includes: ['body', 'v', '_cesync.digest'] });
    for (const d of res.docs) {
      if ('found' in d && d.found) docs.set(d._id, { body: d._source?.body, v: d._source?.v, version: d._version });
    }
  }
  const out: { id: string; want: string; landedMs?: number; cassandra: string; elasticsearch: string }[] = [];
  for (const [id, want] of newest) {
    const row = rows.get(id);
    const doc = docs.get(id);
    const v = String(want.v);
    const rowOk = row !== undefined && row.body === want.body && row.v === v && row.w === v;
    const docOk = doc !== undefined && doc.body === want.body && String(doc.v) === v && String(doc.version) === v;
    if (!rowOk || !docOk) {
      out.push({
        id,
        want: `${want.side} ${v}`,
        landedMs: want.landedMs,
        cassandra: row ? `${row.body} (v ${row.v}, writetime ${row.w})` : 'no row',
        elasticsearch: doc ? `${doc.body} (v ${String(doc.v)}, _version ${doc.version})` : 'no document',
      });
    }
  }
  // Nothing else on either side: only keys that were written exist.
  if (rows.size !== newest.size) out.push({ id: '*', want: `${newest.size} rows`, cassandra: `${rows.size} rows`, elasticsearch: '' });
  const count = (await es.count({ index: INDEX })).count;
  if (count !== newest.size) out.push({ id: '*', want: `${newest.size} documents`, cassandra: '', elasticsearch: `${count} documents` });
  return out;
}

beforeAll(async () => {
  console.log(`two-way: seed ${SEED}, ${WRITES} writes over ${KEYS} keys in ${WRITING_MS} ms`);
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.kv (id text PRIMARY KEY, body text, v bigint)`);
  await deleteIndex(es, INDEX);
  for (const table of ['pipeline_state', 'watermarks']) {
    await cql.execute(`DELETE FROM cesync.${table} WHERE pipeline = ?`, [PIPELINE], { prepare: true }).catch(() => undefined);
  }
  await cql.execute('DELETE FROM cesync.leases WHERE name = ?', [`watch:${PIPELINE}`], { prepare: true }).catch(() => undefined);
  configFile = writeConfig(
    tempDir(),
    rawConfig([
      {
        name: PIPELINE,
        keyspace: KS,
        table: 'kv',
        index: INDEX,
        direction: 'both',
        elasticsearchVersionField: 'v',
        incremental: { safetyLagMs: 300, batchSize: 500 },
      },
    ]),
  );
});

afterAll(async () => {
  if (watcher && !watcher.exited()) {
    watcher.kill('SIGTERM');
    await watcher.done;
  }
  printTable();
  await cql?.shutdown();
  await es?.close();
});

describe('writers on both sides of a two-way pipeline under watch', () => {
  it('every key ends with its newest value and version on both sides, a further sync both ways changes nothing (at most it adds cesync metadata to application documents), echoes are counted as unchanged, verify is in sync', async () => {
    // A full sync both ways of the empty table creates the index and starts both watermarks.
    await sync();
    const watch = (watcher = start(['watch', '--config', configFile, '--pipeline', PIPELINE, '--interval', '200']));

    const rnd = random(SEED);
    const counts = { cassandra: 0, elasticsearch: 0, refused: 0 };
    /** Slowest acknowledgement per side, counted from the write's version (its time). */
    const slowest = { cassandra: 0, elasticsearch: 0 };
    const note = (id: string, v: number, body: string, side: Side) => {
      const landedMs = Date.now() - v / 1000;
      slowest[side] = Math.max(slowest[side], landedMs);
      if ((newest.get(id)?.v ?? 0) < v) newest.set(id, { v, body, side, landedMs });
    };
    const writeOne = async (side: Side, id: string) => {
      const v = nextVersion();
      const body = `${side} ${v}`;
      if (side === 'cassandra') {
        await cql.execute(`UPDATE ${KS}.kv USING TIMESTAMP ? SET body = ?, v = ? WHERE id = ?`, [v, body, v, id], { prepare: true });
      } else {
        // An application writing with external versions: refused (409) when the index already holds a newer one.
        const ok = await es.index({ index: INDEX, id, version: v, version_type: 'external', document: { id, body, v } }).then(
          () => true,
          (e: { meta?: { statusCode?: number } }) => {
            if (e.meta?.statusCode === 409) return false;
            throw e;
          },
        );
        if (!ok) {
          counts.refused += 1;
          return;
        }
      }
      counts[side] += 1;
      note(id, v, body, side);
    };

    // The writes are spread evenly over WRITING_MS, at most IN_FLIGHT at once.
    const began = Date.now();
    const pending = new Set<Promise<void>>();
    for (let k = 0; k < WRITES; k++) {
      const due = began + (k * WRITING_MS) / WRITES;
      if (Date.now() < due) await sleep(due - Date.now());
      while (pending.size >= IN_FLIGHT) await Promise.race(pending);
      const side: Side = rnd() < 0.5 ? 'cassandra' : 'elasticsearch';
      const id = `k${Math.floor(rnd() * KEYS)}`;
      const p = writeOne(side, id).finally(() => pending.delete(p));
      pending.add(p);
      expect(watch.exited(), `watch exited early: ${watch.exited() ? (await watch.done).stderr.slice(-2000) : ''}`).toBe(false);
    }
    await Promise.all(pending);
    const wroteMs = Date.now() - began;
    const written = { ...counts };

    // Settle: watch runs until both sides hold every newest write, or SETTLE_MS passed.
    const settleStart = Date.now();
    let left = await disagreements();
    while (left.length > 0 && Date.now() - settleStart < SETTLE_MS && !watch.exited()) {
      await sleep(250);
      left = await disagreements();
    }
    const settledMs = Date.now() - settleStart;
    watch.kill('SIGTERM');
    const stopped = await watch.done;
    expect(stopped.code, stopped.stderr.slice(-3000)).toBe(0);

    // What watch carried, from its log lines.
    const carried = { 'to-elasticsearch': 0, 'to-cassandra': 0, rounds: 0 };
    for (const line of stopped.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      const l = JSON.parse(line) as { msg?: string; direction?: 'to-elasticsearch' | 'to-cassandra'; indexed?: number };
      if (l.msg === 'changes applied' && l.direction) {
        carried[l.direction] += l.indexed ?? 0;
        carried.rounds += 1;
      }
    }
    console.log(
      `two-way: ${counts.cassandra} writes to Cassandra, ${counts.elasticsearch} to Elasticsearch, ${counts.refused} refused as older (409), ` +
        `${newest.size} keys, written in ${wroteMs} ms; watch carried ${carried['to-elasticsearch']} rows to Elasticsearch and ` +
        `${carried['to-cassandra']} documents to Cassandra in ${carried.rounds} steps with changes; settled ${settledMs} ms after the writers stopped`,
    );

    console.log(`slowest acknowledgement after a write's version: ${Math.round(slowest.cassandra)} ms (Cassandra), ${Math.round(slowest.elasticsearch)} ms (Elasticsearch)`);
    left = await disagreements();
    if (left.length > 0) {
      const status = await runCli(['status', '--config', configFile, '--pipeline', PIPELINE, '--json']);
      console.log(`${left.length} keys differ; state: ${status.stdout}`);
    }
    expect(left.slice(0, 20), `${left.length} keys without their newest write on both sides`).toEqual([]);
    expect(counts.cassandra).toBeGreaterThan(0);
    expect(counts.elasticsearch).toBeGreaterThan(0);

    // Nothing is left for a further round, in either direction: echoes are counted, not written.
    // One kind of write may remain towards the index, and changes nothing but cesync's metadata: a
    // document an application wrote, carried to the table, is written once from its row at the
    // same version with cesync's digest and token (what makes verify cheap), when the row's write
    // time is after the forward watermark. Those documents are exactly the unstamped ones, and
    // their content and version stay as they were (checked below and by the next round).
    await sleep(600);
    const unstamped = new Set([...(await stampless())]);
    const [toEs, toCassandra] = await sync('--since', 'last');
    console.log(`further sync: ${JSON.stringify(toEs)} ${JSON.stringify(toCassandra)}`);
    expect(toEs).toMatchObject({ direction: 'to-elasticsearch', failed: 0 });
    expect(toEs!.indexed, 'only documents an application wrote get cesync metadata').toBeLessThanOrEqual(unstamped.size);
    expect(toEs!.unchanged + toEs!.indexed).toBe(toEs!.read);
    expect((await disagreements()).slice(0, 20), 'the further round changed no content or version').toEqual([]);
    const [again] = await sync('--since', 'last', '--direction', 'to-elasticsearch');
    expect(again).toMatchObject({ indexed: 0, failed: 0 });
    expect(toCassandra).toMatchObject({ direction: 'to-cassandra', indexed: 0, failed: 0 });
    expect(toCassandra!.unchanged).toBe(toCassandra!.echoes);
    expect(toCassandra!.read).toBe(toCassandra!.echoes);

    // Changes that cross come back as echoes: counted as unchanged, never written back.
    const crossing = [...newest.keys()].slice(0, 20);
    for (const id of crossing) await writeOne('cassandra', id);
    await sleep(600);
    const [there, back] = await sync('--since', 'last');
    console.log(`a round of ${crossing.length} changes: ${JSON.stringify(there)} ${JSON.stringify(back)}`);
    expect(there).toMatchObject({ direction: 'to-elasticsearch', read: crossing.length, indexed: crossing.length, failed: 0 });
    expect(back).toMatchObject({ direction: 'to-cassandra', read: crossing.length, indexed: 0, echoes: crossing.length, unchanged: crossing.length, failed: 0 });
    expect((await disagreements()).slice(0, 20)).toEqual([]);

    const verify = await runCli(['verify', '--config', configFile, '--pipeline', PIPELINE, '--content', '--json', '--quiet']);
    const v = (JSON.parse(verify.stdout) as { reports: { inSync: boolean; counts: Record<string, number> }[] }).reports[0]!;
    expect(v, JSON.stringify(v.counts)).toMatchObject({ inSync: true });
    expect(verify.code).toBe(0);

    record({
      suite: 'two-way',
      tried: `${WRITES} writes over ${KEYS} keys under watch: ${written.cassandra} to Cassandra, ${written.elasticsearch} to Elasticsearch, ${written.refused} refused as older`,
      times: WRITES,
      outcome:
        `${newest.size}/${newest.size} keys newest on both sides ${(settledMs / 1000).toFixed(1)} s after the writers stopped ` +
        `(watch carried ${carried['to-elasticsearch']} + ${carried['to-cassandra']}); further sync indexed 0 + 0; ${crossing.length} more changes came back as ${back!.echoes} echoes; verify in sync`,
    });
  }, TIMEOUT);
});
