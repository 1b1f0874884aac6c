// A 429 storm and slow answers between cesync and Elasticsearch. An HTTP proxy in front of the
// real node answers a share of bulk requests with a whole 429 without forwarding them, turns a
// share of the items of other (forwarded, so really written) bulk requests into item-level 429s,
// and delays answers. Full and incremental syncs through it end with every row in the index and
// nothing in the failure ledger; a storm that outlasts the retry budget stops the run with exit
// code 3, and the progress it saved is kept by the next run.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import {
  Agent,
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig, target } from '../integration/harness.js';
import { random, sleep } from './cli.js';
import { printTable, record, scale } from './results.js';

const KS = 'cesync_rel_storm';
const ROWS = scale(20_000, 100_000);
const CHANGES = scale(2_000, 5_000);
const SPLITS = 64;
/** Per test: a full pass sends thousands of bulk requests through the storm. */
const TIMEOUT = scale(180_000, 1_800_000);
const SEED = Number(process.env.CESYNC_RELIABILITY_SEED ?? Date.now() % 2 ** 31);

/** The weather of the proxy, per bulk request. */
interface Storm {
  /** Share of bulk requests answered with a whole 429, not forwarded. */
  readonly whole: number;
  /** Share of forwarded bulk requests whose answer carries item-level 429s ... */
  readonly itemRequests: number;
  /** ... and the share of the written items of such an answer turned into 429s. */
  readonly items: number;
  /** Share of bulk answers delayed, by a time drawn from `delayMs`. */
  readonly slow: number;
  readonly delayMs: readonly [number, number];
}

const CALM: Storm = { whole: 0, itemRequests: 0, items: 0, slow: 0, delayMs: [0, 0] };
/** A storm a run gets through: whole 429s on 30% of bulk requests, item 429s, slow answers. */
const STORM: Storm = { whole: 0.3, itemRequests: 0.1, items: 0.1, slow: 0.3, delayMs: [200, 800] };
/** Every bulk request refused, for as long as it lasts. */
const TOTAL: Storm = { whole: 1, itemRequests: 0, items: 0, slow: 0, delayMs: [0, 0] };

interface Counts {
  /** Bulk requests received. */
  bulk: number;
  /** Bulk requests forwarded to Elasticsearch. */
  forwarded: number;
  /** Bulk requests answered with a whole 429. */
  whole429: number;
  /** Items that Elasticsearch wrote but that were answered as 429. */
  item429: number;
  /** Items written and answered as written. */
  acked: number;
  /** Bulk answers delayed. */
  delayed: number;
}

const REJECTED = { type: 'es_rejected_execution_exception', reason: 'rejected execution (storm)' };
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'];

interface StormProxy {
  readonly url: string;
  storm: Storm;
  readonly counts: Counts;
  /** Ids answered as 429 and not sent again since: each must be written again. */
  readonly owed: Set<string>;
  /** Called after each forwarded bulk answer. */
  onAnswer: (counts: Readonly<Counts>) => void;
  close(): Promise<void>;
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  for (const h of HOP_BY_HOP) delete out[h];
  return out;
}

/** A body in whatever encoding it came (the bulk helper may compress, and servers may too). */
function decode(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      return body;
  }
}

/** The whole body of a request or response. */
const readAll = (stream: IncomingMessage): Promise<Buffer> => buffer(stream);

