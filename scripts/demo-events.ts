// The events demo: `npm run demo:events` (or `node scripts/demo-events.ts` after `npm run build`).
// Sunbird's ownership transfer (seed 004), done with `cesync consume` (docs/events.md):
//
//   1. starts PostgreSQL's setup, Cassandra, Elasticsearch and Kafka (or finds them running),
//   2. creates keyspace sunbird_courses with Sunbird's course_batch table, and Sunbird's user table
//      in keyspace sunbird (the main demo's; created only when missing),
//   3. writes the generated course batches (3,000 by default; about half created or mentored by
//      the sample event's fromUserProfile.userId, some of those expired), rewriting only the rows
//      that differ from them, so every run starts from the same table, and adds the event's two
//      users to sunbird.user when they are not there (removed again at the end),
//   4. `cesync sync --config examples/events.yaml --pipeline course-batch`: the batches indexed,
//   5. publishes the seed's sample event (examples/events/ownership-transfer-event.json) verbatim
//      to dev.user.ownership.transfer, after moving the consumer group to the end of the topic so
//      that exactly this event is read,
//   6. `cesync consume --config examples/events.yaml --exit-when-idle 5000`,
//   7. `cesync verify --config examples/events.yaml --pipeline course-batch`,
//   8. prints the batches holding each user before and after, in Cassandra and in the index, the
//      consume totals and the verify result, and checks each against what the transfer must give.
//
// The servers keep running afterwards. Exit status: 0 when everything ended as expected, 1 when a
// step did not (each is listed as NOT AS EXPECTED), 2 on bad arguments.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { parse as parseYaml } from 'yaml';
import {
  batchKey,
  COURSE_BATCH_COLUMNS,
  courseBatchOf,
  createCourseBatchTableCql,
  generateCourseBatches,
  holds,
  sameBatch,
  transferred,
  TRANSFERRED_STATUSES,
  type CourseBatch,
} from './demo/course-batch-data.ts';
import { deleteGroup, deleteTopics, ensureTopics, groupPosition, moveGroupToEnd, publish } from './demo/kafka-admin.ts';
import { loadRows } from './demo/sunbird-data.ts';
import { createKeyspaceCql, createSunbirdSchema } from './demo/sunbird-schema.ts';
import { startServices, type ServiceEndpoints } from './services/index.ts';
import { servicesDir } from './services/paths.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'bin', 'cesync.js');
const configFile = path.join(repoRoot, 'examples', 'events.yaml');
const eventFile = path.join(repoRoot, 'examples', 'events', 'ownership-transfer-event.json');
const demoDir = path.join(servicesDir, 'demo');

// The names of examples/events.yaml (read from it at the start, and checked to be these).
const KEYSPACE = 'sunbird_courses';
const TABLE = 'course_batch';
const USER_KEYSPACE = 'sunbird';
const PIPELINE = 'course-batch';
const INDEX = 'course-batch';
const CONSUMER = 'ownership-transfer';

const usage = `usage: npm run demo:events -- [--batches N] [--reset] [--seed N]

  --batches N  course batches to generate (default 3000; about half created or mentored by the
               sample event's user)
  --reset      drop keyspace ${KEYSPACE}, delete index ${INDEX}, the topics and the consumer group first
  --seed N     seed of the generated batches (default 1)

Loads ${KEYSPACE}.${TABLE}, indexes it, publishes examples/events/ownership-transfer-event.json and
applies it with: cesync consume --config examples/events.yaml --exit-when-idle 5000`;

class UsageError extends Error {}
const say = (line: string): void => void process.stderr.write(`demo: ${line}\n`);

