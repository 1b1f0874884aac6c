// The PostgreSQL demo: `npm run demo:ccd` (or `node scripts/demo-ccd.ts` after `npm run build`).
// Seed 002's runbook for HMCTS CCD, done with cesync (docs/postgres.md maps each step):
//
//   1. sets up the project's role and database on the machine's PostgreSQL and starts
//      Elasticsearch (or finds them running),
//   2. creates CCD's `case_data` in schema `ccd` (with its marked_by_logstash trigger) and fills it
//      with generated cases of four case types, unless it already holds exactly those cases (when
//      it loads them, the state and the indices start afresh too),
//   3. `cesync sync --config examples/ccd.yaml`: every case type into its own index, each an alias
//      over <name>-000001, as CCD has it,
//   4. `cesync sync --since last`: what is pending (marked_by_logstash = false) is indexed and
//      marked, only once Elasticsearch acknowledged it,
//   5. makes the drift the runbook is about: updates whose flag was set without indexing (as
//      Logstash marks before it writes), cases deleted in the database, a document lost from the
//      index; `cesync verify` finds each by id (runbook steps 3 to 5), `cesync repair` fixes
//      exactly those (step 6, under the 1,000 guard), a second verify finds none,
//   6. the runbook's own re-sync, `UPDATE case_data SET marked_by_logstash = false WHERE
//      reference IN (...)`, then `cesync sync --since last`,
//   7. prints documents per index against cases per type.
//
// The servers keep running afterwards. Exit status: 0, or 1 when a step did not give what it
// should, 2 on bad arguments.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CASE_TYPES, CCD_DDL, generateCases, insertCases } from './demo/ccd-data.ts';
import { startServices, type ServiceEndpoints } from './services/index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(repoRoot, 'bin', 'cesync.js');
const configFile = path.join(repoRoot, 'examples', 'ccd.yaml');
const SCHEMA = 'ccd';
const STATE_SCHEMA = 'cesync_state';
const index = (caseType: string) => `${caseType.toLowerCase()}_cases`;

const usage = `usage: npm run demo:ccd -- [--cases N] [--reset] [--seed N]

  --cases N   cases to generate (default 20000), spread over ${CASE_TYPES.map((t) => t.id).join(', ')}
  --reset     drop schema ${SCHEMA}, cesync's state and the demo's indices first
  --seed N    seed of the generated data (default 1)

Runs seed 002's runbook with cesync against ${SCHEMA}.case_data (docs/postgres.md).`;

class UsageError extends Error {}
const say = (line: string): void => void process.stderr.write(`demo: ${line}\n`);

