/**
 * What a PostgreSQL pipeline marks as pending (ports.ts PendingSource), done right: marked done
 * only after the index acknowledged the row, and only when the row did not change meanwhile.
 *
 * - Flag (`pending: { flag }`, seed 002's `marked_by_logstash`): a row whose flag is false or
 *   null is pending (a null flag, on a nullable column, is a row never marked). Taken with its
 *   `xmin` (the transaction that wrote this version of the row: any update makes a new one);
 *   once its document is acknowledged the flag is set true by `UPDATE ... WHERE key = k AND
 *   xmin = x AND flag IS NOT TRUE`, so a row updated after it was taken stays pending and is
 *   synced again. Re-syncing a row is the runbook's own
 *   `UPDATE ... SET flag = false`.
 * - Queue (`pending: { queue }`, CCD's newer design, or the one `--create-queue` makes): a table
 *   of keys in id order. Taken with their rows' `xmin`; entries are deleted by their ids once
 *   their rows' documents are acknowledged, and only where the row is still the version taken
 *   (or still absent). A change made meanwhile may add no entry of its own (CCD's queue holds one
 *   per case, `ON CONFLICT DO NOTHING`), so the entry it found stays instead. Because cesync reads the
 *   row itself, a queued key without a row deletes its document: a trigger that queues deletes
 *   (as `--create-queue` installs) carries deletes to the index.
 */
import type { ParsedKey, PendingBatch, PendingSource, RecordSource } from '../engine/ports.js';
import { throwIfInterrupted } from '../engine/interrupt.js';
import { CesyncError } from '../errors.js';
import { postgresError, quoteIdent, type PostgresPool } from './client.js';
import { findColumn, loadPgTableSchema, type PgColumn, type PgTableSchema } from './table-schema.js';

interface Options {
  readonly where: string;
  /** The pipeline's `filter` (flag mode): only rows that meet it are its pending rows. */
  readonly filter?: string;
}

/** Parses the key texts of a row into a key of the source, or undefined when they form none. */
function keyOf(source: Pick<RecordSource, 'parseKey'>, texts: readonly (string | null)[]): ParsedKey | undefined {
  if (texts.some((t) => t === null)) return undefined;
  const k = source.parseKey(texts as string[]);
  return 'error' in k ? undefined : k;
}

const run = async (pool: PostgresPool, where: string, sql: string, params: unknown[]) => {
  try {
    return (await pool.query(sql, params)).rows as Record<string, string | null>[];
  } catch (cause) {
    throw postgresError(cause, where);
  }
};

export class FlagPending implements PendingSource {
  private readonly keys: readonly PgColumn[];
  private readonly table: string;
  private readonly flag: string;
  private cursor: (string | null)[] | undefined;
  private readonly flagName: string;
  /** The last take reached the end: the next one returns an empty batch (see take). */
  private passEnded = false;
  /** Rows whose sync failed in this process, by id, at the xmin they failed at. */
  private readonly held = new Map<string, string>();

  private readonly pool: PostgresPool;
  private readonly source: Pick<RecordSource, 'parseKey'>;
  private readonly options: Options;

  constructor(pool: PostgresPool, source: Pick<RecordSource, 'parseKey'>, schema: PgTableSchema, flag: string, options: Options) {
    this.pool = pool;
    this.source = source;
    this.options = options;
    const col = findColumn(schema, flag);
    const where = `${schema.schema}.${schema.table}`;
    if (!col) throw new CesyncError('SCHEMA_MISMATCH', `pending.flag: ${flag} is not a column of ${where} (or is left out by fields)`);
    if (col.type.name !== 'bool' || col.type.array) throw new CesyncError('SCHEMA_MISMATCH', `pending.flag: ${flag} of ${where} is ${col.type.sql}; it must be a boolean (false: to be indexed)`);
    this.keys = schema.keyColumns.map((k) => schema.columns.find((c) => c.name === k)!);
    this.table = `${quoteIdent(schema.schema)}.${quoteIdent(schema.table)}`;
    this.flag = quoteIdent(col.name);
    this.flagName = col.name;
  }

