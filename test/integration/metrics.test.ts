// Prometheus metrics against the real servers, through the built CLI: GET /metrics of `serve` and
// of `watch --metrics-port`, parsed as the text format, each metric present and moving when the
// matching thing happens. A small HTTP proxy in front of Elasticsearch refuses one bulk request
// (whole 429) or one item of one (item 429) when armed, to make retries happen.
//
// cesync_verify_differences follows the pipeline's last verify as the state store keeps it (read
// every 5 s), so a `cesync verify` run beside `serve` moves it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { buffer } from 'node:stream/consumers';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig, target, targetKey } from './harness.js';

const KS = 'cesync_metrics';
const KEY = 'metrics-test-key-0123456789abcdef';
const dir = tempDir();

/** Every metric cesync names in docs/metrics.md. */
const METRICS = [
  'cesync_rows_read_total',
  'cesync_documents_total',
  'cesync_failures_total',
  'cesync_retries_total',
  'cesync_bulk_request_duration_seconds',
  'cesync_bulk_bytes_total',
  'cesync_full_sync_progress_ratio',
  'cesync_full_sync_eta_seconds',
  'cesync_incremental_lag_seconds',
  'cesync_lease_held',
  'cesync_verify_differences',
];

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
interface Scrape {
  readonly types: Map<string, string>;
  readonly samples: Sample[];
  readonly text: string;
}

