/**
 * A Cassandra table as a RowSink: the way back, documents written as rows.
 *
 * Each document becomes one `INSERT INTO ks.t (every column) VALUES (...) USING TIMESTAMP
 * version` (prepared, idempotent). Cassandra keeps the newest cell of each column by itself, so
 * an older version never overwrites a newer row and nothing is read before writing. Every column
 * is written, nulls included: a field missing from the document deletes that cell (at the
 * document's version, so only older cells go).
 *
 * Outcomes: a document that does not convert (docs/types.md read backwards) is rejected as
 * 'mapping'; a row Cassandra refuses (InvalidRequest, a failed function) as 'rejected'; a failed
 * request (no host, timeouts and unavailability after the driver's retries) rejects `write()`
 * itself with a coded error, after the writes in flight have finished.
 */
import cassandra from 'cassandra-driver';
import type { RowSink, RowWrite, RowWriteOutcome } from '../engine/ports.js';
import { CesyncError } from '../errors.js';
import { cassandraError, type CassandraClient } from './client.js';
import { T, isVector, type CqlType, type UdtInfo } from './cql-type.js';
import { RowValueError, documentToRow, type RowValues } from './document-to-row.js';
import { cqlTypeName } from './cql-type.js';
import { quoteIdentifier, type TableSchema } from './table-schema.js';

const { Long, responseErrorCodes } = cassandra.types;

export interface TableWriterOptions {
  /** Shown in errors: where Cassandra is. */
  readonly where: string;
  /** Inserts in flight at once (default 32). The next document is pulled only when one finishes. */
  readonly concurrency?: number;
  /** Consistency of the inserts (default: the client's). */
  readonly consistency?: number;
}

/** Server errors that refuse this one row; any other error is a failed request. */
const ROW_ERRORS = new Map<number, string>([
  [responseErrorCodes.invalid, 'invalid'],
  [responseErrorCodes.functionFailure, 'function_failure'],
]);
/** InvalidRequest messages that mean the table itself no longer fits, not this row. */
const SCHEMA_GONE = /unconfigured table|undefined column|keyspace .* does not exist/i;

export class CassandraTableWriter implements RowSink {
  private readonly client: CassandraClient;
  private readonly schema: TableSchema;
  private readonly options: TableWriterOptions;
  private readonly insert: string;
  private readonly toRow: (doc: Readonly<Record<string, unknown>>) => RowValues;

  constructor(client: CassandraClient, schema: TableSchema, options: TableWriterOptions) {
    this.client = client;
    this.schema = schema;
    this.options = options;
    const columns = schema.columns.map((c) => quoteIdentifier(c.name));
    this.insert =
      `INSERT INTO ${quoteIdentifier(schema.keyspace)}.${quoteIdentifier(schema.table)} (${columns.join(', ')}) ` +
      `VALUES (${columns.map(() => '?').join(', ')}) USING TIMESTAMP ?`;
    this.toRow = documentToRow(schema);
  }

  check(): void {
    const { keyspace, table, columns } = this.schema;
    const counters = columns.filter((c) => c.type.code === T.counter).map((c) => c.name);
    if (counters.length) {
      throw new CesyncError(
        'SCHEMA_MISMATCH',
        `${keyspace}.${table} has counter columns (${counters.join(', ')}): counters cannot be set, only incremented, so documents cannot be written back to it`,
      );
    }
    // Maps are passed as Map (keys keep their types); a client without `encoding.map` would
    // read a Map as an empty object and write nothing.
    const withMaps = columns.filter((c) => containsMap(c.type)).map((c) => `${c.name} ${cqlTypeName(c.type)}`);
    const encoding = (this.client as unknown as { options?: { encoding?: { map?: unknown } } }).options?.encoding;
    if (withMaps.length && encoding?.map !== Map) {
      throw new Error(`the Cassandra client must be created with encoding: { map: Map } to write map columns (${withMaps.join(', ')})`);
    }
  }

  async write(rows: AsyncIterable<RowWrite>, onOutcome: (row: RowWrite, outcome: RowWriteOutcome) => void): Promise<void> {
    const limit = this.options.concurrency ?? 32;
    if (limit < 1) throw new RangeError('concurrency must be >= 1');
    const source = rows[Symbol.asyncIterator]();
    const inFlight = new Set<Promise<void>>();
    let failed: { error: unknown } | undefined;
    let exhausted = false;
    try {
      while (!failed) {
        if (inFlight.size >= limit) {
          await Promise.race(inFlight);
          continue;
        }
        const next = await source.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const done: Promise<void> = this.writeOne(next.value, onOutcome)
          .catch((error: unknown) => {
            failed ??= { error };
          })
          .finally(() => inFlight.delete(done));
        inFlight.add(done);
      }
    } finally {
      // Writes already sent finish and report their outcomes before anything is thrown.
      await Promise.all(inFlight);
      if (!exhausted) await source.return?.().catch(() => undefined);
    }
    if (failed) throw failed.error;
  }

  /** Writes one row and reports its outcome; throws only for a failed request. */
  private async writeOne(row: RowWrite, onOutcome: (row: RowWrite, outcome: RowWriteOutcome) => void): Promise<void> {
    let params: unknown[];
    try {
      if (!Number.isSafeInteger(row.version) || row.version < 0) {
        throw new RowValueError('a version that is a whole number of microseconds', row.version);
      }
      params = [...this.toRow(row.document).values, Long.fromNumber(row.version)];
    } catch (e) {
      if (!(e instanceof RowValueError)) throw e;
      onOutcome(row, { kind: 'rejected', errorClass: 'mapping', errorType: 'invalid_value', reason: e.message });
      return;
    }
    try {
      await this.client.execute(this.insert, params, { prepare: true, isIdempotent: true, consistency: this.options.consistency });
    } catch (e) {
      onOutcome(row, this.refusal(e));
      return;
    }
    onOutcome(row, { kind: 'written' });
  }

  /** The outcome of a row Cassandra refused; throws when the request failed rather than the row. */
  private refusal(e: unknown): RowWriteOutcome {
    const err = e as { name?: string; code?: number; message?: string };
    // The driver checks each value against the column's type before sending it.
    if (e instanceof TypeError) return { kind: 'rejected', errorClass: 'mapping', errorType: 'invalid_value', reason: err.message ?? String(e) };
    const rowError = err.name === 'ResponseError' && err.code !== undefined ? ROW_ERRORS.get(err.code) : undefined;
    if (rowError && SCHEMA_GONE.test(err.message ?? '')) {
      const { keyspace, table } = this.schema;
      throw new CesyncError('SCHEMA_MISMATCH', `${keyspace}.${table} no longer fits the documents: ${err.message}`, { cause: e });
    }
    if (rowError) return { kind: 'rejected', errorClass: 'rejected', errorType: rowError, reason: err.message ?? String(e) };
    throw cassandraError(e, this.options.where);
  }
}

function containsMap(t: CqlType): boolean {
  switch (t.code) {
    case T.map:
      return true;
    case T.list:
    case T.set:
      return containsMap(t.info as CqlType);
    case T.tuple:
      return (t.info as CqlType[]).some(containsMap);
    case T.udt:
      return (t.info as UdtInfo).fields.some((f) => containsMap(f.type));
    default:
      return isVector(t) && containsMap((t.info as [CqlType, number])[0]);
  }
}
