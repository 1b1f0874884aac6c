// What the PostgreSQL suites share: a schema of their own on the machine's server (created with
// the project's role, dropped afterwards), configurations of source: postgres pipelines, the CLI
// run with its JSON report, documents read from Elasticsearch digit for digit, the rows they
// should be (an oracle of PostgreSQL's own: to_jsonb of each row), and an HTTP proxy in front of
// Elasticsearch that the faults suites make fail.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import { expect } from 'vitest';
import { endpoints, onTargetKey, pgPool, runCli, target, type CliResult } from './harness.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A schema of its own (`pgt_<random>`) with a pool whose sessions read times in UTC (the oracle
 * compares timestamps as the server renders them). `drop()` drops the schema and ends the pools.
 */
export async function testSchema(prefix = 'pgt'): Promise<{ name: string; pool: pg.Pool; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const pool = pgPool();
  pool.on('connect', (c) => void c.query("SET TimeZone = 'UTC'").catch(() => undefined));
  pool.on('error', () => undefined);
  await pool.query(`CREATE SCHEMA ${name}`);
  return {
    name,
    pool,
    drop: async () => {
      try {
        // Sessions a killed cesync left behind would hold locks that the drop waits for.
        await pool.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}

/** A user-written configuration of PostgreSQL pipelines; the state is kept in `schema` too. */
export function pgRawConfig(schema: string, pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const e = endpoints();
  return onTargetKey({
    postgres: { connectionString: e.postgres.connectionString },
    elasticsearch: { node: target().node },
    state: { store: 'postgres', keyspace: schema },
    pipelines: pipelines.map((p) => ({ source: 'postgres', schema, ...p })),
    ...extra,
  });
}

export interface Report {
  readonly pipeline: string;
  readonly mode: string;
  readonly read: number;
  readonly indexed: number;
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly failed: number;
  readonly deleted: number;
  readonly missing: number;
  readonly malformed: number;
  readonly interrupted: boolean;
  readonly resumedSpans: number;
  readonly totalSpans: number;
  readonly dryRun: boolean;
  readonly window?: { from: { version: number; id: string }; to: number };
  readonly watermark?: { version: number; id: string };
  readonly inputProblems?: { line: number; kind: string; text: string; reason: string }[];
}

export interface VerifyResult {
  readonly inSync: boolean;
  readonly counts: { missing: number; orphan: number; stale: number; different: number };
  readonly ids: { missing: string[]; orphan: string[]; stale: string[]; different: string[] };
}

/** Runs the CLI with `--json` and gives its first report (undefined when it printed none). */
export async function cliJson<R = Report>(args: string[], env: Record<string, string> = {}): Promise<CliResult & { report: R | undefined; reports: R[]; ms: number }> {
  const t0 = Date.now();
  const res = await runCli([...args, '--json'], env);
  let reports: R[];
  try {
    reports = (JSON.parse(res.stdout) as { reports?: R[] }).reports ?? [];
  } catch {
    reports = []; // no JSON: the command failed before its report
  }
  return { ...res, report: reports[0], reports, ms: Date.now() - t0 };
}

/**
 * JSON.parse keeping every number digit for digit: a number whose double prints as it was
 * written (and an integer within 2^53) stays a number, any other becomes `{ exact: 'its text' }`
 * (9007199254740993, 1.50).
 * The documents of the index and the rows of the oracle are read with it alike.
 */
export function parseExact(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value !== 'number' || context?.source === undefined) return value;
    const integer = /^-?\d+$/.test(context.source);
    // An integer beyond 2^53 may print as written and still be another number (150327714429759550).
    return String(value) === context.source && (!integer || Number.isSafeInteger(value)) ? value : { exact: context.source };
  });
}

export interface IndexedDoc {
  readonly source: Record<string, unknown>;
  readonly meta: Record<string, unknown>;
  readonly version: number;
}