/** Prometheus' text format (version 0.0.4): `# TYPE` lines and samples; other comments skipped. */
function parseText(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const raw = m[3]!;
    samples.push({ name: m[1]!, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return { types, samples, text };
}

/** The value of the one sample with this name whose labels include `labels` (0 when none). */
function val(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}
const has = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
  s.samples.some((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseText(await res.text());
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A proxy in front of Elasticsearch: passes everything, except bulk requests while armed. */
interface Proxy {
  readonly url: string;
  /** Bulk requests still to answer with a whole 429, without forwarding them. */
  whole429: number;
  /** Bulk requests still to forward and answer with their first written item turned into a 429. */
  item429: number;
  close(): Promise<void>;
}

/** The whole body of a request or response. */
const readAll = (stream: IncomingMessage): Promise<Buffer> => buffer(stream);

async function startProxy(target: URL): Promise<Proxy> {
  const proxy: Proxy = { url: '', whole429: 0, item429: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const isBulk = (req.url ?? '').split('?')[0]!.endsWith('/_bulk');
      if (isBulk && proxy.whole429 > 0) {
        proxy.whole429 -= 1;
        const text = JSON.stringify({ error: { type: 'es_rejected_execution_exception', reason: 'refused by the test proxy' }, status: 429 });
        res.writeHead(429, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' }).end(text);
        return;
      }
      const rewrite = isBulk && proxy.item429 > 0;
      if (rewrite) proxy.item429 -= 1;
      const headers = { ...req.headers, host: target.host, 'accept-encoding': 'identity' };
      delete headers.connection;
      const up = request({ host: target.hostname, port: Number(target.port), method: req.method, path: req.url, headers }, (answer) => {
        void readAll(answer).then((payload) => {
          let out = payload;
          if (rewrite && answer.statusCode === 200) {
            const json = JSON.parse(payload.toString('utf8')) as { errors: boolean; items: Record<string, { status: number; result?: string; error?: unknown }>[] };
            const item = json.items.map((i) => Object.values(i)[0]!).find((i) => i.status < 300);
            if (item) {
              item.status = 429;
              delete item.result;
              item.error = { type: 'es_rejected_execution_exception', reason: 'refused by the test proxy' };
              json.errors = true;
            }
            out = Buffer.from(JSON.stringify(json));
          }
          const h = { ...answer.headers, 'content-length': String(out.length) };
          delete h['transfer-encoding'];
          delete h.connection;
          res.writeHead(answer.statusCode ?? 502, h).end(out);
        });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/** Starts the built CLI and waits until `ready` finds what it needs in its output. */
function startCli(args: string[], env: Record<string, string>, ready: (stdout: string, stderr: string) => string | undefined) {
  const child: ChildProcess = spawn(process.execPath, ['bin/cesync.js', ...args], { env: { ...process.env, ...testEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const found = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${stdout}\n${stderr}`)), 60_000);
    const check = () => {
      const hit = ready(stdout, stderr);
      if (hit !== undefined) {
        clearTimeout(timer);
        resolve(hit);
      }
    };
    child.stdout!.on('data', (d) => ((stdout += d), check()));
    child.stderr!.on('data', (d) => ((stderr += d), check()));
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${stdout}\n${stderr}`)));
  });
  return { child, exited, found, output: () => ({ stdout, stderr }) };
}

let cql: cassandra.Client;
let es: EsClient;
let proxy: Proxy;

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text)`);
  await cql.execute(`CREATE TABLE ${KS}.items (id text PRIMARY KEY, name text)`);
  for (let i = 0; i < 20; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [`u${i}`, `user ${i}`], { prepare: true });
  for (let i = 0; i < 5; i++) await cql.execute(`INSERT INTO ${KS}.items (id, name) VALUES (?, ?)`, [`i${i}`, `item ${i}`], { prepare: true });
  for (const index of ['metrics_user', 'metrics_typed', 'metrics_watch']) await deleteIndex(es, index);
  // The same rows, into an index whose mapping refuses them (name is an integer there).
  await es.indices.create({ index: 'metrics_typed', mappings: { properties: { name: { type: 'integer' } } } });
  proxy = await startProxy(new URL(target().node));
});

afterAll(async () => {
  await proxy?.close();
  await cql?.shutdown();
  await es?.close();
});

describe('cesync serve: GET /metrics', () => {
  it('serves every metric without a key, and moves them as syncs through the API happen', async () => {
    const raw = rawConfig(
      [
        { name: 'user', keyspace: KS, table: 'users', index: 'metrics_user' },
        { name: 'typed', keyspace: KS, table: 'users', index: 'metrics_typed' },
      ],
      { failureLedger: join(dir, 'serve-failures.ndjson'), api: { key: KEY }, state: { store: 'file', path: join(dir, 'serve-state.json') } },
    );
    (raw[targetKey()] as Record<string, unknown>).node = proxy.url;
    const file = writeConfig(dir, raw);
    const serve = startCli(['serve', '--config', file, '--port', '0'], {}, (out) => /listening on (http:\/\/\S+)/.exec(out)?.[1]);
    try {
      const url = await serve.found;
      const metricsUrl = `${url}/metrics`;
      const sync = async (objectType: string, objectIds: string[]) => {
        const res = await fetch(`${url}/api/data/v1/index/sync`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ request: { objectType, objectIds } }),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { result: { counts: Record<string, number> } }).result.counts;
      };
      const user = { pipeline: 'user', direction: 'to-elasticsearch' };

      const s0 = await scrape(metricsUrl); // no Authorization header: Prometheus sends none
      for (const name of METRICS) expect(s0.types.has(name), name).toBe(true);
      expect(s0.types.get('cesync_bulk_request_duration_seconds')).toBe('histogram');
      expect(s0.types.get('cesync_documents_total')).toBe('counter');
      expect(has(s0, 'process_cpu_seconds_total')).toBe(true);
      expect(has(s0, 'nodejs_heap_size_used_bytes')).toBe(true);

      expect(await sync('user', ['u1', 'u2', 'nobody'])).toMatchObject({ read: 2, indexed: 2, missing: 1 });
      const s1 = await scrape(metricsUrl);
      expect(val(s1, 'cesync_rows_read_total', user)).toBe(2);
      expect(val(s1, 'cesync_documents_total', { ...user, outcome: 'created' })).toBe(2);
      expect(val(s1, 'cesync_failures_total', { ...user, class: 'missing' })).toBe(1);
      expect(val(s1, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' })).toBeGreaterThanOrEqual(1);
      expect(val(s1, 'cesync_bulk_request_duration_seconds_sum', { pipeline: 'user' })).toBeGreaterThan(0);
      expect(val(s1, 'cesync_bulk_request_duration_seconds_bucket', { pipeline: 'user', le: '+Inf' })).toBe(val(s1, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' }));
      expect(val(s1, 'cesync_bulk_bytes_total', { pipeline: 'user' })).toBeGreaterThan(100);
      // Counts only: no id, no document content, no key.
      expect(s1.text).not.toMatch(/u1|user 1|nobody/);
      expect(s1.text).not.toContain(KEY);

      expect(await sync('user', ['u1'])).toMatchObject({ unchanged: 1 });
      expect(val(await scrape(metricsUrl), 'cesync_documents_total', { ...user, outcome: 'unchanged' })).toBe(1);

      // A document the index rejects for its mapping.
      expect(await sync('typed', ['u3'])).toMatchObject({ failed: 1 });
      const s2 = await scrape(metricsUrl);
      const typed = { pipeline: 'typed', direction: 'to-elasticsearch' };
      expect(val(s2, 'cesync_failures_total', { ...typed, class: 'mapping' })).toBe(1);
      expect(val(s2, 'cesync_documents_total', { ...typed, outcome: 'failed' })).toBe(1);

      // A whole bulk request answered 429 once: sent again, then written.
      proxy.whole429 = 1;
      expect(await sync('user', ['u4'])).toMatchObject({ indexed: 1 });
      const s3 = await scrape(metricsUrl);
      expect(proxy.whole429).toBe(0);
      expect(val(s3, 'cesync_retries_total', { ...user, what: 'request' })).toBe(1);
      expect(val(s3, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' })).toBeGreaterThan(val(s1, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' }) + 1);

      // One item refused as 429 (it was written): the bulk helper sends it again at once, in a
      // bulk request of its own, and the index then holds it (so it is counted unchanged or created).
      // cesync_retries_total{what="document"} moves only for items still refused after the helper's
      // own retries (5 s apart), which this test does not wait for.
      proxy.item429 = 1;
      const before = val(s3, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' });
      const counts = await sync('user', ['u5']);
      expect((counts.indexed ?? 0) + (counts.unchanged ?? 0)).toBe(1);
      const s4 = await scrape(metricsUrl);
      expect(proxy.item429).toBe(0);
      expect(val(s4, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' })).toBeGreaterThanOrEqual(before + 2);
      expect(val(s4, 'cesync_rows_read_total', user)).toBe(5);
      expect(await es.exists({ index: 'metrics_user', id: 'u5' })).toBe(true);

      // A verify run as a command of its own, beside serve: its differences show at the next scrape.
      await es.delete({ index: 'metrics_user', id: 'u1', refresh: true });
      const verified = await runCli(['verify', '--config', file, '--pipeline', 'user']);
      expect(verified.code, verified.stderr).toBe(1);
      // Read from the state store in the background, every 5 s.
      const s5 = await until('the verify differences', async () => {
        const s = await scrape(metricsUrl);
        return val(s, 'cesync_verify_differences', { pipeline: 'user', class: 'missing' }) >= 1 ? s : undefined;
      });
      expect(val(s5, 'cesync_verify_differences', { pipeline: 'user', class: 'missing' })).toBeGreaterThanOrEqual(1);
      expect(val(s5, 'cesync_verify_differences', { pipeline: 'user', class: 'orphan' })).toBe(0);
    } finally {
      serve.child.kill('SIGTERM');
    }
    expect(await serve.exited).toBe(0);
  });
});

describe('cesync watch --metrics-port', () => {
  it('serves metrics on 127.0.0.1 while it runs: progress of the first full sync, lease, lag, changes', async () => {
    const file = writeConfig(
      dir,
      rawConfig([{ name: 'watched', keyspace: KS, table: 'items', index: 'metrics_watch', incremental: { safetyLagMs: 200, batchSize: 500 } }], {
        failureLedger: join(dir, 'watch-failures.ndjson'),
        state: { store: 'file', path: join(dir, 'watch-state.json') },
      }),
    );
    const watch = startCli(['watch', '--config', file, '--interval', '200', '--metrics-port', '0'], {}, (_out, err) => /"metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(err)?.[1]);
    const labels = { pipeline: 'watched', direction: 'to-elasticsearch' };
    try {
      const url = await watch.found;
      // The first step has no watermark: it is a full sync of the table.
      const first = await until('the first full sync', async () => {
        const s = await scrape(url);
        return val(s, 'cesync_full_sync_progress_ratio', { pipeline: 'watched' }) === 1 && has(s, 'cesync_incremental_lag_seconds', labels) ? s : undefined;
      });
      for (const name of METRICS) expect(first.types.has(name), name).toBe(true);
      expect(val(first, 'cesync_lease_held', { pipeline: 'watched' })).toBe(1);
      expect(val(first, 'cesync_full_sync_eta_seconds', { pipeline: 'watched' })).toBe(0);
      expect(val(first, 'cesync_rows_read_total', labels)).toBe(5);
      expect(val(first, 'cesync_documents_total', { ...labels, outcome: 'created' })).toBe(5);

      await cql.execute(`INSERT INTO ${KS}.items (id, name) VALUES ('i9', 'new item')`);
      const after = await until('the change to be applied', async () => {
        const s = await scrape(url);
        return val(s, 'cesync_documents_total', { ...labels, outcome: 'created' }) === 6 ? s : undefined;
      });
      expect(val(after, 'cesync_rows_read_total', labels)).toBe(6);
      // Each round moves the watermark to now minus the safety lag: the lag stays small.
      const lag = val(after, 'cesync_incremental_lag_seconds', labels);
      expect(lag).toBeGreaterThan(0);
      expect(lag).toBeLessThan(10);
      expect(val(after, 'cesync_lease_held', { pipeline: 'watched' })).toBe(1);
      expect((await fetch(url.replace(/\/metrics$/, '/other'))).status).toBe(404);
      if (process.env.CESYNC_METRICS_SAMPLE) (await import('node:fs')).writeFileSync(process.env.CESYNC_METRICS_SAMPLE, after.text);
    } finally {
      watch.child.kill('SIGTERM');
    }
    expect(await watch.exited).toBe(0);
  });
});

describe('cesync sync --metrics-port', () => {
  it('serves the progress of a long full sync while it runs, then stops serving', async () => {
    await cql.execute(`CREATE TABLE IF NOT EXISTS ${KS}.many (id int PRIMARY KEY, name text)`);
    const rows = 3000;
    for (let i = 0; i < rows; i += 300) {
      await Promise.all(Array.from({ length: 300 }, (_, j) => cql.execute(`INSERT INTO ${KS}.many (id, name) VALUES (?, ?)`, [i + j, `row ${i + j}`], { prepare: true })));
    }
    await deleteIndex(es, 'metrics_many');
    const file = writeConfig(
      dir,
      rawConfig([{ name: 'many', keyspace: KS, table: 'many', index: 'metrics_many', splits: 16, pageSize: 200 }], {
        failureLedger: join(dir, 'many-failures.ndjson'),
        state: { store: 'file', path: join(dir, 'many-state.json') },
      }),
    );
    // Slowed to about 6 s, so that scrapes land in the middle of it.
    const sync = startCli(['sync', '--config', file, '--rate', '500', '--metrics-port', '0', '--quiet'], {}, (_out, err) => /"metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(err)?.[1]);
    let url = '';
    try {
      url = await sync.found;
      const mid = await until('progress between 0 and 1', async () => {
        const s = await scrape(url);
        const f = val(s, 'cesync_full_sync_progress_ratio', { pipeline: 'many' });
        return f > 0 && f < 1 && has(s, 'cesync_full_sync_eta_seconds', { pipeline: 'many' }) ? s : undefined;
      });
      expect(val(mid, 'cesync_full_sync_eta_seconds', { pipeline: 'many' })).toBeGreaterThan(0);
      expect(val(mid, 'cesync_rows_read_total', { pipeline: 'many', direction: 'to-elasticsearch' })).toBeGreaterThan(0);
      expect(val(mid, 'cesync_rows_read_total', { pipeline: 'many', direction: 'to-elasticsearch' })).toBeLessThan(rows);
    } finally {
      expect(await sync.exited).toBe(0);
    }
    // The command is done: nothing listens any more.
    await expect(fetch(url)).rejects.toThrow();
    expect((await es.count({ index: 'metrics_many' })).count).toBe(rows);
  });
});