function parseOptions(argv: string[]): { cases: number; reset: boolean; seed: number } | undefined {
  const { values } = parseArgs({
    args: argv,
    options: { cases: { type: 'string', default: '20000' }, reset: { type: 'boolean', default: false }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  });
  if (values.help) return undefined;
  const count = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${raw}`);
    return n;
  };
  return { cases: count('cases', values.cases, 8), reset: values.reset, seed: count('seed', values.seed, 0) };
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

/** Runs the CLI as a user would; resolves with its exit code. */
function cesync(endpoints: ServiceEndpoints, args: readonly string[]): Promise<number> {
  say(`$ cesync ${args.join(' ')}`);
  const env = { ...process.env, CCD_DATABASE_URL: endpoints.postgres.connectionString, ES_NODE: endpoints.elasticsearch.node };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args, '--config', configFile], { cwd: repoRoot, env, stdio: ['ignore', 'inherit', 'ignore'] });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(argv: string[]): Promise<number> {
  let options;
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
  say('setting up PostgreSQL and starting Elasticsearch (fetched from Maven Central the first time)');
  const { endpoints } = await startServices(['postgres', 'elasticsearch']);
  const node = endpoints.elasticsearch.node;
  const pool = new pg.Pool({ connectionString: endpoints.postgres.connectionString, max: 2 });
  const indices = CASE_TYPES.map((t) => index(t.id));
  let failed = false;
  const expect = (ok: boolean, what: string) => {
    if (!ok) failed = true;
    say(`${ok ? 'ok' : 'NOT AS EXPECTED'}: ${what}`);
  };
  try {
    if (options.reset) {
      say(`dropping schema ${SCHEMA}, the state schema ${STATE_SCHEMA} and indices ${indices.join(', ')}`);
      await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      await pool.query(`DROP SCHEMA IF EXISTS ${STATE_SCHEMA} CASCADE`);
      for (const i of indices) await es(node, 'DELETE', `/${i}-000001?ignore_unavailable=true`);
    }
    for (const s of CCD_DDL(SCHEMA)) await pool.query(s);
    const have = Number((await pool.query(`SELECT count(*) AS n FROM ${SCHEMA}.case_data`)).rows[0].n);
    if (have !== options.cases) {
      // Cases generated anew carry their generated versions again, older than what an earlier run
      // left in the indices (its drift step): start those afresh too, as --reset does.
      if (!options.reset) {
        await pool.query(`DROP SCHEMA IF EXISTS ${STATE_SCHEMA} CASCADE`);
        for (const i of indices) await es(node, 'DELETE', `/${i}-000001?ignore_unavailable=true`);
      }
      const started = Date.now();
      const rows = generateCases(options.cases, options.seed);
      await pool.query(`TRUNCATE ${SCHEMA}.case_data RESTART IDENTITY`);
      await insertCases(pool, SCHEMA, rows);
      await pool.query(`ANALYZE ${SCHEMA}.case_data`);
      say(`loaded ${rows.length} cases into ${SCHEMA}.case_data in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } else say(`${SCHEMA}.case_data already holds ${have} cases`);

    say('step: index every case type (a full sync, resumable, spans of the primary key in parallel)');
    expect((await cesync(endpoints, ['sync'])) === 0, 'full sync');
    say('step: index what is pending (marked_by_logstash = false), marking each case only once Elasticsearch has it');
    expect((await cesync(endpoints, ['sync', '--since', 'last'])) === 0, 'pending sync');
    const unmarked = Number((await pool.query(`SELECT count(*) AS n FROM ${SCHEMA}.case_data WHERE marked_by_logstash = false`)).rows[0].n);
    expect(unmarked === 0, `cases still pending: ${unmarked}`);

    // The drift of seed 002: changes marked without being indexed, deletes never removed, a lost document.
    const some = (await pool.query(`SELECT id, reference, case_type_id FROM ${SCHEMA}.case_data WHERE case_type_id = 'GrantOfRepresentation' ORDER BY id LIMIT 8`)).rows as { id: string; reference: string }[];
    const [a, b, c, d, e, f, lost] = some;
    await pool.query(`UPDATE ${SCHEMA}.case_data SET state = 'BOCaseStopped', last_modified = now() WHERE id IN ($1, $2, $3)`, [a!.id, b!.id, c!.id]);
    await pool.query(`UPDATE ${SCHEMA}.case_data SET marked_by_logstash = true WHERE id IN ($1, $2, $3)`, [a!.id, b!.id, c!.id]);
    await pool.query(`DELETE FROM ${SCHEMA}.case_data WHERE id IN ($1, $2)`, [d!.id, e!.id]);
    await es(node, 'DELETE', `/${index('GrantOfRepresentation')}/_doc/${lost!.id}?refresh=true`);
    say(`made drift: cases ${a!.reference}, ${b!.reference}, ${c!.reference} changed and marked without indexing; ${d!.reference}, ${e!.reference} deleted; the document of ${lost!.reference} lost`);

    say('runbook steps 3-5: compare last_modified of every case with its document, every case type at once');
    expect((await cesync(endpoints, ['verify', '--pipeline', 'grant_of_representation'])) === 1, 'verify reports the drift (exit 1)');
    say('runbook step 6: re-sync exactly the differences (guarded: never more than 1,000 without --yes)');
    expect((await cesync(endpoints, ['repair', '--pipeline', 'grant_of_representation'])) === 0, 'repair');
    expect((await cesync(endpoints, ['verify'])) === 0, 'verify: every case type in sync');

    say(`the runbook's own re-sync: UPDATE case_data SET marked_by_logstash = false WHERE reference IN (${f!.reference}, ${lost!.reference})`);
    await pool.query(`UPDATE ${SCHEMA}.case_data SET marked_by_logstash = false WHERE reference IN ($1, $2)`, [f!.reference, lost!.reference]);
    expect((await cesync(endpoints, ['sync', '--since', 'last', '--pipeline', 'grant_of_representation'])) === 0, 'pending sync of the two');
    const left = Number((await pool.query(`SELECT count(*) AS n FROM ${SCHEMA}.case_data WHERE marked_by_logstash = false`)).rows[0].n);
    expect(left === 0, `cases still pending after it: ${left}`);

    for (const t of CASE_TYPES) {
      await es(node, 'POST', `/${index(t.id)}/_refresh`);
      const docs = (await es(node, 'GET', `/${index(t.id)}/_count`)).body['count'];
      const cases = Number((await pool.query(`SELECT count(*) AS n FROM ${SCHEMA}.case_data WHERE case_type_id = $1`, [t.id])).rows[0].n);
      const behind = Object.keys((await es(node, 'GET', `/_alias/${index(t.id)}`)).body).join(', ');
      expect(docs === cases, `${t.id}: ${cases} cases, ${String(docs)} documents in ${index(t.id)} (alias of ${behind})`);
    }
  } finally {
    await pool.end();
  }
  say(failed ? 'some steps did not give what they should (see above)' : 'done: the servers keep running (npm run services -- stop stops Elasticsearch)');
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