  async take(max: number, options: { signal?: AbortSignal } = {}): Promise<PendingBatch> {
    // The end of a pass is an empty batch, even when the last page was not empty (a dry run
    // marks nothing, so without it the next take would start over and never end).
    if (this.passEnded) {
      this.passEnded = false;
      return { keys: [], taken: new Map<string, string>() };
    }
    const keyList = this.keys.map((k) => quoteIdent(k.name)).join(', ');
    const texts = this.keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(', ');
    const out: ParsedKey[] = [];
    const taken = new Map<string, string>();
    // `flag = false OR flag IS NULL` (not IS NOT TRUE): an index on the flag serves both.
    while (out.length < max) {
      throwIfInterrupted(options.signal, 'the listing of pending rows');
      const params: unknown[] = [];
      let cond = this.pendingCondition();
      if (this.cursor) {
        params.push(...this.cursor);
        cond += ` AND (${keyList}) > (${this.keys.map((k, i) => `$${i + 1}::${k.type.sql}`).join(', ')})`;
      }
      params.push(max);
      const rows = await run(this.pool, this.options.where, `SELECT ${texts}, xmin::text AS x FROM ${this.table} WHERE ${cond} ORDER BY ${keyList} LIMIT $${params.length}`, params);
      if (rows.length === 0) {
        this.cursor = undefined; // the pass is over: the next take starts from the beginning
        this.passEnded = out.length > 0;
        break;
      }
      const last = rows[rows.length - 1]!;
      this.cursor = this.keys.map((_k, i) => last[`k${i}`] ?? null);
      for (const r of rows) {
        const key = keyOf(this.source, this.keys.map((_k, i) => r[`k${i}`] ?? null));
        if (!key || this.held.get(key.id) === r['x']) continue;
        this.held.delete(key.id);
        out.push(key);
        taken.set(key.id, r['x']!);
      }
      if (rows.length < max) {
        this.cursor = undefined;
        this.passEnded = out.length > 0;
        break;
      }
    }
    return { keys: out, taken };
  }

  async settle(batch: PendingBatch, done: ReadonlySet<string>): Promise<number> {
    const taken = batch.taken as Map<string, string>;
    const ok = batch.keys.filter((k) => done.has(k.id));
    for (const k of batch.keys) if (!done.has(k.id)) this.held.set(k.id, taken.get(k.id)!);
    if (ok.length === 0) return 0;
    const arrays = [...this.keys.map((k, i) => `$${i + 1}::${k.type.sql}[]`), `$${this.keys.length + 1}::text[]`].join(', ');
    const names = [...this.keys.map((_k, i) => `k${i}`), 'x'];
    const match = this.keys.map((k, i) => `t.${quoteIdent(k.name)} = u.k${i}`).join(' AND ');
    const params = [...this.keys.map((_k, i) => ok.map((k) => k.values[i])), ok.map((k) => taken.get(k.id))];
    // The rows are locked first, in key order, skipping those a writer holds: an application's
    // transaction is never made to wait for cesync (nor deadlocked by it), and a row being
    // changed right now stays pending, which it is about to be anyway.
    const order = this.keys.map((k) => `t.${quoteIdent(k.name)}`).join(', ');
    const rows = await run(
      this.pool,
      this.options.where,
      `WITH locked AS (SELECT t.ctid FROM ${this.table} AS t JOIN unnest(${arrays}) AS u(${names.join(', ')}) ON ${match}
          WHERE t.xmin = u.x::xid AND t.${this.flag} IS NOT TRUE ORDER BY ${order} FOR NO KEY UPDATE OF t SKIP LOCKED)
       UPDATE ${this.table} AS t SET ${this.flag} = true FROM locked WHERE t.ctid = locked.ctid RETURNING 1`,
      params,
    );
    return rows.length;
  }

  /**
   * Refuses a BEFORE UPDATE row trigger that fires when only the flag is set (no column list, or
   * one that names the flag): marking a row would run it, and one that moves the version (an
   * "updated at" trigger) would leave every document older than its row, with nothing pending.
   */
  async checkTriggers(): Promise<void> {
    const rows = await run(
      this.pool,
      this.options.where,
      `SELECT t.tgname AS name FROM pg_trigger t
        WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A') AND (t.tgtype & 1) = 1 AND (t.tgtype & 2) = 2 AND (t.tgtype & 16) = 16
          AND (cardinality(t.tgattr::int2[]) = 0 OR (SELECT attnum FROM pg_attribute WHERE attrelid = t.tgrelid AND attname = $2) = ANY(t.tgattr::int2[]))`,
      [this.table, this.flagName],
    );
    if (rows.length > 0) {
      const names = rows.map((r) => r['name']).join(', ');
      throw new CesyncError(
        'SCHEMA_MISMATCH',
        `pending.flag: the trigger ${names} of ${this.table} runs BEFORE every UPDATE, also the one that only marks a row indexed; if it sets the version (e.g. last_modified), every mark would make the document stale. ` +
          `Make it fire on the data columns only (BEFORE UPDATE OF col1, col2, ... as CCD's does), or use pending: { queue } instead`,
      );
    }
  }

