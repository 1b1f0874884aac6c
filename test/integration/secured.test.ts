// Secured clusters as production runs them: Elasticsearch with security on (HTTPS with the
// project's own CA, basic auth) and Cassandra with client-to-node TLS and a password,
// keystores made by the service scripts with the JDK's keytool (scripts/services/tls.ts). Each
// configured as a user configures it; a wrong CA or a wrong password ends with exit code 3 and a
// message that says so, never a hang. (API keys cannot be tried here: the integration-test
// distribution of Elasticsearch lacks the analysis module its security index needs, so it can
// create no API key; docs/targets.md says so.)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type cassandra from 'cassandra-driver';
import { parse, stringify } from 'yaml';
import { startServices, stopServices, type ServiceName } from '../../scripts/services/index.ts';
import { cassandraClient, endpoints, onTargetKey, recreateKeyspace, runCli, target, tempDir, writeConfig, type CliResult } from './harness.js';

const KS = 'cesync_secured';
const dir = tempDir();
const SECRET = { SECURED_ES_PASSWORD: '' };
let started: ServiceName[] = [];
let cql: cassandra.Client;

const secure = () => endpoints().targets['elasticsearch-secure'];

/** A request to the secured cluster as its superuser, verified against the CA. */
function es(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const t = secure();
  return new Promise((resolve, reject) => {
    const req = request(
      `${t.node}${path}`,
      { method, ca: readFileSync(t.caFile), auth: `${t.username}:${t.password}`, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as Record<string, unknown>);
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A configuration of one pipeline, the Elasticsearch section and Cassandra's TLS as given. */
function configFile(name: string, search: Record<string, unknown>, cassandraTls?: Record<string, unknown>): string {
  const e = endpoints().cassandra;
  return writeConfig(tempDirFor(name), {
    cassandra: {
      contactPoints: e.contactPoints,
      localDataCenter: e.localDataCenter,
      username: e.username,
      password: '${TEST_CASSANDRA_PASSWORD}',
      ...(cassandraTls ? { tls: cassandraTls } : {}),
      requestTimeoutMs: 10_000,
    },
    elasticsearch: { maxRetries: 1, requestTimeoutMs: 10_000, ...search },
    failureLedger: `${dir}/${name}-failures.ndjson`,
    state: { store: 'file', path: `${dir}/${name}-state.json` },
    pipelines: [{ name: 'users', keyspace: KS, table: 'users', index: `secured_${name}` }],
  });
}

function tempDirFor(name: string): string {
  const d = `${dir}/${name}`;
  mkdirSync(d, { recursive: true });
  return d;
}

const cli = (args: string[]): Promise<CliResult> => runCli(args, SECRET);

beforeAll(async () => {
  started = (await startServices(['elasticsearch-secure'])).started;
  SECRET.SECURED_ES_PASSWORD = secure().password;
  cql = cassandraClient();
  await cql.connect();
  await recreateKeyspace(cql, KS);
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text)`);
  for (let i = 0; i < 50; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [`u${i}`, `name ${i}`], { prepare: true });
}, 600_000);

afterAll(async () => {
  await cql?.shutdown();
  await stopServices(started);
});

describe('a secured Elasticsearch', () => {
  const tls = () => ({ caFile: secure().caFile });

  it('syncs and verifies over HTTPS with basic auth, the CA from the configuration', async () => {
    const file = configFile('basic', { node: secure().node, username: 'elastic', password: '${SECURED_ES_PASSWORD}', tls: tls() });
    const sync = await cli(['sync', '--config', file, '--json']);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout).reports[0]).toMatchObject({ indexed: 50, failed: 0 });
    const verify = await cli(['verify', '--config', file, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect((await es('GET', '/secured_basic/_count')).count).toBe(50);
  });

  it('refuses a CA that did not sign the certificate: exit 3, quickly, naming the certificate', async () => {
    const file = configFile('wrongca', { node: secure().node, username: 'elastic', password: '${SECURED_ES_PASSWORD}', tls: { caFile: secure().otherCaFile } });
    const t0 = Date.now();
    const sync = await cli(['sync', '--config', file]);
    expect(sync.code, sync.stderr).toBe(3);
    expect(sync.stderr).toMatch(/certificate/i);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(sync.stderr).not.toContain(SECRET.SECURED_ES_PASSWORD);
  });

  it('refuses a server whose certificate it cannot verify when no CA is given, and accepts it only when asked', async () => {
    const refused = await cli(['sync', '--config', configFile('noca', { node: secure().node, username: 'elastic', password: '${SECURED_ES_PASSWORD}' })]);
    expect(refused.code, refused.stderr).toBe(3);
    const asked = await cli(['sync', '--config', configFile('insecure', { node: secure().node, username: 'elastic', password: '${SECURED_ES_PASSWORD}', tls: { rejectUnauthorized: false } }), '--json']);
    expect(asked.code, asked.stderr).toBe(0);
  });

  it('refuses a wrong password with exit 3 and STORE_AUTH, the password never printed', async () => {
    const file = configFile('wrongpw', { node: secure().node, username: 'elastic', password: 'Wrong-secured-pw-81f3', tls: tls() });
    const sync = await cli(['sync', '--config', file]);
    expect(sync.code, sync.stderr).toBe(3);
    expect(sync.stderr).toMatch(/refused the credentials \(401\)/);
    expect(sync.stderr + sync.stdout).not.toContain('Wrong-secured-pw-81f3');
  });
});

describe('Cassandra with client-to-node TLS and a password', () => {
  // Into the suite's own target (plain): what is tried here is the way to Cassandra.
  const plain = () => ({ node: target().node });
  const withTarget = (file: string) => {
    const raw = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, stringify(onTargetKey(raw)));
    return file;
  };

  it('syncs over TLS verified against the CA', async () => {
    const file = withTarget(configFile('cqltls', plain(), { caFile: endpoints().cassandra.tls.caFile }));
    const sync = await cli(['sync', '--config', file, '--json']);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout).reports[0]).toMatchObject({ indexed: 50 });
  });

  it('refuses a CA that did not sign the certificate: exit 3, quickly', async () => {
    const file = withTarget(configFile('cqlwrongca', plain(), { caFile: endpoints().cassandra.tls.otherCaFile }));
    const t0 = Date.now();
    const sync = await cli(['sync', '--config', file]);
    expect(sync.code, sync.stderr).toBe(3);
    expect(sync.stderr).toMatch(/Cassandra at .* is unreachable: .*certificate/i);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('refuses a wrong password over TLS with exit 3 and STORE_AUTH', async () => {
    const e = endpoints().cassandra;
    const file = writeConfig(tempDirFor('cqlwrongpw'), onTargetKey({
      cassandra: { contactPoints: e.contactPoints, localDataCenter: e.localDataCenter, username: e.username, password: 'Wrong-cql-pw-5c2e', tls: { caFile: e.tls.caFile } },
      elasticsearch: plain(),
      state: { store: 'file', path: `${dir}/cqlwrongpw-state.json` },
      pipelines: [{ name: 'users', keyspace: KS, table: 'users', index: 'secured_cqlwrongpw' }],
    }));
    const sync = await cli(['sync', '--config', file]);
    expect(sync.code, sync.stderr).toBe(3);
    expect(sync.stderr).toMatch(/refused the credentials/);
    expect(sync.stderr).not.toContain('Wrong-cql-pw-5c2e');
  });
});
