// The PostgreSQL state store against the machine's real server: state, watermarks and verifies
// round-trip and damaged rows are refused (STATE_INVALID); leases are atomic and expire by the
// server's clock; two stores using a fresh schema at once both create it; a server that does
// not answer, or refuses the role, gives coded errors. Each test works in a schema of its own,
// dropped afterwards.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { PipelineState, VerifySummary } from '../../src/engine/ports.js';
import { PostgresStateStore } from '../../src/state/postgres-state-store.js';
import { endpoints, pgPool } from './harness.js';

const pools: pg.Pool[] = [];
const schemas: string[] = [];

/** A pool that is ended after the test. */
function pool(): pg.Pool {
  const p = pgPool();
  pools.push(p);
  return p;
}

/** A fresh schema name, dropped after the test. */
function schemaName(): string {
  const name = `cesync_state_test_${randomBytes(6).toString('hex')}`;
  schemas.push(name);
  return name;
}

const where = () => `${endpoints().postgres.host}:${endpoints().postgres.port}/${endpoints().postgres.database}`;

function store(schema = schemaName(), p = pool()): PostgresStateStore {
  return new PostgresStateStore(p, { schema, where: where() });
}

afterEach(async () => {
  const admin = pgPool();
  try {
    for (const s of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await admin.end();
  }
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

function state(pipeline: string, over: Partial<PipelineState> = {}): PipelineState {
  return {
    pipeline,
    runId: `run-${pipeline}`,
    mode: 'full',
    status: 'running',
    startedAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:01:00.000Z',
    spans: [
      { start: '-9223372036854775808', end: '0', after: '-42', done: false },
      { start: '0', end: null, done: true },
    ],
    counters: { read: 10, created: 7 },
    ...over,
  };
}

function verify(pipeline: string, over: Partial<VerifySummary> = {}): VerifySummary {
  return {
    pipeline,
    at: '2025-01-02T00:00:00.000Z',
    inSync: false,
    content: true,
    since: '2025-01-01T00:00:00.000Z',
    counts: { missing: 1, orphan: 2, stale: 3, different: 4 },
    spans: 16,
    driftSpans: [{ start: '-5', end: '7', differences: 10 }],
    durationMs: 1234,
    ...over,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PostgresStateStore: pipeline state', () => {
  it('saves, loads and lists the state of each pipeline, a save replacing the one before', async () => {
    const s = store();
    expect(await s.load('users')).toBeUndefined();
    expect(await s.list()).toEqual([]);
    await s.save(state('users'));
    await s.save(state('orgs', { status: 'failed', error: 'boom' }));
    expect(await s.load('users')).toEqual(state('users'));
    const finished = state('users', { status: 'finished', spans: [], updatedAt: '2025-01-01T00:02:00.000Z' });
    await s.save(finished);
    expect(await s.load('users')).toEqual(finished);
    expect(await s.list()).toEqual([state('orgs', { status: 'failed', error: 'boom' }), finished]);
    await s.close();
  });

  it('refuses a damaged state row with STATE_INVALID (never taken for no state)', async () => {
    const schema = schemaName();
    const p = pool();
    const s = store(schema, p);
    await s.save(state('good'));
    await p.query(`INSERT INTO "${schema}".pipeline_state (pipeline, state) VALUES ($1, $2), ($3, $4)`, ['notjson', '{"pipeline": "notjson", ', 'shape', JSON.stringify({ pipeline: 'shape', mode: 'full' })]);
    await expect(s.load('notjson')).rejects.toMatchObject({ code: 'STATE_INVALID', message: expect.stringContaining(`${schema}.pipeline_state`) });
    await expect(s.load('shape')).rejects.toMatchObject({ code: 'STATE_INVALID', message: expect.stringContaining('damaged') });
    await expect(s.list()).rejects.toMatchObject({ code: 'STATE_INVALID' });
    expect(await s.load('good')).toEqual(state('good'));
  });
});

describe('PostgresStateStore: watermarks', () => {
  it('keeps one watermark per pipeline and direction, exactly', async () => {
    const s = store();
    expect(await s.loadWatermark('users', 'to-elasticsearch')).toBeUndefined();
    // Microseconds since the epoch: beyond 32 bits, within a JavaScript number's exact range.
    const v = 1_735_689_600_123_456;
    await s.saveWatermark('users', 'to-elasticsearch', { version: v, id: 'u-1' });
    await s.saveWatermark('users', 'to-cassandra', { version: v + 1, id: 'u-2' });
    await s.saveWatermark('orgs', 'to-elasticsearch', { version: 5, id: 'o-1' });
    expect(await s.loadWatermark('users', 'to-elasticsearch')).toEqual({ version: v, id: 'u-1' });
    expect(await s.loadWatermark('users', 'to-cassandra')).toEqual({ version: v + 1, id: 'u-2' });
    expect(await s.loadWatermark('orgs', 'to-elasticsearch')).toEqual({ version: 5, id: 'o-1' });
    expect(await s.loadWatermark('orgs', 'to-cassandra')).toBeUndefined();
    await s.saveWatermark('users', 'to-elasticsearch', { version: v + 10, id: '' });
    expect(await s.loadWatermark('users', 'to-elasticsearch')).toEqual({ version: v + 10, id: '' });
    expect(await s.loadWatermark('users', 'to-cassandra')).toEqual({ version: v + 1, id: 'u-2' });
  });
});

describe('PostgresStateStore: leases', () => {
  it('grants a lease to one owner, refuses others, renews for the holder and is released only by it', async () => {
    const s = store();
    expect(await s.leaseHolder('watch:users')).toBeUndefined();
    expect(await s.acquireLease('watch:users', 'A', 30_000)).toBe(true);
    expect(await s.acquireLease('watch:users', 'B', 30_000)).toBe(false);
    expect(await s.leaseHolder('watch:users')).toBe('A');
    // Acquiring again what we hold renews it.
    expect(await s.acquireLease('watch:users', 'A', 30_000)).toBe(true);
    expect(await s.renewLease('watch:users', 'A', 30_000)).toBe(true);
    expect(await s.renewLease('watch:users', 'B', 30_000)).toBe(false);
    expect(await s.renewLease('watch:nobody', 'A', 30_000)).toBe(false);
    // Another name is another lease.
    expect(await s.acquireLease('watch:orgs', 'B', 30_000)).toBe(true);

    await s.releaseLease('watch:users', 'B');
    expect(await s.leaseHolder('watch:users')).toBe('A');
    await s.releaseLease('watch:users', 'A');
    expect(await s.leaseHolder('watch:users')).toBeUndefined();
    expect(await s.renewLease('watch:users', 'A', 30_000)).toBe(false);
    expect(await s.acquireLease('watch:users', 'B', 30_000)).toBe(true);
    expect(await s.leaseHolder('watch:users')).toBe('B');
    expect(await s.leaseHolder('watch:orgs')).toBe('B');
  });

  it('lets an expired lease go: nobody holds it, another owner takes it, the old holder cannot renew', async () => {
    const s = store();
    expect(await s.acquireLease('watch:users', 'A', 300)).toBe(true);
    expect(await s.acquireLease('watch:users', 'B', 30_000)).toBe(false);
    await sleep(700);
    expect(await s.leaseHolder('watch:users')).toBeUndefined();
    expect(await s.renewLease('watch:users', 'A', 30_000)).toBe(false);
    expect(await s.acquireLease('watch:users', 'B', 30_000)).toBe(true);
    expect(await s.renewLease('watch:users', 'A', 30_000)).toBe(false);
    expect(await s.acquireLease('watch:users', 'A', 30_000)).toBe(false);
    expect(await s.leaseHolder('watch:users')).toBe('B');
    // A renewal pushes the expiry out again.
    expect(await s.acquireLease('watch:short', 'A', 600)).toBe(true);
    await sleep(350);
    expect(await s.renewLease('watch:short', 'A', 600)).toBe(true);
    await sleep(350);
    expect(await s.leaseHolder('watch:short')).toBe('A');
    expect(await s.acquireLease('watch:short', 'B', 30_000)).toBe(false);
  });

  it('grants a fresh lease to exactly one of 10 owners acquiring at once from two stores', async () => {
    const schema = schemaName();
    const stores = [store(schema), store(schema)];
    // The tables exist first, so the acquires race on the lease row and not on creating them.
    await Promise.all(stores.map((s) => s.leaseHolder('warm-up')));
    for (let round = 0; round < 5; round++) {
      const name = `watch:race-${round}`;
      const owners = Array.from({ length: 10 }, (_, i) => `owner-${i}`);
      const won = await Promise.all(owners.map((o, i) => stores[i % 2]!.acquireLease(name, o, 30_000)));
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await stores[0]!.leaseHolder(name)).toBe(owners[won.indexOf(true)]);
    }
    // Taking over an expired lease races the same way.
    expect(await stores[0]!.acquireLease('watch:expired', 'old', 100)).toBe(true);
    await sleep(300);
    const won = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.acquireLease('watch:expired', `new-${i}`, 30_000)));
    expect(won.filter(Boolean)).toHaveLength(1);
  });
});

