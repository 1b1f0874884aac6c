// PostgreSQL: the machine's own server, made usable by the project.
//
// Unlike Cassandra and Elasticsearch, PostgreSQL is not fetched, started or stopped here: the
// machine runs its own (any PostgreSQL 12 or newer). These scripts make sure it has the project's
// role and database (role `cesync`, password `cesync-local-pw`, owning database `cesync`), creating them
// with a superuser's login (CESYNC_PG_ADMIN_URL) when missing. CESYNC_PG_URL names a role and
// database of the user's own instead: those are checked, never created.
//
// Order of the checks: a login as the project's role first, so a server already set up costs one
// connection and the admin login is needed only once. Creation is safe when two callers race
// (another checkout, or a second services folder): losing to an identical CREATE is success.
import pg from 'pg';
import { postgresConfig as config } from './config.ts';
import { log } from './proc.ts';
import type { MachineService } from './service.ts';

/** The URL without its password, for messages and the status table. */
function redact(url: string): string {
  const u = new URL(url);
  if (u.password !== '') u.password = '***';
  return u.toString();
}

const endpoint = (() => {
  const u = new URL(config.url);
  u.password = '';
  return u.toString();
})();

/** How to get a server, for the message when none answers. */
const howToFix = `These scripts do not install or start PostgreSQL; they use the machine's own server (any PostgreSQL 12 or newer). Start it with
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
or point the scripts at another server:
  CESYNC_PG_ADMIN_URL=postgres://SUPERUSER[:PASSWORD]@HOST:PORT/postgres   (role and database cesync are created there when missing)
  CESYNC_PG_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE                (a role and database of your own, used as they are)`;

/** SQLSTATEs of a CREATE that lost the race to an identical one: duplicate role, duplicate database, unique index of the catalog. */
const CREATED_MEANWHILE: ReadonlySet<string> = new Set(['42710', '42P04', '23505']);

type Attempt = { readonly version: string } | { readonly error: Error; readonly unreachable: boolean };

/**
 * The server did not answer at all (nothing listening, unknown host, timeout), as opposed to
 * answering with a refusal (DatabaseError: bad role, password, database; or a password demanded).
 */
function isUnreachable(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return false;
  const e = error as { code?: unknown; message?: unknown };
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ENOENT|timeout|Connection terminated/i.test(`${String(e.code)} ${String(e.message)}`);
}

/** Runs `fn` on one fresh connection to `url`, always closed afterwards. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: config.connectTimeoutMs,
    query_timeout: 30_000,
    application_name: 'cesync-services',
  });
  // A connection dropped by the server between queries is reported by the query; without a
  // listener the 'error' event would end the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function serverVersion(client: pg.Client): Promise<string> {
  const rs = await client.query<{ server_version: string }>('SHOW server_version');
  return rs.rows[0]?.server_version ?? 'unknown';
}

/** A login to `url` and its server's version, or how it failed. */
async function attempt(url: string): Promise<Attempt> {
  try {
    return { version: await withClient(url, serverVersion) };
  } catch (error) {
    return { error: error as Error, unreachable: isUnreachable(error) };
  }
}

function unreachableError(url: string, error: Error): Error {
  return new Error(`postgres: no PostgreSQL server answers at ${config.host}:${config.port} (tried ${redact(url)}: ${error.message}).\n${howToFix}`, { cause: error });
}

/** One CREATE ROLE or CREATE DATABASE (they take no parameters: names and password are quoted in). */
async function create(client: pg.Client, ddl: string, what: string): Promise<void> {
  try {
    await client.query(ddl);
    log(`postgres: created ${what}`);
  } catch (error) {
    if (CREATED_MEANWHILE.has((error as { code?: string }).code ?? '')) return;
    throw new Error(`postgres: could not create ${what} with ${redact(config.adminUrl)}: ${(error as Error).message}`, { cause: error });
  }
}

/** As the admin: the project's role and database, each created when missing. */
async function createProjectRole(client: pg.Client): Promise<void> {
  const { user, password, database } = config;
  const role = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
  if (role.rowCount === 0) {
    await create(client, `CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`, `role ${user}`);
  }
  const db = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (db.rowCount === 0) {
    await create(client, `CREATE DATABASE ${pg.escapeIdentifier(database)} OWNER ${pg.escapeIdentifier(user)}`, `database ${database} owned by ${user}`);
  }
}

export const postgres: MachineService = {
  name: 'postgres',
  machine: true,
  endpoint,

  async probe(): Promise<string | undefined> {
    const project = await attempt(config.url);
    if ('version' in project) return project.version;
    // Answering but not set up yet (no role or database): still running, as the admin sees it.
    if (project.unreachable || config.own) return undefined;
    const admin = await attempt(config.adminUrl);
    return 'version' in admin ? admin.version : undefined;
  },

  async ensure(): Promise<string> {
    const first = await attempt(config.url);
    if ('version' in first) return first.version;
    if (first.unreachable) throw unreachableError(config.url, first.error);
    if (config.own) {
      throw new Error(
        `postgres: the server at ${config.host}:${config.port} refused CESYNC_PG_URL (${redact(config.url)}): ${first.error.message}. ` +
          'Fix that role or database, or unset CESYNC_PG_URL to have these scripts create role and database cesync with CESYNC_PG_ADMIN_URL.',
        { cause: first.error },
      );
    }
    log(`postgres: cannot log in as ${config.user} yet (${first.error.message}); setting up with ${redact(config.adminUrl)}`);
    try {
      await withClient(config.adminUrl, createProjectRole);
    } catch (error) {
      if (isUnreachable(error)) throw unreachableError(config.adminUrl, error as Error);
      const code = error instanceof pg.DatabaseError ? (error.code ?? '') : '';
      if (code.startsWith('28') || code === '3D000') {
        throw new Error(
          `postgres: the server answers but refused the admin login ${redact(config.adminUrl)}: ${(error as Error).message}. ` +
            'Give a superuser (or a role with CREATEROLE and CREATEDB) in CESYNC_PG_ADMIN_URL, or a role and database of your own in CESYNC_PG_URL.',
          { cause: error },
        );
      }
      // Already says what it could not create; anything else gets the admin URL it was tried with.
      if (!(error instanceof pg.DatabaseError) && (error as Error).message.startsWith('postgres: ')) throw error;
      throw new Error(`postgres: setting up with ${redact(config.adminUrl)} failed: ${(error as Error).message}`, { cause: error });
    }
    const last = await attempt(config.url);
    if ('version' in last) return last.version;
    throw new Error(
      `postgres: role ${config.user} and database ${config.database} exist, but logging in as ${redact(config.url)} fails: ${last.error.message}. ` +
        `If the role was there before with another password, set it (ALTER ROLE ${config.user} LOGIN PASSWORD '...') or give CESYNC_PG_URL; ` +
        'pg_hba.conf must also let the role in from this host.',
      { cause: last.error },
    );
  },
};
