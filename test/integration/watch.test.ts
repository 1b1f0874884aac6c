// `cesync watch` against the real servers: changes flow continuously, a second watcher of the
// same pipeline refuses to start, a watcher killed with SIGKILL blocks nobody once its lease
// expires, and SIGTERM stops a watcher cleanly and frees its pipeline at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_watch';
const LEASE_MS = 3000;
let cql: cassandra.Client;
let es: EsClient;
let configFile: string;
const children: ChildProcess[] = [];

function startWatch(): { child: ChildProcess; exit: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['bin/cesync.js', 'watch', '--config', configFile, '--interval', '200', '--lease-ttl', String(LEASE_MS)], {
    env: { ...process.env, ...testEnv() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, exit: new Promise((r) => child.on('exit', (code) => r(code))), output: () => out };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const indexed = async (id: string) => es.exists({ index: 'watch_items', id }).catch(() => false);

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.items (id text PRIMARY KEY, body text)`);
  await deleteIndex(es, 'watch_items');
  await cql.execute('DELETE FROM cesync.leases WHERE name = ?', ['watch:watched'], { prepare: true }).catch(() => undefined);
  await cql.execute('DELETE FROM cesync.watermarks WHERE pipeline = ?', ['watched'], { prepare: true }).catch(() => undefined);
  configFile = writeConfig(
    tempDir(),
    rawConfig([{ name: 'watched', keyspace: KS, table: 'items', index: 'watch_items', incremental: { safetyLagMs: 200, batchSize: 500 } }]),
  );
});

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

it('carries changes continuously, holds its pipeline against a second watcher, and lets go cleanly or by expiry', async () => {
  const first = startWatch();
  await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('a', 'one')`);
  await until('row a in the index', () => indexed('a'));
  await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('b', 'two')`);
  await until('row b in the index', () => indexed('b'));

  const status = await runCli(['status', '--config', configFile]);
  expect(status.stdout).toMatch(/watched by .*:\d+/);

  const second = startWatch();
  expect(await second.exit).toBe(6);
  expect(second.output()).toMatch(/pipeline watched is already watched by/);

  // Killed without a chance to release: the lease blocks a new watcher until it expires.
  first.child.kill('SIGKILL');
  await first.exit;
  const tooEarly = startWatch();
  expect(await tooEarly.exit).toBe(6);
  await new Promise((r) => setTimeout(r, LEASE_MS + 500));
  const third = startWatch();
  await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('c', 'three')`);
  await until('row c in the index', () => indexed('c'));

  // SIGTERM: stops after the step in progress, exit 0, and the pipeline is free at once.
  third.child.kill('SIGTERM');
  expect(await third.exit).toBe(0);
  const fourth = startWatch();
  await cql.execute(`INSERT INTO ${KS}.items (id, body) VALUES ('d', 'four')`);
  await until('row d in the index', () => indexed('d'));
  fourth.child.kill('SIGTERM');
  expect(await fourth.exit).toBe(0);
});
