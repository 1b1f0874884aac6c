/**
 * The stores of one configuration, connected once and shared by its pipelines. Connecting
 * checks reachability and credentials up front, so a bad host or password fails before any
 * pipeline starts, with a coded error.
 */
import type { Config } from '../config/schema.js';
import { cassandraError, connectCassandra, createCassandraClient, type CassandraClient } from '../cassandra/client.js';
import { createElasticsearchClient, describeNode, elasticsearchError, type ElasticsearchClient } from '../elasticsearch/client.js';

export interface Stores {
  readonly cassandra: CassandraClient;
  readonly elasticsearch: ElasticsearchClient;
  readonly cassandraWhere: string;
  readonly elasticsearchWhere: string;
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
  return { cassandra, elasticsearch, cassandraWhere, elasticsearchWhere, close };
}

export { cassandraError };