/** An HTTP proxy in front of Elasticsearch with bad weather for `_bulk` requests. */
function stormProxy(target: URL, seed: number): Promise<StormProxy> {
  const rnd = random(seed);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const counts: Counts = { bulk: 0, forwarded: 0, whole429: 0, item429: 0, acked: 0, delayed: 0 };
  const upstreamOptions = (req: IncomingMessage, body: Buffer, extra: OutgoingHttpHeaders = {}) => {
    const headers = { ...withoutHopByHop(req.headers), host: target.host, ...extra };
    if (body.length > 0) headers['content-length'] = body.length;
    else delete headers['content-length'];
    return { host: target.hostname, port: Number(target.port), method: req.method, path: req.url, headers, agent };
  };

  const proxy: StormProxy = {
    url: '',
    storm: CALM,
    counts,
    owed: new Set(),
    onAnswer: () => undefined,
    close: async () => undefined,
  };

  const passThrough = (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    const up = request(upstreamOptions(req, body), (answer) => {
      res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  };

  const bulk = async (req: IncomingMessage, body: Buffer, res: ServerResponse) => {
    counts.bulk += 1;
    const storm = proxy.storm;
    const delay = rnd() < storm.slow ? storm.delayMs[0] + rnd() * (storm.delayMs[1] - storm.delayMs[0]) : 0;
    if (delay > 0) counts.delayed += 1;
    if (rnd() < storm.whole) {
      counts.whole429 += 1;
      await sleep(delay);
      const text = JSON.stringify({ error: REJECTED, status: 429 });
      res.writeHead(429, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-elastic-product': 'Elasticsearch' });
      res.end(text);
      return;
    }
    // The request body goes on as it came (compressed or not); the answer is asked for plain.
    const answer = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const up = request(upstreamOptions(req, body, { 'accept-encoding': 'identity' }), (a) => {
        readAll(a).then((b) => resolve({ status: a.statusCode ?? 502, headers: a.headers, body: b }), reject);
      });
      up.on('error', reject);
      up.end(body);
    });
    let payload = decode(answer.body, answer.headers['content-encoding'] as string | undefined);
    if (answer.status === 200) {
      type Item = { _id?: string; status: number; result?: string; error?: unknown };
      const json = JSON.parse(payload.toString('utf8')) as { errors?: boolean; items?: Record<string, Item>[] };
      const storming = rnd() < storm.itemRequests;
      let changed = false;
      for (const entry of json.items ?? []) {
        const item = Object.values(entry)[0]!;
        // Sent again and answered by Elasticsearch: written, or refused as already there (409).
        if (item._id !== undefined) proxy.owed.delete(item._id);
        if (item.status >= 300) continue;
        if (storming && rnd() < storm.items) {
          // Written by Elasticsearch, answered as refused: cesync must write it again.
          item.status = 429;
          delete item.result;
          item.error = REJECTED;
          counts.item429 += 1;
          if (item._id !== undefined) proxy.owed.add(item._id);
          changed = true;
        } else counts.acked += 1;
      }
      if (changed) {
        json.errors = true;
        payload = Buffer.from(JSON.stringify(json));
      }
    }
    counts.forwarded += 1;
    proxy.onAnswer(counts);
    await sleep(delay);
    const headers = withoutHopByHop(answer.headers);
    delete headers['content-encoding'];
    headers['content-length'] = payload.length;
    res.writeHead(answer.status, headers);
    res.end(payload);
  };

  const server = createServer((req, res) => {
    readAll(req)
      .then((body) => {
        const path = new URL(req.url ?? '/', 'http://proxy').pathname;
        if (path === '/_bulk' || path.endsWith('/_bulk')) return bulk(req, body, res);
        passThrough(req, body, res);
      })
      .catch(() => res.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      Object.assign(proxy, {
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
            agent.destroy();
          }),
      });
      resolve(proxy);
    });
  });
}

let cql: cassandra.Client;
let es: EsClient;
let proxy: StormProxy;
const dir = tempDir();
const ledger = join(dir, 'failures.ndjson');
let viaProxy: string;
/** The same, with smaller bulk requests: an incremental run of a few thousand rows sends many. */
let viaProxySmall: string;
let direct: string;
/** What each row holds (name, score), as its document should show it. */
const expected = new Map<number, { name: string; score: number }>();

const pipeline = (name: string, index: string, flushBytes: number) => ({
  name,
  keyspace: KS,
  table: 'rows',
  index,
  splits: SPLITS,
  bulk: { flushBytes, concurrency: 4 },
  incremental: { safetyLagMs: 1000, batchSize: 500 },
});
const PIPELINES = [
  pipeline('rel_storm_calm', 'rel_storm_calm', 200_000),
  pipeline('rel_storm_rows', 'rel_storm_rows', 200_000),
  pipeline('rel_storm_total', 'rel_storm_total', 50_000),
];

type Report = { read: number; indexed: number; unchanged: number; failed: number; durationMs: number; resumedSpans: number; totalSpans: number };

