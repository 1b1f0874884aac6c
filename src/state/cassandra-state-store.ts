/**
 * Pipeline state in a Cassandra table, by default `cesync.pipeline_state` in the cluster being
 * synced: one row per pipeline, the state as JSON text; and `cesync.watermarks`, one row per
 * pipeline and direction; `cesync.verifies`, the last verify of each pipeline (JSON text). The
 * keyspace and tables are created on first use (IF NOT EXISTS), with
 * the configured replication.
 */
import cassandra from 'cassandra-driver';
import type { Direction, PipelineState, StateStore, VerifySummary, Watermark } from '../engine/ports.js';
import type { CassandraClient } from '../cassandra/client.js';
import { cassandraError } from '../cassandra/client.js';
import { quoteIdentifier } from '../cassandra/table-schema.js';
import { CesyncError } from '../errors.js';
import { parseState, parseVerify } from './state-schema.js';

export interface CassandraStateOptions {
  readonly keyspace: string;
  readonly replication: Readonly<Record<string, string | number>>;
  readonly where: string;
  /** Consistency of every state read and write (LWTs use it for their commit; default: the client's). */
  readonly consistency?: number;
}

const ttlSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Server errors that leave a lightweight transaction's outcome unknown. */
const codes = cassandra.types.responseErrorCodes;
const UNANSWERED: ReadonlySet<number> = new Set([codes.unavailableException, codes.overloaded, codes.isBootstrapping, codes.writeTimeout, codes.readTimeout]);

export class CassandraStateStore implements StateStore {
  private readonly client: CassandraClient;
  private readonly options: CassandraStateOptions;
  private readonly table: string;
  private readonly marks: string;
  private readonly leases: string;
  private readonly verifies: string;
  private ready: Promise<void> | undefined;

  constructor(client: CassandraClient, options: CassandraStateOptions) {
    this.client = client;
    this.options = options;
    this.table = `${quoteIdentifier(options.keyspace)}.pipeline_state`;
    this.marks = `${quoteIdentifier(options.keyspace)}.watermarks`;
    this.leases = `${quoteIdentifier(options.keyspace)}.leases`;
    this.verifies = `${quoteIdentifier(options.keyspace)}.verifies`;
  }

  async load(pipeline: string): Promise<PipelineState | undefined> {
    await this.ensure();
    const rs = await this.run(`SELECT state FROM ${this.table} WHERE pipeline = ?`, [pipeline]);
    const text = rs.first()?.['state'] as string | undefined;
    return text ? parseState(text, this.table) : undefined;
  }

  async list(): Promise<PipelineState[]> {
    await this.ensure();
    const rs = await this.run(`SELECT state FROM ${this.table}`, []);
    return rs.rows.map((r) => parseState(r['state'] as string, this.table));
  }

  async save(state: PipelineState): Promise<void> {
    await this.ensure();
    await this.run(`INSERT INTO ${this.table} (pipeline, state, updated_at) VALUES (?, ?, ?)`, [
      state.pipeline,
      JSON.stringify(state),
      new Date(state.updatedAt),
    ]);
  }

  async loadWatermark(pipeline: string, direction: Direction): Promise<Watermark | undefined> {
    await this.ensure();
    const row = (await this.run(`SELECT version, id FROM ${this.marks} WHERE pipeline = ? AND direction = ?`, [pipeline, direction])).first();
    return row ? { version: Number(String(row['version'])), id: row['id'] as string } : undefined;
  }

  async saveWatermark(pipeline: string, direction: Direction, mark: Watermark): Promise<void> {
    await this.ensure();
    await this.run(`INSERT INTO ${this.marks} (pipeline, direction, version, id, updated_at) VALUES (?, ?, ?, ?, ?)`, [
      pipeline,
      direction,
      cassandra.types.Long.fromNumber(mark.version),
      mark.id,
      new Date(),
    ]);
  }

