/**
 * The "replace a value" handler (Sunbird's ownership transfer, generalised): in the rows of a table
 * whose columns hold the event's `from` value, that value becomes the event's `to` value, first in
 * the table (the source of truth), then in the rows' documents through the versioned sync.
 *
 * Per event, in order: the `when` filter and the `require` rows are checked (an event that fails
 * them is skipped and counted); every row holding `from` in one of the columns is found (ValueRows:
 * an index or a scan, never capped), kept if it matches `where`, and changed in batches of
 * `batchSize`, each row at a version newer than what it held (never older than now). After the
 * batch's events, the documents of the changed rows are synced, and so are the documents that the
 * index still shows holding an event's `from`: those are rows an earlier, interrupted attempt
 * changed whose documents it did not sync (the table no longer shows them holding `from`). So a
 * batch handled again after a crash changes no row twice and leaves no document behind.
 *
 * A change is read, then written: a write of the same cell by the application between the two
 * wins when its write time is later (Cassandra keeps the newest cell), and the document then
 * follows whichever won. Nothing here ever writes a document: the sync does, from the row.
 */
import type { ReplaceValueConfig } from '../config/consumer-schema.js';
import { CesyncError } from '../errors.js';
import { parseEventPath, scalarAt } from './event-path.js';
import { NO_DOCUMENTS, type EventHandler, type EventOutcome, type HandledBatch, type ParsedEvent, type PlannedChange } from './handler.js';
import type { HeldRow, HoldingKind, OpenRows, RowChange, SyncIds, ValueDocuments, ValueRows } from './ports.js';
import { compileWhen } from './when.js';

type Scalar = string | number | boolean;

export interface ReplaceValueDeps {
  readonly rows: ValueRows;
  readonly openRows: OpenRows;
  /** The pipeline's index, to find documents an interrupted attempt left holding the old value. */
  readonly documents: ValueDocuments;
  readonly syncIds: SyncIds;
  /** The document field a column is written to (default: the column's name). */
  readonly fieldOf?: (column: string) => string | undefined;
  /** Microseconds since the epoch (tests pass a clock). */
  readonly nowMicros?: () => number;
}

interface Column {
  readonly column: string;
  readonly field: string;
  readonly holding: HoldingKind;
}

/** Whether a cell (or a collection's element) as the table holds it is a value as the event gives it. */
export type Same = (cell: unknown, value: unknown) => boolean;

/**
 * The value of one column with `from` replaced by `to`, or undefined when it does not hold `from`.
 * `same` compares as the column's type (ValueRows.same). In a list every `from` becomes `to` in
 * place and duplicates of `to` go; in a set `from` goes and `to` comes.
 */
export function replaced(holding: HoldingKind, current: unknown, from: Scalar, to: Scalar, same: Same): unknown {
  if (holding === 'scalar') return same(current, from) ? to : undefined;
  if (!Array.isArray(current) || !current.some((v) => same(v, from))) return undefined;
  const out: unknown[] = [];
  let placed = false;
  for (const v of current) {
    const isNew = same(v, from) || same(v, to);
    // No duplicates: the new value once, where the first of them was.
    if (!isNew) out.push(v);
    else if (!placed) {
      out.push(to);
      placed = true;
    }
  }
  return out;
}

