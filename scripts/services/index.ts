// Public API of the service scripts, used by the CLI (cli.ts) and by test setup code.
//
// Every call takes a cross-process lock, so concurrent callers neither fetch into the same folder
// nor launch the same server twice.
import { cassandra } from './cassandra.ts';
import { cassandraConfig, defaultServiceNames, elasticsearchConfig, host, kafkaConfig, postgresConfig, serviceNames } from './config.ts';
import type { ServiceName } from './config.ts';
import { elasticsearchSecure, elasticsearchSecureCredentials } from './elasticsearch-secure.ts';
import { elasticsearch, elasticsearch7 } from './elasticsearch.ts';
import { kafka } from './kafka.ts';
import { startService, statusOf, stopService } from './lifecycle.ts';
import { withLock } from './lock.ts';
import { opensearch2, opensearch3 } from './opensearch.ts';
import { postgres } from './postgres.ts';
import { log } from './proc.ts';
import type { SearchKind, SearchService } from './search-server.ts';
import type { AnyService, ServiceStatus } from './service.ts';
import { tlsFiles } from './tls.ts';

export type { ServiceName } from './config.ts';
export type { SearchKind } from './search-server.ts';
export type { ServiceState, ServiceStatus } from './service.ts';
export { defaultServiceNames, isServiceName, serviceNames } from './config.ts';

const services: Record<ServiceName, AnyService> = {
  postgres,
  cassandra,
  elasticsearch,
  elasticsearch7,
  opensearch2,
  opensearch3,
  'elasticsearch-secure': elasticsearchSecure,
  kafka,
};

/** One search server a sync can write to: which product and major (to pick the client), and where. */
export interface SearchTarget {
  kind: SearchKind;
  major: number;
  /** Configured version, e.g. 7.17.29. */
  version: string;
  /** Base URL (the `node` option of @elastic/elasticsearch and @opensearch-project/opensearch). */
  node: string;
}

/** A search server with security on: HTTPS verified against `caFile`, basic auth as `username`. */
export interface SecureSearchTarget extends SearchTarget {
  /** PEM of the CA that signed the server's certificate. */
  caFile: string;
  /** PEM of an unrelated CA: trusting it instead must make the connection fail. */
  otherCaFile: string;
  username: string;
  password: string;
}

/** The search servers by service name. Only the ones started (see StartResult) answer. */
export interface SearchTargets {
  elasticsearch: SearchTarget;
  elasticsearch7: SearchTarget;
  opensearch2: SearchTarget;
  opensearch3: SearchTarget;
  'elasticsearch-secure': SecureSearchTarget;
}

/** How clients reach the servers (from the current environment's ports). */
export interface ServiceEndpoints {
  cassandra: {
    contactPoints: string[];
    host: string;
    port: number;
    localDataCenter: string;
    username: string;
    password: string;
    /**
     * TLS is optional on the same port: plain clients work, and so do TLS clients trusting
     * `caFile` (the certificate is for 127.0.0.1 and localhost); trusting `otherCaFile` fails.
     */
    tls: { caFile: string; otherCaFile: string };
  };
  elasticsearch: {
    /** Base URL, e.g. http://127.0.0.1:9200 (the `node` option of @elastic/elasticsearch). */
    node: string;
  };
  /**
   * The project's role and database on the machine's PostgreSQL (postgres://cesync:cesync-local-pw@127.0.0.1:5432/cesync),
   * or CESYNC_PG_URL's; `connectionString` and the parts say the same.
   */
  postgres: {
    connectionString: string;
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
  };
  /** Every search server these scripts can run, the default `elasticsearch` among them. */
  targets: SearchTargets;
  /** The single-node Kafka broker (plain, no authentication; answers only when started by name). */
  kafka: {
    /** Bootstrap servers as host:port, e.g. ['127.0.0.1:9092']. */
    brokers: string[];
  };
}

