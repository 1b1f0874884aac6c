// The benchmark's table: N generated Sunbird users in keyspace cesync_bench, loaded once and
// reused while it holds exactly those rows.
import cassandra from 'cassandra-driver';
import { generateOrganisations, generateUsers, loadRows } from '../scripts/demo/sunbird-data.ts';
import { createKeyspaceCql, createUserTableCql } from '../scripts/demo/sunbird-schema.ts';

export const KEYSPACE = 'cesync_bench';
export const TABLE = 'user';
const ORGS = 500;

export interface LoadOutcome {
  skipped: boolean;
  rows: number;
  durationMs: number;
  rowsPerSecond?: number;
}

async function countRows(client: cassandra.Client): Promise<number> {
  let rows = 0;
  let pageState: string | undefined;
  do {
    const rs = await client.execute(`SELECT id FROM ${KEYSPACE}.${TABLE}`, [], { prepare: true, fetchSize: 10_000, pageState });
    rows += rs.rowLength;
    pageState = rs.pageState ?? undefined;
  } while (pageState);
  return rows;
}

async function hasRow(client: cassandra.Client, id: string): Promise<boolean> {
  const rs = await client.execute(`SELECT id FROM ${KEYSPACE}.${TABLE} WHERE id = ?`, [id], { prepare: true });
  return rs.rowLength > 0;
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
 * exactly `rows` rows with the first and last generated ones among them (the data is
 * deterministic, so that identifies it). A table holding anything else is truncated first.
 */
export async function ensureData(client: cassandra.Client, rows: number, seed: number, say: (s: string) => void): Promise<LoadOutcome> {
  await client.execute(createKeyspaceCql(KEYSPACE), [], { readTimeout: 60_000 });
  await client.execute(createUserTableCql(KEYSPACE), [], { readTimeout: 60_000 });
  const orgs = generateOrganisations(ORGS, seed);
  let first: string | undefined;
  let last: string | undefined;
  for (const u of generateUsers(rows, orgs, seed)) {
    first ??= u.id;
    last = u.id;
  }
  const count = await countRows(client);
  if (count === rows && (first === undefined || ((await hasRow(client, first)) && (await hasRow(client, last!))))) {
    say(`${KEYSPACE}.${TABLE} already holds the ${rows} rows of seed ${seed}: load skipped`);
    return { skipped: true, rows, durationMs: 0 };
  }
  if (count > 0) {
    say(`${KEYSPACE}.${TABLE} holds ${count} rows, not the ${rows} of seed ${seed}: truncating`);
    await client.execute(`TRUNCATE ${KEYSPACE}.${TABLE}`, [], { readTimeout: 120_000 });
  }
  const result = await loadRows(client, KEYSPACE, TABLE, generateUsers(rows, orgs, seed), 64, { total: rows, progress: process.stderr });
  return { skipped: false, rows: result.rows, durationMs: result.durationMs, rowsPerSecond: result.rowsPerSecond };
}