  // Leases are lightweight transactions (Paxos) on one row per name, expiring by TTL: a holder
  // that dies without releasing blocks nobody for longer than the TTL (rounded up to seconds).
  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensure();
    const rs = await this.runLease(`INSERT INTO ${this.leases} (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?`, [name, owner, ttlSeconds(ttlMs)]);
    if (rs.wasApplied()) return true;
    return rs.first()?.['owner'] === owner ? this.renewLease(name, owner, ttlMs) : false;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    await this.ensure();
    const rs = await this.runLease(`UPDATE ${this.leases} USING TTL ? SET owner = ? WHERE name = ? IF owner = ?`, [ttlSeconds(ttlMs), owner, name, owner]);
    return rs.wasApplied();
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.ensure();
    await this.runLease(`DELETE FROM ${this.leases} WHERE name = ? IF owner = ?`, [name, owner]);
  }

  async leaseHolder(name: string): Promise<string | undefined> {
    await this.ensure();
    return (await this.run(`SELECT owner FROM ${this.leases} WHERE name = ?`, [name])).first()?.['owner'] as string | undefined;
  }

  /**
   * A lease statement. A Paxos round that timed out, or found too few replicas, has an unknown
   * outcome: that is the store not answering (STORE_UNAVAILABLE, which the watch retries and
   * waits through), not a refused request. Trying again is safe: every lease statement is
   * conditional on the owner, so repeating one changes nothing it has not already changed.
   */
  private async runLease(query: string, params: unknown[]) {
    try {
      return await this.run(query, params);
    } catch (e) {
      const driverCode = (e instanceof CesyncError ? (e.cause as { code?: unknown } | undefined)?.code : undefined) as number | undefined;
      if (e instanceof CesyncError && e.code === 'STORE_REQUEST' && driverCode !== undefined && UNANSWERED.has(driverCode)) {
        throw new CesyncError('STORE_UNAVAILABLE', `${e.message} (the lease's outcome is unknown)`, { cause: e.cause });
      }
      throw e;
    }
  }

  async saveVerify(summary: VerifySummary): Promise<void> {
    await this.ensure();
    await this.run(`INSERT INTO ${this.verifies} (pipeline, summary, at) VALUES (?, ?, ?)`, [summary.pipeline, JSON.stringify(summary), new Date(summary.at)]);
  }

  async loadVerify(pipeline: string): Promise<VerifySummary | undefined> {
    await this.ensure();
    const text = (await this.run(`SELECT summary FROM ${this.verifies} WHERE pipeline = ?`, [pipeline])).first()?.['summary'] as string | undefined;
    return text ? parseVerify(text, this.verifies) : undefined;
  }

  async close(): Promise<void> {}

  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      const replication = JSON.stringify(this.options.replication).replaceAll('"', "'");
      await this.run(`CREATE KEYSPACE IF NOT EXISTS ${quoteIdentifier(this.options.keyspace)} WITH replication = ${replication}`, []);
      await this.run(`CREATE TABLE IF NOT EXISTS ${this.table} (pipeline text PRIMARY KEY, state text, updated_at timestamp)`, []);
      await this.run(
        `CREATE TABLE IF NOT EXISTS ${this.marks} (pipeline text, direction text, version bigint, id text, updated_at timestamp, PRIMARY KEY (pipeline, direction))`,
        [],
      );
      await this.run(`CREATE TABLE IF NOT EXISTS ${this.leases} (name text PRIMARY KEY, owner text)`, []);
      await this.run(`CREATE TABLE IF NOT EXISTS ${this.verifies} (pipeline text PRIMARY KEY, summary text, at timestamp)`, []);
    })().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async run(query: string, params: unknown[]) {
    try {
      return await this.client.execute(query, params, { prepare: params.length > 0, consistency: this.options.consistency });
    } catch (cause) {
      throw cassandraError(cause, this.options.where);
    }
  }
}