export interface StartResult {
  /** Services this call launched: the ones its caller should stop again when done. */
  started: ServiceName[];
  /** Services that were already answering (launched earlier by these scripts, or external). */
  alreadyRunning: ServiceName[];
  endpoints: ServiceEndpoints;
}

function target(service: SearchService): SearchTarget {
  return { kind: service.kind, major: service.major, version: service.version, node: service.endpoint };
}

export function serviceEndpoints(): ServiceEndpoints {
  return {
    cassandra: {
      contactPoints: [`${host}:${cassandraConfig.port}`],
      host,
      port: cassandraConfig.port,
      localDataCenter: cassandraConfig.localDataCenter,
      username: cassandraConfig.username,
      password: cassandraConfig.password,
      tls: { caFile: tlsFiles.caFile, otherCaFile: tlsFiles.otherCaFile },
    },
    elasticsearch: { node: `http://${host}:${elasticsearchConfig.port}` },
    postgres: {
      connectionString: postgresConfig.url,
      host: postgresConfig.host,
      port: postgresConfig.port,
      database: postgresConfig.database,
      user: postgresConfig.user,
      password: postgresConfig.password,
    },
    targets: {
      elasticsearch: target(elasticsearch),
      elasticsearch7: target(elasticsearch7),
      opensearch2: target(opensearch2),
      opensearch3: target(opensearch3),
      'elasticsearch-secure': { ...target(elasticsearchSecure), ...elasticsearchSecureCredentials },
    },
    kafka: { brokers: [`${host}:${kafkaConfig.port}`] },
  };
}

/**
 * `undefined` means `fallback` (the default set for starts, every service for stops and status);
 * an array means exactly those, so an empty array means none (a test teardown passing back
 * `started: []` must not stop servers it did not start).
 */
function select(names: readonly ServiceName[] | undefined, fallback: readonly ServiceName[]): ServiceName[] {
  const wanted = names ?? fallback;
  // Keep the canonical order (and drop duplicates) whatever order the caller used.
  return serviceNames.filter((name) => wanted.includes(name));
}

/**
 * Starts the named services (default: `defaultServiceNames`, i.e. postgres, cassandra and
 * elasticsearch; the other search servers and kafka only when named), one after another, fetching them first if needed
 * (the machine's own PostgreSQL is only checked and set up, never started: it is reported in
 * `alreadyRunning`, never in `started`). Resolves once every one accepts clients. If one fails, the ones this call already started are
 * stopped again before the error is rethrown.
 */
export async function startServices(names?: readonly ServiceName[]): Promise<StartResult> {
  return withLock(async () => {
    const started: ServiceName[] = [];
    const alreadyRunning: ServiceName[] = [];
    for (const name of select(names, defaultServiceNames)) {
      try {
        const outcome = await startService(services[name]);
        (outcome === 'started' ? started : alreadyRunning).push(name);
      } catch (error) {
        for (const other of started.reverse()) {
          log(`stopping ${other} again because ${name} failed to start`);
          await stopService(services[other]).catch(() => undefined);
        }
        throw error;
      }
    }
    return { started, alreadyRunning, endpoints: serviceEndpoints() };
  });
}

/**
 * Stops the named services (default: every service, the ones started only when named included)
 * that these scripts started, in reverse start order.
 * Servers these scripts did not start (state 'external') are never touched. Resolves to the names
 * that were actually running and are now stopped. Pass `StartResult.started` to undo a start.
 */
export async function stopServices(names?: readonly ServiceName[]): Promise<ServiceName[]> {
  return withLock(async () => {
    const stopped: ServiceName[] = [];
    for (const name of select(names, serviceNames).reverse()) {
      if (await stopService(services[name])) stopped.push(name);
    }
    return stopped;
  });
}

/** Current state of the named services (default: every service). Read-only, so it takes no lock. */
export async function serviceStatus(names?: readonly ServiceName[]): Promise<ServiceStatus[]> {
  return Promise.all(select(names, serviceNames).map((name) => statusOf(services[name])));
}
