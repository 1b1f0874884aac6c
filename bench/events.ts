// Events: `cesync consume` applying Sunbird's ownership transfer (the replace-value handler of
// examples/events.yaml) on a course_batch table of its own, keyspace cesync_bench_events.
//
// Throughput (once per run): N events, each transferring a different user's batches (5 each: 3
// created by the user, 2 mentored), all published first, then `cesync consume --exit-when-idle`.
// The window is taken from the consume log: from the start of the first batch's handling (the
// first "events applied" line's time less its `seconds`) to the last "events applied" line (that
// batch handled and committed). The group join before it and the idle wait after it are outside.
// replace-value takes one event per batch (each committed before the next is applied), so the
// window holds N batches, one after the other.
//
// Latency (once): with `cesync consume` running, one event at a time, each timed from the call
// that publishes it until a search (no refresh asked for) finds its new user in all of its
// batches' documents.
//
// The table has no index on createdby or mentors (Sunbird's has none either): each event reads
// the table twice, by `WHERE createdby = ?` and `WHERE mentors CONTAINS ?` with ALLOW FILTERING,
// so an event costs in proportion to the table, which holds (N + latency events + 1) x 5 rows.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Stores } from '../src/sync/stores.ts';
import type { ServiceEndpoints } from '../scripts/services/index.ts';
import { createCourseBatchTableCql, type CourseBatch } from '../scripts/demo/course-batch-data.ts';
import { deleteGroup, deleteTopics, ensureTopics, publish } from '../scripts/demo/kafka-admin.ts';
import { loadRows } from '../scripts/demo/sunbird-data.ts';
import { createKeyspaceCql } from '../scripts/demo/sunbird-schema.ts';
import { repoRoot } from './cesync-modules.ts';

export const EVENTS_KEYSPACE = 'cesync_bench_events';
export const EVENTS_INDEX = 'cesync_bench_events_course_batch';
const TABLE = 'course_batch';
const PIPELINE = 'bench-events';
const THROUGHPUT_CONSUMER = 'bench-throughput';
const LATENCY_CONSUMER = 'bench-latency';
/** Batches per transferred user, and of them created by the user (the rest mentored). */
export const BATCHES_PER_USER = 5;
const CREATED_PER_USER = 3;
const ORG = '01394517023437619214_1111';
const SAMPLE = path.join(repoRoot, 'examples', 'events', 'ownership-transfer-event.json');

export interface EventsThroughput {
  events: number;
  rowsChanged: number;
  batches: number;
  /** Seconds from the start of the first batch's handling to the last batch committed (from the log). */
  windowSeconds: number;
  eventsPerSecond: number;
  rowsPerSecond: number;
  /** Sum of the batches' own `seconds` (handling and commit, without the reads between batches). */
  handlingSeconds: number;
  /** Seconds from "consume started" (group joined) to the last batch committed. */
  sinceStartSeconds: number;
  /** The whole command, node start and idle wait included. */
  wallSeconds: number;
}

export interface EventsLatency {
  /** Events timed (fewer than asked when one was not applied in time: see `stalled`). */
  events: number;
  latenciesMs: number[];
  p50?: number;
  p99?: number;
  max?: number;
  /** The event that the running consumer did not apply within STALL_MS, when one did not; the measurement stops there. */
  stalled?: { event: number; waitedMs: number };
}

/** How long one latency event may take before the measurement gives up on it. */
const STALL_MS = 15_000;

export interface EventsSetup {
  stores: Stores;
  endpoints: ServiceEndpoints;
  /** The search cluster's configuration section and node. */
  target: { section: 'elasticsearch' | 'opensearch'; node: string };
  workDir: string;
  env: Record<string, string>;
  /** Events of the throughput measurement, one user each. */
  events: number;
  /** Events of the latency measurement, one at a time. */
  latencyEvents: number;
  /** Distinguishes this benchmark's topics and groups from any earlier one's. */
  stamp: string;
  /** Flags for the node running cesync (the benchmark's --node-flag). */
  nodeFlags: string[];
  say: (s: string) => void;
}