interface Options {
  batches: number;
  reset: boolean;
  seed: number;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: { batches: { type: 'string', default: '3000' }, reset: { type: 'boolean', default: false }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) return undefined;
  const count = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${raw}`);
    return n;
  };
  return { batches: count('batches', values.batches, 10), reset: values.reset, seed: count('seed', values.seed, 0) };
}

/** What examples/events.yaml names, checked against what this demo loads and counts. */
interface ExampleNames {
  topic: string;
  groupId: string;
  deadLetterTopic: string;
}

async function exampleNames(): Promise<ExampleNames> {
  const raw = parseYaml(await readFile(configFile, 'utf8')) as {
    pipelines: { name: string; keyspace: string; table: string; index: string }[];
    consumers: { name: string; topic: string; groupId: string; deadLetterTopic: string; handler: { require: { keyspace?: string; table: string }[] } }[];
  };
  const p = raw.pipelines.find((x) => x.name === PIPELINE);
  const c = raw.consumers.find((x) => x.name === CONSUMER);
  if (!p || p.keyspace !== KEYSPACE || p.table !== TABLE || p.index !== INDEX) throw new Error(`${configFile}: pipeline ${PIPELINE} must read ${KEYSPACE}.${TABLE} into ${INDEX}`);
  if (!c || c.handler.require.some((r) => r.keyspace !== USER_KEYSPACE || r.table !== 'user')) throw new Error(`${configFile}: consumer ${CONSUMER} must require rows of ${USER_KEYSPACE}.user`);
  return { topic: c.topic, groupId: c.groupId, deadLetterTopic: c.deadLetterTopic };
}

// ---------------------------------------------------------------------------------------------
// The stores

function cassandraClient(endpoints: ServiceEndpoints): cassandra.Client {
  const c = endpoints.cassandra;
  return new cassandra.Client({
    contactPoints: c.contactPoints,
    localDataCenter: c.localDataCenter,
    authProvider: new cassandra.auth.PlainTextAuthProvider(c.username, c.password),
    socketOptions: { connectTimeout: 10_000, readTimeout: 60_000 },
  });
}

async function es(node: string, method: string, urlPath: string, json?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(urlPath, node), json === undefined ? { method } : { method, body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: response.status, body: { text } };
  }
}

/** Every row of the table, by key. */
async function readBatches(client: cassandra.Client): Promise<Map<string, CourseBatch>> {
  const out = new Map<string, CourseBatch>();
  let pageState: string | undefined;
  do {
    const rs = await client.execute(`SELECT ${COURSE_BATCH_COLUMNS.join(', ')} FROM ${KEYSPACE}.${TABLE}`, [], { prepare: true, fetchSize: 5000, pageState });
    for (const row of rs.rows) {
      const b = courseBatchOf(row);
      out.set(batchKey(b), b);
    }
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return out;
}

/** Batches holding a user: upcoming or ongoing, and expired. */
interface Holding {
  live: number;
  expired: number;
}

function holdingIn(batches: Iterable<CourseBatch>, user: string): Holding {
  const h = { live: 0, expired: 0 };
  for (const b of batches) if (holds(b, user)) h[TRANSFERRED_STATUSES.includes(b.status) ? 'live' : 'expired']++;
  return h;
}

/** Documents holding a user (createdBy or among the mentors): upcoming or ongoing, and expired; and all documents. */
async function indexHolding(node: string, user: string): Promise<Holding & { documents: number }> {
  await es(node, 'POST', `/${INDEX}/_refresh`);
  const count = async (filter: unknown[]) => {
    const query = filter.length === 0 ? { match_all: {} } : { bool: { filter } };
    const { status, body } = await es(node, 'POST', `/${INDEX}/_count`, { query });
    if (status !== 200) throw new Error(`counting ${INDEX}: HTTP ${status} ${JSON.stringify(body)}`);
    return body['count'] as number;
  };
  const holdsUser = { bool: { should: [{ term: { 'createdBy.keyword': user } }, { term: { 'mentors.keyword': user } }], minimum_should_match: 1 } };
  return {
    live: await count([holdsUser, { terms: { status: TRANSFERRED_STATUSES } }]),
    expired: await count([holdsUser, { bool: { must_not: { terms: { status: TRANSFERRED_STATUSES } } } }]),
    documents: await count([]),
  };
}

/**
 * Makes the table hold exactly the generated batches: rows that differ (the ones the last run's
 * transfer changed) are written again, at a newer write time than the transfer's, and the rest
 * are left as they are. A table that holds other rows (another --batches or --seed) is emptied
 * first; then, as when it was empty, the index must go too (`emptied`): documents of rows the
 * table no longer holds would outlive them.
 */
async function resetBatches(client: cassandra.Client, wanted: readonly CourseBatch[]): Promise<{ written: number; kept: number; emptied: boolean }> {
  const have = await readBatches(client);
  const keys = new Set(wanted.map(batchKey));
  const foreign = [...have.keys()].some((k) => !keys.has(k));
  if (foreign || have.size === 0) {
    if (foreign) {
      say(`${KEYSPACE}.${TABLE} holds ${have.size} rows, some not among the ${wanted.length} generated ones: emptying it and deleting index ${INDEX}`);
      await client.execute(`TRUNCATE ${KEYSPACE}.${TABLE}`, [], { readTimeout: 120_000 });
    }
    return { written: (await writeBatches(client, wanted)).length, kept: 0, emptied: true };
  }
  const differing = wanted.filter((b) => {
    const h = have.get(batchKey(b));
    return !h || !sameBatch(h, b);
  });
  await writeBatches(client, differing);
  return { written: differing.length, kept: wanted.length - differing.length, emptied: false };
}

async function writeBatches(client: cassandra.Client, batches: readonly CourseBatch[]): Promise<readonly CourseBatch[]> {
  if (batches.length > 0) await loadRows(client, KEYSPACE, TABLE, batches.map((b) => ({ ...b })), 32, { total: batches.length });
  return batches;
}

// ---------------------------------------------------------------------------------------------
// The CLI

function cliEnv(endpoints: ServiceEndpoints): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CESYNC_CASSANDRA_CONTACT_POINTS: endpoints.cassandra.contactPoints.join(','),
    CESYNC_CASSANDRA_LOCAL_DC: endpoints.cassandra.localDataCenter,
    CESYNC_CASSANDRA_USERNAME: endpoints.cassandra.username,
    CESYNC_CASSANDRA_PASSWORD: endpoints.cassandra.password,
    CESYNC_ES_NODE: endpoints.elasticsearch.node,
    KAFKA_BROKER: endpoints.kafka.brokers[0],
    EVENTS_FAILURE_LEDGER: path.join(demoDir, 'events-failures.ndjson'),
  };
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI as a user would, from the repository's root. Its log lines (stderr) are shown as
 * they come and kept, for the totals they carry, and so is its stdout; with `terminal` both are
 * the terminal itself (progress bars, readable logs) and nothing is kept.
 */
function cesync(endpoints: ServiceEndpoints, args: readonly string[], options: { terminal?: boolean } = {}): Promise<CliResult> {
  say(`$ cesync ${args.map((a) => path.relative(repoRoot, a) || a).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: cliEnv(endpoints), stdio: ['ignore', options.terminal ? 'inherit' : 'pipe', options.terminal ? 'inherit' : 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** The JSON log lines with this message. */
function logLines(stderr: string, msg: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((l) => l['msg'] === msg);
}

interface ConsumeTotals {
  batches: number;
  events: number;
  applied: number;
  skipped: number;
  failed: number;
  deadLettered: number;
  rowsChanged: number;
}

// ---------------------------------------------------------------------------------------------

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
  if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` first (`npm run demo:events` does both)\n');
    return 1;
  }
  const started = performance.now();
  const names = await exampleNames();
  const eventText = await readFile(eventFile, 'utf8');
  const event = JSON.parse(eventText) as { ets: number; edata: { organisationId: string; fromUserProfile: { userId: string; userName: string }; toUserProfile: { userId: string; userName: string; firstName: string } } };
  const FROM = event.edata.fromUserProfile.userId;
  const TO = event.edata.toUserProfile.userId;
  const ORG = event.edata.organisationId;

  say('starting services (or finding them running; Kafka is fetched from Maven Central the first time)');
  const { started: launched, alreadyRunning, endpoints } = await startServices(['postgres', 'cassandra', 'elasticsearch', 'kafka']);
  if (launched.length) say(`started: ${launched.join(', ')}`);
  if (alreadyRunning.length) say(`already running: ${alreadyRunning.join(', ')}`);
  const node = endpoints.elasticsearch.node;
  const brokers = endpoints.kafka.brokers;
  await mkdir(demoDir, { recursive: true });

  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
    say(`${ok ? 'ok' : 'NOT AS EXPECTED'}: ${what}`);
  };

  const client = cassandraClient(endpoints);
  const addedUsers: string[] = [];
  try {
    await client.connect();
    if (options.reset) {
      say(`--reset: dropping keyspace ${KEYSPACE}, deleting index ${INDEX}, topics ${names.topic} and ${names.deadLetterTopic}, group ${names.groupId}`);
      await client.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`, [], { readTimeout: 120_000 });
      await es(node, 'DELETE', `/${INDEX}?ignore_unavailable=true`);
      await deleteTopics(brokers, [names.topic, names.deadLetterTopic]);
      await deleteGroup(brokers, names.groupId).catch((e: unknown) => say(`the group could not be deleted (${(e as Error).message}); its offsets are moved below`));
    }
    await client.execute(createKeyspaceCql(KEYSPACE), [], { readTimeout: 60_000 });
    await client.execute(createCourseBatchTableCql(KEYSPACE, TABLE), [], { readTimeout: 60_000 });
    // Sunbird's user table of the main demo (npm run demo), created only when it is missing.
    await createSunbirdSchema(client, USER_KEYSPACE);

