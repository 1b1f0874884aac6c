// The one-command demo: `npm run demo` (or `node scripts/demo.ts` after `npm run build`).
//
//   1. starts Cassandra and Elasticsearch (or finds them running),
//   2. creates Sunbird's `user` and `organisation` tables in keyspace `sunbird`,
//   3. fills them with generated rows, unless they already hold exactly those rows,
//   4. runs `cesync sync --config examples/sunbird.yaml` (progress bar on a terminal),
//   5. runs it again: every document is reported unchanged,
//   6. prints a summary: rows loaded, speed of the first sync, documents in Elasticsearch.
//
// The servers keep running afterwards (`npm run services -- stop` stops them). Exit status: that
// of the first failing sync run, 2 on bad arguments, 1 on any other error.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { parse as parseYaml } from 'yaml';
import { generateOrganisations, generateUsers, loadRows, type LoadResult } from './demo/sunbird-data.ts';
import { createSunbirdSchema, cqlIdentifier } from './demo/sunbird-schema.ts';
import { startServices, type ServiceEndpoints } from './services/index.ts';
import { servicesDir } from './services/paths.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'bin', 'cesync.js');
const configFile = path.join(repoRoot, 'examples', 'sunbird.yaml');
const demoDir = path.join(servicesDir, 'demo');
const keyspace = 'sunbird';

const usage = `usage: npm run demo -- [--users N] [--orgs N] [--reset] [--seed N] [--concurrency N]

  --users N        users to generate (default 30000)
  --orgs N         organisations to generate (default 500; one tenant per 50, at most 10)
  --reset          drop keyspace ${keyspace} and delete the demo's indices first
  --seed N         seed of the generated data (default 1)
  --concurrency N  inserts in flight while loading (default 64)

Loads ${keyspace}.organisation and ${keyspace}.user (skipped when they already hold the same rows),
then runs: cesync sync --config examples/sunbird.yaml, twice.`;

type Options = { users: number; orgs: number; reset: boolean; seed: number; concurrency: number };

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '30000' },
      orgs: { type: 'string', default: '500' },
      reset: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '64' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const count = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${raw}`);
    return n;
  };
  return {
    users: count('users', values.users, 0),
    orgs: count('orgs', values.orgs, 1),
    reset: values.reset,
    seed: count('seed', values.seed, 0),
    concurrency: count('concurrency', values.concurrency, 1),
  };
}

const say = (line: string): void => {
  process.stderr.write(`demo: ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// Elasticsearch, over plain HTTP

async function es(node: string, method: string, urlPath: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(urlPath, node), { method });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

async function deleteIndex(node: string, index: string): Promise<void> {
  const { status, body } = await es(node, 'DELETE', `/${encodeURIComponent(index)}?ignore_unavailable=true`);
  if (status >= 300) throw new Error(`deleting index ${index}: HTTP ${status} ${JSON.stringify(body)}`);
}

/** Documents in `index` (after a refresh, so that the last writes count), or undefined if it does not exist. */
async function countDocuments(node: string, index: string): Promise<number | undefined> {
  const name = encodeURIComponent(index);
  const refresh = await es(node, 'POST', `/${name}/_refresh`);
  if (refresh.status === 404) return undefined;
  const { status, body } = await es(node, 'GET', `/${name}/_count`);
  if (status !== 200) throw new Error(`counting ${index}: HTTP ${status} ${JSON.stringify(body)}`);
  return (body as { count: number }).count;
}

// ---------------------------------------------------------------------------------------------
// Cassandra

function cassandraClient(endpoints: ServiceEndpoints): cassandra.Client {
  const c = endpoints.cassandra;
  return new cassandra.Client({
    contactPoints: c.contactPoints,
    localDataCenter: c.localDataCenter,
    authProvider: new cassandra.auth.PlainTextAuthProvider(c.username, c.password),
    socketOptions: { connectTimeout: 10_000, readTimeout: 60_000 },
  });
}

/** Rows in a table, counted by paging through its keys (no COUNT(*) timeout on big tables). */
async function countRows(client: cassandra.Client, table: string): Promise<number> {
  let rows = 0;
  let pageState: string | undefined;
  do {
    const result = await client.execute(`SELECT id FROM ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)}`, [], {
      prepare: true,
      fetchSize: 5000,
      pageState,
    });
    rows += result.rowLength;
    pageState = result.pageState ?? undefined;
  } while (pageState);
  return rows;
}

