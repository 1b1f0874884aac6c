/**
 * Pipeline state in PostgreSQL tables of one schema (by default `cesync`, in the database of the
 * `postgres` section): `pipeline_state`, one row per pipeline, the state as JSON text;
 * `watermarks`, one row per pipeline and direction; `leases`, one row per lease name with its
 * owner and expiry; `verifies`, the last verify of each pipeline (JSON text). The schema and tables
 * are created on first use (IF NOT EXISTS).
 *
 * Contract, the same as the Cassandra and file stores':
 * - state and verify rows are validated when read (state-schema.ts): a damaged one is STATE_INVALID,
 *   never taken for "no state";
 * - each save replaces the row before it (last writer wins); watermarks are not compared here,
 *   their callers move them forward;
 * - leases are atomic single statements judged by the server's clock (`now()`), never this
 *   process's: at most one holder per name, an expired lease is free, and a holder that dies
 *   without releasing blocks nobody for longer than its TTL;
 * - every error is a CesyncError from postgresError (STORE_AUTH, STORE_UNAVAILABLE, STORE_REQUEST);
 * - every value travels as a query parameter; only the schema name (an identifier) is quoted in.
 *
 * The pool belongs to the caller: close() leaves it open.
 */
import type { QueryResultRow } from 'pg';
import type { Direction, PipelineState, StateStore, VerifySummary, Watermark } from '../engine/ports.js';
import type { PostgresPool } from '../postgres/client.js';
import { postgresError, quoteIdent } from '../postgres/client.js';
import { parseState, parseVerify } from './state-schema.js';

export interface PostgresStateOptions {
  /** Schema of the state tables (created when missing). */
  readonly schema: string;
  /** Where the server is, for messages (describePostgres). */
  readonly where: string;
}

/**
 * SQLSTATEs of a CREATE ... IF NOT EXISTS that lost a race with another process's identical one:
 * both saw nothing and both created, and the loser trips over the catalog's unique index
 * (23505) or, rarely, the object itself (42P06 schema, 42P07 table, 42710 the row type of a table). Its statement fails only
 * once the winner's has committed, so the object exists and first use goes on.
 */
const CREATED_MEANWHILE: ReadonlySet<string> = new Set(['23505', '42P06', '42P07', '42710']);

/** A TTL in milliseconds as an interval after the server's now (a parameter, never spliced in). */
const EXPIRY = `now() + $3::double precision * interval '1 millisecond'`;

export class PostgresStateStore implements StateStore {
  private readonly pool: PostgresPool;
  private readonly options: PostgresStateOptions;
  private readonly table: string;
  private readonly marks: string;
  private readonly leases: string;
  private readonly verifies: string;
  private ready: Promise<void> | undefined;

  constructor(pool: PostgresPool, options: PostgresStateOptions) {
    this.pool = pool;
    this.options = options;
    const schema = quoteIdent(options.schema);
    this.table = `${schema}.pipeline_state`;
    this.marks = `${schema}.watermarks`;
    this.leases = `${schema}.leases`;
    this.verifies = `${schema}.verifies`;
  }

  async load(pipeline: string): Promise<PipelineState | undefined> {
    await this.ensure();
    const rows = await this.run<{ state: string }>(`SELECT state FROM ${this.table} WHERE pipeline = $1`, [pipeline]);
    return rows[0] ? parseState(rows[0].state, this.describe('pipeline_state')) : undefined;
  }

  async list(): Promise<PipelineState[]> {
    await this.ensure();
    const rows = await this.run<{ state: string }>(`SELECT state FROM ${this.table} ORDER BY pipeline`, []);
    return rows.map((r) => parseState(r.state, this.describe('pipeline_state')));
  }

  async save(state: PipelineState): Promise<void> {
    await this.ensure();
    await this.run(`INSERT INTO ${this.table} (pipeline, state) VALUES ($1, $2) ON CONFLICT (pipeline) DO UPDATE SET state = EXCLUDED.state`, [
      state.pipeline,
      JSON.stringify(state),
    ]);
  }

  async loadWatermark(pipeline: string, direction: Direction): Promise<Watermark | undefined> {
    await this.ensure();
    // bigint arrives as text (it may not fit a JavaScript number in general; versions, in
    // microseconds since the epoch, do).
    const rows = await this.run<{ version: string | number; id: string }>(`SELECT version, id FROM ${this.marks} WHERE pipeline = $1 AND direction = $2`, [pipeline, direction]);
    const row = rows[0];
    return row ? { version: Number(String(row.version)), id: row.id } : undefined;
  }