    // The event's two users, for the handler's require checks. Added only when missing, and removed
    // again at the end: the main demo reloads sunbird.user when it holds other rows than its own.
    for (const [id, name, org] of [
      [FROM, event.edata.fromUserProfile.userName, ORG],
      [TO, event.edata.toUserProfile.firstName, ORG],
    ] as const) {
      const rs = await client.execute(`SELECT rootorgid FROM ${USER_KEYSPACE}.user WHERE id = ?`, [id], { prepare: true });
      if (rs.rowLength > 0) {
        if (id === TO && rs.first()!.get('rootorgid') !== ORG) say(`note: ${USER_KEYSPACE}.user ${id} has rootorgid ${String(rs.first()!.get('rootorgid'))}, not the event's ${ORG}: the event will be skipped`);
        continue;
      }
      await client.execute(`INSERT INTO ${USER_KEYSPACE}.user (id, userid, firstname, username, rootorgid, status, isdeleted) VALUES (?, ?, ?, ?, ?, 1, false)`, [id, id, name, name, org], { prepare: true });
      addedUsers.push(id);
    }
    if (addedUsers.length) say(`added the event's users to ${USER_KEYSPACE}.user: ${addedUsers.join(', ')} (removed again at the end)`);

    const generated = generateCourseBatches(options.batches, { from: FROM, to: TO, organisation: ORG, now: event.ets, seed: options.seed });
    const reset = await resetBatches(client, generated);
    if (reset.emptied) await es(node, 'DELETE', `/${INDEX}?ignore_unavailable=true`);
    say(reset.written === 0 ? `${KEYSPACE}.${TABLE} already holds the ${generated.length} generated batches` : `${KEYSPACE}.${TABLE}: ${reset.written} batches written, ${reset.kept} already as generated`);
    const expected = generated.map((b) => transferred(b, FROM, TO));
    const toChange = generated.filter((b, i) => !sameBatch(b, expected[i]!)).length;

