// The Prometheus adapter of the engine's RunObserver, each test on a fresh registry; and the
// engine calling its observer during a full sync (with in-memory fakes).
import { describe, expect, it } from 'vitest';
import { fullSync } from '../../src/engine/full-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { observedFailures } from '../../src/engine/observed-failures.js';
import type { RunObserver } from '../../src/engine/ports.js';
import { serveMetrics } from '../../src/metrics/exposition.js';
import { CesyncMetrics } from '../../src/metrics/metrics.js';
import { MemoryIndex, MemoryState, memorySource } from './fakes.js';

const fresh = (now = () => 1_000_000_000_000) => new CesyncMetrics({ now, defaultMetrics: false });

/** The value of one series (labels matched exactly) in the registry, or undefined. */
async function value(m: CesyncMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const base = name.replace(/_(count|sum|bucket)$/, '');
  const metric = m.registry.getSingleMetric(m.registry.getSingleMetric(name) ? name : base);
  if (!metric) return undefined;
  const { name: metricName, values } = await metric.get();
  return values.find((v) => ((v as { metricName?: string }).metricName ?? metricName) === name && sameLabels(v.labels, labels))?.value;
}
const sameLabels = (a: Record<string, unknown>, b: Record<string, string>) => Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => String(a[k]) === v);

