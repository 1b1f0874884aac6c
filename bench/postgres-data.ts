// The benchmark's PostgreSQL table: the same generated Sunbird users as cesync_bench.user in
// Cassandra (same generator, same seed), in schema cesync_bench of the project's database, with
// PostgreSQL's types for them (uuid key, jsonb for the maps, text[] for the lists) and a
// last_modified version column. Loaded unless it already holds exactly those rows.
import type pg from 'pg';
import { generateOrganisations, generateUsers, type SunbirdUser } from '../scripts/demo/sunbird-data.ts';

export const PG_SCHEMA = 'cesync_bench';
export const PG_TABLE = 'user';
const ORGS = 500;

const TEXT = ['userid', 'firstname', 'lastname', 'username', 'email', 'phone', 'recoveryemail', 'recoveryphone', 'prevusedemail', 'prevusedphone', 'maskedemail', 'maskedphone', 'countrycode', 'channel', 'rootorgid', 'createdby', 'updatedby', 'managedby', 'createddate', 'updateddate', 'dob', 'tncacceptedversion', 'profilelocation', 'profileusertypes'] as const;

export async function ensurePostgresData(pool: pg.Pool, rows: number, seed: number, say: (s: string) => void): Promise<{ rows: number; durationMs: number; skipped: boolean }> {
  const t = `${PG_SCHEMA}."${PG_TABLE}"`;
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${PG_SCHEMA}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${t} (id uuid PRIMARY KEY, ${TEXT.map((c) => `${c} text`).join(', ')}, tncacceptedon timestamptz, alltncaccepted jsonb, framework jsonb,
       flagsvalue integer, status integer, isdeleted boolean, emailverified boolean, phoneverified boolean, roles text[], locationids text[],
       last_modified timestamptz NOT NULL DEFAULT now())`,
  );
  const orgs = generateOrganisations(ORGS, seed);
  let first: SunbirdUser | undefined;
  let last: SunbirdUser | undefined;
  for (const u of generateUsers(rows, orgs, seed)) {
    first ??= u;
    last = u;
  }
  const have = Number((await pool.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
  const present = async (u: SunbirdUser | undefined) => u === undefined || (await pool.query(`SELECT 1 FROM ${t} WHERE id = $1`, [u.id])).rowCount === 1;
  if (have === rows && (await present(first)) && (await present(last))) return { rows, durationMs: 0, skipped: true };
  const started = Date.now();
  await pool.query(`TRUNCATE ${t}`);
  let batch: SunbirdUser[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const col = (f: (u: SunbirdUser) => unknown) => batch.map(f);
    const arrays = [
      col((u) => u.id),
      ...TEXT.map((c) => col((u) => u[c])),
      col((u) => u.tncacceptedon?.toISOString() ?? null),
      col((u) => (u.alltncaccepted ? JSON.stringify(u.alltncaccepted) : null)),
      col((u) => (u.framework ? JSON.stringify(u.framework) : null)),
      col((u) => u.flagsvalue),
      col((u) => u.status),
      col((u) => u.isdeleted),
      col((u) => u.emailverified),
      col((u) => u.phoneverified),
      // Arrays of arrays do not bind as parameters: each list as its JSON text, unpacked below.
      col((u) => (u.roles ? JSON.stringify(u.roles) : null)),
      col((u) => (u.locationids ? JSON.stringify(u.locationids) : null)),
    ];
    const types = ['uuid', ...TEXT.map(() => 'text'), 'timestamptz', 'jsonb', 'jsonb', 'int4', 'int4', 'bool', 'bool', 'bool', 'jsonb', 'jsonb'];
    const names = ['id', ...TEXT, 'tncacceptedon', 'alltncaccepted', 'framework', 'flagsvalue', 'status', 'isdeleted', 'emailverified', 'phoneverified', 'roles', 'locationids'];
    const select = names.map((n) => (n === 'roles' || n === 'locationids' ? `CASE WHEN ${n} IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(${n})) END` : n));
    await pool.query(
      `INSERT INTO ${t} (${names.join(', ')}) SELECT ${select.join(', ')} FROM unnest(${types.map((ty, i) => `$${i + 1}::${ty}[]`).join(', ')}) AS u(${names.join(', ')})`,
      arrays,
    );
    batch = [];
  };
  for (const u of generateUsers(rows, orgs, seed)) {
    batch.push(u);
    if (batch.length === 2000) await flush();
  }
  await flush();
  await pool.query(`ANALYZE ${t}`);
  say(`loaded ${rows} rows into PostgreSQL ${t} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { rows, durationMs: Date.now() - started, skipped: false };
}
