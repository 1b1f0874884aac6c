// The one-command demo: `npm run demo` (or `node scripts/demo.ts` after `npm run build`).
//
//   1. starts Cassandra and Elasticsearch (or finds them running),
//   2. creates Sunbird's `user`, `organisation`, `user_organisation` and `user_roles` tables in
//      keyspace `sunbird`,
//   3. fills them with generated rows, unless they already hold exactly those rows,
//   4. runs `cesync sync --config examples/sunbird.yaml` (progress bar on a terminal),
//   5. runs it again: every document is reported unchanged,
//   6. renames the organisation with the most members and runs `cesync sync --since last`: the new
//      name reaches every user document of its members (memberships are nested in users),
//   7. prints a summary: rows loaded, speed of the first sync, the rename, documents in Elasticsearch.
//
// The servers keep running afterwards (`npm run services -- stop` stops them). Exit status: that
// of the first failing sync run, 2 on bad arguments, 1 on any other error.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cassandra from 'cassandra-driver';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import {
  generateOrganisations,
  generateUserLinks,
  generateUserOrganisations,
  generateUserRoles,
  generateUsers,
  loadRows,
  type LoadResult,
  type Row,
  type SunbirdUser,
} from './demo/sunbird-data.ts';
import { createSunbirdSchema, cqlIdentifier } from './demo/sunbird-schema.ts';
import { reindexUnderWatch, type ReindexDemoResult } from './demo/reindex-under-watch.ts';
import { startServices, type ServiceEndpoints } from './services/index.ts';
import { servicesDir } from './services/paths.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'bin', 'cesync.js');
const configFile = path.join(repoRoot, 'examples', 'sunbird.yaml');
const demoDir = path.join(servicesDir, 'demo');
const keyspace = 'sunbird';

const TARGETS = ['elasticsearch', 'elasticsearch7', 'opensearch2', 'opensearch3'] as const;
type Target = (typeof TARGETS)[number];

const usage = `usage: npm run demo -- [--users N] [--orgs N] [--reset] [--seed N] [--concurrency N] [--target NAME] [--reindex]

  --users N        users to generate (default 30000)
  --orgs N         organisations to generate (default 500; one tenant per 50, at most 10)
  --reset          drop keyspace ${keyspace} and delete the demo's indices first
  --seed N         seed of the generated data (default 1)
  --concurrency N  inserts in flight while loading (default 64)
  --target NAME    the search cluster to sync into: elasticsearch (8, default), elasticsearch7,
                   opensearch2 or opensearch3 (started like the others; the config's elasticsearch
                   section becomes an opensearch section for OpenSearch)
  --reindex        then rebuild the user index behind its alias (cesync reindex --pipeline user)
                   while cesync watch runs and a writer renames users, and verify it afterwards

Loads ${keyspace}.organisation, ${keyspace}.user, ${keyspace}.user_organisation and ${keyspace}.user_roles
(skipped when they already hold the same rows), then runs: cesync sync --config examples/sunbird.yaml,
twice (it syncs organisation and user).`;

type Options = { users: number; orgs: number; reset: boolean; seed: number; concurrency: number; target: Target; reindex: boolean };

class UsageError extends Error {}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '30000' },
      orgs: { type: 'string', default: '500' },
      reset: { type: 'boolean', default: false },
      reindex: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '64' },
      target: { type: 'string', default: 'elasticsearch' },
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
    target: target(values.target),
    reindex: values.reindex,
  };
}

function target(raw: string): Target {
  if (!(TARGETS as readonly string[]).includes(raw)) throw new UsageError(`--target must be one of ${TARGETS.join(', ')}, not ${raw}`);
  return raw as Target;
}

/**
 * The example configuration for `target`: the file itself for Elasticsearch; for OpenSearch a copy
 * in the demo's folder whose elasticsearch section is an opensearch section (and whose transform
 * modules are named by absolute path, as the copy lives elsewhere).
 */
async function configFor(target: Target): Promise<string> {
  if (!target.startsWith('opensearch')) return configFile;
  const raw = parseYaml(await readFile(configFile, 'utf8'), { merge: true }) as Record<string, unknown> & { pipelines?: { transform?: { module?: string } }[] };
  const { elasticsearch, ...rest } = raw;
  for (const p of rest.pipelines ?? []) {
    if (p.transform?.module) p.transform.module = path.resolve(path.dirname(configFile), p.transform.module);
  }
  const file = path.join(demoDir, `sunbird.${target}.yaml`);
  await mkdir(demoDir, { recursive: true });
  await writeFile(file, `# Written by npm run demo -- --target ${target}, from examples/sunbird.yaml.\n${stringifyYaml({ ...rest, opensearch: elasticsearch })}`);
  return file;
}

