/**
 * A `source: postgres` pipeline wired to PostgreSQL: its table's schema read and mapped, the
 * table source, and its pending rows (a flag column or a queue table) when it names them.
 */
import type { PipelineConfig } from '../config/schema.js';
import type { FieldDescription } from '../engine/field-schema.js';
import type { PendingSource } from '../engine/ports.js';
import { createQueue, FlagPending, QueuePending, type QueueSpec } from '../postgres/pending.js';
import { findColumn, loadPgTableSchema, mapPgFields, resolveName, type PgTableSchema } from '../postgres/table-schema.js';
import { postgresError, quoteIdent, type PostgresPool } from '../postgres/client.js';
import { CesyncError } from '../errors.js';
import { PostgresTableSource } from '../postgres/table-source.js';
import { pgFieldType } from '../postgres/value-converter.js';
import { columnNames } from './pipeline-shape.js';
import { postgresOf, type Stores } from './stores.js';

export interface OpenedPostgresTable {
  readonly table: PostgresTableSource;
  readonly fields: FieldDescription[];
  readonly where: string;
  readonly pending?: PendingSource;
  /** Creates the queue table and its triggers (pending.queue; --create-queue). */
  readonly createQueue?: () => Promise<void>;
}

/**
 * Pending sources by pool and pipeline: `watch` opens its pipelines every round, and a pending
 * source remembers, for as long as the process runs, the rows whose sync failed (so that a row
 * the index refuses is not taken again every round until it changes).
 */
const pendingSources = new WeakMap<object, Map<string, PendingSource>>();

/**
 * A pipeline's `filter` checked by the server before anything runs (EXPLAIN plans it, reading
 * nothing): a column that does not exist or a syntax error is a configuration error, exit 2,
 * not a store's refusal halfway through a sync.
 */
async function checkFilter(pool: PostgresPool, table: PgTableSchema, filter: string | undefined, where: string): Promise<void> {
  if (filter === undefined) return;
  try {
    // The newline ends a trailing `--` comment inside the filter before the parenthesis.
    await pool.query(`EXPLAIN SELECT 1 FROM ${quoteIdent(table.schema)}.${quoteIdent(table.table)} WHERE (${filter}\n)`);
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? '';
    if ((code.startsWith('42') && code !== '42501') || code.startsWith('22')) {
      throw new CesyncError('CONFIG_INVALID', `filter of ${table.schema}.${table.table}: ${(cause as Error).message} (filter: ${filter})`, { cause });
    }
    throw postgresError(cause, where);
  }
}


export async function openPostgresTable(stores: Stores, pipeline: PipelineConfig): Promise<OpenedPostgresTable> {
  const opened = await openTable(stores, pipeline);
  if (!opened.pending) return opened;
  const known = pendingSources.get(postgresOf(stores)) ?? new Map<string, PendingSource>();
  pendingSources.set(postgresOf(stores), known);
  const key = JSON.stringify([pipeline.name, pipeline.table, pipeline.keyspace, pipeline.pending, pipeline.filter ?? null]);
  const pending = known.get(key) ?? opened.pending;
  known.set(key, pending);
  return { ...opened, pending };
}

async function openTable(stores: Stores, pipeline: PipelineConfig): Promise<OpenedPostgresTable> {
  const pool = postgresOf(stores);
  const raw = await loadPgTableSchema(pool, resolveName(pipeline.keyspace), resolveName(pipeline.table), stores.postgresWhere);
  // The flag is cesync's bookkeeping, not the row's content: it is never in documents (the
  // document would say "pending" while the row, once marked, says done).
  const flag = pipeline.pending && 'flag' in pipeline.pending ? findColumn(raw, pipeline.pending.flag)?.name : undefined;
  const schema = mapPgFields(raw, { ...columnNames(pipeline), ...(flag !== undefined ? { [flag]: null } : {}) });
  await checkFilter(pool, raw, pipeline.filter, stores.postgresWhere);
  if (typeof pipeline.version !== 'object') throw new Error('a PostgreSQL pipeline has a version column (checked by the configuration schema)');
  const table = new PostgresTableSource(pool, schema, {
    pageSize: pipeline.pageSize,
    splits: pipeline.splits,
    rangesInFlight: pipeline.rangesInFlight,
    version: pipeline.version,
    changeColumn: pipeline.changeColumn,
    id: pipeline.id,
    where: stores.postgresWhere,
    ...(pipeline.filter !== undefined ? { filter: pipeline.filter } : {}),
  });
  await table.load();
  const fields = schema.columns.map((c) => ({ name: c.field, type: pgFieldType(c.type), key: c.key }));
  const where = `${schema.schema}.${schema.table}`;
  const p = pipeline.pending;
  if (!p) return { table, fields, where };
  if ('flag' in p) {
    const pending = new FlagPending(pool, table, raw, p.flag, { where: stores.postgresWhere, ...(pipeline.filter !== undefined ? { filter: pipeline.filter } : {}) });
    await pending.checkTriggers();
    return { table, fields, where, pending };
  }
  const spec: QueueSpec = { schema: p.queue.schema !== undefined ? resolveName(p.queue.schema) : schema.schema,
    table: p.queue.table !== undefined ? resolveName(p.queue.table) : `${schema.table}_cesync_queue`.slice(0, 63), id: p.queue.id, match: p.queue.match ?? {} };
  // The queue is opened when first used (once; again after a failure, such as a queue not made
  // yet), so --create-queue can make it first.
  let opened: Promise<QueuePending> | undefined;
  const queue = () =>
    (opened ??= QueuePending.open(pool, table, raw, spec, { where: stores.postgresWhere }).catch((e: unknown) => {
      opened = undefined;
      throw e;
    }));
  const lazy: PendingSource = {
    take: async (max, o) => (await queue()).take(max, o),
    settle: async (batch, done) => (await queue()).settle(batch, done),
    count: async () => (await queue()).count(),
  };
  return { table, fields, where, pending: lazy, createQueue: () => createQueue(pool, raw, spec, stores.postgresWhere) };
}
