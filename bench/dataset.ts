// The benchmark's tables: N generated Sunbird users in keyspace cesync_bench, and for the composed
// documents the tables they are composed of (the organisations the users were generated with, the
// users' memberships and their roles); each loaded once and reused while it holds exactly those
// rows.
import cassandra from 'cassandra-driver';
import {
  generateOrganisations,
  generateUserLinks,
  generateUserOrganisations,
  generateUserRoles,
  generateUsers,
  loadRows,
  type Row,
} from '../scripts/demo/sunbird-data.ts';
import {
  createKeyspaceCql,
  createOrganisationTableCql,
  createUserOrganisationTableCql,
  createUserRolesTableCql,
  createUserTableCql,
} from '../scripts/demo/sunbird-schema.ts';

export const KEYSPACE = 'cesync_bench';
export const TABLE = 'user';
/** The tables a composed user document is made of, besides `user`. */
export const COMPOSED_TABLES = ['organisation', 'user_organisation', 'user_roles'] as const;
const ORGS = 500;

export interface LoadOutcome {
  skipped: boolean;
  rows: number;
  durationMs: number;
  rowsPerSecond?: number;
}

export type TableLoadOutcome = LoadOutcome & { table: string };

/** One table as the benchmark wants it: how many rows, and the key of the first and last one. */
interface TableSpec {
  table: string;
  createCql: string;
  /** The primary key columns (the first one is counted, every one identifies the first and last row). */
  key: readonly string[];
  rows: number;
  first: Row | undefined;
  last: Row | undefined;
  generate: () => Iterable<Row>;
}

async function countRows(client: cassandra.Client, table: string, column: string): Promise<number> {
  let rows = 0;
  let pageState: string | undefined;
  do {
    const rs = await client.execute(`SELECT ${column} FROM ${KEYSPACE}.${table}`, [], { prepare: true, fetchSize: 10_000, pageState });
    rows += rs.rowLength;
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return rows;
}

async function hasRow(client: cassandra.Client, table: string, key: readonly string[], row: Row): Promise<boolean> {
  const where = key.map((k) => `${k} = ?`).join(' AND ');
  const rs = await client.execute(`SELECT ${key[0]} FROM ${KEYSPACE}.${table} WHERE ${where}`, key.map((k) => row[k]), { prepare: true });
  return rs.rowLength > 0;
}

/**
 * Creates the table and loads its rows, unless it already holds exactly `spec.rows` rows with the
 * first and last generated ones among them (the data is deterministic, so that identifies it). A
 * table holding anything else is truncated first.
 */
async function ensureTable(client: cassandra.Client, spec: TableSpec, seed: number, say: (s: string) => void): Promise<LoadOutcome> {
  await client.execute(spec.createCql, [], { readTimeout: 60_000 });
  const count = await countRows(client, spec.table, spec.key[0]!);
  if (
    count === spec.rows &&
    (spec.first === undefined || ((await hasRow(client, spec.table, spec.key, spec.first)) && (await hasRow(client, spec.table, spec.key, spec.last!))))
  ) {
    say(`${KEYSPACE}.${spec.table} already holds the ${spec.rows} rows of seed ${seed}: load skipped`);
    return { skipped: true, rows: spec.rows, durationMs: 0 };
  }
  if (count > 0) {
    say(`${KEYSPACE}.${spec.table} holds ${count} rows, not the ${spec.rows} of seed ${seed}: truncating`);
    await client.execute(`TRUNCATE ${KEYSPACE}.${spec.table}`, [], { readTimeout: 120_000 });
  }
  const result = await loadRows(client, KEYSPACE, spec.table, spec.generate(), 64, { total: spec.rows, progress: process.stderr });
  return { skipped: false, rows: result.rows, durationMs: result.durationMs, rowsPerSecond: result.rowsPerSecond };
}

/** The generated users' ids, every `step`-th one up to `count` of them. */
export function sampleIds(rows: number, count: number, seed: number): string[] {
  const step = Math.max(1, Math.floor(rows / count));
  const ids: string[] = [];
  let i = 0;
  for (const u of generateUsers(rows, generateOrganisations(ORGS, seed), seed)) {
    if (i++ % step === 0 && ids.length < count) ids.push(u.id);
  }
  return ids;
}

/**
 * Creates the keyspace and table and loads `rows` users of `seed`, unless the table already holds
 * exactly those rows (see ensureTable).
 */
export async function ensureData(client: cassandra.Client, rows: number, seed: number, say: (s: string) => void): Promise<LoadOutcome> {
  await client.execute(createKeyspaceCql(KEYSPACE), [], { readTimeout: 60_000 });
  const orgs = generateOrganisations(ORGS, seed);
  let first: Row | undefined;
  let last: Row | undefined;
  for (const u of generateUsers(rows, orgs, seed)) {
    first ??= u;
    last = u;
  }
  return ensureTable(
    client,
    { table: TABLE, createCql: createUserTableCql(KEYSPACE), key: ['id'], rows, first, last, generate: () => generateUsers(rows, orgs, seed) },
    seed,
    say,
  );
}

/**
 * Creates and loads the tables a composed user document is made of (COMPOSED_TABLES): the
 * organisations the `rows` users of `seed` were generated with, the users' memberships
 * (`user_organisation`) and roles (`user_roles`), each skipped when it already holds exactly
 * those rows. Call after ensureData (the keyspace exists).
 */
export async function ensureComposedData(client: cassandra.Client, rows: number, seed: number, say: (s: string) => void): Promise<TableLoadOutcome[]> {
  const orgs = generateOrganisations(ORGS, seed);
  const users = () => generateUsers(rows, orgs, seed);
  // One generation pass counts the memberships and roles (fast next to loading them) and finds the
  // first and last of each, for the check.
  const memberships = { rows: 0, first: undefined as Row | undefined, last: undefined as Row | undefined };
  const roles = { rows: 0, first: undefined as Row | undefined, last: undefined as Row | undefined };
  for (const links of generateUserLinks(users(), orgs, seed)) {
    for (const [acc, list] of [[memberships, links.memberships], [roles, links.roles]] as const) {
      if (list.length === 0) continue;
      acc.rows += list.length;
      acc.first ??= list[0];
      acc.last = list[list.length - 1];
    }
  }
  const specs: TableSpec[] = [
    { table: 'organisation', createCql: createOrganisationTableCql(KEYSPACE), key: ['id'], rows: orgs.length, first: orgs[0], last: orgs[orgs.length - 1], generate: () => orgs },
    {
      table: 'user_organisation',
      createCql: createUserOrganisationTableCql(KEYSPACE),
      key: ['userid', 'organisationid'],
      ...memberships,
      generate: () => generateUserOrganisations(users(), orgs, seed),
    },
    { table: 'user_roles', createCql: createUserRolesTableCql(KEYSPACE), key: ['userid', 'role'], ...roles, generate: () => generateUserRoles(users(), orgs, seed) },
  ];
  const outcomes: TableLoadOutcome[] = [];
  for (const spec of specs) outcomes.push({ table: spec.table, ...(await ensureTable(client, spec, seed, say)) });
  return outcomes;
}
