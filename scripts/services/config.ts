// Settings of the managed services, read once from the environment.
//
// Every value has a default that works on a developer machine; environment variables exist so that
// CI, or a second checkout on the same machine, can pick other versions, ports or heap sizes.
// Servers bind to the loopback interface only: they are test fixtures, not shared infrastructure.

export type ServiceName = 'cassandra' | 'elasticsearch';
export const serviceNames: readonly ServiceName[] = ['cassandra', 'elasticsearch'];

export function isServiceName(value: string): value is ServiceName {
  return (serviceNames as readonly string[]).includes(value);
}

/** Loopback address every server listens on and every probe connects to. */
export const host = '127.0.0.1';

function envPort(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}=${raw} is not a TCP port number`);
  }
  return port;
}

/** JVM heap sizes are passed to -Xms/-Xmx verbatim, so they must look like `1g` or `512m`. */
function envHeap(name: string, fallback: string): string {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+[kKmMgG]$/.test(raw)) throw new Error(`${name}=${raw} is not a JVM heap size such as 1g or 512m`);
  return raw;
}

function envSeconds(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`${name}=${raw} is not a positive number of seconds`);
  return seconds;
}

function envString(name: string, fallback: string): string {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

export interface CassandraConfig {
  version: string;
  /** CQL native protocol port. */
  port: number;
  /** Inter-node (gossip) port; unused by clients but must not clash. */
  storagePort: number;
  heap: string;
  /** JDK major version the server runs on. */
  javaMajor: number;
  /** Default superuser created by PasswordAuthenticator on first start. */
  username: string;
  password: string;
  localDataCenter: string;
  readyTimeoutMs: number;
}

export interface ElasticsearchConfig {
  version: string;
  port: number;
  transportPort: number;
  heap: string;
  javaMajor: number;
  /** Unprivileged account the server runs as when these scripts run as root (ES refuses root). */
  user: string;
  readyTimeoutMs: number;
}

const readyTimeoutMs = envSeconds('CESYNC_SERVICES_TIMEOUT', 120) * 1000;

export const cassandraConfig: CassandraConfig = {
  version: envString('CESYNC_CASSANDRA_VERSION', '5.0.6'),
  port: envPort('CESYNC_CASSANDRA_PORT', 9042),
  storagePort: envPort('CESYNC_CASSANDRA_STORAGE_PORT', 7000),
  heap: envHeap('CESYNC_CASSANDRA_HEAP', '1g'),
  javaMajor: 17,
  username: 'cassandra',
  password: 'cassandra',
  localDataCenter: 'datacenter1',
  readyTimeoutMs,
};

export const elasticsearchConfig: ElasticsearchConfig = {
  version: envString('CESYNC_ES_VERSION', '8.19.21'),
  port: envPort('CESYNC_ES_PORT', 9200),
  transportPort: envPort('CESYNC_ES_TRANSPORT_PORT', 9300),
  heap: envHeap('CESYNC_ES_HEAP', '1g'),
  javaMajor: 17,
  user: envString('CESYNC_ES_USER', 'cesync-es'),
  readyTimeoutMs,
};
