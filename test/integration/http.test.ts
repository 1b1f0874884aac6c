// The HTTP API of `cesync serve` (Sunbird's Data Sync API) against the real servers: through
// `app.inject()` for the cases, and once through the built CLI and curl, as the Sunbird retry
// script calls it.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { pino } from 'pino';
import { createCassandraClient } from '../../src/cassandra/client.js';
import type { Config } from '../../src/config/schema.js';
import { CesyncError } from '../../src/errors.js';
import { buildApp, type App } from '../../src/http/app.js';
import { connectStores, type Stores } from '../../src/sync/stores.js';
import { config, deleteIndex, openTestClients, rawConfig, runCli, targetApiAt, targetKey, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_http';
const KEY = 'http-test-key-0123456789abcdef';
const WRONG_KEY = 'http-wrong-key-0123456789abcdef';
const MAX_IDS = 20;
const dir = tempDir();
const ledger = join(dir, 'failures.ndjson');
const pipelines = [
  { name: 'user', keyspace: KS, table: 'users', index: 'http_user' },
  { name: 'organisation', keyspace: KS, table: 'orgs', index: 'http_org' },
  // Same rows, but an index whose mapping refuses them (name is an integer there).
  { name: 'typed', keyspace: KS, table: 'users', index: 'http_typed' },
];
const extra = { failureLedger: ledger, api: { key: KEY, maxIds: MAX_IDS }, state: { store: 'file', path: join(dir, 'state.json') } };

let cql: cassandra.Client;
let es: EsClient;
let cfg: Readonly<Config>;
let stores: Stores;
let app: App;
/** Every log line the app wrote (level trace). */
const logLines: string[] = [];

interface Envelope {
  id: string;
  ver: string;
  ts: string;
  params: { resmsgid: string; msgid: string | null; err: string | null; status: string; errmsg: string | null };
  responseCode: string;
  result: {
    response?: string;
    objectType?: string;
    counts?: Record<string, number>;
    outcomes?: Record<string, { status: string; reason?: string }>;
  };
}

const syncBody = (objectIds: unknown, objectType: unknown = 'user') => ({ request: { objectType, objectIds } });

async function post(body: unknown, options: { key?: string | null; contentType?: string; target?: App } = {}) {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  if (options.key !== null) headers.authorization = `Bearer ${options.key ?? KEY}`;
  const res = await (options.target ?? app).inject({
    method: 'POST',
    url: '/api/data/v1/index/sync',
    headers,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json<Envelope>() };
}

const docExists = async (index: string, id: string) => (await es.indices.exists({ index })) && (await es.exists({ index, id }));

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text, age text)`);
  await cql.execute(`CREATE TABLE ${KS}.orgs (id text PRIMARY KEY, orgname text)`);
  for (let i = 0; i < 60; i++) {
    await cql.execute(`INSERT INTO ${KS}.users (id, name, age) VALUES (?, ?, ?)`, [`u${i}`, `user ${i}`, String(20 + i)], { prepare: true });
  }
  await cql.execute(`INSERT INTO ${KS}.orgs (id, orgname) VALUES ('o1', 'Org one')`);
  for (const p of pipelines) await deleteIndex(es, p.index);
  await es.indices.create({ index: 'http_typed', mappings: { properties: { name: { type: 'integer' } } } });

  cfg = config(pipelines, extra);
  stores = await connectStores(cfg);
  const logger = pino({ level: 'trace', base: undefined }, { write: (line: string) => void logLines.push(line) });
  app = buildApp({ config: cfg, stores, logger });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await stores?.close();
  await cql?.shutdown();
  await es?.close();
});

describe('POST /api/data/v1/index/sync', () => {
  it('syncs the ids and answers in the Sunbird envelope with per-id outcomes', async () => {
    const first = await post(syncBody(['u1', 'u2', 'nobody']));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      id: 'api.data.sync',
      ver: 'v1',
      params: { msgid: null, err: null, status: 'success', errmsg: null },
      responseCode: 'OK',
      result: {
        response: 'PARTIAL_SUCCESS',
        objectType: 'user',
        counts: { requested: 3, read: 2, indexed: 2, unchanged: 0, failed: 0, missing: 1 },
        outcomes: { u1: { status: 'indexed' }, u2: { status: 'indexed' }, nobody: { status: 'missing', reason: expect.any(String) } },
      },
    });
    expect(first.body.params.resmsgid).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(first.body.ts).toISOString()).toBe(first.body.ts);
    expect((await es.get({ index: 'http_user', id: 'u1' }))._source).toMatchObject({ id: 'u1', name: 'user 1', age: '21' });
    // The missing id is in the failure ledger, as `cesync sync --ids` would put it.
    const entries = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toContainEqual(expect.objectContaining({ id: 'nobody', pipeline: 'user', errorClass: 'missing' }));

    const second = await post(syncBody(['u1', 'u2']));
    expect(second.status).toBe(200);
    expect(second.body.result).toMatchObject({
      response: 'SUCCESS',
      counts: { requested: 2, indexed: 0, unchanged: 2, failed: 0, missing: 0 },
      outcomes: { u1: { status: 'unchanged' }, u2: { status: 'unchanged' } },
    });
  });

  it('picks the pipeline by objectType and echoes the msgid of Sunbird clients', async () => {
    const res = await post({ id: 'api.data.sync', params: { msgid: 'msg-42' }, ...syncBody(['o1'], 'organisation') });
    expect(res.status).toBe(200);
    expect(res.body.params.msgid).toBe('msg-42');
    expect(res.body.result).toMatchObject({ objectType: 'organisation', outcomes: { o1: { status: 'indexed' } } });
    expect((await es.get({ index: 'http_org', id: 'o1' }))._source).toMatchObject({ orgname: 'Org one' });
  });

  it('answers 200 with failed outcomes when documents are refused, and records them in the ledger', async () => {
    const res = await post(syncBody(['u3', 'u4'], 'typed'));
    expect(res.status).toBe(200);
    expect(res.body.params.status).toBe('success');
    expect(res.body.result).toMatchObject({ response: 'PARTIAL_SUCCESS', counts: { failed: 2, indexed: 0 } });
    expect(res.body.result.outcomes!.u3).toMatchObject({ status: 'failed', reason: expect.stringMatching(/(document|mapper)_parsing_exception: .*failed to parse field \[name\]/) });
    const entries = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toContainEqual(expect.objectContaining({ id: 'u3', pipeline: 'typed', errorClass: 'mapping' }));
  });

  describe('refuses a missing or wrong key with 401 and syncs nothing', () => {
    const cases: { name: string; header: Record<string, string> }[] = [
      { name: 'no Authorization header', header: {} },
      { name: 'a wrong key', header: { authorization: `Bearer ${WRONG_KEY}` } },
      { name: 'the key as a prefix', header: { authorization: `Bearer ${KEY}x` } },
      { name: 'another scheme', header: { authorization: `Basic ${KEY}` } },
      { name: 'an empty bearer', header: { authorization: 'Bearer ' } },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const res = await app.inject({
          method: 'POST',
          url: '/api/data/v1/index/sync',
          headers: { 'content-type': 'application/json', ...c.header },
          payload: JSON.stringify(syncBody(['u10'])),
        });
        expect(res.statusCode).toBe(401);
        expect(res.json<Envelope>()).toMatchObject({
          id: 'api.data.sync',
          params: { err: 'UNAUTHORIZED', status: 'failed', errmsg: expect.stringMatching(/Authorization: Bearer/) },
          responseCode: 'UNAUTHORIZED',
          result: {},
        });
        expect(await docExists('http_user', 'u10')).toBe(false);
      });
    }
  });

  describe('refuses bad bodies with 400 and a clear message', () => {
    const tooMany = Array.from({ length: MAX_IDS + 1 }, (_, i) => `u${i}`);
    const cases: { name: string; body: unknown; contentType?: string; status?: number; message: RegExp }[] = [
      { name: 'a body that is not JSON', body: '{"request": {', message: /not valid JSON/ },
      { name: 'an empty body', body: '', message: /not valid JSON|empty/i },
      { name: 'a JSON array', body: [], message: /body: expected a JSON object/ },
      { name: 'no request', body: { objectType: 'user', objectIds: ['u11'] }, message: /request: expected an object/ },
      { name: 'no objectType', body: { request: { objectIds: ['u11'] } }, message: /request\.objectType: expected a string/ },
      { name: 'no objectIds', body: { request: { objectType: 'user' } }, message: /request\.objectIds: expected an array of ids/ },
      { name: 'an unknown objectType', body: syncBody(['u11'], 'course'), message: /unknown objectType "course" \(known: user, organisation, typed\)/ },
      { name: 'objectIds as a string', body: syncBody('u11'), message: /request\.objectIds: expected an array of ids/ },
      { name: 'a number among the ids', body: syncBody(['u11', 12]), message: /request\.objectIds\.1: expected a string id/ },
      { name: 'an empty id', body: syncBody(['u11', ' ']), message: /request\.objectIds\.1: must not be empty/ },
      { name: 'an empty list', body: syncBody([]), message: /request\.objectIds: give at least one id/ },
      { name: 'more than api.maxIds ids', body: syncBody(tooMany), message: /request\.objectIds: at most 20 ids in one request \(api\.maxIds\), got 21/ },
      { name: 'a text/plain body', body: JSON.stringify(syncBody(['u11'])), contentType: 'text/plain', status: 415, message: /Content-Type: application\/json/ },
      { name: 'a form body', body: 'request=u11', contentType: 'application/x-www-form-urlencoded', status: 415, message: /Content-Type: application\/json/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const res = await post(c.body, { contentType: c.contentType });
        expect(res.status).toBe(c.status ?? 400);
        expect(res.body).toMatchObject({
          id: 'api.data.sync',
          params: { err: c.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_REQUEST', status: 'failed' },
          responseCode: 'CLIENT_ERROR',
          result: {},
        });
        expect(res.body.params.errmsg).toMatch(c.message);
        expect(await docExists('http_user', 'u11')).toBe(false);
      });
    }
  });

  it('runs concurrent requests, each its own sync on the shared stores', async () => {
    const batches = Array.from({ length: 10 }, (_, b) => [`u${20 + 2 * b}`, `u${21 + 2 * b}`]);
    const answers = await Promise.all(batches.map((ids) => post(syncBody(ids))));
    for (const [b, res] of answers.entries()) {
      expect(res.status).toBe(200);
      expect(res.body.result.outcomes).toEqual({ [batches[b]![0]!]: { status: 'indexed' }, [batches[b]![1]!]: { status: 'indexed' } });
    }
    expect(new Set(answers.map((a) => a.body.params.resmsgid)).size).toBe(10);
    await es.indices.refresh({ index: 'http_user' });
    const found = await es.mget({ index: 'http_user', ids: batches.flat() });
    expect(found.docs.filter((d) => 'found' in d && d.found)).toHaveLength(20);
  });

  it('answers unknown routes with 404 in the envelope', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/data/v1/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json<Envelope>()).toMatchObject({ params: { err: 'NOT_FOUND', status: 'failed' }, responseCode: 'RESOURCE_NOT_FOUND' });
  });
});

describe('GET /ready and GET /health', () => {
  it('/ready is 200 when both stores answer, without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', cassandra: 'up', [targetKey()]: 'up' });
  });

  it('/ready is 503 and names the store that is down; /health stays 200 (the process is alive)', async () => {
    const deadCassandra = createCassandraClient({ ...cfg.cassandra, contactPoints: ['127.0.0.1:1'] });
    const deadEs = targetApiAt('http://127.0.0.1:1', { maxRetries: 0 });
    const logger = pino({ level: 'silent' });
    const noCassandra = buildApp({ config: cfg, stores: { ...stores, cassandra: deadCassandra }, logger, healthTimeoutMs: 3000 });
    const noEs = buildApp({ config: cfg, stores: { ...stores, target: deadEs }, logger, healthTimeoutMs: 3000 });
    try {
      const a = await noCassandra.inject({ method: 'GET', url: '/ready' });
      expect(a.statusCode).toBe(503);
      expect(a.json()).toEqual({ status: 'unavailable', cassandra: 'down', [targetKey()]: 'up' });
      const alive = await noCassandra.inject({ method: 'GET', url: '/health' });
      expect(alive.statusCode).toBe(200);
      expect(alive.json()).toEqual({ status: 'alive' });
      const b = await noEs.inject({ method: 'GET', url: '/ready' });
      expect(b.statusCode).toBe(503);
      expect(b.json()).toEqual({ status: 'unavailable', cassandra: 'up', [targetKey()]: 'down' });
    } finally {
      await Promise.all([noCassandra.close(), noEs.close()]);
      await Promise.allSettled([deadCassandra.shutdown(), deadEs.close()]);
    }
  });
});

describe('errors of the stores and of the setup', () => {
  it('answers 503 in the envelope when a store is down, and keeps serving', async () => {
    const deadEs = targetApiAt('http://127.0.0.1:1', { maxRetries: 0 });
    const down = buildApp({ config: cfg, stores: { ...stores, target: deadEs }, logger: pino({ level: 'silent' }) });
    try {
      for (let i = 0; i < 2; i++) {
        const res = await post(syncBody(['u12']), { target: down });
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({
          params: { err: 'STORE_UNAVAILABLE', status: 'failed', errmsg: expect.stringMatching(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:1 is unreachable/) },
          responseCode: 'SERVICE_UNAVAILABLE',
        });
      }
      expect((await down.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(503);
    } finally {
      await down.close();
      await deadEs.close();
    }
    expect(await docExists('http_user', 'u12')).toBe(false);
  });

  it('refuses to build without an API key', () => {
    const noKey = config(pipelines, { ...extra, api: { maxIds: MAX_IDS } });
    expect(() => buildApp({ config: noKey, stores, logger: pino({ level: 'silent' }) })).toThrow(CesyncError);
    expect(() => buildApp({ config: noKey, stores, logger: pino({ level: 'silent' }) })).toThrow(/set api\.key in the configuration or CESYNC_API_KEY/);
  });

  it('never logs the key, and logs each request', () => {
    const lines = logLines.map((l) => JSON.parse(l) as { msg: string; status?: number });
    expect(lines.filter((l) => l.msg === 'request').length).toBeGreaterThan(20);
    expect(lines.some((l) => l.msg === 'sync finished')).toBe(true);
    const all = logLines.join('');
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(WRONG_KEY);
    expect(all.toLowerCase()).not.toContain('authorization');
  });
});

describe('cesync serve', () => {
  it('does not start without a key', async () => {
    const file = writeConfig(dir, rawConfig(pipelines, { ...extra, api: { maxIds: MAX_IDS } }));
    const res = await runCli(['serve', '--config', file, '--port', '0']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/set api\.key in the configuration or CESYNC_API_KEY/);
  });

  it('explains itself in --help', async () => {
    const res = await runCli(['serve', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/curl -X POST http:\/\/127\.0\.0\.1:9000\/api\/data\/v1\/index\/sync/);
  });

  const tools = ['bash', 'curl', 'jq'].every((t) => existsSync(`/usr/bin/${t}`) || existsSync(`/bin/${t}`));
  it.skipIf(!tools)("serves the Sunbird retry script's curl calls, then stops cleanly on SIGTERM", async () => {
    // The key comes from the environment here, as CESYNC_API_KEY.
    const file = writeConfig(dir, rawConfig(pipelines, { ...extra, api: { maxIds: MAX_IDS } }));
    const child = spawn(process.execPath, ['bin/cesync.js', 'serve', '--config', file, '--port', '0'], {
      env: { ...process.env, ...testEnv(), CESYNC_API_KEY: KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stdout}\n${stderr}`)), 60_000);
        child.stdout.on('data', () => {
          const m = /listening on (http:\/\/\S+)/.exec(stdout);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${stderr}`)));
      });

      // The retry script of Sunbird's sync documentation, with its URL and Bearer filled in, fed
      // a failure log of two requests.
      const failureLog = join(dir, 'sync-failures.log');
      writeFileSync(
        failureLog,
        'Request : {"request":{"objectType":"user","objectIds":["u40","u41"]}}\n' + 'Request : {"request":{"objectType":"user","objectIds":["u42","nobody-2"]}}\n',
      );
      const script = join(dir, 'syncFilename.sh');
      writeFileSync(
        script,
        [
          '#!/bin/bash',
          '# Variables Section',
          'variablescript=$1',
          `URL="${url}"`,
          `Bearer="${KEY}"`,
          '',
          'if [ $# -ne 1 ];',
          'then',
          '    echo "Usage: syncFilename.sh logfile"',
          '    exit 0',
          'fi',
          `requests=$(cat \${variablescript} | grep "Request :" | cut -d " " -f3 | jq -c '.request.objectIds')`,
          '',
          'for ids in ${requests[@]};',
          'do',
          '    echo "Syncing for $ids"',
          `    command=$(echo "curl -X POST   $URL/api/data/v1/index/sync   -H 'Accept: */*'   -H 'Authorization: Bearer $Bearer'   -H 'Content-Type: application/json'   -H 'cache-control: no-cache'   -d '{\\"request\\":{\\"objectType\\":\\"user\\",\\"objectIds\\":$ids}}'")`,
          '    echo $command | bash',
          '    sleep 5',
          '    echo -e "\\n############################################################################################################\\n"',
          'done',
          '',
        ].join('\n'),
      );
      const { stdout: out } = await promisify(execFile)('bash', [script, failureLog], { cwd: dir, timeout: 60_000 });
      const answers = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Envelope);
      expect(answers).toHaveLength(2);
      expect(answers[0]).toMatchObject({ responseCode: 'OK', result: { outcomes: { u40: { status: 'indexed' }, u41: { status: 'indexed' } } } });
      expect(answers[1]).toMatchObject({ responseCode: 'OK', result: { outcomes: { u42: { status: 'indexed' }, 'nobody-2': { status: 'missing' } } } });
      await es.indices.refresh({ index: 'http_user' });
      for (const id of ['u40', 'u41', 'u42']) expect((await es.get({ index: 'http_user', id }))._source).toMatchObject({ id });

      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout + stderr).not.toContain(KEY);
    const logs = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['listening', 'sync finished', 'stopping: finishing the requests in flight']));
  });
});