  /** A pending row of this pipeline: its flag false, or null (never marked), and within its filter. */
  private pendingCondition(): string {
    return `(${this.flag} = false OR ${this.flag} IS NULL)${this.options.filter ? ` AND (${this.options.filter}\n)` : ''}`;
  }

  async count(): Promise<number | undefined> {
    const rows = await run(this.pool, this.options.where, `SELECT count(*)::text AS n FROM ${this.table} WHERE ${this.pendingCondition()}`, []);
    return Number(rows[0]?.['n'] ?? 0);
  }
}

export interface QueueSpec {
  readonly schema: string;
  readonly table: string;
  readonly id: string;
  /** { tableKeyColumn: queueColumn } */
  readonly match: Readonly<Record<string, string>>;
}

/** What a queue take holds of each key: its entries, and the xmin of its row then (null: no row). */
interface QueueTaken {
  readonly queue: string[];
  readonly x: string | null;
}

export class QueuePending implements PendingSource {
  private readonly queue: string;
  private readonly columns: readonly string[];
  /** The table's key columns, and the table: its rows' xmin tell whether they changed. */
  private readonly keys: readonly PgColumn[];
  private readonly table: string;
  private cursor: string | undefined;
  /** The last take reached the end: the next one returns an empty batch (see take). */
  private passEnded = false;
  /** Queue ids whose sync failed in this process: not taken again by it. */
  private readonly held = new Set<string>();

  private readonly pool: PostgresPool;
  private readonly source: Pick<RecordSource, 'parseKey'>;
  private readonly spec: QueueSpec;
  private readonly options: Options;

  private constructor(pool: PostgresPool, source: Pick<RecordSource, 'parseKey'>, spec: QueueSpec, table: PgTableSchema, options: Options) {
    this.pool = pool;
    this.source = source;
    this.spec = spec;
    this.options = options;
    this.queue = `${quoteIdent(spec.schema)}.${quoteIdent(spec.table)}`;
    this.columns = table.keyColumns.map((k) => spec.match[k] ?? k);
    this.keys = table.keyColumns.map((k) => table.columns.find((c) => c.name === k)!);
    this.table = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  }

  /** Opens the queue, checking that it has the id column and a column for every key column. */
  static async open(pool: PostgresPool, source: Pick<RecordSource, 'parseKey'>, table: PgTableSchema, spec: QueueSpec, options: Options): Promise<QueuePending> {
    const q = await loadPgTableSchema(pool, spec.schema, spec.table, options.where).catch((e: unknown) => {
      if (e instanceof CesyncError && e.code === 'SCHEMA_MISMATCH' && /does not exist/.test(e.message)) {
        throw new CesyncError('SCHEMA_MISMATCH', `pending.queue: ${spec.schema}.${spec.table} does not exist; create it with cesync sync --since last --create-queue (which also installs the triggers that fill it), or create your own`, { cause: e });
      }
      throw e;
    });
    const where = `pending.queue ${spec.schema}.${spec.table}`;
    const id = q.columns.find((c) => c.name === spec.id);
    if (!id || !['int2', 'int4', 'int8'].includes(id.type.name)) throw new CesyncError('SCHEMA_MISMATCH', `${where}: its id column ${spec.id} must be an integer column (a bigserial) that orders the entries`);
    for (const k of table.keyColumns) {
      const c = spec.match[k] ?? k;
      if (!q.columns.some((x) => x.name === c)) throw new CesyncError('SCHEMA_MISMATCH', `${where}: no column ${c} for the key column ${k} of ${table.schema}.${table.table} (set pending.queue.match: { ${k}: QUEUE_COLUMN })`);
    }
    for (const k of Object.keys(spec.match)) if (!table.keyColumns.includes(k)) throw new CesyncError('SCHEMA_MISMATCH', `${where}: match names ${k}, which is not a primary key column of ${table.schema}.${table.table} (${table.keyColumns.join(', ')})`);
    return new QueuePending(pool, source, spec, table, options);
  }

