/**
 * Creating and connecting the Cassandra client from configuration, and turning the driver's
 * connection errors into coded errors (auth refused, no host reachable).
 */
import { readFileSync } from 'node:fs';
import cassandra from 'cassandra-driver';
import type { CassandraConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';

export type CassandraClient = cassandra.Client;

const c = cassandra.types.consistencies;
const CONSISTENCY: Record<CassandraConfig['decisionConsistency'], number> = {
  ONE: c.one,
  LOCAL_ONE: c.localOne,
  QUORUM: c.quorum,
  LOCAL_QUORUM: c.localQuorum,
  EACH_QUORUM: c.eachQuorum,
  ALL: c.all,
};

/** The driver's code of a configured consistency level. */
export const consistencyOf = (name: CassandraConfig['decisionConsistency']): number => CONSISTENCY[name];

export function createCassandraClient(config: CassandraConfig): CassandraClient {
  const { tls } = config;
  return new cassandra.Client({
    contactPoints: [...config.contactPoints],
    localDataCenter: config.localDataCenter,
    authProvider:
      config.username !== undefined
        ? new cassandra.auth.PlainTextAuthProvider(config.username, config.password ?? '')
        : undefined,
    sslOptions:
      tls && tls.enabled
        ? {
            ca: tls.caFile ? [readFileSync(tls.caFile)] : undefined,
            cert: tls.certFile ? readFileSync(tls.certFile) : undefined,
            key: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
            rejectUnauthorized: tls.rejectUnauthorized,
          }
        : undefined,
    socketOptions: { readTimeout: config.requestTimeoutMs, connectTimeout: 10_000 },
    queryOptions: {
      consistency: CONSISTENCY[config.consistency],
      prepare: true,
    },
    // Maps keep their non-text keys (a timestamp key stays a Date, not its toString()).
    encoding: { map: Map, set: Set },
  });
}

/** Connects, mapping failures to STORE_AUTH / STORE_UNAVAILABLE with a plain message. */
export async function connectCassandra(client: CassandraClient, where: string): Promise<void> {
  try {
    await client.connect();
  } catch (cause) {
    throw cassandraError(cause, where);
  }
}

export function cassandraError(cause: unknown, where: string): CesyncError {
  const e = cause as { name?: string; message?: string; innerErrors?: Record<string, unknown> };
  const inner = Object.values(e.innerErrors ?? {}) as { name?: string; message?: string }[];
  const all = [e, ...inner];
  if (all.some((x) => x.name === 'AuthenticationError' || /authenticat|credentials/i.test(x.message ?? ''))) {
    return new CesyncError('STORE_AUTH', `Cassandra at ${where} refused the credentials (check cassandra.username/password)`, { cause });
  }
  if (e.name === 'NoHostAvailableError' || e.name === 'OperationTimedOutError' || e.name === 'BusyConnectionError') {
    const why = inner.map((x) => x.message).filter(Boolean)[0] ?? e.message;
    return new CesyncError('STORE_UNAVAILABLE', `Cassandra at ${where} is unreachable: ${why}`, { cause });
  }
  return new CesyncError('STORE_REQUEST', `Cassandra at ${where}: ${e.message ?? String(cause)}`, { cause });
}
