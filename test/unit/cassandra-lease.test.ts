// The Cassandra state store's leases: a Paxos round whose outcome is unknown (timeout, too few
// replicas) is the store not answering, which the watch waits through; a refused request is not.
import cassandra from 'cassandra-driver';
import { describe, expect, it } from 'vitest';
import type { CassandraClient } from '../../src/cassandra/client.js';
import { CassandraStateStore } from '../../src/state/cassandra-state-store.js';

const codes = cassandra.types.responseErrorCodes;

/** A client that creates the schema, then fails every lease statement with `error`. */
function storeFailing(error: Error) {
  const client = {
    execute: async (query: string) => {
      if (query.startsWith('CREATE')) return {};
      throw error;
    },
  } as unknown as CassandraClient;
  return new CassandraStateStore(client, { keyspace: 'cesync', replication: { class: 'SimpleStrategy', replication_factor: 1 }, where: 'c:9042' });
}

describe('CassandraStateStore leases', () => {
  it.each([
    ['a write timeout', codes.writeTimeout],
    ['too few replicas', codes.unavailableException],
    ['a read timeout of the Paxos prepare', codes.readTimeout],
  ])('report %s as STORE_UNAVAILABLE, the outcome unknown', async (_what, code) => {
    const store = storeFailing(new cassandra.errors.ResponseError(code, 'Operation timed out - received only 0 responses.'));
    await expect(store.renewLease('watch:p', 'me', 3000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/outcome is unknown/) });
    await expect(store.acquireLease('watch:p', 'me', 3000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('report a refused statement as refused', async () => {
    const store = storeFailing(new cassandra.errors.ResponseError(codes.unauthorized, 'User cesync has no MODIFY permission'));
    await expect(store.renewLease('watch:p', 'me', 3000)).rejects.toMatchObject({ code: 'STORE_REQUEST' });
  });
});