export async function replaceValueHandler(config: ReplaceValueConfig, deps: ReplaceValueDeps): Promise<EventHandler> {
  const { rows } = deps;
  const columns: Column[] = config.columns.map((c) => {
    const column = rows.resolve(typeof c === 'string' ? c : c.column);
    if (rows.isKey(column)) throw new CesyncError('SCHEMA_MISMATCH', `${rows.where}.${column} is part of the primary key: a key cannot be changed in place`);
    return { column, field: (typeof c === 'string' ? undefined : c.field) ?? deps.fieldOf?.(column) ?? column, holding: rows.holding(column) };
  });
  const fromPath = parseEventPath(config.from);
  const toPath = parseEventPath(config.to);
  const when = compileWhen(config.when);
  const where = Object.entries(config.where ?? {}).map(([name, w]) => {
    const column = rows.resolve(name);
    return { column, w: 'in' in w ? { in: w.in } : { path: parseEventPath(w.path), text: w.path } };
  });
  const requires = await Promise.all(
    config.require.map(async (r) => ({
      rows: await deps.openRows(r.keyspace, r.table),
      key: Object.entries(r.key).map(([column, p]) => [column, parseEventPath(p), p] as const),
      columns: Object.entries(r.columns ?? {}).map(([column, p]) => [column, parseEventPath(p), p] as const),
    })),
  );
  for (const r of requires) {
    r.key = r.key.map(([c, p, t]) => [r.rows.resolve(c), p, t] as const);
    r.columns = r.columns.map(([c, p, t]) => [r.rows.resolve(c), p, t] as const);
  }
  for (const r of requires) {
    const given = new Set(r.key.map(([c]) => c));
    const lacking = r.rows.keyColumns.filter((k) => !given.has(k));
    if (lacking.length > 0 || given.size !== r.rows.keyColumns.length) {
      throw new CesyncError('SCHEMA_MISMATCH', `require ${r.rows.where}: key must name the primary key columns ${r.rows.keyColumns.join(', ')} (got ${[...given].join(', ')})`);
    }
  }
  const read = [...new Set([...columns.map((c) => c.column), ...where.map((w) => w.column)])];
  const nowMicros = deps.nowMicros ?? (() => Date.now() * 1000);

  /** Why the event names rows that do not exist (undefined when they all do). */
  async function unmet(body: unknown, lookups: { found: number; missing: number }): Promise<string | undefined> {
    for (const { rows: required, ...r } of requires) {
      const where = required.where;
      const key: Record<string, unknown> = {};
      for (const [column, path, text] of r.key) {
        const v = scalarAt(body, path, text);
        if ('error' in v) return `${where}: ${v.error}`;
        key[column] = v.value;
      }
      const row = await required.get(key, r.columns.map(([c]) => c));
      if (!row) {
        lookups.missing++;
        return `${where} has no row ${JSON.stringify(key)}`;
      }
      for (const [column, path, text] of r.columns) {
        const v = scalarAt(body, path, text);
        // An empty value in the event (Sunbird sends organisationId "" at times) checks nothing.
        if ('error' in v || v.value === '') continue;
        if (!required.same(column, row.values[column], v.value)) {
          lookups.missing++;
          return `${where} row ${JSON.stringify(key)} has ${column} ${JSON.stringify(row.values[column] ?? null)}, not ${JSON.stringify(v.value)} (${text})`;
        }
      }
      lookups.found++;
    }
    return undefined;
  }

  function matchesWhere(row: HeldRow, values: Map<string, readonly Scalar[]>): boolean {
    for (const [column, allowed] of values) if (!allowed.some((a) => rows.same(column, row.values[column], a))) return false;
    return true;
  }

  return {
    kind: 'replace-value',
    eventsPerBatch: 1,
    async handle(events: readonly ParsedEvent[], { dryRun, signal }): Promise<HandledBatch> {
      const outcomes: EventOutcome[] = [];
      const lookups = { found: 0, missing: 0 };
      const toSync = new Map<string, readonly string[]>();
      const planned = dryRun ? new Map<number, { rows: PlannedChange[]; documents: string[] }>() : undefined;
      const oldValues: Scalar[] = [];
      for (const [i, { body }] of events.entries()) {
        signal.throwIfAborted();
        const skip = when(body);
        if (skip) {
          outcomes.push({ kind: 'skipped', reason: skip });
          continue;
        }
        const from = scalarAt(body, fromPath, config.from);
        const to = scalarAt(body, toPath, config.to);
        if ('error' in from || 'error' in to) {
          outcomes.push({ kind: 'failed', reason: 'error' in from ? from.error : (to as { error: string }).error });
          continue;
        }
        if (from.value === '' || to.value === '') {
          // An empty old value would take every row whose column is empty; an empty new one would wipe the column.
          outcomes.push({ kind: 'failed', reason: `${from.value === '' ? config.from : config.to} is empty` });
          continue;
        }
        // Looked up in the index even if the event is skipped below: an earlier attempt of this
        // event may have changed rows whose documents it did not sync.
        oldValues.push(from.value);
        if (String(from.value) === String(to.value)) {
          outcomes.push({ kind: 'skipped', reason: `${config.from} and ${config.to} are the same value` });
          continue;
        }
        const whereValues = new Map<string, readonly Scalar[]>();
        let bad: string | undefined;
        for (const { column, w } of where) {
          if ('in' in w) whereValues.set(column, w.in as readonly Scalar[]);
          else {
            const v = scalarAt(body, w.path, w.text);
            if ('error' in v) bad = v.error;
            else whereValues.set(column, [v.value]);
          }
        }
        if (bad) {
          outcomes.push({ kind: 'failed', reason: bad });
          continue;
        }
        // Every row holding the value in any of the columns, each once. A value of the event that
        // does not fit a column's type (a USAGE error of the rows) makes the event fail, not the run.
        const found = new Map<string, HeldRow>();
        let rowsRead = 0;
        let missing: string | undefined;
        try {
          missing = await unmet(body, lookups);
          if (!missing) {
            for (const c of columns) {
              for await (const row of rows.find(c.column, from.value, read, signal)) {
                rowsRead++;
                found.set(JSON.stringify(row.keyText), row);
              }
            }
          }
        } catch (e) {
          if (!(e instanceof CesyncError) || e.code !== 'USAGE') throw e;
          outcomes.push({ kind: 'failed', reason: e.message });
          continue;
        }
        if (missing) {
          outcomes.push({ kind: 'skipped', reason: missing });
          continue;
        }
        const changes: RowChange[] = [];
        for (const row of found.values()) {
          if (!matchesWhere(row, whereValues)) continue;
          const set: Record<string, unknown> = {};
          for (const c of columns) {
            const next = replaced(c.holding, row.values[c.column], from.value, to.value, (cell, v) => rows.same(c.column, cell, v));
            if (next !== undefined) set[c.column] = next;
          }
          if (Object.keys(set).length === 0) continue;
          changes.push({ row, set, version: Math.max(nowMicros(), row.writtenAt + 1) });
        }
        if (planned) {
          planned.set(i, {
            rows: changes.map((ch) => ({ key: ch.row.keyText, set: Object.fromEntries(Object.entries(ch.set).map(([k, v]) => [k, { from: ch.row.values[k] ?? null, to: v }])) })),
            documents: changes.map((ch) => JSON.stringify(ch.row.keyText)),
          });
        } else {
          for (let at = 0; at < changes.length; at += config.batchSize) {
            signal.throwIfAborted();
            await rows.change(changes.slice(at, at + config.batchSize));
          }
        }
        for (const ch of changes) toSync.set(JSON.stringify(ch.row.keyText), ch.row.keyText);
        outcomes.push({ kind: 'applied', rowsChanged: dryRun ? 0 : changes.length, rowsRead });
      }
      if (dryRun) return { outcomes, documents: NO_DOCUMENTS, lookups, planned };
      // Documents an interrupted attempt changed the rows of but did not sync: the index still
      // shows them holding an old value. Their rows are read again by the sync, as they are now.
      for (const value of new Set(oldValues)) {
        for (const c of columns) {
          for await (const id of deps.documents.ids(c.field, value, signal)) if (!toSync.has(`id:${id}`)) toSync.set(`id:${id}`, [id]);
        }
      }
      const documents = toSync.size > 0 ? await deps.syncIds([...toSync.values()], { dryRun: false, signal }) : NO_DOCUMENTS;
      return { outcomes, documents, lookups };
    },
  };
}
