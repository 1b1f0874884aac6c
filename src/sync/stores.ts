/**
 * The stores of one configuration, connected once and shared by its pipelines. Only the stores
 * the configuration uses are connected (Cassandra when a pipeline reads it or the state is kept
 * there, PostgreSQL likewise). Connecting checks reachability and credentials up front, so a bad
 * host or password fails before any pipeline starts, with a coded error.
 */
import { stateStoreKind, type Config } from '../config/schema.js';
import type { StateStore } from '../engine/ports.js';
import { CassandraStateStore } from '../state/cassandra-state-store.js';
import { FileStateStore } from '../state/file-state-store.js';
import { PostgresStateStore } from '../state/postgres-state-store.js';
import { connectCassandra, consistencyOf, createCassandraClient, type CassandraClient } from '../cassandra/client.js';
import { connectPostgres, createPostgresPool, describePostgres, type PostgresPool } from '../postgres/client.js';
import { connectElasticsearch } from '../elasticsearch/api.js';
import { connectOpenSearch } from '../opensearch/api.js';
import type { SearchApi } from '../search-index/api.js';
import { CesyncError } from '../errors.js';

export interface Stores {
  /** The Cassandra cluster, when the configuration uses one (see cassandraOf). */
  readonly cassandra?: CassandraClient;
  /** The PostgreSQL pool, when the configuration uses one (see postgresOf). */
  readonly postgres?: PostgresPool;
  /** Pipeline progress (created on first use). */
  readonly state: StateStore;
  /** The search cluster that holds the indices (Elasticsearch or OpenSearch, detected at connect). */
  readonly target: SearchApi;
  readonly cassandraWhere: string;
  readonly postgresWhere: string;
  /** The driver's consistency for reads and writes that decide or persist (cassandra.decisionConsistency). */
  readonly decisionConsistency: number;
  /** The target's maxRetries: also the retries, with backoff, of a whole bulk request refused with 429 or 5xx. */
  readonly targetRetries: number;
  close(): Promise<void>;
}

/** The Cassandra client of a configuration that has Cassandra pipelines. */
export function cassandraOf(stores: Pick<Stores, 'cassandra'>): CassandraClient {
  if (!stores.cassandra) throw new CesyncError('USAGE', 'this configuration has no Cassandra pipeline and keeps no state in Cassandra: no Cassandra cluster is connected');
  return stores.cassandra;
}

/** The PostgreSQL pool of a configuration that has PostgreSQL pipelines. */
export function postgresOf(stores: Pick<Stores, 'postgres'>): PostgresPool {
  if (!stores.postgres) throw new CesyncError('USAGE', 'this configuration has no postgres section: no PostgreSQL server is connected');
  return stores.postgres;
}

export async function connectStores(config: Readonly<Config>): Promise<Stores> {
  const stateKind = stateStoreKind(config);
  const useCassandra = stateKind === 'cassandra' || config.pipelines.some((p) => p.source === 'cassandra');
  const usePostgres = config.postgres !== undefined && (stateKind === 'postgres' || config.pipelines.some((p) => p.source === 'postgres'));
  const cassandraWhere = config.cassandra.contactPoints.join(',');
  const postgresWhere = config.postgres ? describePostgres(config.postgres) : '';
  const cassandra = useCassandra ? createCassandraClient(config.cassandra) : undefined;
  const inFlight = Math.max(0, ...config.pipelines.filter((p) => p.source === 'postgres').map((p) => p.rangesInFlight));
  const postgres = usePostgres ? createPostgresPool(config.postgres!, inFlight + 3) : undefined;
  // A pool's idle connection that the server drops must not end the process: the next query
  // reports the failure with a coded error.
  postgres?.on('error', () => undefined);
  let target: SearchApi | undefined;
  const close = async () => {
    await Promise.allSettled([cassandra?.shutdown(), postgres?.end(), target?.close()]);
  };
  try {
    if (cassandra) await connectCassandra(cassandra, cassandraWhere);
    if (postgres) await connectPostgres(postgres, postgresWhere);
    // Detects the server, and refuses one that is not the configured product or major.
    target = config.target.product === 'opensearch' ? await connectOpenSearch(config.target) : await connectElasticsearch(config.target);
  } catch (e) {
    await close();
    throw e;
  }
  const connected = target;
  const decisionConsistency = consistencyOf(config.cassandra.decisionConsistency);
  const state: StateStore =
    stateKind === 'file'
      ? new FileStateStore(config.state.path)
      : stateKind === 'postgres'
        ? new PostgresStateStore(postgres!, { schema: config.state.keyspace, where: postgresWhere })
        : new CassandraStateStore(cassandra!, {
            keyspace: config.state.keyspace,
            replication: config.state.replication,
            where: cassandraWhere,
            consistency: decisionConsistency,
          });
  return {
    ...(cassandra ? { cassandra } : {}),
    ...(postgres ? { postgres } : {}),
    target: connected,
    state,
    cassandraWhere,
    postgresWhere,
    decisionConsistency,
    targetRetries: config.target.maxRetries,
    close: async () => {
      await state.close();
      await close();
    },
  };
}