/** Writes a configuration file into a directory of its own (writeConfig names it cesync.yaml). */
function configFile(name: string, raw: Record<string, unknown>): string {
  const sub = join(dir, name);
  mkdirSync(sub, { recursive: true });
  return writeConfig(sub, raw);
}

async function cli(config: string, args: string[]) {
  const started = Date.now();
  const res = await runCli([...args, '--config', config]);
  return { ...res, wallMs: Date.now() - started };
}

async function sync(config: string, name: string, ...args: string[]) {
  const res = await cli(config, ['sync', '--pipeline', name, '--json', '--quiet', ...args]);
  const reports = res.code === 0 || res.code === 1 ? (JSON.parse(res.stdout) as { reports: Report[] }).reports : [];
  return { ...res, report: reports[0] };
}

async function verify(name: string) {
  const res = await cli(direct, ['verify', '--pipeline', name, '--json', '--quiet']);
  const report = (JSON.parse(res.stdout) as { reports: { inSync: boolean; counts: Record<string, number> }[] }).reports[0]!;
  return { code: res.code, ...report };
}

async function indexCount(index: string): Promise<number> {
  await es.indices.refresh({ index });
  return (await es.count({ index })).count;
}

const ledgerLines = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').filter((l) => l.trim() !== '').length : 0);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const delta = (before: Counts, after: Counts): Counts => ({
  bulk: after.bulk - before.bulk,
  forwarded: after.forwarded - before.forwarded,
  whole429: after.whole429 - before.whole429,
  item429: after.item429 - before.item429,
  acked: after.acked - before.acked,
  delayed: after.delayed - before.delayed,
});

