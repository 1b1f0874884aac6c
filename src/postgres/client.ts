/**
 * Creating the PostgreSQL pool from configuration (the official `pg` client), and turning its
 * errors into coded errors: a refused password or role is STORE_AUTH, a server that does not
 * answer is STORE_UNAVAILABLE, anything else STORE_REQUEST; each names where the server is.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { PostgresConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';

export type PostgresPool = pg.Pool;

// Values arrive as the server's text for the types JSON cannot hold exactly (int8, numeric, json
// and jsonb with big numbers), whose zone rendering must not depend on this process (timestamps),
// or that pg would turn into objects of its own (point, circle): the value converter
// (value-converter.ts) makes them documents' values.
const types = {
  getTypeParser: (oid: number, format?: string) => {
    if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
    if (TEXT_KEPT.has(oid)) return (text: string) => text;
    return pg.types.getTypeParser(oid, 'text');
  },
};

/** Oids whose text is kept as it is: int8, numeric, date, timestamp, timestamptz, time, timetz, interval, json, jsonb, point, circle, and their arrays. */
const TEXT_KEPT: ReadonlySet<number> = new Set([20, 1700, 1082, 1114, 1184, 1083, 1266, 1186, 1016, 1231, 1182, 1115, 1185, 1183, 1270, 1187, 114, 3802, 199, 3807, 600, 718, 1017, 719]);

/**
 * `atLeast`: the connections the pipelines need at once (ranges in flight, plus marks and state):
 * a pool smaller than that would make queries wait for a connection, which pg reports as a
 * connection timeout.
 */
export function createPostgresPool(config: PostgresConfig, atLeast = 0): PostgresPool {
  const { tls } = config;
  return new pg.Pool({
    // The keys override the URI's parts, as documented (pg itself lets the URI win).
    ...(config.connectionString !== undefined ? { connectionString: withOverrides(config) } : {}),
    ...(config.connectionString === undefined && config.host !== undefined ? { host: config.host } : {}),
    ...(config.connectionString === undefined && config.port !== undefined ? { port: config.port } : {}),
    ...(config.connectionString === undefined && config.database !== undefined ? { database: config.database } : {}),
    ...(config.connectionString === undefined && config.user !== undefined ? { user: config.user } : {}),
    ...(config.connectionString === undefined && config.password !== undefined ? { password: config.password } : {}),
    ssl:
      tls && tls.enabled
        ? {
            ca: tls.caFile ? readFileSync(tls.caFile, 'utf8') : undefined,
            cert: tls.certFile ? readFileSync(tls.certFile, 'utf8') : undefined,
            key: tls.keyFile ? readFileSync(tls.keyFile, 'utf8') : undefined,
            rejectUnauthorized: tls.rejectUnauthorized,
          }
        : undefined,
    max: Math.max(config.poolSize, atLeast),
    connectionTimeoutMillis: 10_000,
    statement_timeout: config.requestTimeoutMs,
    query_timeout: config.requestTimeoutMs + 5_000,
    application_name: 'cesync',
    // Timestamps with zones are read in UTC and dates as ISO: documents must not depend on the
    // server's or this process's time zone.
    // extra_float_digits=1: floats as the shortest text that reads back exactly (whatever the server's default).
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=1',
    types,
  });
}

/** The connection URI with host, port, database, user and password replaced by the keys given. */
function withOverrides(config: PostgresConfig): string {
  let u: URL;
  try {
    u = new URL(config.connectionString!);
  } catch {
    return config.connectionString!; // pg reports what it cannot parse (socket paths, key=value strings)
  }
  if (config.host !== undefined) u.hostname = config.host;
  if (config.port !== undefined) u.port = String(config.port);
  if (config.database !== undefined) u.pathname = `/${encodeURIComponent(config.database)}`;
  if (config.user !== undefined) u.username = encodeURIComponent(config.user);
  if (config.password !== undefined) u.password = encodeURIComponent(config.password);
  return u.toString();
}

/** Where the server is, for messages (never the password). */
export function describePostgres(config: PostgresConfig): string {
  if (config.connectionString !== undefined) {
    try {
      const u = new URL(config.connectionString);
      return `${u.hostname || config.host || 'localhost'}:${u.port || config.port || 5432}/${decodeURIComponent(u.pathname.slice(1)) || config.database || ''}`;
    } catch {
      return 'the configured connectionString';
    }
  }
  return `${config.host ?? 'localhost'}:${config.port ?? 5432}/${config.database ?? ''}`;
}

/** Opens one connection and asks the server for its version: bad hosts and credentials fail here. */
export async function connectPostgres(pool: PostgresPool, where: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (cause) {
    throw postgresError(cause, where);
  }
}

/** SQLSTATE classes: 28 invalid authorization, 3D invalid catalog name (no such database), 08 connection, 57P0x shutdown. */
export function postgresError(cause: unknown, where: string): CesyncError {
  if (cause instanceof CesyncError) return cause;
  const e = cause as { code?: string; message?: string; errors?: { message?: string }[] };
  const code = e.code ?? '';
  const message = e.message || e.errors?.map((x) => x.message).join('; ') || String(cause);
  if (code.startsWith('28')) return new CesyncError('STORE_AUTH', `PostgreSQL at ${where} refused the credentials (check postgres.user/password): ${message}`, { cause });
  if (code === '3D000') return new CesyncError('STORE_AUTH', `PostgreSQL at ${where}: ${message} (check postgres.database)`, { cause });
  if (code === '57014') return new CesyncError('STORE_REQUEST', `PostgreSQL at ${where}: ${message} (a statement ran longer than postgres.requestTimeoutMs)`, { cause });
  if (code === '55P03') return new CesyncError('STORE_REQUEST', `PostgreSQL at ${where}: ${message} (another session holds a lock on the table; try again when it is done)`, { cause });
  if (code.startsWith('08') || code.startsWith('57P') || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|timeout|Connection terminated/i.test(`${code} ${message}`)) {
    return new CesyncError('STORE_UNAVAILABLE', `PostgreSQL at ${where} is unreachable: ${message}`, { cause });
  }
  return new CesyncError('STORE_REQUEST', `PostgreSQL at ${where}: ${message}`, { cause });
}

/** Quotes an identifier for SQL ("a""b"). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