    // 4. Index the batches.
    const reportFile = path.join(demoDir, 'events-sync.json');
    const sync = await cesync(endpoints, ['sync', '--config', configFile, '--pipeline', PIPELINE, '--report', reportFile], { terminal: true });
    expect(sync.code === 0, `cesync sync exited ${sync.code}`);
    if (sync.code !== 0) return 1;
    const syncReport = (JSON.parse(await readFile(reportFile, 'utf8')) as { reports: { read: number; indexed: number; unchanged: number; failed: number; durationMs: number }[] }).reports[0]!;

    const before = {
      cassandra: { from: holdingIn(generated, FROM), to: holdingIn(generated, TO) },
      index: { from: await indexHolding(node, FROM), to: await indexHolding(node, TO) },
    };
    const sameHolding = (a: Holding, b: Holding) => a.live === b.live && a.expired === b.expired;
    expect(
      sameHolding(before.index.from, before.cassandra.from) && sameHolding(before.index.to, before.cassandra.to) && before.index.from.documents === generated.length,
      `before: the index holds ${before.index.from.documents} documents and shows the same batches per user as the table`,
    );

    // 5. Publish the sample event, to be the one event the group reads next.
    const created = await ensureTopics(brokers, [names.topic, names.deadLetterTopic]);
    if (created.length) say(`created topics ${created.join(', ')}`);
    const position = await groupPosition(brokers, names.groupId, names.topic);
    if (position.members > 0) throw new Error(`consumer group ${names.groupId} has ${position.members} members: another cesync consume of this configuration is running; stop it first`);
    const unread = position.partitions.reduce((n, p) => n + (p.committed < 0n ? p.end : p.end - p.committed), 0n);
    if (unread > 0n || position.partitions.some((p) => p.committed !== p.end)) {
      if (unread > 0n) say(`${names.topic} holds ${unread} events group ${names.groupId} has not read (an earlier run's): moving the group to the end of the topic`);
      await moveGroupToEnd(brokers, names.groupId, names.topic, position);
    }
    // Keyed by the user whose batches move, so that events about one user share a partition.
    await publish(brokers, names.topic, [eventText], [FROM]);
    say(`published ${path.relative(repoRoot, eventFile)} to ${names.topic}, verbatim (${Buffer.byteLength(eventText)} bytes)`);

