// Command line: `npm run services -- start|stop|status [SERVICE ...]`.
// No names means the default set for `start` (postgres, cassandra, elasticsearch) and every
// service for `stop` and `status`. Exit status: 0 on success, 1 on failure, 2 on usage errors.
// Progress goes to stderr; `status` prints its table to stdout (`--json` for machine use).
import { defaultServiceNames, isServiceName, serviceNames, serviceStatus, startServices, stopServices } from './index.ts';
import type { ServiceName, ServiceStatus } from './index.ts';

const usage = `usage: npm run services -- <start|stop|status> [SERVICE ...] [--json]

  SERVICE  ${serviceNames.join(', ')}

  start    fetch (first time only) and start the services, waiting until they accept clients;
           no names: ${defaultServiceNames.join(', ')} (the others start only when named);
           postgres is the machine's own server: checked, and given role and database cesync
           (password cesync-local-pw) when missing, never started
  stop     stop the services (no names: all of them; only servers these scripts started: others,
           postgres included, are left alone)
  status   show state, pid, endpoint and version of each service (no names: all of them)

Services besides the default set:
  elasticsearch7        Elasticsearch 7.17.29, http://127.0.0.1:9210
  opensearch2           OpenSearch 2.19.6, http://127.0.0.1:9220
  opensearch3           OpenSearch 3.6.0 (Java 21 or newer), http://127.0.0.1:9230
  elasticsearch-secure  Elasticsearch 8 with security on, https://127.0.0.1:9240, user elastic,
                        password cesync-local-es-pw, CA .services/tls/ca.pem
  kafka                 Apache Kafka 4.4.0 (KRaft, single node), 127.0.0.1:9092
Cassandra also accepts TLS clients (optional, same port) that trust .services/tls/ca.pem.

Environment: CESYNC_CASSANDRA_VERSION, CESYNC_CASSANDRA_PORT, CESYNC_CASSANDRA_STORAGE_PORT,
CESYNC_CASSANDRA_HEAP; for each search server CESYNC_<S>_VERSION, CESYNC_<S>_PORT,
CESYNC_<S>_TRANSPORT_PORT, CESYNC_<S>_HEAP (heap default 1g) with <S> = ES (elasticsearch),
ES7 (elasticsearch7), OS2 (opensearch2), OS3 (opensearch3), ES_SECURE (elasticsearch-secure;
version default: CESYNC_ES_VERSION's); CESYNC_KAFKA_VERSION, CESYNC_KAFKA_PORT,
CESYNC_KAFKA_CONTROLLER_PORT, CESYNC_KAFKA_HEAP (default 512m); CESYNC_ES_USER (account the search
servers run as when run by root), CESYNC_SERVICES_TIMEOUT (seconds), CESYNC_SERVICES_DIR, CESYNC_JAVA_HOME,
CESYNC_JDK_DIRS, CESYNC_M2_REPO, CESYNC_PG_ADMIN_URL (superuser login that creates the role and
database; default postgres://postgres@127.0.0.1:5432/postgres), CESYNC_PG_URL (a role and database
of your own, used as they are instead).`;

function formatStatus(rows: readonly ServiceStatus[]): string {
  const cells = rows.map((row) => [
    row.name,
    row.state,
    row.pid !== undefined ? `pid ${row.pid}` : '-',
    row.endpoint,
    row.state === 'stopped' ? `${row.version} (${row.installed ? 'installed' : 'not downloaded'})` : row.version,
  ]);
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((c) => c[i]?.length ?? 0))) ?? [];
  return cells.map((c) => c.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const [command, ...rest] = argv.filter((arg) => arg !== '--json');
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${usage}\n`);
    return command === undefined ? 2 : 0;
  }
  const unknown = rest.filter((name) => !isServiceName(name));
  if (unknown.length > 0) {
    process.stderr.write(`unknown service ${unknown.join(', ')}\n${usage}\n`);
    return 2;
  }
  // No names on the command line: the default set for start, every service for stop and status.
  const names = rest.length > 0 ? (rest as ServiceName[]) : undefined;
  switch (command) {
    case 'start': {
      const result = await startServices(names);
      if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else process.stdout.write(`${formatStatus(await serviceStatus(names ?? defaultServiceNames))}\n`);
      return 0;
    }
    case 'stop': {
      const stopped = await stopServices(names);
      if (json) process.stdout.write(`${JSON.stringify({ stopped })}\n`);
      return 0;
    }
    case 'status': {
      const rows = await serviceStatus(names);
      process.stdout.write(json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatStatus(rows)}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command ${command}\n${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
