// Consistency per decision: scans read at `cassandra.consistency`, while the reads that decide a
// delete or confirm a write, and every read and write of the state store, use
// `cassandra.decisionConsistency`. Checked on the options each statement is executed with.
import cassandra from 'cassandra-driver';
import { describe, expect, it } from 'vitest';
import type { CassandraClient } from '../../src/cassandra/client.js';
import { consistencyOf } from '../../src/cassandra/client.js';
import { T } from '../../src/cassandra/cql-type.js';
import type { ColumnSchema, TableSchema } from '../../src/cassandra/table-schema.js';
import { CassandraTableSource } from '../../src/cassandra/table-source.js';
import { CassandraStateStore } from '../../src/state/cassandra-state-store.js';
import { parseConfig } from '../../src/config/load.js';

const QUORUM = cassandra.types.consistencies.localQuorum;

/** A client that records the options of every statement and answers with no rows. */
function recordingClient() {
  const seen: { query: string; consistency: unknown }[] = [];
  const client = {
    execute: async (query: string, _params: unknown, options: { consistency?: unknown } = {}) => {
      seen.push({ query, consistency: options.consistency });
      return { rows: [], first: () => undefined, wasApplied: () => true, pageState: null };
    },
  } as unknown as CassandraClient;
  return { client, seen };
}

const column = (name: string, code: number, kind: ColumnSchema['kind'] = 'regular'): ColumnSchema => ({ name, type: { code }, kind, field: name });
const schema: TableSchema = {
  keyspace: 'ks',
  table: 't',
  columns: [column('id', T.text, 'partition'), column('body', T.text)],
  partitionKeys: ['id'],
  keyColumns: ['id'],
  writetimeColumns: [column('body', T.text)],
  hasCounters: false,
};

describe('consistency per decision', () => {
  it('defaults: scans at LOCAL_ONE, decisions at LOCAL_QUORUM', () => {
    const cfg = parseConfig({ pipelines: [{ name: 'p', keyspace: 'ks', table: 't', index: 'i' }] }, {});
    expect(cfg.cassandra).toMatchObject({ consistency: 'LOCAL_ONE', decisionConsistency: 'LOCAL_QUORUM' });
    expect(consistencyOf(cfg.cassandra.decisionConsistency)).toBe(QUORUM);
  });

  it('key reads (which decide deletes) use the decision consistency; scans leave the client default', async () => {
    const { client, seen } = recordingClient();
    const source = new CassandraTableSource(client, schema, { pageSize: 10, splits: 1, rangesInFlight: 1, version: 'writetime', id: { format: 'delimited', separator: ':' }, where: 'c', keyReadConsistency: QUORUM });
    for await (const b of source.read([{ id: 'a', values: ['a'] }], {})) void b;
    for await (const b of source.scanVersions([{ start: '0', end: null }], {})) void b;
    expect(seen.find((s) => s.query.includes('"id" = ?'))?.consistency).toBe(QUORUM);
    const scan = seen.find((s) => /token\(.*\) > \?/.test(s.query));
    expect(scan).toBeDefined();
    expect(scan!.consistency).toBeUndefined();
  });

  it('every state store statement uses the decision consistency', async () => {
    const { client, seen } = recordingClient();
    const store = new CassandraStateStore(client, { keyspace: 'cesync', replication: { class: 'SimpleStrategy', replication_factor: 1 }, where: 'c', consistency: QUORUM });
    await store.saveWatermark('p', 'to-elasticsearch', { version: 1, id: '' });
    await store.loadWatermark('p', 'to-elasticsearch');
    await store.acquireLease('watch:p', 'me', 1000);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.every((s) => s.consistency === QUORUM)).toBe(true);
  });
});
