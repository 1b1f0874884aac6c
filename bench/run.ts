// `npm run bench`: how close cesync's full sync comes to what the stores themselves can do, on
// the same generated Sunbird `user` table. See docs/benchmark.md.
//
//   1. starts Cassandra and Elasticsearch (or finds them running), loads N rows into
//      cesync_bench.user unless it already holds them;
//   2. per run: ceiling 1 (raw _bulk of the same documents, built in memory beforehand), the cesync
//      full sync into an empty index, the full sync of composed documents (examples/sunbird.yaml's
//      user pipeline: memberships with their organisation's name and roles nested, a lookup, the
//      transform module; its tables loaded beside the user table), the full sync of the same users
//      from a PostgreSQL table (step postgres), the re-run over the unchanged table, a targeted
//      sync of 1,000 ids, ceiling 2 (raw token-range scan);
//   3. prints medians and spreads, the goals of the benchmark with PASS/MISS, and writes JSON;
//   4. drops the keyspace and indices (unless --keep) and stops the servers it started.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import type { PipelineConfig } from '../src/config/schema.ts';
import type { Stores } from '../src/sync/stores.ts';
import { serviceStatus, startServices, stopServices, type ServiceEndpoints } from '../scripts/services/index.ts';
import { buildDocuments, bulkLoad, documentStats, freshIndex, rawScan, type BulkSettings, type DocumentStats } from './ceilings.ts';
import { loadCesync, repoRoot } from './cesync-modules.ts';
import { runCli, peakRssUntil, type CliRun } from './cesync-run.ts';
import { COMPOSED_TABLES, ensureComposedData, ensureData, KEYSPACE, sampleIds, TABLE, type TableLoadOutcome } from './dataset.ts';
import { measure, type ServerPids } from './measure.ts';
import { pidListeningOn } from './proc.ts';
import { summariseProfile, type ProfileSummary } from './profile.ts';
import { LATENCY_INDEX, measureWatchLatency, type LatencyResult } from './latency.ts';
import { BATCHES_PER_USER, EVENTS_INDEX, EVENTS_KEYSPACE, measureEventsLatency, measureEventsThroughput, type EventsLatency, type EventsSetup, type EventsThroughput } from './events.ts';
import { ensurePostgresData, PG_SCHEMA, PG_TABLE } from './postgres-data.ts';
import { formatGoals, formatSteps, mb, pct, spread, type Goal, type Spread } from './report.ts';

const SYNC_INDEX = 'cesync_bench_user';
const CEILING_INDEX = 'cesync_bench_ceiling';
const PIPELINE = 'bench';
const COMPOSED_INDEX = 'cesync_bench_user_composed';
const PG_INDEX = 'cesync_bench_user_pg';
const PG_PIPELINE = 'postgres';
const COMPOSED_PIPELINE = 'composed';
/** The composed pipeline takes the shaping of this file's `user` pipeline. */
const COMPOSED_EXAMPLE = path.join(repoRoot, 'examples', 'sunbird.yaml');
const TARGETED_IDS = 1000;
/** Events of the latency measurement of step events, published one at a time. */
const LATENCY_EVENTS = 20;

const usage = `usage: npm run bench -- [options]

  --rows N              rows in the table (default 200000)
  --runs K              measured runs of each step (default 3)
  --json FILE           results as JSON (default bench/results/<timestamp>.json)
  --keep                keep keyspace ${KEYSPACE} and the bench indices (the next run skips the load)
  --seed N              seed of the generated rows (default 1)
  --set KEY=VALUE       pipeline setting for cesync, repeatable: pageSize=2000, bulk.flushBytes=2000000,
                        bulk.concurrency=3, rangesInFlight=8, indexSettings.refresh_interval=-1 ...
                        (default: none, so cesync's own defaults are measured)
  --ceiling-bulk B,C    flushBytes and concurrency of ceiling 1 (default 5000000,2)
  --node-flag FLAG      flag for the node running cesync, repeatable (e.g. --max-semi-space-size=8)
  --only STEPS          comma-separated subset of: write,read,sync,composed,postgres,rerun,ids,verify,latency,events
                        (postgres: full sync of the same users from a PostgreSQL table;)
                        (default all but events; composed: full sync of composed user documents, shaped as
                        examples/sunbird.yaml's user pipeline, beside the plain one; events: cesync consume
                        applying ownership-transfer events from Kafka, on a table of its own: --rows does
                        not apply to it, and with --only events alone the user table is not loaded)
  --events N            events of step events, each transferring one user's ${BATCHES_PER_USER} batches (default 200)
  --profile             one more full sync under --cpu-prof; prints where cesync's CPU goes
  --target NAME         the search cluster: elasticsearch (8, default), elasticsearch7, opensearch2,
                        opensearch3; the raw bulk ceiling is measured on the same server`;

interface Options {
  rows: number;
  events: number;
  runs: number;
  json: string | undefined;
  keep: boolean;
  seed: number;
  set: Record<string, unknown>;
  ceilingBulk: BulkSettings;
  nodeFlags: string[];
  only: Set<string>;
  profile: boolean;
  /** The search cluster the benchmark writes to (a service of scripts/services). */
  target: BenchTarget;
}