const say = (line: string): void => {
  process.stderr.write(`demo: ${line}\n`);
};

// ---------------------------------------------------------------------------------------------
// Elasticsearch, over plain HTTP

async function es(node: string, method: string, urlPath: string, json?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(urlPath, node), json === undefined ? { method } : { method, body: JSON.stringify(json), headers: { 'content-type': 'application/json' } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

/** Deletes an index, or an alias with the indices behind it and its generations (`<alias>-NNNNNN`). */
async function deleteIndex(node: string, index: string): Promise<void> {
  const name = encodeURIComponent(index);
  const alias = await es(node, 'GET', `/_alias/${name}`);
  const names = new Set(alias.status === 200 && alias.body && typeof alias.body === 'object' ? Object.keys(alias.body) : [index]);
  const listed = await es(node, 'GET', `/_cat/indices/${name}-*?format=json&h=index`);
  if (listed.status === 200 && Array.isArray(listed.body)) {
    for (const { index: i } of listed.body as { index: string }[]) if (i.startsWith(`${index}-`) && /^\d{6,}$/.test(i.slice(index.length + 1))) names.add(i);
  }
  for (const n of names) {
    const { status, body } = await es(node, 'DELETE', `/${encodeURIComponent(n)}?ignore_unavailable=true`);
    if (status >= 300) throw new Error(`deleting index ${n}: HTTP ${status} ${JSON.stringify(body)}`);
  }
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

/** User documents whose memberships name the organisation `id` with the name `name`. */
async function usersShowing(node: string, id: string, name: string): Promise<number> {
  await es(node, 'POST', '/sunbird_user/_refresh');
  const { body } = await es(node, 'POST', '/sunbird_user/_count', {
    query: { bool: { filter: [{ term: { 'organisations.organisationId.keyword': id } }, { match_phrase: { 'organisations.orgName': name } }] } },
  });
  return (body as { count?: number }).count ?? 0;
}

/** The organisation with the most members among the user documents, and their count. */
async function busiestOrganisation(node: string): Promise<{ id: string; members: number } | undefined> {
  const { body } = await es(node, 'POST', '/sunbird_user/_search', { size: 0, aggs: { orgs: { terms: { field: 'organisations.organisationId.keyword', size: 1 } } } });
  const bucket = (body as { aggregations?: { orgs: { buckets: { key: string; doc_count: number }[] } } }).aggregations?.orgs.buckets[0];
  return bucket ? { id: bucket.key, members: bucket.doc_count } : undefined;
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

/** The demo's tables, in load order. */
const tables = ['organisation', 'user', 'user_organisation', 'user_roles'] as const;
type Table = (typeof tables)[number];

/** A column of each table's partition key, to count its rows by. */
const keyColumn: Record<Table, string> = { organisation: 'id', user: 'id', user_organisation: 'userid', user_roles: 'userid' };

/** What a table's rows are called in messages. */
const rowNoun: Record<Table, string> = {
  organisation: 'organisations',
  user: 'users',
  user_organisation: 'memberships (user_organisation)',
  user_roles: 'roles (user_roles)',
};

type TableRows = { table: Table; rows: number };

/** `50 organisations, 2000 users and 2728 memberships (user_organisation)`. */
function describeRows(counts: readonly TableRows[]): string {
  const parts = counts.map((c) => `${c.rows} ${rowNoun[c.table]}`);
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** Rows in a table, counted by paging through its keys (no COUNT(*) timeout on big tables). */
async function countRows(client: cassandra.Client, table: Table): Promise<number> {
  let rows = 0;
  let pageState: string | undefined;
  do {
    const result = await client.execute(
      `SELECT ${cqlIdentifier(keyColumn[table])} FROM ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)}`,
      [],
      { prepare: true, fetchSize: 5000, pageState },
    );
    rows += result.rowLength;
    pageState = result.pageState ?? undefined;
  } while (pageState);
  return rows;
}

/** Whether the table holds a row with this primary key (`key`: every primary-key column's value). */
async function hasRow(client: cassandra.Client, table: Table, key: Record<string, string>): Promise<boolean> {
  const columns = Object.keys(key);
  const where = columns.map((c) => `${cqlIdentifier(c)} = ?`).join(' AND ');
  const result = await client.execute(
    `SELECT ${cqlIdentifier(columns[0]!)} FROM ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)} WHERE ${where}`,
    columns.map((c) => key[c]),
    { prepare: true },
  );
  return result.rowLength > 0;
}

/** Each table's rows after loading, and the load result of the tables this run loaded. */
type LoadOutcome = (TableRows & { result?: LoadResult })[];

/**
 * Loads the generated rows unless the tables already hold them: same counts, and the first
 * generated row of each table present (the data is deterministic, so that identifies it).
 * Organisations and users are checked together, memberships and roles together: when only the
 * latter differ (a keyspace loaded before those tables existed, say), only they are reloaded.
 * Tables holding other data are emptied first, and so are the indices synced from them.
 */
async function loadData(client: cassandra.Client, options: Options, indices: string[], esNode: string): Promise<LoadOutcome> {
  const orgs = generateOrganisations(options.orgs, options.seed);
  const users = (): Generator<SunbirdUser> => generateUsers(options.users, orgs, options.seed);
  const firstUser = generateUsers(1, orgs, options.seed).next().value;
  // Memberships and roles are derived from the users: one generation pass counts them (fast next
  // to loading), for the check below and for the progress lines.
  let memberships = 0;
  let roles = 0;
  let firstMembership: { userid: string; organisationid: string } | undefined;
  let firstRole: { userid: string; role: string } | undefined;
  for (const links of generateUserLinks(users(), orgs, options.seed)) {
    memberships += links.memberships.length;
    roles += links.roles.length;
    firstMembership ??= links.memberships[0];
    firstRole ??= links.roles[0];
  }
  const wanted: Record<Table, number> = { organisation: orgs.length, user: options.users, user_organisation: memberships, user_roles: roles };
  const rowsOf: Record<Table, () => Iterable<Row>> = {
    organisation: () => orgs,
    user: users,
    user_organisation: () => generateUserOrganisations(users(), orgs, options.seed),
    user_roles: () => generateUserRoles(users(), orgs, options.seed),
  };

  const found = {} as Record<Table, number>;
  for (const table of tables) found[table] = await countRows(client, table);
  const counted = (list: readonly Table[], from: Record<Table, number>): TableRows[] => list.map((table) => ({ table, rows: from[table] }));
  const sameBase =
    found.organisation === wanted.organisation &&
    found.user === wanted.user &&
    (orgs[0] === undefined || (await hasRow(client, 'organisation', { id: orgs[0].id }))) &&
    (firstUser === undefined || (await hasRow(client, 'user', { id: firstUser.id })));
  const sameLinks =
    sameBase &&
    found.user_organisation === wanted.user_organisation &&
    found.user_roles === wanted.user_roles &&
    (firstMembership === undefined ||
      (await hasRow(client, 'user_organisation', { userid: firstMembership.userid, organisationid: firstMembership.organisationid }))) &&
    (firstRole === undefined || (await hasRow(client, 'user_roles', { userid: firstRole.userid, role: firstRole.role })));

  if (sameLinks) {
    say(`${keyspace} already holds ${describeRows(counted(tables, found))} from seed ${options.seed}: load skipped`);
    return counted(tables, found);
  }
  const toLoad: readonly Table[] = sameBase ? ['user_organisation', 'user_roles'] : tables;
  const kept = tables.filter((t) => !toLoad.includes(t));
  if (kept.length > 0) say(`${keyspace} already holds ${describeRows(counted(kept, found))} from seed ${options.seed}: kept`);
  if (toLoad.some((t) => found[t] > 0)) {
    const emptiesIndices = toLoad.includes('user') || toLoad.includes('organisation');
    say(
      `${keyspace} holds ${describeRows(counted(toLoad, found))}, not the ${describeRows(counted(toLoad, wanted))} wanted ` +
        `(seed ${options.seed}): emptying ${toLoad.join(', ')}${emptiesIndices ? ` and the indices ${indices.join(', ')}` : ''}`,
    );
    for (const table of [...toLoad].reverse()) {
      await client.execute(`TRUNCATE ${cqlIdentifier(keyspace)}.${cqlIdentifier(table)}`, [], { readTimeout: 120_000 });
    }
    if (emptiesIndices) for (const index of indices) await deleteIndex(esNode, index);
  }
  const outcome: LoadOutcome = counted(kept, found);
  for (const table of toLoad) {
    const result = await loadRows(client, keyspace, table, rowsOf[table](), options.concurrency, { total: wanted[table] });
    outcome.push({ table, rows: result.rows, result });
  }
  return outcome.sort((a, b) => tables.indexOf(a.table) - tables.indexOf(b.table));
}

// ---------------------------------------------------------------------------------------------
// The CLI

/** Where this demo run syncs into: the configuration file and the search cluster's node. */
type DemoRun = { readonly config: string; readonly node: string };

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
/** The CLI's environment: pointed at the servers actually started (ports may be moved by CESYNC_* settings). */
function cliEnv(endpoints: ServiceEndpoints, run: DemoRun): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CESYNC_CASSANDRA_CONTACT_POINTS: endpoints.cassandra.contactPoints.join(','),
    CESYNC_CASSANDRA_LOCAL_DC: endpoints.cassandra.localDataCenter,
    CESYNC_CASSANDRA_USERNAME: endpoints.cassandra.username,
    CESYNC_CASSANDRA_PASSWORD: endpoints.cassandra.password,
    CESYNC_ES_NODE: run.node,
  };
}

function runSync(endpoints: ServiceEndpoints, run: DemoRun, reportFile: string, ledgerFile: string, extra: readonly string[] = []): Promise<number> {
  const args = [cliPath, 'sync', '--config', run.config, '--report', reportFile, '--failure-ledger', ledgerFile, ...extra];
  say(`running: cesync ${args.slice(1).map((a) => path.relative(repoRoot, a) || a).join(' ')}`);
  const env = cliEnv(endpoints, run);
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
  // The Sunbird demo needs no PostgreSQL (the CCD demo, npm run demo:ccd, does).
  const { started, alreadyRunning, endpoints } = await startServices(['cassandra', options.target]);
  if (started.length) say(`started: ${started.join(', ')}`);
  if (alreadyRunning.length) say(`already running: ${alreadyRunning.join(', ')}`);
  const esNode = endpoints.targets[options.target].node;
  const run: DemoRun = { config: await configFor(options.target), node: esNode };
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
  const first = await runSync(endpoints, run, reportFile, ledgerFile);
  if (first !== 0 && first !== 1) {
    say(`cesync sync failed with exit code ${first}`);
    return first;
  }
  const firstReports = await readReports(reportFile);

  say('second sync: nothing changed, so every document should be reported unchanged');
  const second = await runSync(endpoints, run, rerunReportFile, ledgerFile);
  if (second !== 0 && second !== 1) {
    say(`the second cesync sync failed with exit code ${second}`);
    return second;
  }
  const secondReports = await readReports(rerunReportFile);

  const rename = await renameOrganisation(endpoints, run, ledgerFile);
  if (typeof rename === 'number') return rename;
  let rebuilt: ReindexDemoResult | undefined;
  if (options.reindex) {
    const writerClient = cassandraClient(endpoints);
    try {
      await writerClient.connect();
      rebuilt = await reindexUnderWatch({
        cliPath,
        cwd: repoRoot,
        config: run.config,
        env: cliEnv(endpoints, run),
        client: writerClient,
        keyspace,
        alias: 'sunbird_user',
        node: esNode,
        safetyLagMs: 5000,
        say,
      });
    } finally {
      await writerClient.shutdown().catch(() => undefined);
    }
  }
  const counts = await Promise.all(indices.map(async (index) => [index, await countDocuments(esNode, index)] as const));

  const lines: string[] = ['', 'Demo summary'];
  const loaded = load.filter((t) => t.result !== undefined);
  const kept = load.filter((t) => t.result === undefined);
  if (loaded.length === 0) lines.push(`  load:        skipped, ${keyspace} already held ${describeRows(load)}`);
  else {
    const totalRows = loaded.reduce((sum, t) => sum + t.rows, 0);
    const totalMs = loaded.reduce((sum, t) => sum + (t.result?.durationMs ?? 0), 0);
    const userLoad = loaded.find((t) => t.table === 'user')?.result;
    lines.push(
      `  load:        ${describeRows(loaded)} in ${seconds(totalMs)} ` +
        `(${rate((totalRows * 1000) / Math.max(totalMs, 1))}${userLoad ? `; users ${rate(userLoad.rowsPerSecond)}` : ''})`,
    );
    if (kept.length > 0) lines.push(`               already there: ${describeRows(kept)}`);
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
  if (rename) {
    lines.push(
      `  one change:  organisation ${rename.id} renamed "${rename.from}" -> "${rename.to}"; sync --since last read ${rename.report.read} ` +
        `user rows and indexed ${rename.report.indexed} in ${seconds(rename.report.durationMs)}; user documents showing the new name: ` +
        `${rename.showing} of its ${rename.members} members${rename.showing === rename.members ? '' : '  <- expected all'}`,
    );
  }
  if (rebuilt) {
    lines.push(
      `  reindex:     cesync reindex --pipeline user exited ${rebuilt.reindexCode} after ${rebuilt.reindexSeconds.toFixed(1)} s under watch, ` +
        `${rebuilt.writes} users renamed meanwhile; sunbird_user is now on ${rebuilt.aliasOn.join(', ')}`,
      `               verify: ${rebuilt.verifyLine}; first names in the index that differ from the table: ${rebuilt.differing} of ${rebuilt.users}` +
        `${rebuilt.differing === 0 && rebuilt.verifyCode === 0 ? '' : '  <- expected none'}`,
    );
  }
  for (const [index, count] of counts) {
    lines.push(`  ${options.target}: ${index}: ${count === undefined ? 'no such index' : `${count} documents`}`);
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
  if (rebuilt && (rebuilt.reindexCode !== 0 || rebuilt.verifyCode !== 0 || rebuilt.differing > 0)) {
    say('the rebuild under watch did not end in sync (see the reindex and verify lines above)');
    return rebuilt.reindexCode || rebuilt.verifyCode || 1;
  }
  return 0;
}

/**
 * One change to an organisation's name, carried by `sync --since last` to every user document of
 * its members (each membership nested in a user document carries its organisation's name). The
 * busiest organisation is renamed (to its name with " (renamed)", or back, so runs alternate), the
 * pipeline's safety lag is waited out, and the incremental run's report is returned.
 */
async function renameOrganisation(endpoints: ServiceEndpoints, run: DemoRun, ledgerFile: string) {
  const esNode = run.node;
  const busiest = await busiestOrganisation(esNode);
  if (!busiest) return undefined;
  const client = cassandraClient(endpoints);
  let from: string;
  let to: string;
  try {
    await client.connect();
    const row = (await client.execute(`SELECT orgname FROM ${cqlIdentifier(keyspace)}.organisation WHERE id = ?`, [busiest.id], { prepare: true })).first();
    from = String(row?.['orgname'] ?? '');
    to = from.endsWith(' (renamed)') ? from.slice(0, -' (renamed)'.length) : `${from} (renamed)`;
    say(`one change: renaming organisation ${busiest.id} "${from}" -> "${to}" (${busiest.members} members)`);
    await client.execute(`UPDATE ${cqlIdentifier(keyspace)}.organisation SET orgname = ? WHERE id = ?`, [to, busiest.id], { prepare: true });
  } finally {
    await client.shutdown().catch(() => undefined);
  }
  const lagMs = await safetyLagMs();
  say(`waiting ${seconds(lagMs + 500)} (the pipeline's safety lag), then: sync --since last`);
  await new Promise((r) => setTimeout(r, lagMs + 500));
  const reportFile = path.join(demoDir, 'report-rename.json');
  const code = await runSync(endpoints, run, reportFile, ledgerFile, ['--since', 'last']);
  if (code !== 0) {
    say(`cesync sync --since last failed with exit code ${code}`);
    return code;
  }
  const report = (await readReports(reportFile)).find((r) => r.pipeline === 'user')!;
  return { id: busiest.id, from, to, members: busiest.members, report, showing: await usersShowing(esNode, busiest.id, to) };
}

/** incremental.safetyLagMs of the user pipeline of the example config (default 5000). */
async function safetyLagMs(): Promise<number> {
  const config = parseYaml(await readFile(configFile, 'utf8')) as { pipelines?: { name?: string; incremental?: { safetyLagMs?: number } }[] };
  return config.pipelines?.find((p) => p.name === 'user')?.incremental?.safetyLagMs ?? 5000;
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