    // 6. Apply it.
    const consumed = await cesync(endpoints, ['consume', '--config', configFile, '--exit-when-idle', '5000']);
    expect(consumed.code === 0, `cesync consume exited ${consumed.code}`);
    const stopped = logLines(consumed.stderr, 'consume stopped').pop() as { consumers?: Record<string, ConsumeTotals> } | undefined;
    const totals = stopped?.consumers?.[CONSUMER];
    const applied = logLines(consumed.stderr, 'events applied') as { seconds?: number; documents?: { indexed: number; unchanged: number } }[];
    expect(
      totals !== undefined && totals.events === 1 && totals.applied === 1 && totals.rowsChanged === toChange && totals.failed === 0,
      `consume: ${totals ? `${totals.events} event(s), ${totals.applied} applied, ${totals.skipped} skipped, ${totals.failed} failed, ${totals.rowsChanged} rows changed` : 'no totals logged'} (expected 1 applied, ${toChange} rows changed)`,
    );

    // 7. Verify.
    const verified = await cesync(endpoints, ['verify', '--config', configFile, '--pipeline', PIPELINE, '--quiet', '--json']);
    const verifyReport = verified.code === 0 || verified.code === 1 ? (JSON.parse(verified.stdout) as { reports: { inSync: boolean; counts: Record<string, number>; rowsScanned: number; durationMs: number }[] }).reports[0] : undefined;
    expect(verified.code === 0, `cesync verify exited ${verified.code}${verifyReport ? `: ${verifyReport.inSync ? 'in sync' : `differences ${JSON.stringify(verifyReport.counts)}`}` : ''}`);