const TARGETS = ['elasticsearch', 'elasticsearch7', 'opensearch2', 'opensearch3'] as const;
type BenchTarget = (typeof TARGETS)[number];
/** The configuration section of a target. */
const sectionOf = (t: BenchTarget) => (t.startsWith('opensearch') ? 'opensearch' : 'elasticsearch');

const STEPS = ['write', 'read', 'sync', 'composed', 'postgres', 'rerun', 'ids', 'verify', 'latency', 'events'];
/** The steps run without --only. */
const DEFAULT_STEPS = STEPS.filter((s) => s !== 'events');

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: 'string', default: '200000' },
      runs: { type: 'string', default: '3' },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      set: { type: 'string', multiple: true, default: [] },
      'ceiling-bulk': { type: 'string', default: '5000000,2' },
      'node-flag': { type: 'string', multiple: true, default: [] },
      only: { type: 'string', default: DEFAULT_STEPS.join(',') },
      events: { type: 'string', default: '200' },
      profile: { type: 'boolean', default: false },
      target: { type: 'string', default: 'elasticsearch' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const count = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, not ${raw}`);
    return n;
  };
  const set: Record<string, unknown> = {};
  for (const kv of values.set) {
    const eq = kv.indexOf('=');
    if (eq < 1) throw new Error(`--set wants KEY=VALUE, not ${kv}`);
    const raw = kv.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a plain string
    }
    const keys = kv.slice(0, eq).split('.');
    let at = set;
    for (const k of keys.slice(0, -1)) at = (at[k] ??= {}) as Record<string, unknown>;
    at[keys[keys.length - 1]!] = value;
  }
  const [flushBytes, concurrency] = values['ceiling-bulk'].split(',');
  const only = new Set(values.only.split(',').map((s) => s.trim()));
  for (const s of only) if (!STEPS.includes(s)) throw new Error(`--only: unknown step ${s} (steps: ${STEPS.join(', ')})`);
  if (!(TARGETS as readonly string[]).includes(values.target)) throw new Error(`--target must be one of ${TARGETS.join(', ')}, not ${values.target}`);
  return {
    rows: count('rows', values.rows, TARGETED_IDS),
    events: count('events', values.events, 1),
    runs: count('runs', values.runs, 1),
    json: values.json,
    keep: values.keep,
    seed: count('seed', values.seed, 0),
    set,
    ceilingBulk: { flushBytes: count('ceiling-bulk', flushBytes ?? '', 1024), concurrency: count('ceiling-bulk', concurrency ?? '', 1) },
    nodeFlags: values['node-flag'],
    only,
    profile: values.profile,
    target: values.target as BenchTarget,
  };
}

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
const int = (n: number) => Math.round(n).toLocaleString('en-US');

async function serverPids(endpoints: ServiceEndpoints, target: BenchTarget): Promise<ServerPids> {
  const status = await serviceStatus();
  const pid = (name: string, port: number) => status.find((s) => s.name === name)?.pid ?? pidListeningOn(port);
  return {
    cassandra: pid('cassandra', endpoints.cassandra.port),
    // The search server, whichever the target (named elasticsearch in the results).
    elasticsearch: pid(target, Number(new URL(endpoints.targets[target].node).port || 9200)),
  };
}

/**
 * The shaping of examples/sunbird.yaml's `user` pipeline (fields, nest, lookups, transform), its
 * transform module by absolute path. Its store settings (pages, splits, bulk, index settings) are
 * left out: both pipelines of the benchmark run with cesync's defaults (and --set), so that the
 * composed and the plain full sync differ by their documents only.
 */
async function composedShape(): Promise<Record<string, unknown>> {
  const example = parse(await readFile(COMPOSED_EXAMPLE, 'utf8')) as { pipelines?: Record<string, unknown>[] };
  const user = example.pipelines?.find((p) => p.name === 'user');
  if (!user) throw new Error(`${COMPOSED_EXAMPLE} has no pipeline named user`);
  const shape: Record<string, unknown> = {};
  for (const key of ['fields', 'nest', 'lookups', 'transform']) if (user[key] !== undefined) shape[key] = user[key];
  const transform = shape.transform as { module?: string } | undefined;
  if (transform?.module !== undefined) shape.transform = { ...transform, module: path.resolve(path.dirname(COMPOSED_EXAMPLE), transform.module) };
  return shape;
}

function configYaml(endpoints: ServiceEndpoints, target: BenchTarget, workDir: string, set: Record<string, unknown>, composed: Record<string, unknown>): string {
  return stringify({
    cassandra: {
      contactPoints: endpoints.cassandra.contactPoints,
      localDataCenter: endpoints.cassandra.localDataCenter,
      username: endpoints.cassandra.username,
      password: '${CESYNC_BENCH_CASSANDRA_PASSWORD}',
    },
    postgres: { connectionString: endpoints.postgres.connectionString },
    [sectionOf(target)]: { node: endpoints.targets[target].node },
    failureLedger: path.join(workDir, 'failures.ndjson'),
    state: { keyspace: KEYSPACE },
    pipelines: [
      { name: PIPELINE, keyspace: KEYSPACE, table: TABLE, index: SYNC_INDEX, ...set },
      { name: COMPOSED_PIPELINE, keyspace: KEYSPACE, table: TABLE, index: COMPOSED_INDEX, ...composed, ...set },
      { name: PG_PIPELINE, source: 'postgres', schema: PG_SCHEMA, table: PG_TABLE, index: PG_INDEX, version: { column: 'last_modified' }, ...set },
    ],
  });
}

interface SyncSample {
  rowsPerSecond: number;
  read: number;
  indexed: number;
  unchanged: number;
  durationSeconds: number;
  wallSeconds: number;
  cesyncCpuSeconds: number;
  cassandraCpuSeconds?: number;
  elasticsearchCpuSeconds?: number;
  cpuShare?: number;
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  /** Peak RSS once about 100,000 rows had been synced (from the RSS timeline and the mean rate). */
  rssAt100kBytes?: number;
}

function syncSample(run: CliRun, rows: number): SyncSample {
  const { cassandra, elasticsearch } = run.servers;
  const all = cassandra !== undefined && elasticsearch !== undefined ? run.cpuSeconds + cassandra + elasticsearch : undefined;
  const duration = run.report.durationMs / 1000;
  const syncStart = run.wallSeconds - duration;
  return {
    rowsPerSecond: run.report.read / duration,
    read: run.report.read,
    indexed: run.report.indexed,
    unchanged: run.report.unchanged,
    durationSeconds: duration,
    wallSeconds: run.wallSeconds,
    cesyncCpuSeconds: run.cpuSeconds,
    cassandraCpuSeconds: cassandra,
    elasticsearchCpuSeconds: elasticsearch,
    cpuShare: all ? run.cpuSeconds / all : undefined,
    peakRssBytes: run.peakRssBytes,
    peakHeapUsedBytes: run.peakHeapUsedBytes,
    rssAt100kBytes: rows >= 100_000 ? peakRssUntil(run, (syncStart + duration * (100_000 / rows)) / run.wallSeconds) : undefined,
  };
}

/** `p50 120 ms, p99 340 ms, max 340 ms (20 events)`, or what stopped the measurement. */
function eventsLatencyText(l: EventsLatency): string {
  const ms = (x: number | undefined) => (x === undefined ? 'n/a' : `${Math.round(x)} ms`);
  const stats = l.events ? `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${l.events} events)` : 'not measured';
  return l.stalled ? `${stats}; event ${l.stalled.event} was not applied within ${l.stalled.waitedMs / 1000} s by the running consumer` : stats;
}

const median = (xs: (number | undefined)[]) => spread(xs.filter((x): x is number => x !== undefined)).median;

async function main(argv: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const { rows, runs, only } = options;
  const m = await loadCesync();
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(repoRoot, 'bench', 'results');
  const jsonPath = options.json ?? path.join(resultsDir, `${stamp}.json`);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'cesync-bench-'));

  say('starting services (or finding them running)');
  const { started, endpoints } = await startServices(['postgres', 'cassandra', options.target, ...(only.has('events') ? (['kafka'] as const) : [])]);
  if (started.length) say(`started: ${started.join(', ')} (stopped again at the end)`);
  say(`target: ${options.target} at ${endpoints.targets[options.target].node}`);
  const pids = await serverPids(endpoints, options.target);
  say(`server pids: cassandra ${pids.cassandra ?? 'unknown'}, elasticsearch ${pids.elasticsearch ?? 'unknown'}`);

  const configFile = path.join(workDir, 'cesync.yaml');
  await writeFile(configFile, configYaml(endpoints, options.target, workDir, options.set, await composedShape()));
  const env = { CESYNC_BENCH_CASSANDRA_PASSWORD: endpoints.cassandra.password };
  const config = await m.load.loadConfig(configFile, { ...process.env, ...env });
  const pipeline: PipelineConfig = config.pipelines.find((p) => p.name === PIPELINE)!;
  const composedPipeline: PipelineConfig = config.pipelines.find((p) => p.name === COMPOSED_PIPELINE)!;
  const stores: Stores = await m.stores.connectStores(config);
  let stopped = false;
  const cleanup = async () => {
    if (stopped) return;
    stopped = true;
    if (!options.keep) {
      const indices = [SYNC_INDEX, COMPOSED_INDEX, PG_INDEX, CEILING_INDEX, LATENCY_INDEX, EVENTS_INDEX];
      say(`dropping keyspaces ${KEYSPACE}, ${EVENTS_KEYSPACE} and indices ${indices.join(', ')}`);
      await stores.target.deleteIndex(indices).catch(() => undefined);
      for (const ks of [KEYSPACE, EVENTS_KEYSPACE]) await stores.cassandra!.execute(`DROP KEYSPACE IF EXISTS ${ks}`, [], { readTimeout: 120_000 }).catch(() => undefined);
      await stores.postgres?.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`).catch(() => undefined);
    }
    await stores.close();
    await rm(workDir, { recursive: true, force: true });
    if (started.length) {
      say(`stopping ${started.join(', ')}`);
      await stopServices(started);
    }
  };

  try {
    // Step events has tables of its own: the user table is loaded only for the other steps.
    const usersNeeded = [...only].some((s) => s !== 'events');
    const load = usersNeeded ? await ensureData(stores.cassandra!, rows, options.seed, say) : { skipped: true, rows: 0, durationMs: 0 };
    if (!load.skipped) say(`loaded ${int(rows)} rows in ${(load.durationMs / 1000).toFixed(1)} s`);
    // The composed documents' other tables, only when they are synced.
    const composedLoad: TableLoadOutcome[] = only.has('composed') ? await ensureComposedData(stores.cassandra!, rows, options.seed, say) : [];
    for (const l of composedLoad) if (!l.skipped) say(`loaded ${int(l.rows)} rows of ${KEYSPACE}.${l.table} in ${(l.durationMs / 1000).toFixed(1)} s`);
    const pgLoad = only.has('postgres') ? await ensurePostgresData(stores.postgres!, rows, options.seed, say) : undefined;

    const docs = only.has('write') ? await buildDocuments(m, stores, pipeline) : [];
    if (only.has('write')) {
      const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d.body), 0);
      say(`ceiling 1 documents built: ${int(docs.length)}, ${(bytes / docs.length).toFixed(0)} bytes each on average`);
      if (docs.length !== rows) throw new Error(`read ${docs.length} documents, expected ${rows}`);
    }
    // The composed documents, read once with cesync's own (composed) source and measured, not kept.
    // Also reads the composed tables once before the first measured run, as the plain documents
    // above read the user table.
    const listFields = composedPipeline.nest.map((n) => n.field);
    let composedDocs: DocumentStats | undefined;
    let plainBytesMean = docs.length ? docs.reduce((s, d) => s + Buffer.byteLength(d.body), 0) / docs.length : undefined;
    if (only.has('composed')) {
      composedDocs = await documentStats(m, stores, composedPipeline, listFields);
      if (composedDocs.documents !== rows || composedDocs.rejected !== 0) {
        throw new Error(`composed: read ${composedDocs.documents} documents and ${composedDocs.rejected} refused, expected ${rows} documents`);
      }
      plainBytesMean ??= (await documentStats(m, stores, pipeline)).bytesMean;
      const nested = listFields.map((f) => `${composedDocs!.listedMean[f]!.toFixed(2)} ${f}`).join(', ');
      say(`composed documents: ${(composedDocs.bytesMean).toFixed(0)} bytes each on average (plain ${plainBytesMean.toFixed(0)}), ${nested} nested on average`);
    }
    const idsFile = path.join(workDir, 'ids.csv');
    await writeFile(idsFile, `${sampleIds(rows, TARGETED_IDS, options.seed).join('\n')}\n`);
    const cli = (args: string[], nodeFlags = options.nodeFlags) =>
      runCli({ args: ['sync', '--config', configFile, '--pipeline', PIPELINE, '--quiet', '--json', ...args], workDir, env, pids, nodeFlags });

    const write: { rowsPerSecond: number; seconds: number; benchCpuSeconds: number; elasticsearchCpuSeconds?: number }[] = [];
    const read: { rowsPerSecond: number; seconds: number; benchCpuSeconds: number; cassandraCpuSeconds?: number }[] = [];
    const full: SyncSample[] = [];
    const composed: SyncSample[] = [];
    const postgres: SyncSample[] = [];
    /** Per run: the PostgreSQL full-sync rate over ceiling 1 (raw bulk of the Cassandra documents) of the same run. */
    const postgresRatios: number[] = [];
    let writeThisRun: number | undefined;
    /** Per run: composed full-sync rate over the plain full-sync rate of the same run. */
    const composedRatios: number[] = [];
    const rerun: SyncSample[] = [];
    const targeted: SyncSample[] = [];
    const verifies: { seconds: number; wallSeconds: number; inSync: boolean; bytesReadFromIndex: number; rowsScanned: number }[] = [];
    const eventsThroughput: EventsThroughput[] = [];
    const eventsSetup: EventsSetup = {
      stores,
      endpoints,
      target: { section: sectionOf(options.target), node: endpoints.targets[options.target].node },
      workDir,
      env,
      events: options.events,
      latencyEvents: LATENCY_EVENTS,
      stamp: stamp.toLowerCase(),
      nodeFlags: options.nodeFlags,
      say,
    };

    for (let run = 1; run <= runs; run++) {
      const tag = `run ${run}/${runs}`;
      if (only.has('write')) {
        await freshIndex(m, stores, pipeline, CEILING_INDEX);
        const r = await measure(pids, () => bulkLoad(stores, CEILING_INDEX, docs, options.ceilingBulk));
        if (r.result !== rows) throw new Error(`ceiling 1 indexed ${r.result} documents, expected ${rows}`);
        write.push({ rowsPerSecond: rows / r.seconds, seconds: r.seconds, benchCpuSeconds: r.selfCpu, elasticsearchCpuSeconds: r.servers.elasticsearch });
        writeThisRun = rows / r.seconds;
        say(`${tag} ceiling 1 (raw bulk): ${int(rows / r.seconds)} docs/s`);
        await stores.target.deleteIndex(CEILING_INDEX);
      }
      const needsSyncedIndex = only.has('rerun') || only.has('ids') || only.has('verify');
      if (only.has('sync') || only.has('composed') || needsSyncedIndex) {
        let plain: SyncSample | undefined;
        if (only.has('sync') || (run === 1 && needsSyncedIndex)) {
          await stores.target.deleteIndex(SYNC_INDEX);
          const s = syncSample(await cli(['--restart']), rows);
          if (s.indexed !== rows) throw new Error(`full sync indexed ${s.indexed} of ${rows} rows`);
          if (only.has('sync')) full.push((plain = s));
          say(`${tag} cesync full sync: ${int(s.rowsPerSecond)} rows/s, cesync CPU ${pct(s.cpuShare)} of all, peak RSS ${mb(s.peakRssBytes)}`);
        }
        if (only.has('composed')) {
          // Right after the plain full sync of the same run, so that both meet the same machine.
          await stores.target.deleteIndex(COMPOSED_INDEX);
          const r = await runCli({
            args: ['sync', '--config', configFile, '--pipeline', COMPOSED_PIPELINE, '--restart', '--quiet', '--json'],
            workDir,
            env,
            pids,
            nodeFlags: options.nodeFlags,
          });
          const s = syncSample(r, rows);
          if (s.read !== rows || s.indexed !== rows || r.report.failed !== 0) {
            throw new Error(`composed full sync read ${s.read}, indexed ${s.indexed} and failed ${r.report.failed} of ${rows} rows`);
          }
          const count = await stores.target.count(COMPOSED_INDEX);
          if (count !== rows) throw new Error(`composed full sync left ${count} documents in ${COMPOSED_INDEX}, expected ${rows}`);
          composed.push(s);
          if (plain) composedRatios.push(s.rowsPerSecond / plain.rowsPerSecond);
          say(
            `${tag} cesync full sync, composed: ${int(s.rowsPerSecond)} rows/s${plain ? ` (${(s.rowsPerSecond / plain.rowsPerSecond).toFixed(2)} x plain)` : ''}, ` +
              `cesync CPU ${pct(s.cpuShare)} of all, peak RSS ${mb(s.peakRssBytes)}`,
          );
        }
        if (only.has('postgres')) {
          // The same users from PostgreSQL, into an index of their own, against the same ceiling.
          await stores.target.deleteIndex(PG_INDEX);
          const r = await runCli({ args: ['sync', '--config', configFile, '--pipeline', PG_PIPELINE, '--restart', '--quiet', '--json'], workDir, env, pids, nodeFlags: options.nodeFlags });
          const s = syncSample(r, rows);
          if (s.read !== rows || s.indexed !== rows || r.report.failed !== 0) throw new Error(`PostgreSQL full sync read ${s.read}, indexed ${s.indexed} and failed ${r.report.failed} of ${rows} rows`);
          postgres.push(s);
          if (writeThisRun) postgresRatios.push(s.rowsPerSecond / writeThisRun);
          say(`${tag} cesync full sync from PostgreSQL: ${int(s.rowsPerSecond)} rows/s${writeThisRun ? ` (${(s.rowsPerSecond / writeThisRun).toFixed(2)} x ceiling 1)` : ''}, cesync CPU ${int(s.cesyncCpuSeconds)} s, peak RSS ${mb(s.peakRssBytes)}`);
        }
        if (only.has('rerun')) {
          const s = syncSample(await cli(['--restart']), rows);
          if (s.unchanged !== rows) throw new Error(`re-run found ${s.unchanged} of ${rows} rows unchanged`);
          rerun.push(s);
          say(`${tag} cesync re-run (unchanged): ${int(s.rowsPerSecond)} rows/s`);
        }
        if (only.has('ids')) {
          const s = syncSample(await cli(['--ids-file', idsFile, '--yes']), 0);
          if (s.read !== TARGETED_IDS) throw new Error(`targeted sync read ${s.read} of ${TARGETED_IDS} ids`);
          targeted.push(s);
          say(`${tag} cesync targeted sync of ${TARGETED_IDS} ids: ${s.wallSeconds.toFixed(2)} s (command), ${s.durationSeconds.toFixed(2)} s (sync)`);
        }
        if (only.has('verify')) {
          // The index is in sync here: verify's cheap path (summaries per token range) is what is timed.
          const v = await runCli({ args: ['verify', '--config', configFile, '--pipeline', PIPELINE, '--quiet', '--json'], workDir, env, pids, nodeFlags: options.nodeFlags });
          const r = v.report as unknown as { durationMs: number; inSync: boolean; bytesReadFromIndex: number; rowsScanned: number };
          if (!r.inSync) throw new Error('verify found differences in a table that was just synced');
          verifies.push({ seconds: r.durationMs / 1000, wallSeconds: v.wallSeconds, inSync: r.inSync, bytesReadFromIndex: r.bytesReadFromIndex, rowsScanned: r.rowsScanned });
          say(`${tag} cesync verify (in sync): ${(r.durationMs / 1000).toFixed(2)} s, ${mb(r.bytesReadFromIndex)} read from the index`);
        }
      }
      if (only.has('read')) {
        const r = await measure(pids, () => rawScan(m, stores, pipeline, pipeline));
        if (r.result !== rows) throw new Error(`ceiling 2 read ${r.result} rows, expected ${rows}`);
        read.push({ rowsPerSecond: rows / r.seconds, seconds: r.seconds, benchCpuSeconds: r.selfCpu, cassandraCpuSeconds: r.servers.cassandra });
        say(`${tag} ceiling 2 (raw scan): ${int(rows / r.seconds)} rows/s`);
      }
      if (only.has('events')) {
        const e = await measureEventsThroughput(eventsSetup, `run${run}`);
        eventsThroughput.push(e);
        say(
          `${tag} cesync consume, ${e.events} ownership transfers: ${e.eventsPerSecond.toFixed(1)} events/s, ${int(e.rowsPerSecond)} rows changed/s ` +
            `(${e.windowSeconds.toFixed(2)} s from the first batch to the last commit, ${e.batches} batches; command ${e.wallSeconds.toFixed(1)} s)`,
        );
      }
    }

    let profile: (ProfileSummary & { file: string }) | undefined;
    if (options.profile) {
      const dir = path.join(resultsDir, `profile-${stamp}`);
      await mkdir(dir, { recursive: true });
      await stores.target.deleteIndex(SYNC_INDEX);
      await cli(['--restart'], [...options.nodeFlags, '--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const { readdir } = await import('node:fs/promises');
      const file = path.join(dir, (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))!);
      profile = { file: path.relative(repoRoot, file), ...(await summariseProfile(file, repoRoot)) };
    }

    // ------------------------------------------------------------------ figures and goals
    const rate = (xs: { rowsPerSecond: number }[]): Spread | undefined => (xs.length ? spread(xs.map((x) => x.rowsPerSecond)) : undefined);
    const writeRate = rate(write);
    const readRate = rate(read);
    const fullRate = rate(full);
    const ratio = writeRate && fullRate ? fullRate.median / writeRate.median : undefined;
    const cpuShare = full.length ? median(full.map((s) => s.cpuShare)) : undefined;
    const composedRate = rate(composed);
    const composedRatio = composedRatios.length ? spread(composedRatios) : undefined;
    const composedCpuShare = composed.length ? median(composed.map((s) => s.cpuShare)) : undefined;
    const composedPeakRss = composed.length ? median(composed.map((s) => s.peakRssBytes)) : undefined;
    const allSyncs = [...full, ...rerun, ...targeted];
    const peakRss = allSyncs.length ? Math.max(...allSyncs.map((s) => s.peakRssBytes)) : undefined;
    const fullPeakRss = full.length ? median(full.map((s) => s.peakRssBytes)) : undefined;
    const rssAt100k = full.length ? median(full.map((s) => s.rssAt100kBytes)) : undefined;
    const targetedWall = targeted.length ? spread(targeted.map((s) => s.wallSeconds)) : undefined;
    const targetedSync = targeted.length ? spread(targeted.map((s) => s.durationSeconds)) : undefined;

    let latency: LatencyResult | undefined;
    if (only.has('latency')) {
      say('watch latency: 100 changes, one at a time');
      latency = await measureWatchLatency({ stores, endpoints, target: { section: sectionOf(options.target), node: endpoints.targets[options.target].node }, workDir, env, changes: 100, intervalMs: 200, safetyLagMs: 500, say });
    }

    let eventsLatency: EventsLatency | undefined;
    if (only.has('events')) {
      say(`consume latency: ${LATENCY_EVENTS} events, one at a time, each until searchable`);
      eventsLatency = await measureEventsLatency(eventsSetup);
      say(`consume latency: ${eventsLatencyText(eventsLatency)}`);
    }
    const eventsPerSecond = eventsThroughput.length ? spread(eventsThroughput.map((e) => e.eventsPerSecond)) : undefined;

    const verifySeconds = verifies.length ? spread(verifies.map((v) => v.seconds)) : undefined;
    const fullSeconds = full.length ? spread(full.map((f) => f.durationSeconds)) : undefined;
    const verifyRatio = verifySeconds && fullSeconds ? verifySeconds.median / fullSeconds.median : undefined;

    const goals: Goal[] = [
      { goal: 'full sync rate >= 0.85 x raw bulk rate', value: ratio === undefined ? 'n/a' : `${ratio.toFixed(2)} x`, pass: ratio === undefined ? undefined : ratio >= 0.85 },
      { goal: "cesync's CPU <= 15% of all CPU during the sync", value: pct(cpuShare), pass: cpuShare === undefined || Number.isNaN(cpuShare) ? undefined : cpuShare <= 0.15 },
      { goal: 'peak RSS <= 200 MB', value: mb(peakRss), pass: peakRss === undefined ? undefined : peakRss <= 200 * 2 ** 20 },
      {
        goal: 'RSS at 1M rows <= 1.2 x RSS at 100k rows',
        value:
          rows >= 1_000_000 && fullPeakRss !== undefined && rssAt100k !== undefined
            ? `${mb(fullPeakRss)} / ${mb(rssAt100k)} = ${(fullPeakRss / rssAt100k).toFixed(2)} x`
            : `needs --rows >= 1000000 (here: ${mb(fullPeakRss)} at ${int(rows)} rows, ${mb(rssAt100k)} at 100k)`,
        pass: rows >= 1_000_000 && fullPeakRss !== undefined && rssAt100k !== undefined ? fullPeakRss <= 1.2 * rssAt100k : undefined,
      },
      {
        goal: 'verify of an in-sync table <= 0.5 x full sync time',
        value: verifySeconds
          ? `${verifySeconds.median.toFixed(2)} s${fullSeconds ? ` / ${fullSeconds.median.toFixed(2)} s = ${verifyRatio!.toFixed(2)} x` : ' (no full sync measured)'}`
          : 'n/a',
        pass: verifyRatio !== undefined ? verifyRatio <= 0.5 : undefined,
      },
      {
        goal: 'watch: a change searchable within 2 s at p99',
        value: latency
          ? `p50 ${(latency.p50 / 1000).toFixed(2)} s, p99 ${(latency.p99 / 1000).toFixed(2)} s, max ${(latency.max / 1000).toFixed(2)} s (interval ${latency.settings.intervalMs} ms, safety lag ${latency.settings.safetyLagMs} ms)`
          : 'n/a',
        pass: latency ? latency.p99 <= 2000 : undefined,
      },
      {
        goal: `targeted sync of ${TARGETED_IDS} ids <= 2 s (whole command)`,
        value: targetedWall ? `${targetedWall.median.toFixed(2)} s (sync itself ${targetedSync!.median.toFixed(2)} s)` : 'n/a',
        pass: targetedWall ? targetedWall.median <= 2 : undefined,
      },
    ];

    const cpuSplit = (xs: SyncSample[]) =>
      `CPU s cesync/C*/ES ${median(xs.map((s) => s.cesyncCpuSeconds)).toFixed(1)}/${median(xs.map((s) => s.cassandraCpuSeconds)).toFixed(1)}/${median(xs.map((s) => s.elasticsearchCpuSeconds)).toFixed(1)}`;
    const steps = [
      { key: 'ceilingWrite', step: 'ceiling 1: raw _bulk of the same documents', rate: writeRate, note: write.length ? `Elasticsearch CPU ${median(write.map((w) => w.elasticsearchCpuSeconds)).toFixed(1)} s; bulk ${options.ceilingBulk.flushBytes} B x ${options.ceilingBulk.concurrency}` : '' },
      { key: 'ceilingRead', step: 'ceiling 2: raw token-range scan', rate: readRate, note: read.length ? `Cassandra CPU ${median(read.map((r) => r.cassandraCpuSeconds)).toFixed(1)} s` : '' },
      {
        key: 'fullSync',
        step: 'cesync full sync (empty index)',
        rate: fullRate,
        note: full.length ? `${ratio === undefined ? '' : `${ratio.toFixed(2)} x ceiling 1; `}${cpuSplit(full)} (${pct(cpuShare)}); RSS ${mb(fullPeakRss)}` : '',
      },
      {
        key: 'composedFullSync',
        step: 'cesync full sync, composed documents',
        rate: composedRate,
        note: composed.length
          ? `${composedRatio ? `${composedRatio.median.toFixed(2)} x full sync (per run ${composedRatio.min.toFixed(2)}-${composedRatio.max.toFixed(2)}); ` : ''}${cpuSplit(composed)} (${pct(composedCpuShare)}); RSS ${mb(composedPeakRss)}`
          : '',
      },
      {
        key: 'postgresFullSync',
        step: 'cesync full sync from PostgreSQL (same users)',
        rate: rate(postgres),
        note: postgres.length
          ? `${postgresRatios.length ? `${spread(postgresRatios).median.toFixed(2)} x ceiling 1 (per run ${spread(postgresRatios).min.toFixed(2)}-${spread(postgresRatios).max.toFixed(2)}); ` : ''}cesync CPU ${median(postgres.map((s) => s.cesyncCpuSeconds)).toFixed(1)} s; RSS ${mb(median(postgres.map((s) => s.peakRssBytes)))}`
          : '',
      },
      {
        key: 'rerun',
        step: 'cesync re-run (all unchanged)',
        rate: rate(rerun),
        note: rerun.length ? `CPU share ${pct(median(rerun.map((s) => s.cpuShare)))}; RSS ${mb(median(rerun.map((s) => s.peakRssBytes)))}` : '',
      },
      {
        key: 'targeted',
        step: `cesync targeted sync, ${TARGETED_IDS} ids`,
        rate: rate(targeted),
        note: targetedWall ? `command ${targetedWall.median.toFixed(2)} s (${targetedWall.min.toFixed(2)}-${targetedWall.max.toFixed(2)}), sync ${targetedSync!.median.toFixed(2)} s` : '',
      },
      {
        key: 'eventsThroughput',
        step: `cesync consume, ${options.events} transfers x ${BATCHES_PER_USER} rows`,
        rate: rate(eventsThroughput),
        note: eventsPerSecond
          ? `rows changed/s; ${eventsPerSecond.median.toFixed(1)} events/s (${eventsPerSecond.min.toFixed(1)}-${eventsPerSecond.max.toFixed(1)}), first batch to last commit; ` +
            `command ${spread(eventsThroughput.map((e) => e.wallSeconds)).median.toFixed(1)} s`
          : '',
      },
      {
        key: 'eventsLatency',
        step: 'cesync consume, one event until searchable',
        rate: undefined,
        note: eventsLatency ? eventsLatencyText(eventsLatency) : '',
      },
    ];

    const cpus = os.cpus();
    const results = {
      startedAt: startedAt.toISOString(),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        os: `${os.type()} ${os.release()}`,
        node: process.version,
      },
      options: { rows, runs, events: options.events, seed: options.seed, set: options.set, ceilingBulk: options.ceilingBulk, nodeFlags: options.nodeFlags, only: [...only], target: options.target },
      target: { service: options.target, product: stores.target.server.product, version: stores.target.server.version },
      pipeline: { pageSize: pipeline.pageSize, splits: pipeline.splits, rangesInFlight: pipeline.rangesInFlight, bulk: pipeline.bulk, indexSettings: pipeline.indexSettings ?? null },
      composedPipeline: only.has('composed')
        ? { example: path.relative(repoRoot, COMPOSED_EXAMPLE), tables: [TABLE, ...COMPOSED_TABLES], nest: listFields, lookups: composedPipeline.lookups.length, transform: composedPipeline.transform?.module ?? null }
        : undefined,
      load,
      composedLoad,
      postgresLoad: pgLoad,
      documentBytesMean: plainBytesMean,
      composedDocuments: composedDocs,
      steps: Object.fromEntries(steps.map((s) => [s.key, { rate: s.rate, note: s.note }])),
      runs: { eventsThroughput, ceilingWrite: write, ceilingRead: read, fullSync: full, composedFullSync: composed, composedOverFullSync: composedRatios, postgresFullSync: postgres, postgresOverCeilingWrite: postgresRatios, rerun, targeted, verify: verifies },
      figures: {
        fullSyncOverCeilingWrite: ratio,
        cesyncCpuShare: cpuShare,
        peakRssBytes: peakRss,
        fullSyncPeakRssBytes: fullPeakRss,
        rssAt100kBytes: rssAt100k,
        targetedCommandSeconds: targetedWall,
        targetedSyncSeconds: targetedSync,
        composedOverFullSync: composedRatio,
        composedCpuShare,
        composedPeakRssBytes: composedPeakRss,
      },
      goals,
      profile,
      latency,
      events: only.has('events') ? { batchesPerUser: BATCHES_PER_USER, eventsPerSecond, rowsPerSecond: rate(eventsThroughput), latency: eventsLatency } : undefined,
      verify: verifySeconds ? { seconds: verifySeconds, overFullSync: verifyRatio } : undefined,
    };
    await mkdir(path.dirname(jsonPath), { recursive: true });
    await writeFile(jsonPath, `${JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);

    const out: string[] = [
      '',
      `cesync benchmark: ${usersNeeded ? `${int(rows)} rows of ${KEYSPACE}.${TABLE}` : `step events only (${EVENTS_KEYSPACE}.course_batch)`}, ${runs} run(s) each; ${cpus.length} CPUs (${cpus[0]?.model ?? '?'}), ${results.machine.memoryGiB} GiB, node ${process.version}`,
      `pipeline: pageSize ${pipeline.pageSize}, splits ${pipeline.splits}, rangesInFlight ${pipeline.rangesInFlight}, bulk ${pipeline.bulk.flushBytes} B x ${pipeline.bulk.concurrency}, indexSettings ${JSON.stringify(pipeline.indexSettings ?? {})}`,
      '',
      formatSteps(steps),
    ];
    if (plainBytesMean !== undefined || composedDocs) {
      const nested = composedDocs ? `; nested on average: ${listFields.map((f) => `${composedDocs.listedMean[f]!.toFixed(2)} ${f}`).join(', ')}` : '';
      out.push(
        `documents, mean bulk body: plain ${plainBytesMean === undefined ? 'n/a' : `${int(plainBytesMean)} bytes`}` +
          `${composedDocs ? `, composed ${int(composedDocs.bytesMean)} bytes${plainBytesMean ? ` (${(composedDocs.bytesMean / plainBytesMean).toFixed(2)} x)` : ''}` : ''}${nested}`,
      );
    }
    out.push('', formatGoals(goals));
    if (profile) {
      out.push('', `where cesync's CPU goes (self time, ${(profile.totalMs / 1000).toFixed(1)} s sampled; ${profile.file}):`);
      for (const f of profile.byFile) out.push(`  ${pct(f.share).padStart(6)}  ${f.where}`);
      out.push('', 'top functions (self time):');
      for (const f of profile.byFunction) out.push(`  ${pct(f.share).padStart(6)}  ${f.name}  (${f.where})`);
    }
    out.push('', `results: ${path.relative(process.cwd(), jsonPath) || jsonPath}`, '');
    process.stdout.write(out.join('\n'));
    return 0;
  } finally {
    await cleanup();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