const pad = (i: number) => String(i).padStart(5, '0');
const fromUser = (kind: string, i: number) => `bench-${kind}-from-${pad(i)}`;
const toUser = (kind: string, i: number) => `bench-${kind}-to-${pad(i)}`;
const topicOf = (s: EventsSetup, name: string) => `cesync-bench-events-${name}-${s.stamp}`;

/** The transferred users: the throughput's, the latency's and one warm-up user (latency index 0). */
function users(s: EventsSetup): { kind: string; i: number }[] {
  return [
    ...Array.from({ length: s.events }, (_, i) => ({ kind: 'tp', i })),
    ...Array.from({ length: s.latencyEvents + 1 }, (_, i) => ({ kind: 'lat', i })),
  ];
}

function batchesOf(kind: string, i: number): CourseBatch[] {
  const from = fromUser(kind, i);
  return Array.from({ length: BATCHES_PER_USER }, (_, j) => {
    const created = j < CREATED_PER_USER;
    return {
      courseid: `do_bench_${kind}_${pad(i)}`,
      batchid: `01${kind}${pad(i)}${j}`,
      name: `Batch ${j + 1} of ${from}`,
      createdby: created ? from : `bench-other-${pad((i + j) % 40)}`,
      mentors: created ? [`bench-other-${pad(i % 40)}`] : [`bench-other-${pad(i % 40)}`, from],
      createdfor: [ORG],
      status: 1,
      startdate: '2024-04-01',
      enddate: '2024-09-30',
      enrollmenttype: 'open',
      description: `transferred by the events benchmark`,
    };
  });
}

/** The sample event (examples/events/ownership-transfer-event.json) transferring user i's batches. */
function eventFor(sample: Record<string, unknown>, kind: string, i: number): string {
  const e = structuredClone(sample) as { mid: string; ets: number; object: { id: string }; edata: { fromUserProfile: { userId: string }; toUserProfile: { userId: string } } };
  e.mid = `LP.bench.${kind}.${pad(i)}`;
  e.ets = Date.now();
  e.object.id = fromUser(kind, i);
  e.edata.fromUserProfile.userId = fromUser(kind, i);
  e.edata.toUserProfile.userId = toUser(kind, i);
  return JSON.stringify(e);
}

