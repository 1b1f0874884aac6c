// Watch latency: how long after a row is written to Cassandra it is searchable in Elasticsearch,
// with `cesync watch` running. A small table with a change column (queried through a
// Storage-Attached Index), rows written one at a time, each timed until a search finds it.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Stores } from '../src/sync/stores.ts';
import type { ServiceEndpoints } from '../scripts/services/index.ts';
import { repoRoot } from './cesync-modules.ts';
import { KEYSPACE } from './dataset.ts';

export const LATENCY_INDEX = 'cesync_bench_latency';
const TABLE = 'latency';

export interface LatencyResult {
  changes: number;
  /** Milliseconds from the write's acknowledgement to the first search that finds the document. */
  latenciesMs: number[];
  p50: number;
  p99: number;
  max: number;
  settings: { intervalMs: number; safetyLagMs: number };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export async function measureWatchLatency(options: {
  stores: Stores;
  endpoints: ServiceEndpoints;
  /** The search cluster's configuration section and node. */
  target: { section: 'elasticsearch' | 'opensearch'; node: string };
  workDir: string;
  env: Record<string, string>;
  changes: number;
  intervalMs: number;
  safetyLagMs: number;
  say: (s: string) => void;
}): Promise<LatencyResult> {
  const { stores, changes } = options;
  await stores.cassandra!.execute(`CREATE TABLE IF NOT EXISTS ${KEYSPACE}.${TABLE} (id text PRIMARY KEY, body text, updated_at timestamp)`);
  await stores.cassandra!.execute(`TRUNCATE ${KEYSPACE}.${TABLE}`);
  await stores.target.deleteIndex(LATENCY_INDEX);
  const config = path.join(options.workDir, 'latency.yaml');
  await writeFile(
    config,
    stringify({
      cassandra: {
        contactPoints: options.endpoints.cassandra.contactPoints,
        localDataCenter: options.endpoints.cassandra.localDataCenter,
        username: options.endpoints.cassandra.username,
        password: '${CESYNC_BENCH_CASSANDRA_PASSWORD}',
      },
      [options.target.section]: { node: options.target.node },
      failureLedger: path.join(options.workDir, 'latency-failures.ndjson'),
      state: { keyspace: KEYSPACE },
      pipelines: [
        { name: 'latency', keyspace: KEYSPACE, table: TABLE, index: LATENCY_INDEX, changeColumn: 'updated_at', incremental: { safetyLagMs: options.safetyLagMs } },
      ],
    }),
  );
  const cli = path.join(repoRoot, 'bin', 'cesync.js');
  const env = { ...process.env, ...options.env };
  // A first sync creates the index and the change column's index, and starts the watermark.
  await run(process.execPath, [cli, 'sync', '--config', config, '--pipeline', 'latency', '--quiet'], env);
  await run(process.execPath, [cli, 'sync', '--config', config, '--pipeline', 'latency', '--since', '1m', '--create-index', '--quiet'], env);
  const watcher = spawn(process.execPath, [cli, 'watch', '--config', config, '--pipeline', 'latency', '--interval', String(options.intervalMs)], {
    env,
    stdio: 'ignore',
  });
  const exited = new Promise((r) => watcher.on('exit', r));
  const latencies: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < changes; i++) {
      const id = `change-${i}`;
      await stores.cassandra!.execute(`INSERT INTO ${KEYSPACE}.${TABLE} (id, body, updated_at) VALUES (?, ?, toTimestamp(now()))`, [id, `body ${i}`], {
        prepare: true,
      });
      const t0 = performance.now();
      for (;;) {
        const res = await stores.target.search(LATENCY_INDEX, { size: 0, query: { term: { id } }, track_total_hits: true });
        const total = res.hits.total;
        if ((typeof total === 'number' ? total : (total?.value ?? 0)) > 0) break;
        if (performance.now() - t0 > 30_000) throw new Error(`change ${id} not searchable after 30 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      latencies.push(performance.now() - t0);
      if ((i + 1) % 25 === 0) options.say(`latency: ${i + 1}/${changes} changes`);
    }
  } finally {
    watcher.kill('SIGTERM');
    await exited;
    await stores.target.deleteIndex(LATENCY_INDEX).catch(() => undefined);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    changes,
    latenciesMs: latencies,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1]!,
    settings: { intervalMs: options.intervalMs, safetyLagMs: options.safetyLagMs },
  };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${args.slice(1, 3).join(' ')} exited ${code}: ${err.slice(-500)}`))));
  });
}