beforeAll(async () => {
  console.log(`storm: seed ${SEED}, ${ROWS} rows`);
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.rows (id int PRIMARY KEY, name text, score int, body text)`);
  for (const p of PIPELINES) {
    await deleteIndex(es, p.index);
    for (const table of ['pipeline_state', 'watermarks']) {
      await cql.execute(`DELETE FROM cesync.${table} WHERE pipeline = ?`, [p.name], { prepare: true }).catch(() => undefined);
    }
    await cql.execute('DELETE FROM cesync.leases WHERE name = ?', [`watch:${p.name}`], { prepare: true }).catch(() => undefined);
  }
  const body = 'storm '.repeat(16);
  const insert = `INSERT INTO ${KS}.rows (id, name, score, body) VALUES (?, ?, ?, ?)`;
  for (let i = 0; i < ROWS; i += 500) {
    const ids = Array.from({ length: Math.min(500, ROWS - i) }, (_, j) => i + j);
    await Promise.all(ids.map((id) => cql.execute(insert, [id, `name ${id}`, id % 1000, body], { prepare: true })));
    for (const id of ids) expected.set(id, { name: `name ${id}`, score: id % 1000 });
  }
  proxy = await stormProxy(new URL(target().node), SEED);
  // At 30% whole refusals the chance that one request meets six in a row (the default budget of
  // five retries) is 0.07%, and a run sends hundreds of requests: the budget is raised for the
  // storm a run is meant to get through. The total storm below uses a small one.
  viaProxy = configFile('proxy', rawConfig(PIPELINES, { failureLedger: ledger, elasticsearch: { node: proxy.url, maxRetries: 10 } }));
  viaProxySmall = configFile(
    'proxy-small',
    rawConfig(
      PIPELINES.map((p) => ({ ...p, bulk: { ...p.bulk, flushBytes: 50_000 } })),
      { failureLedger: ledger, elasticsearch: { node: proxy.url, maxRetries: 10 } },
    ),
  );
  direct = configFile('direct', rawConfig(PIPELINES, { failureLedger: ledger, elasticsearch: { node: target().node } }));
});

afterAll(async () => {
  printTable();
  await proxy?.close();
  await cql?.shutdown();
  await es?.close();
});

describe('a 429 storm with slow answers', () => {
  it('full sync: exit 0, every row in the index, items answered 429 written again, verify in sync, an empty ledger, and the storm really happened', async () => {
    const calm = await sync(direct, 'rel_storm_calm');
    expect(calm.code, calm.stderr).toBe(0);
    expect(calm.report).toMatchObject({ read: ROWS, indexed: ROWS, failed: 0 });

    proxy.storm = STORM;
    const before = { ...proxy.counts };
    const stormy = await sync(viaProxy, 'rel_storm_rows');
    proxy.storm = CALM;
    const seen = delta(before, proxy.counts);
    console.log(
      `storm full sync: ${secs(stormy.wallMs)} (report ${secs(stormy.report?.durationMs ?? 0)}) against ${secs(calm.wallMs)} ` +
        `(report ${secs(calm.report!.durationMs)}) unthrottled; indexed ${stormy.report?.indexed}, unchanged ${stormy.report?.unchanged}; ${JSON.stringify(seen)}`,
    );
    expect(stormy.code, stormy.stderr).toBe(0);
    // A creation written again after its first write was answered 429 may meet itself: unchanged.
    expect(stormy.report).toMatchObject({ read: ROWS, failed: 0 });
    expect(stormy.report!.indexed + stormy.report!.unchanged).toBe(ROWS);
    expect(await indexCount('rel_storm_rows')).toBe(ROWS);
    expect(ledgerLines()).toBe(0);
    const v = await verify('rel_storm_rows');
    expect(v, JSON.stringify(v.counts)).toMatchObject({ code: 0, inSync: true });
    expect(seen.whole429, 'whole 429s sent').toBeGreaterThan(0);
    expect(seen.item429, 'item-level 429s sent').toBeGreaterThan(0);
    // Every item answered 429 was sent again and acknowledged later.
    expect([...proxy.owed].slice(0, 20), 'items answered 429 and never written again').toEqual([]);
    record({
      suite: 'storm',
      tried: `full sync of ${ROWS} rows through ${seen.bulk} bulk requests: ${seen.whole429} whole 429s, ${seen.item429} written items answered 429, ${seen.delayed} answers delayed 200-800 ms`,
      times: seen.whole429 + seen.item429,
      outcome:
        `exit 0 (indexed ${stormy.report!.indexed}, unchanged ${stormy.report!.unchanged}), ${ROWS}/${ROWS} in the index, every item answered 429 sent again, ` +
        `verify in sync, ledger empty; ${secs(stormy.wallMs)} against ${secs(calm.wallMs)} unthrottled`,
    });
  }, TIMEOUT);

  it('incremental sync --since last: every change arrives through the storm', async () => {
    const rnd = random(SEED + 1);
    const changed = new Set<number>();
    while (changed.size < CHANGES) changed.add(Math.floor(rnd() * ROWS));
    const update = `UPDATE ${KS}.rows SET name = ?, score = ? WHERE id = ?`;
    const ids = [...changed];
    for (let i = 0; i < ids.length; i += 500) {
      await Promise.all(
        ids.slice(i, i + 500).map((id) => {
          const next = { name: `changed ${id} ${SEED}`, score: 1000 + (id % 997) };
          expected.set(id, next);
          return cql.execute(update, [next.name, next.score, id], { prepare: true });
        }),
      );
    }
    await sleep(1500); // past the pipeline's safety lag

    proxy.storm = STORM;
    const before = { ...proxy.counts };
    const run = await sync(viaProxySmall, 'rel_storm_rows', '--since', 'last');
    proxy.storm = CALM;
    const seen = delta(before, proxy.counts);
    console.log(`storm incremental sync of ${CHANGES} changes: ${secs(run.wallMs)}; indexed ${run.report?.indexed}, unchanged ${run.report?.unchanged}; ${JSON.stringify(seen)}`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ read: CHANGES, failed: 0 });
    expect(run.report!.indexed + run.report!.unchanged).toBe(CHANGES);
    expect(ledgerLines()).toBe(0);

    await es.indices.refresh({ index: 'rel_storm_rows' });
    const wrong: number[] = [];
    for (let i = 0; i < ids.length; i += 1000) {
      const res = await es.mget<{ name: string; score: number }>({ index: 'rel_storm_rows', ids: ids.slice(i, i + 1000).map(String), _source_includes: ['name', 'score'] });
      for (const d of res.docs) {
        const want = expected.get(Number(d._id))!;
        const got = 'found' in d && d.found ? d._source : undefined;
        if (got?.name !== want.name || got.score !== want.score) wrong.push(Number(d._id));
      }
    }
    expect(wrong, 'changed rows whose document does not hold the change').toEqual([]);
    const v = await verify('rel_storm_rows');
    expect(v, JSON.stringify(v.counts)).toMatchObject({ code: 0, inSync: true });
    expect(seen.whole429 + seen.item429, '429s sent during the incremental sync').toBeGreaterThan(0);
    expect([...proxy.owed].slice(0, 20), 'items answered 429 and never written again').toEqual([]);
    record({
      suite: 'storm',
      tried: `sync --since last of ${CHANGES} changed rows through ${seen.bulk} bulk requests: ${seen.whole429} whole 429s, ${seen.item429} written items answered 429`,
      times: seen.whole429 + seen.item429,
      outcome: `exit 0 (indexed ${run.report!.indexed}), ${CHANGES}/${CHANGES} changes in their documents, verify in sync, ledger empty, in ${secs(run.wallMs)}`,
    });
  }, TIMEOUT);

  it('a storm longer than the retry budget: exit 3 with a clear message, saved progress kept, the next run completes', async () => {
    // Calm until a quarter of the rows are acknowledged, then every bulk request refused. A range
    // is done once all its rows are acknowledged, and up to concurrency + 1 batches of rows read
    // (here about 1,700) are not yet: the quarter leaves well over one range done whatever was in
    // flight when the storm began.
    const threshold = Math.ceil(ROWS / 4);
    const before = { ...proxy.counts };
    proxy.storm = CALM;
    proxy.onAnswer = (c) => {
      if (c.acked - before.acked >= threshold) proxy.storm = TOTAL;
    };
    const shortBudget = configFile(
      'total',
      rawConfig(PIPELINES, { failureLedger: ledger, elasticsearch: { node: proxy.url, maxRetries: 2 } }),
    );
    const stopped = await sync(shortBudget, 'rel_storm_total');
    proxy.onAnswer = () => undefined;
    proxy.storm = CALM;
    const seen = delta(before, proxy.counts);
    const message = stopped.stderr.split('\n').find((l) => l.startsWith('cesync: ')) ?? '';
    console.log(`total storm: exit ${stopped.code} after ${secs(stopped.wallMs)}: ${message}; ${JSON.stringify(seen)}`);
    expect(stopped.code, stopped.stderr).toBe(3);
    expect(message).toMatch(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:\d+ is overloaded or failing \(429\): rejected execution \(storm\)/);
    // The first refusal and the two retries of at least one request.
    expect(seen.whole429).toBeGreaterThanOrEqual(3);
    expect(ledgerLines()).toBe(0);

    const status = await cli(direct, ['status', '--pipeline', 'rel_storm_total', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const saved = (JSON.parse(status.stdout) as { pipelines: { status: string; spansDone?: number; spansTotal?: number }[] }).pipelines[0]!;
    console.log(`saved progress after the storm: ${JSON.stringify(saved)}`);
    expect(saved).toMatchObject({ status: 'failed' });
    expect(saved.spansDone).toBeGreaterThan(0);

    const resumed = await sync(direct, 'rel_storm_total');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.report).toMatchObject({ failed: 0, resumedSpans: saved.spansDone, totalSpans: saved.spansTotal });
    expect(resumed.report!.read).toBeLessThan(ROWS);
    expect(await indexCount('rel_storm_total')).toBe(ROWS);
    const v = await verify('rel_storm_total');
    expect(v, JSON.stringify(v.counts)).toMatchObject({ code: 0, inSync: true });
    expect(ledgerLines()).toBe(0);
    record({
      suite: 'storm',
      tried: `every bulk request refused with 429 after ${seen.acked} rows were written (maxRetries 2)`,
      times: seen.whole429,
      outcome: `exit 3 after ${secs(stopped.wallMs)} ("overloaded or failing (429)"), ${saved.spansDone}/${saved.spansTotal} ranges kept; next run resumed ${resumed.report!.resumedSpans}, ${ROWS}/${ROWS} in the index, verify in sync`,
    });
  }, TIMEOUT);
});
