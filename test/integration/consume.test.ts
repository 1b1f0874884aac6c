// `cesync consume` against real Kafka, Cassandra and the search cluster: Sunbird's ownership
// transfer event (its sample, verbatim) applied to more than 1,000 course batches in both stores;
// a dry run that changes and commits nothing; malformed events and unknown users dead-lettered or
// skipped, with metrics; two consumers of one group sharing the partitions; kill -9 mid-batch,
// then a restart; the search cluster cut mid-batch, then back; Kafka stopped and started under a
// running consumer; Cassandra stopped and started mid-batch. After each: the stores are counted,
// and verify finds no difference.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { Admin, Consumer, Producer, stringSerializers } from '@platformatic/kafka';
import { startServices, stopServices, type ServiceName } from '../../scripts/services/index.ts';
import { cassandraClient, deleteIndex, openTestClients, rawConfig, runCli, target, tempDir, testEnv } from './harness.js';

const KS = 'cesync_consume';
const SAMPLE = readFileSync('examples/events/ownership-transfer-event.json', 'utf8');
const sample = JSON.parse(SAMPLE) as { edata: { fromUserProfile: { userId: string }; toUserProfile: { userId: string }; organisationId: string } };
const FROM = sample.edata.fromUserProfile.userId;
const TO = sample.edata.toUserProfile.userId;
const ORG = sample.edata.organisationId;
const OTHER = 'b0b0b0b0-0000-4000-8000-000000000000';

let cql: cassandra.Client;
let es: EsClient;
let brokers: string[];
let started: ServiceName[] = [];
let dir: string;
const children: ChildProcess[] = [];
let run = 0;
let configs = 0;

beforeAll(async () => {
  const r = await startServices(['kafka']);
  started = r.started;
  brokers = r.endpoints.kafka.brokers;
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(
    `CREATE TABLE ${KS}.course_batch (courseid text, batchid text, name text, createdby text, mentors list<text>, createdfor list<text>, status int, startdate text, enddate text, enrollmenttype text, PRIMARY KEY (courseid, batchid))`,
  );
  await cql.execute(`CREATE TABLE ${KS}.user (id text PRIMARY KEY, rootorgid text, firstname text)`);
  dir = tempDir();
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await cql?.shutdown();
  await stopServices(started);
});

/** A fresh topic, group and index per test: tests never see each other's offsets or documents. */
function names() {
  run++;
  return { topic: `cesync.ownership.${run}.${Date.now()}`, group: `cesync-ot-${run}-${Date.now()}`, index: `consume_course_batch_${run}` };
}

