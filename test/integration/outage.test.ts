// A store that goes away mid-run: requests are retried, then the run stops with a coded error
// instead of hanging or reporting success. Elasticsearch is reached through a TCP proxy that the
// test cuts after some traffic (the server itself stays up for the other suites).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type cassandra from 'cassandra-driver';
import { connectStores } from '../../src/sync/stores.js';
import { syncPipeline } from '../../src/sync/sync-pipeline.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import { CesyncError } from '../../src/errors.js';
import { cassandraClient, parseRaw, rawConfig, recreateKeyspace, target } from './harness.js';

const KS = 'cesync_outage';
let cql: cassandra.Client;

/** Forwards to Elasticsearch until `cut()`; then refuses every connection. */
function proxy(target: URL): Promise<{ server: Server; port: number; bytes: () => number; cut: () => void }> {
  const sockets = new Set<Socket>();
  let forwarded = 0;
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (forwarded += d.length));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        server,
        port,
        bytes: () => forwarded,
        cut: () => {
          open = false;
          server.close();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}

beforeAll(async () => {
  cql = cassandraClient();
  await cql.connect();
  await recreateKeyspace(cql, KS);
  await cql.execute(`CREATE TABLE ${KS}.big (id int PRIMARY KEY, body text)`);
  const body = 'x'.repeat(500);
  for (let i = 0; i < 20_000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => cql.execute(`INSERT INTO ${KS}.big (id, body) VALUES (?, ?)`, [i + j, body], { prepare: true })));
  }
});

afterAll(async () => {
  await cql?.shutdown();
});

it('stops with STORE_UNAVAILABLE when Elasticsearch goes away mid-run', async () => {
  const p = await proxy(new URL(target().node));
  const cfg = parseRaw(rawConfig([{ name: 'big', keyspace: KS, table: 'big', index: 'outage_big', bulk: { flushBytes: 100_000, concurrency: 1 } }], { elasticsearch: { node: `http://127.0.0.1:${p.port}`, maxRetries: 2, requestTimeoutMs: 5000 } }));
  const stores = await connectStores(cfg);
  const watcher = setInterval(() => {
    if (p.bytes() > 1_000_000) p.cut(); // after about ten bulk requests
  }, 5);
  try {
    const started = Date.now();
    const run = syncPipeline(stores, cfg.pipelines[0]!, { failures: new MemoryFailureLedger() });
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CesyncError);
    expect((error as CesyncError).code).toBe('STORE_UNAVAILABLE');
    expect((error as CesyncError).message).toMatch(/(Elasticsearch|OpenSearch) at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(Date.now() - started).toBeLessThan(60_000);
  } finally {
    clearInterval(watcher);
    p.cut();
    await stores.close();
  }
});