  async take(max: number, options: { signal?: AbortSignal } = {}): Promise<PendingBatch> {
    // As the flag's: a pass ends with an empty batch.
    if (this.passEnded) {
      this.passEnded = false;
      return { keys: [], taken: new Map<string, QueueTaken>() };
    }
    const id = quoteIdent(this.spec.id);
    const texts = this.columns.map((c, i) => `${quoteIdent(c)}::text AS k${i}`).join(', ');
    const keys = new Map<string, ParsedKey>();
    const ids = new Map<string, string[]>();
    let seen = 0;
    while (seen < max) {
      throwIfInterrupted(options.signal, 'the listing of the queue');
      const params: unknown[] = this.cursor === undefined ? [max] : [this.cursor, max];
      const cond = this.cursor === undefined ? '' : `WHERE ${id} > $1::int8`;
      const rows = await run(this.pool, this.options.where, `SELECT ${id}::text AS q, ${texts} FROM ${this.queue} ${cond} ORDER BY ${id} LIMIT $${params.length}`, params);
      if (rows.length === 0) {
        this.cursor = undefined;
        this.passEnded = keys.size > 0;
        break;
      }
      this.cursor = rows[rows.length - 1]!['q']!;
      for (const r of rows) {
        const q = r['q']!;
        if (this.held.has(q)) continue;
        seen += 1;
        const key = keyOf(this.source, this.columns.map((_c, i) => r[`k${i}`] ?? null));
        if (!key) {
          this.held.add(q); // names no row this table can have: left for the user to look at
          continue;
        }
        keys.set(key.id, key);
        ids.set(key.id, [...(ids.get(key.id) ?? []), q]);
      }
      if (rows.length < max) {
        this.cursor = undefined;
        this.passEnded = keys.size > 0;
        break;
      }
    }
    const taken = new Map<string, QueueTaken>();
    if (keys.size > 0) {
      // The version of each row now (before cesync reads it): none for a row that is gone.
      const versions = new Map<string, string>();
      const keyTexts = this.keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(', ');
      for (const r of await run(this.pool, this.options.where, `SELECT ${keyTexts}, xmin::text AS x FROM ${this.table} WHERE ${this.keysIn(1)}`, this.keyArrays([...keys.values()]))) {
        const key = keyOf(this.source, this.keys.map((_k, i) => r[`k${i}`] ?? null));
        if (key) versions.set(key.id, r['x']!);
      }
      for (const [id, qs] of ids) taken.set(id, { queue: qs, x: versions.get(id) ?? null });
    }
    return { keys: [...keys.values()], taken };
  }

  async settle(batch: PendingBatch, done: ReadonlySet<string>): Promise<number> {
    const taken = batch.taken as Map<string, QueueTaken>;
    const gone: { key: ParsedKey; q: string; x: string | null }[] = [];
    for (const key of batch.keys) {
      const t = taken.get(key.id)!;
      if (done.has(key.id)) for (const q of t.queue) gone.push({ key, q, x: t.x });
      else for (const q of t.queue) this.held.add(q);
    }
    if (gone.length === 0) return 0;
    // Entries are deleted only where the row is still the version taken, or still absent. The
    // rows are locked (FOR SHARE) first, skipping those a writer holds: the entries of a row being
    // changed stay (its change may have added no entry beside them; `seen` tells a skipped row
    // from an absent one), and no application transaction waits for cesync or deadlocks with it.
    const n = this.keys.length;
    const cur = this.keys.map((k, i) => `t.${quoteIdent(k.name)} AS k${i}`).join(', ');
    const names = ['q', ...this.keys.map((_k, i) => `k${i}`), 'x'];
    const arrays = ['$1::int8[]', ...this.keys.map((k, i) => `$${i + 2}::${k.type.sql}[]`), `$${n + 2}::text[]`].join(', ');
    const join = this.keys.map((_k, i) => `c.k${i} = u.k${i}`).join(' AND ');
    const rows = await run(
      this.pool,
      this.options.where,
      `WITH cur AS (SELECT ${cur}, t.xmin::text AS x FROM ${this.table} t WHERE ${this.keysIn(2, 't.')} FOR SHARE OF t SKIP LOCKED),
            seen AS (SELECT ${cur}, t.xmin::text AS x FROM ${this.table} t WHERE ${this.keysIn(2, 't.')})
       DELETE FROM ${this.queue} AS e USING unnest(${arrays}) AS u(${names.join(', ')}) LEFT JOIN cur c ON ${join} LEFT JOIN seen s ON ${join.replaceAll('c.', 's.')}
        WHERE e.${quoteIdent(this.spec.id)} = u.q AND ((c.x IS NOT NULL AND c.x = u.x) OR (u.x IS NULL AND s.x IS NULL)) RETURNING 1`,
      [gone.map((g) => g.q), ...this.keyArrays(gone.map((g) => g.key)), gone.map((g) => g.x)],
    );
    return rows.length;
  }

