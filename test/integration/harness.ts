// Shared test harness for the integration suite: clients of the real servers, a way to build a
// configuration for a keyspace, and a way to run the built CLI as a user would.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as EsClient } from '@elastic/elasticsearch';
import cassandra from 'cassandra-driver';
import pg from 'pg';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export const endpoints = () => inject('endpoints');

export function cassandraClient(): cassandra.Client {
  const e = endpoints().cassandra;
  return new cassandra.Client({
    contactPoints: e.contactPoints,
    localDataCenter: e.localDataCenter,
    authProvider: new cassandra.auth.PlainTextAuthProvider(e.username, e.password),
    encoding: { map: Map, set: Set },
  });
}

export function esClient(): EsClient {
  return new EsClient({ node: endpoints().elasticsearch.node });
}

/** A pool of the project's role on the machine's PostgreSQL (the caller ends it). */
export function pgPool(): pg.Pool {
  const e = endpoints().postgres;
  return new pg.Pool({ host: e.host, port: e.port, database: e.database, user: e.user, password: e.password });
}

/** The raw configuration document (as a user would write it) for some pipelines. */
export function rawConfig(pipelines: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const e = endpoints();
  return {
    cassandra: {
      contactPoints: e.cassandra.contactPoints,
      localDataCenter: e.cassandra.localDataCenter,
      username: e.cassandra.username,
      password: '${TEST_CASSANDRA_PASSWORD}',
    },
    elasticsearch: { node: e.elasticsearch.node },
    pipelines,
    ...extra,
  };
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
