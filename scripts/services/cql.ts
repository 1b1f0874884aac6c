// CQL login probe for Cassandra readiness, using the project's own `cassandra-driver` dependency.
//
// "Ready" means what tests need: a password login as the default superuser works and a query runs.
// With PasswordAuthenticator the superuser is created a little after the CQL port opens, so an open
// port alone is not enough.
type Driver = typeof import('cassandra-driver');

let driver: Promise<Driver> | undefined;

/** The driver is CommonJS; under ESM its API sits on `default` (named exports may also be present). */
function loadDriver(): Promise<Driver> {
  driver ??= import('cassandra-driver').then((mod) => (mod as Driver & { default?: Driver }).default ?? mod);
  return driver;
}

export interface CqlTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  localDataCenter: string;
}

/**
 * Logs in and reads `release_version` from system.local. Resolves to the version, or undefined when
 * the login or the query fails for any reason (refused, auth not ready yet, timeout).
 */
export async function cqlReleaseVersion(target: CqlTarget, timeoutMs = 5000): Promise<string | undefined> {
  const { Client, auth } = await loadDriver();
  const client = new Client({
    contactPoints: [`${target.host}:${target.port}`],
    localDataCenter: target.localDataCenter,
    authProvider: new auth.PlainTextAuthProvider(target.username, target.password),
    socketOptions: { connectTimeout: timeoutMs, readTimeout: timeoutMs },
  });
  try {
    await client.connect();
    const result = await client.execute('SELECT release_version FROM system.local');
    // first() is typed as always returning a row, but returns null on an empty result.
    const row = result.first() as ReturnType<typeof result.first> | null;
    const version: unknown = row?.get('release_version');
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}