describe('PostgresStateStore: verifies', () => {
  it('saves and loads the last verify of each pipeline, and refuses a damaged one with STATE_INVALID', async () => {
    const schema = schemaName();
    const p = pool();
    const s = store(schema, p);
    expect(await s.loadVerify('users')).toBeUndefined();
    await s.saveVerify(verify('users'));
    await s.saveVerify(verify('orgs', { inSync: true, counts: { missing: 0, orphan: 0, stale: 0, different: 0 }, driftSpans: [] }));
    expect(await s.loadVerify('users')).toEqual(verify('users'));
    const later = verify('users', { at: '2025-01-03T00:00:00.000Z', since: undefined, driftSpans: [{ start: '1', end: null, differences: 1 }] });
    await s.saveVerify(later);
    expect(await s.loadVerify('users')).toEqual(JSON.parse(JSON.stringify(later)));
    await p.query(`UPDATE "${schema}".verifies SET summary = $1 WHERE pipeline = $2`, ['{"pipeline": "orgs", "inSync": "yes"}', 'orgs']);
    await expect(s.loadVerify('orgs')).rejects.toMatchObject({ code: 'STATE_INVALID', message: expect.stringContaining(`${schema}.verifies`) });
    await p.query(`UPDATE "${schema}".verifies SET summary = $1 WHERE pipeline = $2`, ['not json', 'orgs']);
    await expect(s.loadVerify('orgs')).rejects.toMatchObject({ code: 'STATE_INVALID' });
    // A damaged verify stands in the way of nothing else.
    expect(await s.loadVerify('users')).toEqual(JSON.parse(JSON.stringify(later)));
    await s.save(state('orgs'));
    expect(await s.load('orgs')).toEqual(state('orgs'));
  });
});