    // 8. After, against what the transfer must give.
    const table = await readBatches(client);
    const wrong = expected.filter((b) => {
      const h = table.get(batchKey(b));
      return !h || !sameBatch(h, b);
    });
    const expiredFrom = generated.filter((b) => b.status === 2 && holds(b, FROM));
    const expiredTouched = expiredFrom.filter((b) => {
      const h = table.get(batchKey(b));
      return !h || !sameBatch(h, b);
    }).length;
    expect(wrong.length === 0 && table.size === generated.length, `table: ${table.size - wrong.length} of ${generated.length} batches as the transfer must leave them${wrong.length ? `; e.g. ${batchKey(wrong[0]!)}` : ''}`);
    expect(expiredTouched === 0, `expired batches of ${FROM}: ${expiredFrom.length}, changed ${expiredTouched}`);
    const after = {
      cassandra: { from: holdingIn(table.values(), FROM), to: holdingIn(table.values(), TO) },
      index: { from: await indexHolding(node, FROM), to: await indexHolding(node, TO) },
    };
    const want = { from: holdingIn(expected, FROM), to: holdingIn(expected, TO) };
    expect(
      sameHolding(after.index.from, want.from) && sameHolding(after.index.to, want.to) && after.index.from.documents === generated.length,
      `after: the index shows the batches per user the transfer must leave (${after.index.from.documents} documents)`,
    );

    const seconds = (performance.now() - started) / 1000;
    const cell = (h: Holding) => `${h.live.toLocaleString('en-US')} / ${h.expired.toLocaleString('en-US')}`;
    const holdingRows = [
      ['', 'Cassandra before', 'index before', 'Cassandra after', 'index after'],
      [`from ${FROM}`, cell(before.cassandra.from), cell(before.index.from), cell(after.cassandra.from), cell(after.index.from)],
      [`to   ${TO}`, cell(before.cassandra.to), cell(before.index.to), cell(after.cassandra.to), cell(after.index.to)],
    ];
    const widths = holdingRows[0]!.map((_, i) => Math.max(...holdingRows.map((r) => r[i]!.length)));
    const lines = [
      '',
      'Events demo summary',
      `  table:       ${KEYSPACE}.${TABLE}, ${generated.length} batches (seed ${options.seed}); ${reset.written} rows written to start from the generated state`,
      `  sync:        ${syncReport.read} rows in ${(syncReport.durationMs / 1000).toFixed(1)} s, indexed ${syncReport.indexed}, unchanged ${syncReport.unchanged}, failed ${syncReport.failed} -> index ${INDEX}`,
      `  event:       ${path.relative(repoRoot, eventFile)} on ${names.topic}`,
      '  batches holding each user (created or mentoring), upcoming or ongoing / expired:',
      ...holdingRows.map((r) => `    ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`),
      `  consume:     ${totals ? `${totals.events} event, ${totals.applied} applied, ${totals.skipped} skipped, ${totals.failed} failed, ${totals.deadLettered} dead-lettered, ${totals.rowsChanged} rows changed` : 'no totals'}` +
        `${applied.length ? `; documents indexed ${applied.reduce((n, a) => n + (a.documents?.indexed ?? 0), 0)} in ${applied.reduce((n, a) => n + (a.seconds ?? 0), 0).toFixed(2)} s of batch handling` : ''}`,
      `  verify:      ${verifyReport ? `${verifyReport.inSync ? 'in sync' : 'DIFFERENCES'} (${verifyReport.rowsScanned} rows, ${Object.entries(verifyReport.counts).map(([k, v]) => `${k} ${v}`).join(', ')})` : `exit ${verified.code}`}`,
      `  elapsed:     ${seconds.toFixed(1)} s`,
      `  result:      ${problems.length === 0 ? 'everything as expected' : `${problems.length} step(s) NOT AS EXPECTED: ${problems.join('; ')}`}`,
      '',
      `Try: curl -s '${node}/${INDEX}/_search?size=1&pretty&q=createdBy.keyword:${TO}%20AND%20status:1'`,
      'The servers keep running; stop them with: npm run services -- stop',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    for (const id of addedUsers) await client.execute(`DELETE FROM ${USER_KEYSPACE}.user WHERE id = ?`, [id], { prepare: true }).catch(() => undefined);
    await client.shutdown().catch(() => undefined);
    await rm(path.join(demoDir, 'events-sync.json'), { force: true }).catch(() => undefined);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