  /** `(key columns) IN (the keys given as one array parameter per column, from $first)`. */
  private keysIn(first: number, prefix = ''): string {
    const cols = this.keys.map((k) => `${prefix}${quoteIdent(k.name)}`).join(', ');
    return `(${cols}) IN (SELECT * FROM unnest(${this.keys.map((k, i) => `$${first + i}::${k.type.sql}[]`).join(', ')}))`;
  }

  private keyArrays(keys: readonly ParsedKey[]): unknown[][] {
    return this.keys.map((_k, i) => keys.map((k) => k.values[i]));
  }

  async count(): Promise<number | undefined> {
    const rows = await run(this.pool, this.options.where, `SELECT count(*)::text AS n FROM ${this.queue}`, []);
    return Number(rows[0]?.['n'] ?? 0);
  }
}

/**
 * Creates a queue table for `table` and the statement-level triggers that fill it with the keys
 * of inserted, updated and deleted rows (one INSERT ... SELECT per statement, from its transition
 * tables, rather than a trigger call per row). Idempotent.
 */
export async function createQueue(pool: PostgresPool, table: PgTableSchema, spec: QueueSpec, where: string): Promise<void> {
  const t = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  const q = `${quoteIdent(spec.schema)}.${quoteIdent(spec.table)}`;
  const keys = table.keyColumns.map((k) => table.columns.find((c) => c.name === k)!);
  const qcols = keys.map((k) => quoteIdent(spec.match[k.name] ?? k.name));
  const kcols = keys.map((k) => quoteIdent(k.name));
  const fn = (op: string) => `${quoteIdent(table.schema)}.${quoteIdent(`${table.table}_cesync_${op}`.slice(0, 63))}`;
  const body = (from: string) => `INSERT INTO ${q} (${qcols.join(', ')}) SELECT ${kcols.join(', ')} FROM ${from};`;
  const statements = [
    `CREATE TABLE IF NOT EXISTS ${q} (${quoteIdent(spec.id)} bigserial PRIMARY KEY, ${keys.map((k) => `${quoteIdent(spec.match[k.name] ?? k.name)} ${k.type.sql} NOT NULL`).join(', ')}, queued_at timestamptz NOT NULL DEFAULT clock_timestamp())`,
    ...(['insert', 'update', 'delete'] as const).flatMap((op) => {
      const ref = op === 'delete' ? 'OLD TABLE AS changed' : op === 'update' ? 'OLD TABLE AS before NEW TABLE AS changed' : 'NEW TABLE AS changed';
      // An update that changes a key queues the old key too (its document must go).
      const sql = op === 'update' ? `${body('changed')} ${body(`before WHERE (${kcols.join(', ')}) NOT IN (SELECT ${kcols.join(', ')} FROM changed)`)}` : body('changed');
      return [
        `CREATE OR REPLACE FUNCTION ${fn(op)}() RETURNS trigger LANGUAGE plpgsql AS $cesync$ BEGIN ${sql} RETURN NULL; END $cesync$`,
        // DROP and CREATE rather than CREATE OR REPLACE TRIGGER, which needs PostgreSQL 14.
        `DROP TRIGGER IF EXISTS ${quoteIdent(`cesync_queue_${op}`)} ON ${t}`,
        `CREATE TRIGGER ${quoteIdent(`cesync_queue_${op}`)} AFTER ${op.toUpperCase()} ON ${t} REFERENCING ${ref} FOR EACH STATEMENT EXECUTE FUNCTION ${fn(op)}()`,
      ];
    }),
  ];
  const client = await pool.connect().catch((cause: unknown) => {
    throw postgresError(cause, where);
  });
  client.on('error', () => undefined); // a connection ended meanwhile is reported by the query
  try {
    await client.query('BEGIN');
    // Triggers take a lock that waits for every open write to the table, and makes every write
    // after it wait: give up after a few seconds rather than stall the application.
    await client.query("SET LOCAL lock_timeout = '5s'");
    for (const s of statements) await client.query(s);
    await client.query('COMMIT');
  } catch (cause) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw postgresError(cause, where);
  } finally {
    client.release();
  }
}
