/**
 * The stores of one configuration, connected once and shared by its pipelines. Connecting
 * checks reachability and credentials up front, so a bad host or password fails before any
 * pipeline starts, with a coded error.
 */
import type { Config } from '../config/schema.js';
import type { StateStore } from '../engine/ports.js';
import { CassandraStateStore } from '../state/cassandra-state-store.js';
import { FileStateStore } from '../state/file-state-store.js';
import { connectCassandra, consistencyOf, createCassandraClient, type CassandraClient } from '../cassandra/client.js';
import { createElasticsearchClient, describeNode, elasticsearchError, type ElasticsearchClient } from '../elasticsearch/client.js';

export interface Stores {
  readonly cassandra: CassandraClient;
  /** Pipeline progress (created on first use). */
  readonly state: StateStore;
  readonly elasticsearch: ElasticsearchClient;
  readonly cassandraWhere: string;
  readonly elasticsearchWhere: string;
  /** The driver's consistency for reads and writes that decide or persist (cassandra.decisionConsistency). */
  readonly decisionConsistency: number;
  /** elasticsearch.maxRetries: also the retries, with backoff, of a whole bulk request refused with 429 or 5xx. */
  readonly elasticsearchRetries: number;
  close(): Promise<void>;
}

export async function connectStores(config: Readonly<Config>): Promise<Stores> {
  const cassandraWhere = config.cassandra.contactPoints.join(',');
  const elasticsearchWhere = describeNode(config.elasticsearch);
  const cassandra = createCassandraClient(config.cassandra);
  const elasticsearch = createElasticsearchClient(config.elasticsearch);
  const close = async () => {
    await Promise.allSettled([cassandra.shutdown(), elasticsearch.close()]);
  };
  try {
    await connectCassandra(cassandra, cassandraWhere);
    try {
      // `GET /` is not served by every distribution; cluster health is.
      await elasticsearch.cluster.health({ timeout: '10s' }, { maxRetries: 1, requestTimeout: 15_000 });
    } catch (cause) {
      throw elasticsearchError(cause, elasticsearchWhere);
    }
  } catch (e) {
    await close();
    throw e;
  }
  const state: StateStore =
    config.state.store === 'file'
      ? new FileStateStore(config.state.path)
      : new CassandraStateStore(cassandra, {
          keyspace: config.state.keyspace,
          replication: config.state.replication,
          where: cassandraWhere,
          consistency: consistencyOf(config.cassandra.decisionConsistency),
        });
  return {
    cassandra,
    elasticsearch,
    state,
    cassandraWhere,
    elasticsearchWhere,
    decisionConsistency: consistencyOf(config.cassandra.decisionConsistency),
    elasticsearchRetries: config.elasticsearch.maxRetries,
    close: async () => {
      await state.close();
      await close();
    },
  };
}