describe('CesyncMetrics and its run observer', () => {
  const labels = { pipeline: 'user', direction: 'to-elasticsearch' } as const;

  it('moves each metric of the same meaning, labelled with the run', async () => {
    const m = fresh();
    const o = m.observer(labels);
    o.rowsRead(5);
    o.rowsRead(2);
    o.outcome('created', 3);
    o.outcome('unchanged', 1);
    o.outcome('failed', 1);
    o.failure('mapping');
    o.retry('request', 1);
    o.retry('document', 4);
    o.bulkRequest(0.2, 1000);
    o.bulkRequest(3, 500);
    expect(await value(m, 'cesync_rows_read_total', labels)).toBe(7);
    expect(await value(m, 'cesync_documents_total', { ...labels, outcome: 'created' })).toBe(3);
    expect(await value(m, 'cesync_documents_total', { ...labels, outcome: 'unchanged' })).toBe(1);
    expect(await value(m, 'cesync_documents_total', { ...labels, outcome: 'failed' })).toBe(1);
    expect(await value(m, 'cesync_failures_total', { ...labels, class: 'mapping' })).toBe(1);
    expect(await value(m, 'cesync_retries_total', { ...labels, what: 'request' })).toBe(1);
    expect(await value(m, 'cesync_retries_total', { ...labels, what: 'document' })).toBe(4);
    expect(await value(m, 'cesync_bulk_request_duration_seconds_count', { pipeline: 'user' })).toBe(2);
    expect(await value(m, 'cesync_bulk_request_duration_seconds_sum', { pipeline: 'user' })).toBeCloseTo(3.2);
    expect(await value(m, 'cesync_bulk_request_duration_seconds_bucket', { pipeline: 'user', le: '0.25' })).toBe(1);
    expect(await value(m, 'cesync_bulk_bytes_total', { pipeline: 'user' })).toBe(1500);
    // Another pipeline's run is counted apart.
    m.observer({ pipeline: 'org', direction: 'to-cassandra' }).rowsRead(1);
    expect(await value(m, 'cesync_rows_read_total', { pipeline: 'org', direction: 'to-cassandra' })).toBe(1);
    expect(await value(m, 'cesync_rows_read_total', labels)).toBe(7);
  });

  it('shows progress and ETA, and leaves the ETA out while unknown', async () => {
    const m = fresh();
    const o = m.observer(labels);
    o.progress(0, undefined);
    expect(await value(m, 'cesync_full_sync_progress_ratio', { pipeline: 'user' })).toBe(0);
    expect(await value(m, 'cesync_full_sync_eta_seconds', { pipeline: 'user' })).toBeUndefined();
    o.progress(0.25, 30);
    expect(await value(m, 'cesync_full_sync_progress_ratio', { pipeline: 'user' })).toBe(0.25);
    expect(await value(m, 'cesync_full_sync_eta_seconds', { pipeline: 'user' })).toBe(30);
  });

  it('computes the lag from the latest watermark at each scrape', async () => {
    let now = 1_000_000_000_000; // ms
    const m = fresh(() => now);
    m.observer(labels).watermark('to-elasticsearch', (now - 7000) * 1000);
    expect(await value(m, 'cesync_incremental_lag_seconds', labels)).toBeCloseTo(7);
    now += 3000;
    expect(await value(m, 'cesync_incremental_lag_seconds', labels)).toBeCloseTo(10);
    m.observer(labels).watermark('to-elasticsearch', (now - 1000) * 1000);
    expect(await value(m, 'cesync_incremental_lag_seconds', labels)).toBeCloseTo(1);
  });

  it('sets lease and verify gauges', async () => {
    const m = fresh();
    m.leaseHeld('user', true);
    expect(await value(m, 'cesync_lease_held', { pipeline: 'user' })).toBe(1);
    m.leaseHeld('user', false);
    expect(await value(m, 'cesync_lease_held', { pipeline: 'user' })).toBe(0);
    m.verifyDifferences('user', { missing: 2, orphan: 1, stale: 0, different: 0 });
    expect(await value(m, 'cesync_verify_differences', { pipeline: 'user', class: 'missing' })).toBe(2);
    expect(await value(m, 'cesync_verify_differences', { pipeline: 'user', class: 'stale' })).toBe(0);
  });

  it("registers in its own registry, with prom-client's default metrics unless told not to", async () => {
    const a = new CesyncMetrics();
    const b = new CesyncMetrics(); // a second one does not clash with the first
    expect(a.registry).not.toBe(b.registry);
    const text = await a.registry.metrics();
    expect(text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^# TYPE cesync_rows_read_total counter$/m);
    expect(await fresh().registry.metrics()).not.toMatch(/process_cpu/);
  });

  it('serves the text format at GET /metrics, and nothing else', async () => {
    const m = fresh();
    m.observer(labels).rowsRead(3);
    const server = await serveMetrics(m.registry, { host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`${server.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await res.text()).toMatch(/^cesync_rows_read_total\{pipeline="user",direction="to-elasticsearch"\} 3$/m);
      expect((await fetch(`${server.url}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('the engine and its observer', () => {
  it('tells a full sync\'s rows, outcomes, failures, progress and watermark', async () => {
    const calls: string[] = [];
    const observer: RunObserver = {
      rowsRead: (n) => calls.push(`read ${n}`),
      outcome: (k, n) => calls.push(`${k} ${n}`),
      failure: (c) => calls.push(`failure ${c}`),
      retry: (w, n) => calls.push(`retry ${w} ${n}`),
      bulkRequest: () => calls.push('bulk'),
      progress: (f, eta) => calls.push(`progress ${f} ${eta === undefined ? '?' : 'eta'}`),
      watermark: (d) => calls.push(`watermark ${d}`),
    };
    const index = new MemoryIndex();
    index.reject.add('b');
    const records = ['a', 'b', 'c'].map((id) => ({ id, version: 10, document: { id } }));
    const ledger = new MemoryFailureLedger();
    const r = await fullSync(
      { source: memorySource(records), sink: index, failures: observedFailures(ledger, observer), observer, state: new MemoryState() },
      { pipeline: 'p', index: 'i' },
    );
    expect(r).toMatchObject({ read: 3, created: 2, failed: 1 });
    const count = (kind: string) => calls.filter((c) => c.startsWith(`${kind} `)).reduce((sum, c) => sum + Number(c.split(' ')[1]), 0);
    expect(count('read')).toBe(3);
    expect(count('created')).toBe(2);
    expect(count('failed')).toBe(1);
    expect(calls.filter((c) => c === 'failure mapping')).toHaveLength(1);
    expect(calls).toContain('watermark to-elasticsearch');
    expect(calls.at(-1)).toBe('progress 1 eta');
    expect(ledger.entries).toHaveLength(1);
  });
});