describe('PostgresStateStore: first use and failures', () => {
  it('creates its schema and tables when several stores use a fresh schema at once', async () => {
    for (let round = 0; round < 5; round++) {
      const schema = schemaName();
      const stores = Array.from({ length: 4 }, () => store(schema));
      await Promise.all(stores.map((s, i) => (i % 2 === 0 ? s.save(state(`p${i}`)) : s.acquireLease('watch:first', `owner-${i}`, 30_000))));
      const listed = await stores[0]!.list();
      expect(listed.map((x) => x.pipeline)).toEqual(['p0', 'p2']);
      expect(await stores[3]!.leaseHolder('watch:first')).toMatch(/^owner-[13]$/);
    }
  });

  it('gives STORE_UNAVAILABLE at once when no server answers', async () => {
    const dead = new pg.Pool({ host: '127.0.0.1', port: 1, user: 'cesync', database: 'cesync', connectionTimeoutMillis: 5000 });
    pools.push(dead);
    const s = new PostgresStateStore(dead, { schema: schemaName(), where: '127.0.0.1:1/cesync' });
    const t0 = Date.now();
    await expect(s.load('users')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1/cesync') });
    await expect(s.acquireLease('watch:users', 'A', 1000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('gives STORE_AUTH for a role the server does not know', async () => {
    const e = endpoints().postgres;
    const stranger = new pg.Pool({ host: e.host, port: e.port, database: e.database, user: `cesync_no_such_role_${randomBytes(4).toString('hex')}`, password: 'x' });
    pools.push(stranger);
    const s = new PostgresStateStore(stranger, { schema: schemaName(), where: where() });
    await expect(s.save(state('users'))).rejects.toMatchObject({ code: 'STORE_AUTH' });
  });
});