async function hasRow(client: cassandra.Client, table: string, id: string): Promise<boolean> {
  const result = await client.execute(`SELECT id FROM ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)} WHERE id = ?`, [id], {
    prepare: true,
  });
  return result.rowLength > 0;
}

type LoadOutcome = { skipped: true } | { skipped: false; organisations: LoadResult; users: LoadResult };

/**
 * Loads the generated rows unless the tables already hold them: same counts, and the first
 * generated organisation and user present (the data is deterministic, so that identifies it).
 * Tables holding other data are emptied first, and so are the indices synced from them.
 */
async function loadData(client: cassandra.Client, options: Options, indices: string[], esNode: string): Promise<LoadOutcome> {
  const orgs = generateOrganisations(options.orgs, options.seed);
  const firstUser = generateUsers(1, orgs, options.seed).next().value;
  const [orgCount, userCount] = [await countRows(client, 'organisation'), await countRows(client, 'user')];
  const same =
    orgCount === options.orgs &&
    userCount === options.users &&
    (orgs[0] === undefined || (await hasRow(client, 'organisation', orgs[0].id))) &&
    (firstUser === undefined || (await hasRow(client, 'user', firstUser.id)));
  if (same) {
    say(`${keyspace} already holds ${orgCount} organisations and ${userCount} users from seed ${options.seed}: load skipped`);
    return { skipped: true };
  }
  if (orgCount > 0 || userCount > 0) {
    say(
      `${keyspace} holds ${orgCount} organisations and ${userCount} users, not the ${options.orgs} and ` +
        `${options.users} wanted (seed ${options.seed}): emptying the tables and indices ${indices.join(', ')}`,
    );
    for (const table of ['user', 'organisation']) {
      await client.execute(`TRUNCATE ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)}`, [], { readTimeout: 120_000 });
    }
    for (const index of indices) await deleteIndex(esNode, index);
  }
  const organisations = await loadRows(client, keyspace, 'organisation', orgs, options.concurrency, { total: orgs.length });
  const users = await loadRows(client, keyspace, 'user', generateUsers(options.users, orgs, options.seed), options.concurrency, {
    total: options.users,
  });
  return { skipped: false, organisations, users };
}

// ---------------------------------------------------------------------------------------------
// The CLI

type PipelineReport = {
  pipeline: string;
  index: string;
  read: number;
  indexed: number;
  unchanged: number;
  failed: number;
  durationMs: number;
  rowsPerSecond: number;
  interrupted: boolean;
};

/** Runs `cesync sync` with the terminal attached; resolves to its exit code (128+n for a signal). */
function runSync(endpoints: ServiceEndpoints, reportFile: string, ledgerFile: string): Promise<number> {
  const args = [cliPath, 'sync', '--config', configFile, '--report', reportFile, '--failure-ledger', ledgerFile];
  say(`running: cesync ${args.slice(1).map((a) => path.relative(repoRoot, a) || a).join(' ')}`);
  const env = {
    ...process.env,
    // Point the CLI at the servers actually started (ports may be moved by CESYNC_* settings).
    CESYNC_CASSANDRA_CONTACT_POINTS: endpoints.cassandra.contactPoints.join(','),
    CESYNC_CASSANDRA_LOCAL_DC: endpoints.cassandra.localDataCenter,
    CESYNC_CASSANDRA_USERNAME: endpoints.cassandra.username,
    CESYNC_CASSANDRA_PASSWORD: endpoints.cassandra.password,
    CESYNC_ES_NODE: endpoints.elasticsearch.node,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: 'inherit' });
    // Ctrl-C reaches the CLI too: let it stop cleanly and report, then exit with its code.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    const done = (): void => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', ignore);
    };
    child.on('error', (error) => {
      done();
      reject(error);
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (({ SIGINT: 2, SIGTERM: 15, SIGKILL: 9 }) as Record<string, number>)[signal] ?? 1 : 1));
    });
  });
}

async function readReports(file: string): Promise<PipelineReport[]> {
  const parsed = JSON.parse(await readFile(file, 'utf8')) as { reports?: PipelineReport[] };
  if (!Array.isArray(parsed.reports)) throw new Error(`${file} has no "reports" array`);
  return parsed.reports;
}

/** The index of each pipeline of the example config (the indices --reset deletes and the summary counts). */
async function configIndices(): Promise<string[]> {
  const config = parseYaml(await readFile(configFile, 'utf8')) as { pipelines?: { index?: unknown }[] };
  return (config.pipelines ?? []).map((p) => p.index).filter((i): i is string => typeof i === 'string');
}