function configYaml(s: EventsSetup, tag: string): string {
  const consumer = (name: string, topic: string) => ({
    name,
    topic,
    groupId: `${topic}-group`,
    deadLetterTopic: `${topic}.failed`,
    handler: {
      kind: 'replace-value',
      pipeline: PIPELINE,
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
  });
  return stringify({
    cassandra: {
      contactPoints: s.endpoints.cassandra.contactPoints,
      localDataCenter: s.endpoints.cassandra.localDataCenter,
      username: s.endpoints.cassandra.username,
      password: '${CESYNC_BENCH_CASSANDRA_PASSWORD}',
    },
    [s.target.section]: { node: s.target.node },
    kafka: { brokers: s.endpoints.kafka.brokers },
    failureLedger: path.join(s.workDir, 'events-failures.ndjson'),
    state: { keyspace: EVENTS_KEYSPACE },
    pipelines: [{ name: PIPELINE, keyspace: EVENTS_KEYSPACE, table: TABLE, index: EVENTS_INDEX, fields: { createdby: 'createdBy' } }],
    consumers: [consumer(THROUGHPUT_CONSUMER, topicOf(s, `throughput-${tag}`)), consumer(LATENCY_CONSUMER, topicOf(s, 'latency'))],
  });
}

interface LogLine {
  msg?: string;
  time?: number;
  seconds?: number;
  consumers?: Record<string, { events: number; applied: number; failed: number; skipped: number; rowsChanged: number }>;
}

interface Consume {
  child: ChildProcess;
  exit: Promise<number>;
  lines: () => LogLine[];
  output: () => string;
}

function startConsume(s: EventsSetup, config: string, consumer: string, extra: string[] = []): Consume {
  const child = spawn(process.execPath, [...s.nodeFlags, path.join(repoRoot, 'bin', 'cesync.js'), 'consume', '--config', config, '--consumer', consumer, ...extra], {
    cwd: s.workDir,
    env: { ...process.env, ...s.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      });
  return { child, exit, lines, output: () => out };
}

function run(s: EventsSetup, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...s.nodeFlags, path.join(repoRoot, 'bin', 'cesync.js'), ...args], { cwd: s.workDir, env: { ...process.env, ...s.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cesync ${args.slice(0, 3).join(' ')} exited ${code}: ${err.slice(-1500)}`))));
  });
}

/** Documents of the index that hold `user` (created or mentoring), as a search sees them now. */
async function holding(stores: Stores, user: string): Promise<number> {
  const res = await stores.target.search(EVENTS_INDEX, {
    size: 0,
    track_total_hits: true,
    query: { bool: { should: [{ term: { 'createdBy.keyword': user } }, { term: { 'mentors.keyword': user } }], minimum_should_match: 1 } },
  });
  const total = res.hits.total;
  return typeof total === 'number' ? total : (total?.value ?? 0);
}

/**
 * Fresh tables and index: the users (each transferred user and the one it passes to, in the
 * event's organisation) and their batches, loaded and synced. Resolves to the configuration file.
 */
async function prepare(s: EventsSetup, tag: string): Promise<string> {
  const cql = s.stores.cassandra!;
  await cql.execute(createKeyspaceCql(EVENTS_KEYSPACE), [], { readTimeout: 60_000 });
  await cql.execute(createCourseBatchTableCql(EVENTS_KEYSPACE, TABLE), [], { readTimeout: 60_000 });
  await cql.execute(`CREATE TABLE IF NOT EXISTS ${EVENTS_KEYSPACE}.user (id text PRIMARY KEY, rootorgid text, firstname text)`, [], { readTimeout: 60_000 });
  await cql.execute(`TRUNCATE ${EVENTS_KEYSPACE}.${TABLE}`, [], { readTimeout: 120_000 });
  await cql.execute(`TRUNCATE ${EVENTS_KEYSPACE}.user`, [], { readTimeout: 120_000 });
  await s.stores.target.deleteIndex(EVENTS_INDEX);
  const all = users(s);
  const people = all.flatMap(({ kind, i }) => [fromUser(kind, i), toUser(kind, i)]).map((id) => ({ id, rootorgid: ORG, firstname: id }));
  await loadRows(cql, EVENTS_KEYSPACE, 'user', people, 32, { progress: null });
  await loadRows(cql, EVENTS_KEYSPACE, TABLE, all.flatMap(({ kind, i }) => batchesOf(kind, i).map((b) => ({ ...b }))), 32, { progress: null });
  const config = path.join(s.workDir, `events-${tag}.yaml`);
  await writeFile(config, configYaml(s, tag));
  await run(s, ['sync', '--config', config, '--pipeline', PIPELINE, '--restart', '--quiet']);
  return config;
}

/** One throughput measurement (a run's): `s.events` events published, then consumed until idle. */
export async function measureEventsThroughput(s: EventsSetup, tag: string): Promise<EventsThroughput> {
  const config = await prepare(s, tag);
  const sample = JSON.parse(await readFile(SAMPLE, 'utf8')) as Record<string, unknown>;
  const topic = topicOf(s, `throughput-${tag}`);
  const brokers = s.endpoints.kafka.brokers;
  await ensureTopics(brokers, [topic, `${topic}.failed`]);
  try {
    const n = s.events;
    await publish(
      brokers,
      topic,
      Array.from({ length: n }, (_, i) => eventFor(sample, 'tp', i)),
      Array.from({ length: n }, (_, i) => fromUser('tp', i)),
    );
    const t0 = performance.now();
    const c = startConsume(s, config, THROUGHPUT_CONSUMER, ['--exit-when-idle', '3000']);
    const code = await c.exit;
    const wallSeconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`cesync consume exited ${code}: ${c.output().slice(-2000)}`);
    const lines = c.lines();
    const started = lines.find((l) => l.msg === 'consume started');
    const applied = lines.filter((l) => l.msg === 'events applied');
    const totals = lines.find((l) => l.msg === 'consume stopped')?.consumers?.[THROUGHPUT_CONSUMER];
    if (!started || applied.length === 0 || !totals) throw new Error(`the consume log lacks its start, batches or totals: ${c.output().slice(-2000)}`);
    if (totals.events !== n || totals.applied !== n || totals.rowsChanged !== n * BATCHES_PER_USER) {
      throw new Error(`consume read ${totals.events} events, applied ${totals.applied}, changed ${totals.rowsChanged} rows; expected ${n}, ${n}, ${n * BATCHES_PER_USER}`);
    }
    const first = applied[0]!;
    const last = applied[applied.length - 1]!;
    const windowSeconds = (last.time! - (first.time! - first.seconds! * 1000)) / 1000;
    // Every transferred user's batches now show the new user, in the index as in the table.
    for (const i of [0, Math.floor(n / 2), n - 1]) {
      const [gone, there] = [await holding(s.stores, fromUser('tp', i)), await holding(s.stores, toUser('tp', i))];
      if (gone !== 0 || there !== BATCHES_PER_USER) throw new Error(`after consume, user ${i}'s old owner is in ${gone} documents and the new one in ${there} (expected 0 and ${BATCHES_PER_USER})`);
    }
    await run(s, ['verify', '--config', config, '--pipeline', PIPELINE, '--quiet']);
    return {
      events: n,
      rowsChanged: totals.rowsChanged,
      batches: applied.length,
      windowSeconds,
      eventsPerSecond: n / windowSeconds,
      rowsPerSecond: totals.rowsChanged / windowSeconds,
      handlingSeconds: applied.reduce((t, l) => t + (l.seconds ?? 0), 0),
      sinceStartSeconds: (last.time! - started.time!) / 1000,
      wallSeconds,
    };
  } finally {
    await deleteTopics(brokers, [topic, `${topic}.failed`]).catch(() => undefined);
    await deleteGroup(brokers, `${topic}-group`).catch(() => undefined);
  }
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** Produce-to-searchable latency: `s.latencyEvents` events, one at a time, with a consumer running. */
export async function measureEventsLatency(s: EventsSetup): Promise<EventsLatency> {
  const config = await prepare(s, 'latency');
  const sample = JSON.parse(await readFile(SAMPLE, 'utf8')) as Record<string, unknown>;
  const topic = topicOf(s, 'latency');
  const brokers = s.endpoints.kafka.brokers;
  await ensureTopics(brokers, [topic, `${topic}.failed`]);
  const c = startConsume(s, config, LATENCY_CONSUMER);
  const latencies: number[] = [];
  let stalled: EventsLatency['stalled'];
  try {
    /**
     * Publishes user i's event and waits until a search shows the new user in all its batches;
     * resolves to the milliseconds that took, or undefined when it took more than STALL_MS.
     */
    const transfer = async (i: number, limitMs: number): Promise<number | undefined> => {
      const t0 = performance.now();
      await publish(brokers, topic, [eventFor(sample, 'lat', i)], [fromUser('lat', i)]);
      for (;;) {
        if ((await holding(s.stores, toUser('lat', i))) === BATCHES_PER_USER) return performance.now() - t0;
        if (c.child.exitCode !== null) throw new Error(`cesync consume exited: ${c.output().slice(-2000)}`);
        if (performance.now() - t0 > limitMs) return undefined;
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    // The warm-up event (user 0, not counted): the consumer has joined its group and holds the partition.
    if ((await transfer(0, 60_000)) === undefined) throw new Error(`the warm-up event was not applied within 60 s: ${c.output().slice(-2000)}`);
    for (let i = 1; i <= s.latencyEvents; i++) {
      const ms = await transfer(i, STALL_MS);
      if (ms === undefined) {
        stalled = { event: i, waitedMs: STALL_MS };
        s.say(`consume latency: event ${i} was not applied within ${STALL_MS / 1000} s by the running consumer (it logged ${c.lines().filter((l) => l.msg === 'events applied').length} batches); stopping the measurement`);
        break;
      }
      latencies.push(ms);
    }
  } finally {
    c.child.kill('SIGTERM');
    await c.exit;
    await deleteTopics(brokers, [topic, `${topic}.failed`]).catch(() => undefined);
    await deleteGroup(brokers, `${topic}-group`).catch(() => undefined);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const stats = sorted.length ? { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! } : {};
  return { events: latencies.length, latenciesMs: latencies, ...stats, ...(stalled ? { stalled } : {}) };
}
