// Settings of the managed services, read once from the environment.
//
// Every value has a default that works on a developer machine; environment variables exist so that
// CI, or a second checkout on the same machine, can pick other versions, ports or heap sizes.
// Servers bind to the loopback interface only: they are test fixtures, not shared infrastructure.
// PostgreSQL is the exception to all of it: the machine runs its own server, and these scripts
// only make sure it has the project's role and database (postgres.ts).

export type ServiceName =
  | 'postgres'
  | 'cassandra'
  | 'elasticsearch'
  | 'elasticsearch7'
  | 'opensearch2'
  | 'opensearch3'
  | 'elasticsearch-secure'
  | 'kafka';
/**
 * Every service these scripts know, in canonical order: starts go this way, stops the other.
 * PostgreSQL (the machine's own server, only checked and set up) comes first: when it is already
 * set up that costs one login, and when it is missing the start fails at once, before minutes are
 * spent starting the others. Names given on the command line are checked against this list.
 */
export const serviceNames: readonly ServiceName[] = [
  'postgres',
  'cassandra',
  'elasticsearch',
  'elasticsearch7',
  'opensearch2',
  'opensearch3',
  'elasticsearch-secure',
  'kafka',
];

/**
 * What a start with no names starts (the integration suite's global setup relies on exactly these).
 * The other search servers (other versions, other products, security on) and Kafka start only when
 * named: each costs hundreds of megabytes to a gigabyte of heap and seconds of a two-core machine.
 * A stop with no names stops them all, extras included.
 */
export const defaultServiceNames: readonly ServiceName[] = ['postgres', 'cassandra', 'elasticsearch'];

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

/** One Elasticsearch or OpenSearch node (every search server has the same settings). */
export interface SearchServerConfig {
  version: string;
  /** HTTP port (REST clients). */
  port: number;
  /** Transport (node-to-node) port; unused by clients but must not clash. */
  transportPort: number;
  heap: string;
  /** JDK major version the server runs on: exactly this one, or (javaAtLeast) this one or newer. */
  javaMajor: number;
  javaAtLeast: boolean;
  /** Unprivileged account the server runs as when these scripts run as root (ES and OpenSearch refuse root). */
  user: string;
  readyTimeoutMs: number;
}

export type ElasticsearchConfig = SearchServerConfig;

/** One Kafka node in KRaft mode, broker and controller in the same process. */
export interface KafkaConfig {
  version: string;
  /** Broker (PLAINTEXT) port: the one clients bootstrap from. */
  port: number;
  /** KRaft controller port; unused by clients but must not clash. */
  controllerPort: number;
  heap: string;
  /** JDK major version the server runs on. */
  javaMajor: number;
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

const searchUser = envString('CESYNC_ES_USER', 'cesync-es');

/** Settings of a search server from CESYNC_<prefix>_VERSION, _PORT, _TRANSPORT_PORT and _HEAP. */
function searchServerConfig(
  prefix: string,
  defaults: { version: string; port: number; transportPort: number; javaMajor: number; javaAtLeast?: boolean },
): SearchServerConfig {
  return {
    version: envString(`CESYNC_${prefix}_VERSION`, defaults.version),
    port: envPort(`CESYNC_${prefix}_PORT`, defaults.port),
    transportPort: envPort(`CESYNC_${prefix}_TRANSPORT_PORT`, defaults.transportPort),
    heap: envHeap(`CESYNC_${prefix}_HEAP`, '1g'),
    javaMajor: defaults.javaMajor,
    javaAtLeast: defaults.javaAtLeast ?? false,
    user: searchUser,
    readyTimeoutMs,
  };
}

/** Elasticsearch 8, the default search server. */
export const elasticsearchConfig: ElasticsearchConfig = searchServerConfig('ES', {
  version: '8.19.21',
  port: 9200,
  transportPort: 9300,
  javaMajor: 17,
});

/** Elasticsearch 7 (the 7.x line many installations still run). */
export const elasticsearch7Config: SearchServerConfig = searchServerConfig('ES7', {
  version: '7.17.29',
  port: 9210,
  transportPort: 9310,
  javaMajor: 17,
});

/** OpenSearch 2 (runs on Java 17). */
export const opensearch2Config: SearchServerConfig = searchServerConfig('OS2', {
  version: '2.19.6',
  port: 9220,
  transportPort: 9320,
  javaMajor: 17,
});

/** OpenSearch 3: needs Java 21 or newer. */
export const opensearch3Config: SearchServerConfig = searchServerConfig('OS3', {
  version: '3.6.0',
  port: 9230,
  transportPort: 9330,
  javaMajor: 21,
  javaAtLeast: true,
});

/** Elasticsearch 8 with security on (HTTPS, users, API keys); by default the same version as `elasticsearch`. */
export const elasticsearchSecureConfig: SearchServerConfig = searchServerConfig('ES_SECURE', {
  version: elasticsearchConfig.version,
  port: 9240,
  transportPort: 9340,
  javaMajor: 17,
});

/** Apache Kafka, one KRaft node: started only when named (not in defaultServiceNames). */
export const kafkaConfig: KafkaConfig = {
  version: envString('CESYNC_KAFKA_VERSION', '4.4.0'),
  port: envPort('CESYNC_KAFKA_PORT', 9092),
  controllerPort: envPort('CESYNC_KAFKA_CONTROLLER_PORT', 9093),
  heap: envHeap('CESYNC_KAFKA_HEAP', '512m'),
  javaMajor: 17,
  readyTimeoutMs,
};

/** A postgres:// URL from the environment; checked here so a typo fails before anything starts. */
function envPostgresUrl(name: string, fallback: string): string {
  const raw = envString(name, fallback);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} is not a URL such as postgres://user:password@127.0.0.1:5432/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`${name} must be a postgres:// or postgresql:// URL, not ${url.protocol}//...`);
  }
  return raw;
}

export interface PostgresConfig {
  /** A superuser's URL, used only to create the project's role and database when they are missing. */
  adminUrl: string;
  /** The URL clients use: the project's role and database, or CESYNC_PG_URL. */
  url: string;
  /** `url` came from CESYNC_PG_URL: the user's own role and database, checked but never created. */
  own: boolean;
  /** The parts of `url`, for clients that take them one by one. */
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  connectTimeoutMs: number;
}

function postgresConfigFromEnv(): PostgresConfig {
  const adminUrl = envPostgresUrl('CESYNC_PG_ADMIN_URL', `postgres://postgres@${host}:5432/postgres`);
  const admin = new URL(adminUrl);
  // The project's role on the admin URL's server: role and database cesync, password cesync-local-pw
  // (a text no message holds: secrets are redacted from messages wherever they appear).
  const projectUrl = `postgres://cesync:cesync-local-pw@${admin.hostname || host}:${admin.port || '5432'}/cesync`;
  const own = (process.env.CESYNC_PG_URL ?? '') !== '';
  const url = envPostgresUrl('CESYNC_PG_URL', projectUrl);
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  return {
    adminUrl,
    url,
    own,
    host: u.hostname || host,
    port: Number(u.port || '5432'),
    user,
    password: decodeURIComponent(u.password),
    // libpq's rule: without a database in the URL, the one named after the user.
    database: decodeURIComponent(u.pathname.slice(1)) || user,
    connectTimeoutMs: Math.min(readyTimeoutMs, 5000),
  };
}

export const postgresConfig: PostgresConfig = postgresConfigFromEnv();
