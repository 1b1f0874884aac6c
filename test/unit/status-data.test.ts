// The status page's data (src/http/status-data.ts) and lag sampler, with in-memory fakes; and the
// page's routes through app.inject(): the key check, no data without it, the page without data.
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { FailureEntry } from '../../src/engine/ports.js';
import { buildApp } from '../../src/http/app.js';
import { LagSampler } from '../../src/http/lag-sampler.js';
import { buildStatus, progressOf, readLedgerTail } from '../../src/http/status-data.js';
import { STATUS_HTML, STATUS_SCRIPT } from '../../src/http/status-page.js';
import type { Stores } from '../../src/sync/stores.js';
import { MemoryState } from './fakes.js';

const KEY = 'status-unit-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'cesync-status-'));
const HOSTILE_ID = '<img src=x onerror=alert(1)>';
const HOSTILE_REASON = 'bad value </script><script>alert(2)</script>';

function configWith(ledger: string) {
  return parseConfig(
    {
      cassandra: { contactPoints: ['127.0.0.1'], localDataCenter: 'dc1' },
      elasticsearch: { node: 'http://127.0.0.1:9200' },
      failureLedger: ledger,
      api: { key: KEY },
      pipelines: [
        { name: 'user', keyspace: 'ks', table: 'users', index: 'user' },
        { name: 'org', keyspace: 'ks', table: 'orgs', index: 'org', direction: 'both' },
      ],
    },
    {},
  );
}

const entry = (over: Partial<FailureEntry>): FailureEntry => ({
  id: 'x',
  pipeline: 'user',
  errorClass: 'mapping',
  errorType: 'mapper_parsing_exception',
  reason: 'failed to parse',
  attempt: 1,
  at: '2026-01-01T00:00:00.000Z',
  ...over,
});

async function seeded() {
  const ledger = join(dir, `ledger-${Math.random()}.ndjson`);
  const lines = [
    ...Array.from({ length: 12 }, (_, i) => entry({ id: `u${i}`, errorClass: i % 3 === 0 ? 'missing' : 'mapping' })),
    entry({ id: 'o1', pipeline: 'org', errorClass: 'transient' }),
    entry({ id: HOSTILE_ID, reason: HOSTILE_REASON, errorClass: 'rejected' }),
  ];
  writeFileSync(ledger, lines.map((l) => JSON.stringify(l)).join('\n') + '\n{"half a line');
  const state = new MemoryState();
  const now = new Date('2026-01-01T01:00:00.000Z');
  await state.save({
    pipeline: 'user',
    runId: 'r1',
    mode: 'full',
    status: 'running',
    startedAt: '2026-01-01T00:50:00.000Z',
    updatedAt: '2026-01-01T00:58:00.000Z',
    spans: [
      { start: '-9223372036854775808', end: '0', done: true },
      { start: '0', end: '4611686018427387904', done: true },
      { start: '4611686018427387904', end: null, done: false },
      { start: '100', end: '200', done: false },
    ],
    counters: { read: 40, indexed: 38, failed: 2 },
  });
  await state.saveWatermark('org', 'to-elasticsearch', { version: (now.getTime() - 90_000) * 1000, id: 'o9' });
  await state.saveWatermark('org', 'to-cassandra', { version: (now.getTime() - 5_000) * 1000, id: 'o3' });
  await state.acquireLease('watch:org', 'host-a:1234', 1000);
  await state.saveVerify({
    pipeline: 'user',
    at: '2026-01-01T00:40:00.000Z',
    inSync: false,
    content: false,
    counts: { missing: 3, orphan: 1, stale: 0, different: 0 },
    spans: 16,
    driftSpans: [{ start: '-9223372036854775808', end: '-8070450532247928832', differences: 4 }],
    durationMs: 1200,
  });
  return { config: configWith(ledger), state, now, ledger };
}