/** Every document of an index, by id, read from the raw HTTP answer (exact numbers). */
export async function indexDocs(index: string): Promise<Map<string, IndexedDoc>> {
  const node = target().node;
  await fetch(`${node}/${index}/_refresh`, { method: 'POST' });
  const out = new Map<string, IndexedDoc>();
  type Page = { _scroll_id?: string; hits: { hits: { _id: string; _version: number; _source: Record<string, unknown> }[] } };
  let res = await fetch(`${node}/${index}/_search?scroll=1m`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ size: 5000, version: true, sort: ['_doc'], query: { match_all: {} } }),
  });
  if (res.status === 404) return out;
  for (;;) {
    const text = await res.text();
    if (res.status !== 200) throw new Error(`search of ${index}: ${res.status} ${text}`);
    const page = parseExact(text) as Page;
    for (const h of page.hits.hits) {
      const { _cesync, ...source } = h._source;
      out.set(h._id, { source, meta: (_cesync ?? {}) as Record<string, unknown>, version: h._version });
    }
    if (page.hits.hits.length === 0 || !page._scroll_id) {
      if (page._scroll_id) await fetch(`${node}/_search/scroll`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scroll_id: page._scroll_id }) });
      return out;
    }
    res = await fetch(`${node}/_search/scroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ scroll: '1m', scroll_id: page._scroll_id }) });
  }
}

export async function indexCount(index: string): Promise<number> {
  const node = target().node;
  await fetch(`${node}/${index}/_refresh`, { method: 'POST' });
  const res = await fetch(`${node}/${index}/_count`);
  if (res.status === 404) return 0;
  return ((await res.json()) as { count: number }).count;
}

export async function deleteIndices(prefix: string): Promise<void> {
  await fetch(`${target().node}/${prefix}*?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=all`, { method: 'DELETE' });
}

export interface OracleOptions {
  /** Key columns in order (default: id). */
  readonly key?: readonly string[];
  /** Columns left out of documents (fields: { column: null }). */
  readonly omit?: readonly string[];
  /** The column the version is read from (asserted as the document's external version). */
  readonly version?: string;
  /** Extra condition on the rows (a WHERE clause). */
  readonly where?: string;
}

/** The escaped part of a delimited document id. */
const idPart = (s: string) => s.replaceAll('\\', '\\\\').replaceAll(':', '\\:');

/**
 * The documents the rows of a table should be, by document id, as PostgreSQL itself renders each
 * row (to_jsonb, in UTC): json and jsonb as objects, int8 and numeric with every digit, and
 * timestamps made ISO 8601 with Z, bytea base64 (docs/types.md); with each row's version.
 */
export async function expectedDocs(pool: pg.Pool, schema: string, table: string, options: OracleOptions = {}): Promise<Map<string, { doc: Record<string, unknown>; version: number | undefined }>> {
  const key = options.key ?? ['id'];
  const types = await pool.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [`${schema}.${table}`],
  );
  const typeOf = new Map(types.rows.map((r) => [r.name, r.type]));
  const version = options.version ? `, (extract(epoch from t.${options.version}) * 1000000)::int8::text AS v` : '';
  const rows = await pool.query<{ j: string; v?: string } & Record<string, string>>(
    `SELECT to_jsonb(t)::text AS j, ${key.map((k, i) => `t.${k}::text AS k${i}`).join(', ')}${version} FROM ${schema}.${table} t ${options.where ? `WHERE ${options.where}` : ''}`,
  );
  const out = new Map<string, { doc: Record<string, unknown>; version: number | undefined }>();
  for (const r of rows.rows) {
    const doc = parseExact(r.j) as Record<string, unknown>;
    for (const c of options.omit ?? []) delete doc[c];
    for (const [col, v] of Object.entries(doc)) {
      if (v === null) continue;
      const t = typeOf.get(col) ?? '';
      if (t === 'timestamp without time zone') doc[col] = `${v as string}Z`;
      else if (t === 'timestamp with time zone') doc[col] = (v as string).replace(/\+00:00$/, 'Z');
      else if (t === 'bytea') doc[col] = Buffer.from((v as string).slice(2), 'hex').toString('base64');
    }
    const id = key.length === 1 ? r['k0']! : key.map((_k, i) => idPart(r[`k${i}`]!)).join(':');
    out.set(id, { doc, version: r.v === undefined ? undefined : Number(r.v) });
  }
  return out;
}

/**
 * Both stores hold the same: as many documents as rows, the same ids, each document the row as
 * the oracle renders it, at the row's version when `version` is given. Returns the documents.
 */
export async function expectIndexMatchesTable(pool: pg.Pool, schema: string, table: string, index: string, options: OracleOptions = {}): Promise<Map<string, IndexedDoc>> {
  const want = await expectedDocs(pool, schema, table, options);
  const have = await indexDocs(index);
  expect(have.size, `${index}: documents against rows of ${schema}.${table}`).toBe(want.size);
  expect([...have.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [id, w] of want) {
    const d = have.get(id)!;
    expect(d.source, `document ${id}`).toEqual(w.doc);
    if (w.version !== undefined) expect(d.version, `version of document ${id}`).toBe(w.version);
  }
  return have;
}

/** Polls until `check` holds, or fails naming `what`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** How the proxy answers requests for now. */
export type ProxyMode = 'pass' | 'fail-503' | 'close';

export interface EsProxy {
  readonly url: string;
  mode: ProxyMode;
  /** Called with the ids of each bulk request before it is forwarded (forwarding waits for it). */
  onBulk: (ids: string[], count: number) => Promise<void> | void;
  /** Ids whose items Elasticsearch answered with a 2xx (written or deleted), over all requests. */
  readonly acked: Set<string>;
  /** Bulk requests received. */
  bulks: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'content-length'];

/**
 * An HTTP proxy in front of the real Elasticsearch: forwards every request (`pass`), answers every
 * one with a 503 (`fail-503`: a failing cluster) or cuts the connection (`close`). It records the
 * ids of bulk items that Elasticsearch acknowledged, and calls `onBulk` before forwarding a bulk
 * request (a test changes a row there: between cesync's read and its acknowledgement).
 */
export function esProxy(): Promise<EsProxy> {
  const upstream = new URL(target().node);
  const proxy: EsProxy = { url: '', mode: 'pass', onBulk: () => undefined, acked: new Set(), bulks: 0, close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res) => {
    void (async () => {
      const body = await buffer(req);
      const path = new URL(req.url ?? '/', 'http://proxy').pathname;
      const isBulk = path.endsWith('/_bulk');
      if (isBulk) {
        proxy.bulks += 1;
        const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8');
        const ids = text
          .split('\n')
          .filter((l) => l.startsWith('{"index"') || l.startsWith('{"delete"'))
          .map((l) => Object.values(JSON.parse(l) as Record<string, { _id: string }>)[0]!._id);
        await proxy.onBulk(ids, proxy.bulks);
      }
      if (proxy.mode === 'close') return void req.socket.destroy();
      if (proxy.mode === 'fail-503') {
        const text = JSON.stringify({ error: { type: 'unavailable', reason: 'the proxy answers 503' }, status: 503 });
        res.writeHead(503, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch', 'content-length': Buffer.byteLength(text) });
        return void res.end(text);
      }
      const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: upstream.host, 'accept-encoding': 'identity' };
      for (const h of HOP_BY_HOP) delete headers[h];
      if (body.length > 0) headers['content-length'] = String(body.length);
      const up = request({ host: upstream.hostname, port: Number(upstream.port), method: req.method, path: req.url, headers }, (answer) => {
        void buffer(answer).then((payload) => {
          if (isBulk && answer.statusCode === 200) {
            const json = JSON.parse(payload.toString('utf8')) as { items?: Record<string, { _id?: string; status: number }>[] };
            for (const entry of json.items ?? []) {
              const item = Object.values(entry)[0]!;
              if (item._id !== undefined && item.status < 300) proxy.acked.add(item._id);
            }
          }
          const out: Record<string, string | string[] | undefined> = { ...answer.headers };
          for (const h of HOP_BY_HOP) delete out[h];
          out['content-length'] = String(payload.length);
          res.writeHead(answer.statusCode ?? 502, out);
          res.end(payload);
        });
      });
      up.on('error', () => res.destroy());
      up.end(body);
    })().catch(() => res.destroy());
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
          }),
      });
      resolve(proxy);
    });
  });
}

/** The saved progress of a full sync of `pipeline` (state kept in `schema`): its status and spans done, of how many. */
export async function savedProgress(pool: pg.Pool, schema: string, pipeline: string): Promise<{ status: string | undefined; done: number; total: number }> {
  const rs = await pool.query<{ state: string }>(`SELECT state FROM ${schema}.pipeline_state WHERE pipeline = $1`, [pipeline]).catch(() => ({ rows: [] as { state: string }[] }));
  const state = rs.rows[0] ? (JSON.parse(rs.rows[0].state) as { status: string; spans: { done: boolean }[] }) : undefined;
  return { status: state?.status, done: state?.spans.filter((x) => x.done).length ?? 0, total: state?.spans.length ?? 0 };
}