  async saveWatermark(pipeline: string, direction: Direction, mark: Watermark): Promise<void> {
    await this.ensure();
    await this.run(
      `INSERT INTO ${this.marks} (pipeline, direction, version, id) VALUES ($1, $2, $3, $4) ON CONFLICT (pipeline, direction) DO UPDATE SET version = EXCLUDED.version, id = EXCLUDED.id`,
      [pipeline, direction, mark.version, mark.id],
    );
  }

  // Each lease operation is one statement on one row, so it is atomic without a transaction of
  // ours: concurrent acquires of a free name queue on the row's unique index, one inserts, and
  // the others see its committed row and are refused by the WHERE of their DO UPDATE. Every one
  // is conditional on the owner, so a statement whose outcome is unknown (the connection dropped:
  // STORE_UNAVAILABLE) can be tried again safely.
  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensure();
    const rows = await this.run(
      `INSERT INTO ${this.leases} (name, owner, expires_at) VALUES ($1, $2, ${EXPIRY})
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
       WHERE leases.owner = EXCLUDED.owner OR leases.expires_at < now()
       RETURNING owner`,
      [name, owner, ttlMs],
    );
    return rows.length > 0;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensure();
    const rows = await this.run(`UPDATE ${this.leases} SET expires_at = ${EXPIRY} WHERE name = $1 AND owner = $2 AND expires_at >= now() RETURNING owner`, [
      name,
      owner,
      ttlMs,
    ]);
    return rows.length > 0;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.ensure();
    await this.run(`DELETE FROM ${this.leases} WHERE name = $1 AND owner = $2`, [name, owner]);
  }

  async leaseHolder(name: string): Promise<string | undefined> {
    await this.ensure();
    const rows = await this.run<{ owner: string }>(`SELECT owner FROM ${this.leases} WHERE name = $1 AND expires_at >= now()`, [name]);
    return rows[0]?.owner;
  }

  async saveVerify(summary: VerifySummary): Promise<void> {
    await this.ensure();
    await this.run(`INSERT INTO ${this.verifies} (pipeline, summary) VALUES ($1, $2) ON CONFLICT (pipeline) DO UPDATE SET summary = EXCLUDED.summary`, [
      summary.pipeline,
      JSON.stringify(summary),
    ]);
  }

  async loadVerify(pipeline: string): Promise<VerifySummary | undefined> {
    await this.ensure();
    const rows = await this.run<{ summary: string }>(`SELECT summary FROM ${this.verifies} WHERE pipeline = $1`, [pipeline]);
    return rows[0] ? parseVerify(rows[0].summary, this.describe('verifies')) : undefined;
  }

  /** Nothing to do: the pool is the caller's, and every statement has finished when its call resolves. */
  async close(): Promise<void> {}

  /** Where a table is, for messages: `cesync.pipeline_state (PostgreSQL at host:port/db)`. */
  private describe(table: string): string {
    return `${this.options.schema}.${table} (PostgreSQL at ${this.options.where})`;
  }

  /** Creates the schema and tables once per store; a failed attempt is tried again on next use. */
  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      await this.create(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(this.options.schema)}`);
      await this.create(`CREATE TABLE IF NOT EXISTS ${this.table} (pipeline text PRIMARY KEY, state text NOT NULL)`);
      await this.create(
        `CREATE TABLE IF NOT EXISTS ${this.marks} (pipeline text NOT NULL, direction text NOT NULL, version bigint NOT NULL, id text NOT NULL, PRIMARY KEY (pipeline, direction))`,
      );
      await this.create(`CREATE TABLE IF NOT EXISTS ${this.leases} (name text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL)`);
      await this.create(`CREATE TABLE IF NOT EXISTS ${this.verifies} (pipeline text PRIMARY KEY, summary text NOT NULL)`);
    })().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  /** One creation statement; losing the race to another process's identical one is success. */
  private async create(ddl: string): Promise<void> {
    try {
      await this.pool.query(ddl);
    } catch (cause) {
      if (CREATED_MEANWHILE.has((cause as { code?: string }).code ?? '')) return;
      throw postgresError(cause, this.options.where);
    }
  }

  private async run<R extends QueryResultRow = Record<string, unknown>>(query: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(query, params)).rows;
    } catch (cause) {
      throw postgresError(cause, this.options.where);
    }
  }
}