function configFor(n: ReturnType<typeof names>, extra: { esNode?: string; handler?: Record<string, unknown>; partitions?: boolean } = {}): string {
  const raw = rawConfig(
    [
      { name: 'course-batch', keyspace: KS, table: 'course_batch', index: n.index, fields: { createdby: 'createdBy' } },
      { name: 'users', keyspace: KS, table: 'user', index: `${n.index}_users` },
    ],
    {
      ...(extra.esNode ? { elasticsearch: { node: extra.esNode, maxRetries: 1, requestTimeoutMs: 5000 } } : {}),
      kafka: { brokers, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
      failureLedger: `${dir}/failures-${run}.ndjson`,
      consumers: [
        {
          name: 'ownership-transfer',
          topic: n.topic,
          groupId: n.group,
          deadLetterTopic: `${n.topic}.failed`,
          batchWaitMs: 100,
          handler: extra.handler ?? {
            kind: 'replace-value',
            pipeline: 'course-batch',
            from: 'edata.fromUserProfile.userId',
            to: 'edata.toUserProfile.userId',
            columns: ['createdby', 'mentors'],
            where: { status: { in: [0, 1] } },
            when: { 'edata.action': 'ownership-transfer' },
            require: [
              { table: 'user', key: { id: 'edata.fromUserProfile.userId' } },
              { table: 'user', key: { id: 'edata.toUserProfile.userId' }, columns: { rootorgid: 'edata.organisationId' } },
            ],
            batchSize: 10,
          },
        },
      ],
    },
  );
  // A file of its own per configuration: a process started by one test may outlive it.
  const file = join(dir, `cesync-${run}-${configs++}.yaml`);
  writeFileSync(file, stringify(raw));
  return file;
}

async function createTopic(topic: string, partitions: number) {
  const admin = new Admin({ clientId: 'cesync-test', bootstrapBrokers: brokers });
  try {
    await admin.createTopics({ topics: [topic, `${topic}.failed`], partitions, replicas: 1 });
  } finally {
    await admin.close();
  }
}

async function produce(topic: string, values: readonly string[], keys?: readonly string[]) {
  const producer = new Producer({ clientId: 'cesync-test', bootstrapBrokers: brokers, serializers: stringSerializers });
  try {
    for (let i = 0; i < values.length; i += 500) {
      await producer.send({ messages: values.slice(i, i + 500).map((value, j) => ({ topic, value, ...(keys ? { key: keys[i + j]! } : {}) })) });
    }
  } finally {
    await producer.close();
  }
}

/** The group's committed offset of partition 0 of the topic (-1 when none). */
async function committed(group: string, topic: string): Promise<bigint> {
  const admin = new Admin({ clientId: 'cesync-test', bootstrapBrokers: brokers });
  try {
    const [g] = await admin.listConsumerGroupOffsets({ groups: [group] });
    return g?.topics.find((t) => t.name === topic)?.partitions.find((p) => p.partitionIndex === 0)?.committedOffset ?? -1n;
  } finally {
    await admin.close();
  }
}

/** Every message of a topic (from the start), with its headers. */
async function readTopic(topic: string, expected: number): Promise<{ value: string; headers: Record<string, string> }[]> {
  const consumer = new Consumer({ clientId: 'cesync-test', groupId: `reader-${Date.now()}`, bootstrapBrokers: brokers });
  const out: { value: string; headers: Record<string, string> }[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const end = Date.now() + 30_000;
    for await (const m of stream) {
      const headers: Record<string, string> = {};
      for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
      out.push({ value: m.value?.toString() ?? '', headers });
      if (out.length >= expected || Date.now() > end) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return out;
}

/** Course batches: `created` by FROM, `mentored` with FROM among the mentors, some expired (status 2), some of others. */
async function seedBatches(created: number, mentored: number, expired: number) {
  await cql.execute(`TRUNCATE ${KS}.course_batch`);
  await cql.execute(`TRUNCATE ${KS}.user`);
  for (const [id, org] of [
    [FROM, ''],
    [TO, ORG],
    [OTHER, 'some-other-org'],
  ] as const) {
    await cql.execute(`INSERT INTO ${KS}.user (id, rootorgid, firstname) VALUES (?, ?, ?)`, [id, org, 'x'], { prepare: true });
  }
  const rows: [string, string, string, string[], number][] = [];
  for (let i = 0; i < created; i++) rows.push([`do_course_${i % 97}`, `b_created_${i}`, FROM, i % 5 === 0 ? [FROM, OTHER] : [OTHER], i % 2]);
  for (let i = 0; i < mentored; i++) rows.push([`do_course_${i % 89}`, `b_mentored_${i}`, OTHER, i % 3 === 0 ? [OTHER, FROM, TO] : [FROM], 1]);
  for (let i = 0; i < expired; i++) rows.push([`do_course_${i % 7}`, `b_expired_${i}`, FROM, [FROM], 2]);
  for (let i = 0; i < 50; i++) rows.push([`do_course_${i % 7}`, `b_other_${i}`, OTHER, [OTHER], 1]);
  const insert = `INSERT INTO ${KS}.course_batch (courseid, batchid, name, createdby, mentors, createdfor, status, startdate, enrollmenttype) VALUES (?, ?, ?, ?, ?, ?, ?, '2024-04-10', 'open')`;
  for (let i = 0; i < rows.length; i += 50) {
    await Promise.all(rows.slice(i, i + 50).map(([c, b, by, m, s]) => cql.execute(insert, [c, b, `Batch ${b}`, by, m, [ORG], s], { prepare: true })));
  }
  return rows.length;
}

/** What the table holds, as counts a transfer must change. */
async function tableCounts() {
  const rs = await cql.execute(`SELECT batchid, createdby, mentors, status FROM ${KS}.course_batch`, [], { fetchSize: 100_000 });
  let fromLive = 0;
  let toCreated = 0;
  let toMentor = 0;
  let expiredFrom = 0;
  let duplicates = 0;
  for (const r of rs.rows) {
    const mentors = (r.get('mentors') as string[] | null) ?? [];
    const holdsFrom = r.get('createdby') === FROM || mentors.includes(FROM);
    if (r.get('status') === 2) expiredFrom += holdsFrom ? 1 : 0;
    else if (holdsFrom) fromLive++;
    if (r.get('createdby') === TO) toCreated++;
    if (mentors.includes(TO)) toMentor++;
    if (new Set(mentors).size !== mentors.length) duplicates++;
  }
  return { rows: rs.rowLength, fromLive, toCreated, toMentor, expiredFrom, duplicates };
}

function startConsume(file: string, args: string[] = []): { child: ChildProcess; exit: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, ['bin/cesync.js', 'consume', '--config', file, ...args], { env: { ...process.env, ...testEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, exit: new Promise((r) => child.on('exit', (code) => r(code))), output: () => out };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000, output?: () => string) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${output ? `; the consumer's output:\n${output().slice(-6000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The totals `consume` logs when it stops. */
function totals(output: string): { batches: number; events: number; applied: number; skipped: number; failed: number; deadLettered: number; rowsChanged: number } {
  const line = output.split('\n').filter((l) => l.includes('"consume stopped"')).pop();
  if (!line) throw new Error(`no "consume stopped" line in:\n${output.slice(-3000)}`);
  type Totals = ReturnType<typeof totals>;
  const found = (JSON.parse(line) as { consumers: Record<string, Totals | undefined> }).consumers['ownership-transfer'];
  if (!found) throw new Error(`no totals of ownership-transfer in ${line}`);
  return found;
}

async function indexCounts(index: string) {
  await es.indices.refresh({ index });
  const count = async (query: Record<string, unknown>) => (await es.count({ index, query })).count;
  return {
    docs: await count({ match_all: {} }),
    fromLive: await count({ bool: { should: [{ term: { 'createdBy.keyword': FROM } }, { term: { 'mentors.keyword': FROM } }], filter: [{ terms: { status: [0, 1] } }], minimum_should_match: 1 } }),
    toCreated: await count({ term: { 'createdBy.keyword': TO } }),
  };
}

async function verifyClean(file: string) {
  const v = await runCli(['verify', '--config', file, '--pipeline', 'course-batch']);
  expect(v.code, v.stdout + v.stderr).toBe(0);
}

it('applies Sunbird’s sample ownership-transfer event, verbatim, to more than 1,000 batches in both stores; a dry run first changes and commits nothing', async () => {
  const n = names();
  const total = await seedBatches(1200, 300, 40);
  const file = configFor(n);
  const synced = await runCli(['sync', '--config', file, '--pipeline', 'course-batch']);
  expect(synced.code, synced.stderr).toBe(0);
  const before = await tableCounts();
  expect(before.fromLive).toBe(1200 + 300);
  await createTopic(n.topic, 3);
  await produce(n.topic, [SAMPLE]);

  const dry = await runCli(['consume', '--config', file, '--dry-run', '--exit-when-idle', '4000']);
  expect(dry.code, dry.stderr).toBe(0);
  const plan = dry.stdout.trim().split('\n').map((l) => JSON.parse(l) as { outcome?: string; rows?: { key: string[]; set: Record<string, { from: unknown; to: unknown }> }[]; dryRun?: boolean });
  const event = plan.find((p) => p.outcome === 'applied')!;
  expect(event.rows).toHaveLength(1500);
  expect(event.rows!.find((r) => r.key[1] === 'b_created_0')!.set).toEqual({ createdby: { from: FROM, to: TO }, mentors: { from: [FROM, OTHER], to: [TO, OTHER] } });
  // Already a mentor: the old user is removed, the new one not added twice.
  expect(event.rows!.find((r) => r.key[1] === 'b_mentored_0')!.set).toEqual({ mentors: { from: [OTHER, FROM, TO], to: [OTHER, TO] } });
  expect(await tableCounts()).toEqual(before);

  // Nothing was committed: the real run reads the same event again.
  const real = await runCli(['consume', '--config', file, '--exit-when-idle', '4000']);
  expect(real.code, real.stderr).toBe(0);
  expect(totals(real.stderr)).toMatchObject({ events: 1, applied: 1, rowsChanged: 1500 });
  const after = await tableCounts();
  expect(after).toEqual({ rows: total, fromLive: 0, toCreated: 1200, toMentor: 300 + 1200 / 5, expiredFrom: 40, duplicates: 0 });
  const docs = await indexCounts(n.index);
  expect(docs).toEqual({ docs: total, fromLive: 0, toCreated: 1200 });
  await verifyClean(file);

  // Read again from the start by a new group: changes nothing.
  const again = configFor({ ...n, group: `${n.group}-again` });
  const replay = await runCli(['consume', '--config', again, '--exit-when-idle', '4000']);
  expect(replay.code, replay.stderr).toBe(0);
  expect(totals(replay.stderr)).toMatchObject({ events: 1, applied: 1, rowsChanged: 0 });
  expect(await tableCounts()).toEqual(after);
});

it('dead-letters malformed events with the reason, skips unknown users and events of other actions, and goes on', async () => {
  const n = names();
  await seedBatches(30, 0, 0);
  const file = configFor(n);
  expect((await runCli(['sync', '--config', file, '--pipeline', 'course-batch'])).code).toBe(0);
  await createTopic(n.topic, 1);
  const unknownTo = JSON.parse(SAMPLE) as { edata: { toUserProfile: { userId: string }; action?: string; organisationId: string } };
  unknownTo.edata.toUserProfile.userId = 'no-such-user';
  const wrongOrg = JSON.parse(SAMPLE) as typeof unknownTo;
  wrongOrg.edata.organisationId = 'another-org';
  const otherAction = JSON.parse(SAMPLE) as typeof unknownTo;
  otherAction.edata.action = 'user-deletion';
  const noFrom = JSON.parse(SAMPLE) as { edata: Record<string, unknown> };
  delete noFrom.edata.fromUserProfile;
  await produce(n.topic, ['{not json', JSON.stringify(noFrom), JSON.stringify(unknownTo), JSON.stringify(wrongOrg), JSON.stringify(otherAction), SAMPLE]);
  const c = startConsume(file, ['--exit-when-idle', '6000', '--metrics-port', '0']);
  // replace-value takes one event per batch: six batches.
  await until('the six events handled', () => c.output().split('"events applied"').length - 1 === 6);
  const url = /"metrics":"([^"]+)"/.exec(c.output())![1]!;
  const metrics = await (await fetch(url)).text();
  const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1]);
  expect(value('cesync_consume_events_total{consumer="ownership-transfer",outcome="read"}')).toBe(6);
  expect(value('cesync_consume_events_total{consumer="ownership-transfer",outcome="skipped"}')).toBe(3);
  expect(value('cesync_consume_dead_lettered_total{consumer="ownership-transfer"}')).toBe(2);
  expect(value('cesync_consume_rows_changed_total{consumer="ownership-transfer"}')).toBe(30);
  expect(value('cesync_consume_lookups_total{consumer="ownership-transfer",outcome="missing"}')).toBe(2);
  expect(value('cesync_consume_documents_total{consumer="ownership-transfer",outcome="indexed"}')).toBe(30);
  expect(await c.exit, c.output()).toBe(0);
  const out = c.output();
  expect(totals(out)).toMatchObject({ batches: 6, events: 6, applied: 1, skipped: 3, failed: 2, deadLettered: 2, rowsChanged: 30 });
  const dead = await readTopic(`${n.topic}.failed`, 2);
  expect(dead.map((d) => d.value)).toEqual(['{not json', JSON.stringify(noFrom)]);
  expect(dead[0]!.headers['cesync-error']).toMatch(/not JSON/);
  expect(dead[1]!.headers['cesync-error']).toMatch(/edata\.fromUserProfile\.userId/);
  expect(dead[1]!.headers['cesync-source']).toBe(`${n.topic}:0:1`);
  expect(out).toContain(`${KS}.user has no row {\\"id\\":\\"no-such-user\\"}`);
  expect(out).toMatch(/has rootorgid .* not .*another-org/);
  expect((await tableCounts()).fromLive).toBe(0);
  await verifyClean(file);
});

it('two consumers of one group share the partitions and together apply every event once', async () => {
  const n = names();
  await seedBatches(0, 0, 0);
  await cql.execute(`TRUNCATE ${KS}.user`);
  for (let i = 0; i < 600; i++) await cql.execute(`INSERT INTO ${KS}.user (id, rootorgid, firstname) VALUES (?, 'o', ?)`, [`u${i}`, `n${i}`], { prepare: true });
  const file = configFor(n, { handler: { kind: 'sync-ids', pipeline: 'users', ids: ['objectIds[*]', 'object.id'], when: { objectType: 'user' } } });
  await createTopic(n.topic, 4);
  const a = startConsume(file, ['--exit-when-idle', '20000']);
  const b = startConsume(file, ['--exit-when-idle', '20000']);
  await until('both consumers joined', () => a.output().includes('consume started') && b.output().includes('consume started'));
  await new Promise((r) => setTimeout(r, 3000));
  const events = Array.from({ length: 300 }, (_, i) => JSON.stringify(i % 2 ? { objectType: 'user', objectIds: [`u${2 * i}`, `u${2 * i + 1}`] } : { objectType: 'user', object: { id: `u${2 * i}` }, objectIds: [`u${2 * i + 1}`] }));
  await produce(n.topic, events, events.map((_, i) => `k${i}`));
  expect(await a.exit, a.output()).toBe(0);
  expect(await b.exit, b.output()).toBe(0);
  const ta = totals(a.output());
  const tb = totals(b.output());
  expect(ta.events + tb.events).toBe(300);
  expect(ta.events).toBeGreaterThan(0);
  expect(tb.events).toBeGreaterThan(0);
  await es.indices.refresh({ index: `${n.index}_users` });
  expect((await es.count({ index: `${n.index}_users` })).count).toBe(600);
  const v = await runCli(['verify', '--config', file, '--pipeline', 'users']);
  expect(v.code, v.stdout + v.stderr).toBe(0);
});

it('kill -9 of a consumer mid-batch, then a restart: the same final state as an uninterrupted run', async () => {
  const n = names();
  const total = await seedBatches(2000, 400, 20);
  const file = configFor(n);
  expect((await runCli(['sync', '--config', file, '--pipeline', 'course-batch'])).code).toBe(0);
  await createTopic(n.topic, 1);
  await produce(n.topic, [SAMPLE]);
  const first = startConsume(file);
  await until('rows changing', async () => (await tableCounts()).toCreated > 200, 120_000);
  first.child.kill('SIGKILL');
  await first.exit;
  const mid = await tableCounts();
  expect(mid.fromLive).toBeGreaterThan(0);
  const second = await runCli(['consume', '--config', file, '--exit-when-idle', '5000']);
  expect(second.code, second.stderr).toBe(0);
  expect(totals(second.stderr)).toMatchObject({ events: 1, applied: 1 });
  expect(await tableCounts()).toEqual({ rows: total, fromLive: 0, toCreated: 2000, toMentor: 400 + 2000 / 5, expiredFrom: 20, duplicates: 0 });
  expect(await indexCounts(n.index)).toEqual({ docs: total, fromLive: 0, toCreated: 2000 });
  await verifyClean(file);
}, 400_000);

/** Forwards to the search cluster until `cut()`, refuses connections until `restore()`. */
function proxy(to: URL): Promise<{ server: Server; port: number; cut: () => void; restore: () => void }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(Number(to.port), to.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as { port: number }).port,
        cut: () => {
          open = false;
          for (const s of sockets) s.destroy();
        },
        restore: () => (open = true),
      }),
    ),
  );
}

it('waits through a search cluster outage mid-batch with nothing committed, then finishes: both stores agree', async () => {
  const n = names();
  const total = await seedBatches(3000, 100, 0);
  const file = configFor(n);
  expect((await runCli(['sync', '--config', file, '--pipeline', 'course-batch'])).code).toBe(0);
  const p = await proxy(new URL(target().node));
  try {
    const viaProxy = configFor({ ...n }, { esNode: `http://127.0.0.1:${p.port}` });
    await createTopic(n.topic, 1);
    await produce(n.topic, [SAMPLE]);
    const c = startConsume(viaProxy, ['--exit-when-idle', '5000']);
    await until('rows changing', async () => (await tableCounts()).toCreated > 20, 120_000);
    p.cut();
    await until('a retry logged', () => c.output().includes('store unavailable'), 120_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await committed(n.group, n.topic)).toBe(-1n);
    p.restore();
    expect(await c.exit, c.output()).toBe(0);
    expect(await committed(n.group, n.topic)).toBe(1n);
    expect(totals(c.output())).toMatchObject({ events: 1, applied: 1 });
    expect(await tableCounts()).toMatchObject({ rows: total, fromLive: 0, toCreated: 3000, duplicates: 0 });
    expect(await indexCounts(n.index)).toEqual({ docs: total, fromLive: 0, toCreated: 3000 });
    await verifyClean(file);
  } finally {
    p.server.close();
  }
}, 400_000);

it('Kafka stopped and started again under a running consumer: it goes on with what comes after', async () => {
  const n = names();
  await seedBatches(0, 0, 0);
  await cql.execute(`TRUNCATE ${KS}.user`);
  for (let i = 0; i < 40; i++) await cql.execute(`INSERT INTO ${KS}.user (id, rootorgid, firstname) VALUES (?, 'o', ?)`, [`k${i}`, `n${i}`], { prepare: true });
  const file = configFor(n, { handler: { kind: 'sync-ids', pipeline: 'users', ids: ['objectIds[*]'] } });
  await createTopic(n.topic, 2);
  const c = startConsume(file);
  await until('the consumer joined', () => c.output().includes('consume started'));
  // Events published one at a time to a consumer already waiting: each is read.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    await produce(n.topic, [JSON.stringify({ objectIds: [`k${i}`] })]);
    await until(`event ${i} applied`, async () => (await es.count({ index: `${n.index}_users` }).catch(() => ({ count: 0 }))).count === i + 1, 20_000, c.output);
  }
  await produce(n.topic, Array.from({ length: 15 }, (_, i) => JSON.stringify({ objectIds: [`k${5 + i}`] })));
  await until('the first events applied', async () => (await es.count({ index: `${n.index}_users` }).catch(() => ({ count: 0 }))).count === 20);
  try {
    await stopServices(['kafka']);
    // Longer than the session timeout: the group forgets the member while the broker is away.
    await new Promise((r) => setTimeout(r, 10_000));
  } finally {
    await startServices(['kafka']);
  }
  await produce(n.topic, Array.from({ length: 20 }, (_, i) => JSON.stringify({ objectIds: [`k${20 + i}`] })));
  await until('the later events applied', async () => {
    await es.indices.refresh({ index: `${n.index}_users` });
    return (await es.count({ index: `${n.index}_users` })).count === 40;
  }, 120_000, c.output);
  // The client noticed the broker gone and the log started over with a new one.
  expect(c.output()).toContain('joining the group again');
  c.child.kill('SIGTERM');
  expect(await c.exit, c.output()).toBe(0);
  expect(c.output()).toContain('"consume stopped"');
}, 300_000);

// Last: it restarts Cassandra, which every other test of this file uses.
it('waits through a Cassandra restart mid-batch with nothing committed, then finishes: both stores agree', async () => {
  const n = names();
  const total = await seedBatches(4000, 200, 0);
  const file = configFor(n);
  expect((await runCli(['sync', '--config', file, '--pipeline', 'course-batch'])).code).toBe(0);
  await createTopic(n.topic, 1);
  await produce(n.topic, [SAMPLE]);
  const c = startConsume(file, ['--exit-when-idle', '5000']);
  await until('rows changing', async () => (await tableCounts()).toCreated > 20, 120_000);
  await cql.shutdown();
  try {
    await stopServices(['cassandra']);
    await until('a retry logged', () => c.output().includes('store unavailable'), 120_000, c.output);
    expect(await committed(n.group, n.topic)).toBe(-1n);
  } finally {
    await startServices(['cassandra']);
    cql = cassandraClient();
    await cql.connect();
  }
  let code: number | null | undefined;
  void c.exit.then((x) => (code = x));
  await until('the consumer finished', () => code !== undefined, 60_000, c.output);
  expect(await committed(n.group, n.topic)).toBe(1n);
  expect(totals(c.output())).toMatchObject({ events: 1, applied: 1 });
  expect(await tableCounts()).toMatchObject({ rows: total, fromLive: 0, toCreated: 4000, duplicates: 0 });
  expect(await indexCounts(n.index)).toEqual({ docs: total, fromLive: 0, toCreated: 4000 });
  await verifyClean(file);
}, 400_000);

afterAll(async () => {
  for (let i = 1; i <= run; i++) {
    await deleteIndex(es, `consume_course_batch_${i}`).catch(() => undefined);
    await deleteIndex(es, `consume_course_batch_${i}_users`).catch(() => undefined);
  }
});