describe('buildStatus', () => {
  it('shows per pipeline what cesync status --json shows, with progress, ETA, lag and the ledger', async () => {
    const { config, state, now } = await seeded();
    const data = await buildStatus({ config, state, now: () => now });
    expect(data.generatedAt).toBe(now.toISOString());
    expect(data.lagSampling).toBeNull();
    const [user, org] = data.pipelines;
    expect(user).toMatchObject({
      pipeline: 'user',
      table: 'ks.users',
      index: 'user',
      direction: 'to-elasticsearch',
      status: 'running',
      spansDone: 2,
      spansTotal: 4,
      counters: { read: 40, indexed: 38, failed: 2 },
      watchedBy: null,
      watermarkToElasticsearch: null,
    });
    // 2 ranges in 8 min: 2 left take 8 min, 2 of them already spent since the last save.
    expect(user!.progress).toEqual({ spansDone: 2, spansTotal: 4, fraction: 0.5, etaSeconds: 360 });
    expect(user!.lastVerify?.driftSpans).toHaveLength(1);
    expect(user!.failures.counts).toEqual({ mapping: 8, rejected: 1, transient: 0, missing: 4, shape: 0 });
    expect(user!.failures.latest).toHaveLength(10);
    // Newest first: the last line of the file, hostile text kept as data.
    expect(user!.failures.latest[0]).toMatchObject({ id: HOSTILE_ID, reason: HOSTILE_REASON, errorClass: 'rejected' });
    expect(user!.failures.latest.map((e) => e.id)).not.toContain('o1');

    expect(org).toMatchObject({ status: 'never run', direction: 'both', watchedBy: 'host-a:1234', progress: null, counters: null, lastVerify: null });
    expect(org!.watermarkToElasticsearch).toMatchObject({ id: 'o9', lagSeconds: 90, at: '2026-01-01T00:58:30.000Z' });
    expect(org!.watermarkToCassandra).toMatchObject({ id: 'o3', lagSeconds: 5 });
    expect(org!.failures.counts.transient).toBe(1);
    expect(data.failureLedger).toEqual({ exists: true, truncated: false, bytesRead: expect.any(Number) });
  });

  it('a missing ledger is no failure; the ETA is unknown until a range is done', async () => {
    const state = new MemoryState();
    const data = await buildStatus({ config: configWith(join(dir, 'none.ndjson')), state });
    expect(data.failureLedger).toEqual({ exists: false, truncated: false, bytesRead: 0 });
    expect(data.pipelines[0]!.failures.latest).toEqual([]);
    const p = progressOf(
      { pipeline: 'p', runId: 'r', mode: 'full', status: 'running', startedAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:01:00Z', spans: [{ start: '0', end: null, done: false }], counters: {} },
      new Date('2026-01-01T00:02:00Z'),
    );
    expect(p).toEqual({ spansDone: 0, spansTotal: 1, fraction: 0, etaSeconds: null });
  });

  it('reads at most the last bytes of the ledger, skipping the cut first line', async () => {
    const ledger = join(dir, 'big.ndjson');
    writeFileSync(ledger, '');
    for (let i = 0; i < 2000; i++) appendFileSync(ledger, `${JSON.stringify(entry({ id: `id-${i}` }))}\n`);
    const tail = await readLedgerTail(ledger, 10_000);
    expect(tail.truncated).toBe(true);
    expect(tail.bytesRead).toBe(10_000);
    expect(tail.entries.length).toBeGreaterThan(10);
    expect(tail.entries.length).toBeLessThan(100);
    expect(tail.entries.at(-1)!.id).toBe('id-1999');
    for (const e of tail.entries) expect(e.id).toMatch(/^id-\d+$/);
  });
});

describe('LagSampler', () => {
  it('keeps an hour of lag samples per pipeline and direction', async () => {
    const state = new MemoryState();
    let t = Date.parse('2026-01-01T00:00:00Z');
    const sampler = new LagSampler({ pipelines: [{ name: 'org', directions: ['to-elasticsearch', 'to-cassandra'] }], loadWatermark: (p, d) => state.loadWatermark(p, d), now: () => t });
    await sampler.sample(); // no watermark yet: no sample
    expect(sampler.history('org', 'to-elasticsearch')).toEqual([]);
    await state.saveWatermark('org', 'to-elasticsearch', { version: (t - 10_000) * 1000, id: 'a' });
    for (let i = 0; i < 150; i++) {
      await sampler.sample();
      t += 30_000;
    }
    const h = sampler.history('org', 'to-elasticsearch');
    // 30 s after the last sample: those of the hour before now, the oldest ones dropped.
    expect(h.length).toBe(119);
    expect(h.at(-1)!.lagSeconds).toBeCloseTo(10 + 149 * 30, 3);
    expect(sampler.history('org', 'to-cassandra')).toEqual([]);
  });
});

describe('the status routes', () => {
  async function app() {
    const { config, state } = await seeded();
    const stores = { state } as unknown as Stores;
    return buildApp({ config, stores, logger: pino({ level: 'silent' }) });
  }

  it('GET /api/status needs the key: 401 and no data without it or with a wrong one', async () => {
    const a = await app();
    for (const headers of [{}, { authorization: 'Bearer wrong-key-0123456789abc' }, { authorization: KEY }]) {
      const res = await a.inject({ method: 'GET', url: '/api/status', headers });
      expect(res.statusCode).toBe(401);
      expect(res.body).not.toContain('pipelines');
      expect(res.body).not.toContain('u1');
    }
    const ok = await a.inject({ method: 'GET', url: '/api/status', headers: { authorization: `Bearer ${KEY}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    const body = ok.json() as { pipelines: { pipeline: string; failures: { latest: FailureEntry[] } }[] };
    expect(body.pipelines.map((p) => p.pipeline)).toEqual(['user', 'org']);
    expect(body.pipelines[0]!.failures.latest[0]!.id).toBe(HOSTILE_ID);
    await a.close();
  });

  it('GET /status serves the page without any data, with a strict Content-Security-Policy', async () => {
    const a = await app();
    const res = await a.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.body).toBe(STATUS_HTML);
    expect(res.body).not.toMatch(/ks\.users|u1/);
    expect(res.body).toContain('type="password"');
    const js = await a.inject({ method: 'GET', url: '/status/app.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toMatch(/^text\/javascript/);
    expect((await a.inject({ method: 'GET', url: '/status/style.css' })).statusCode).toBe(200);
    await a.close();
  });

  it('the script builds the DOM without innerHTML and keeps the key in sessionStorage only', () => {
    expect(STATUS_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(STATUS_SCRIPT).toContain('sessionStorage');
    expect(STATUS_SCRIPT).not.toContain('localStorage');
    // It parses as JavaScript.
    expect(() => new Function(STATUS_SCRIPT)).not.toThrow();
  });
});