// ---------------------------------------------------------------------------------------------

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')} rows/s`;

async function main(argv: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` first (`npm run demo` does both)\n');
    return 1;
  }

  say('starting services (or finding them running)');
  const { started, alreadyRunning, endpoints } = await startServices();
  if (started.length) say(`started: ${started.join(', ')}`);
  if (alreadyRunning.length) say(`already running: ${alreadyRunning.join(', ')}`);
  const esNode = endpoints.elasticsearch.node;
  const indices = await configIndices();

  const client = cassandraClient(endpoints);
  let load: LoadOutcome;
  try {
    await client.connect();
    if (options.reset) {
      say(`--reset: dropping keyspace ${keyspace} and deleting indices ${indices.join(', ')}`);
      await client.execute(`DROP KEYSPACE IF EXISTS ${cqlIdentifier(keyspace)}`, [], { readTimeout: 120_000 });
      for (const index of indices) await deleteIndex(esNode, index);
    }
    await createSunbirdSchema(client, keyspace);
    load = await loadData(client, options, indices, esNode);
  } finally {
    await client.shutdown().catch(() => undefined);
  }

  await mkdir(demoDir, { recursive: true });
  const reportFile = path.join(demoDir, 'report.json');
  const rerunReportFile = path.join(demoDir, 'report-rerun.json');
  const ledgerFile = path.join(demoDir, 'failures.ndjson');

  say('first sync');
  const first = await runSync(endpoints, reportFile, ledgerFile);
  if (first !== 0 && first !== 1) {
    say(`cesync sync failed with exit code ${first}`);
    return first;
  }
  const firstReports = await readReports(reportFile);

  say('second sync: nothing changed, so every document should be reported unchanged');
  const second = await runSync(endpoints, rerunReportFile, ledgerFile);
  if (second !== 0 && second !== 1) {
    say(`the second cesync sync failed with exit code ${second}`);
    return second;
  }
  const secondReports = await readReports(rerunReportFile);

  const counts = await Promise.all(indices.map(async (index) => [index, await countDocuments(esNode, index)] as const));

  const lines: string[] = ['', 'Demo summary'];
  if (load.skipped) lines.push(`  load:        skipped, ${keyspace} already held ${options.orgs} organisations and ${options.users} users`);
  else {
    const totalRows = load.organisations.rows + load.users.rows;
    const totalMs = load.organisations.durationMs + load.users.durationMs;
    lines.push(
      `  load:        ${load.organisations.rows} organisations and ${load.users.rows} users in ${seconds(totalMs)} ` +
        `(${rate((totalRows * 1000) / Math.max(totalMs, 1))}; users ${rate(load.users.rowsPerSecond)})`,
    );
  }
  for (const r of firstReports) {
    lines.push(
      `  first sync:  ${r.pipeline}: ${r.read} rows in ${seconds(r.durationMs)} (${rate(r.rowsPerSecond)}), ` +
        `indexed ${r.indexed}, unchanged ${r.unchanged}, failed ${r.failed}`,
    );
  }
  let allUnchanged = true;
  for (const r of secondReports) {
    const unchanged = r.indexed === 0 && r.failed === 0 && r.unchanged === r.read;
    allUnchanged &&= unchanged;
    lines.push(
      `  second sync: ${r.pipeline}: ${r.read} rows, unchanged ${r.unchanged}, indexed ${r.indexed}, failed ${r.failed}` +
        ` in ${seconds(r.durationMs)}${unchanged ? '' : '  <- expected all unchanged'}`,
    );
  }
  for (const [index, count] of counts) {
    lines.push(`  elasticsearch: ${index}: ${count === undefined ? 'no such index' : `${count} documents`}`);
  }
  lines.push(
    `  reports:     ${path.relative(repoRoot, reportFile)}, ${path.relative(repoRoot, rerunReportFile)}`,
    '',
    `Try: curl -s '${esNode}/${indices[0] ?? keyspace}/_search?size=1&pretty'`,
    'The servers keep running; stop them with: npm run services -- stop',
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  if (!allUnchanged) say('warning: the second sync changed or failed documents although no row changed');
  if (first !== 0 || second !== 0) {
    say(`some documents failed (exit code ${first || second}); see ${path.relative(repoRoot, ledgerFile)}`);
    return first || second;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
