// Shared test harness for the integration suite: clients of the real servers, a way to build a
// configuration for a keyspace, and a way to run the built CLI as a user would.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as EsClient, Transport } from '@elastic/elasticsearch';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config, TargetConfig } from '../../src/config/schema.js';
import { connectElasticsearch, elasticsearchApi } from '../../src/elasticsearch/api.js';
import { connectOpenSearch, openSearchApi } from '../../src/opensearch/api.js';
import type { SearchApi } from '../../src/search-index/api.js';

export const endpoints = () => inject('endpoints');

/** The search cluster this run of the suite writes to (CESYNC_TEST_TARGET; global-setup.ts). */
export const target = () => inject('target');

/** The configuration section of the test target: `elasticsearch` or `opensearch`. */
export const targetKey = (): 'elasticsearch' | 'opensearch' => target().product;

/**
 * A transport for the assertion client of an OpenSearch run: without the Elasticsearch client's
 * product check, and with plain JSON content types (OpenSearch refuses `compatible-with=8`).
 */
class AnyProductTransport extends Transport {
  constructor(options: ConstructorParameters<typeof Transport>[0]) {
    super({
      ...options,
      productCheck: undefined,
      vendoredHeaders: { jsonContentType: 'application/json', ndjsonContentType: 'application/x-ndjson', accept: 'application/json,text/plain' },
    });
  }
}

export function cassandraClient(): cassandra.Client {
  const e = endpoints().cassandra;
  return new cassandra.Client({
    contactPoints: e.contactPoints,
    localDataCenter: e.localDataCenter,
    authProvider: new cassandra.auth.PlainTextAuthProvider(e.username, e.password),
    encoding: { map: Map, set: Set },
  });
}

/**
 * The tests' own client of the test target, for setting up and checking indices. It is the
 * Elasticsearch client whatever the target (the REST calls tests make are the same on
 * OpenSearch); against OpenSearch its product check is off. cesync itself talks to each target
 * through that target's own client (src/elasticsearch, src/opensearch).
 */
export function esClient(): EsClient {
  const t = target();
  return new EsClient({ node: t.node, ...(t.product === 'opensearch' ? { Transport: AnyProductTransport } : {}) });
}

/** The test target's section as a parsed configuration has it (`config.target`). */
export function targetConfig(overrides: Partial<TargetConfig> = {}): TargetConfig {
  return { product: target().product, node: target().node, requestTimeoutMs: 60_000, maxRetries: 5, ...overrides };
}

/** cesync's port to the test target, connected as `cesync` connects (the caller closes it). */
export function targetApi(overrides: Partial<TargetConfig> = {}): Promise<SearchApi> {
  const c = targetConfig(overrides);
  return c.product === 'opensearch' ? connectOpenSearch(c) : connectElasticsearch(c);
}

/** cesync's port to a server of the test target's kind at `node`, without connecting (a dead node, say). */
export function targetApiAt(node: string, overrides: Partial<TargetConfig> = {}): SearchApi {
  const c = targetConfig({ node, ...overrides });
  const server = { product: target().product, version: target().version, major: target().major, minor: target().minor };
  return c.product === 'opensearch' ? openSearchApi(c, server) : elasticsearchApi(c, server);
}

/** A pool of the project's role on the machine's PostgreSQL (the caller ends it). */
export function pgPool(): pg.Pool {
  const e = endpoints().postgres;
  return new pg.Pool({ host: e.host, port: e.port, database: e.database, user: e.user, password: e.password });
}

/** The raw configuration document (as a user would write it) for some pipelines. */
/**
 * The raw configuration document (as a user would write it) for some pipelines. The search
 * cluster is written under the test target's key; an `elasticsearch` section in `extra` (a
 * proxy's node, say) is moved there too.
 */
export function rawConfig(pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const e = endpoints();
  return onTargetKey({
    cassandra: {
      contactPoints: e.cassandra.contactPoints,
      localDataCenter: e.cassandra.localDataCenter,
      username: e.cassandra.username,
      password: '${TEST_CASSANDRA_PASSWORD}',
    },
    elasticsearch: { node: target().node },
    pipelines,
    ...extra,
  });
}

/** `raw` with its `elasticsearch` section under the test target's key. */
export function onTargetKey(raw: Record<string, unknown>): Record<string, unknown> {
  if (targetKey() === 'elasticsearch' || !('elasticsearch' in raw)) return raw;
  const { elasticsearch, ...rest } = raw;
  return { ...rest, opensearch: elasticsearch };
}

export const testEnv = () => ({ TEST_CASSANDRA_PASSWORD: endpoints().cassandra.password });

export function config(pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): Readonly<Config> {
  return parseConfig(rawConfig(pipelines, extra), testEnv());
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cesync-test-'));
}

/** Writes a YAML configuration file and returns its path. */
export function writeConfig(dir: string, raw: Record<string, unknown>): string {
  const path = join(dir, 'cesync.yaml');
  writeFileSync(path, stringify(raw));
  return path;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`bin/cesync.js`) in a child process, as a user would. */
export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/cesync.js', ...args], {
      env: { ...process.env, ...testEnv(), ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function recreateKeyspace(client: cassandra.Client, keyspace: string): Promise<void> {
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await client.execute(`CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
}

export async function deleteIndex(es: EsClient, index: string): Promise<void> {
  await es.indices.delete({ index, ignore_unavailable: true });
}

/** Validates a raw configuration document with the test environment. */
export function parseRaw(raw: Record<string, unknown>): Readonly<Config> {
  return parseConfig(raw, testEnv());
}

/** Connected clients of both servers, with `keyspace` dropped and created empty. */
export async function openTestClients(keyspace: string): Promise<{ cql: cassandra.Client; es: EsClient }> {
  const cql = cassandraClient();
  await cql.connect();
  await recreateKeyspace(cql, keyspace);
  return { cql, es: esClient() };
}
