/**
 * Health of the two stores, by the cheapest query each answers: `SELECT release_version FROM
 * system.local` for Cassandra, cluster health for Elasticsearch (a red cluster still answers,
 * so it counts as up: the question is whether cesync can talk to it).
 */
import type { Stores } from '../sync/stores.js';

export type StoreState = 'up' | 'down';

export interface StoreHealth {
  readonly status: 'ok' | 'unavailable';
  readonly cassandra: StoreState;
  readonly elasticsearch: StoreState;
}

export interface HealthProbeOptions {
  /** Per store, milliseconds. */
  readonly timeoutMs: number;
  /** Told why a store is down (the answer itself says only up/down). */
  readonly onDown?: (store: 'cassandra' | 'elasticsearch', cause: unknown) => void;
}

export async function probeStores(stores: Pick<Stores, 'cassandra' | 'elasticsearch'>, options: HealthProbeOptions): Promise<StoreHealth> {
  const { timeoutMs } = options;
  const [cassandra, elasticsearch] = await Promise.all([
    probe('cassandra', options, () =>
      stores.cassandra.execute('SELECT release_version FROM system.local', [], { readTimeout: timeoutMs, isIdempotent: true }),
    ),
    probe('elasticsearch', options, () =>
      stores.elasticsearch.cluster.health({}, { requestTimeout: timeoutMs, maxRetries: 0 }),
    ),
  ]);
  return { status: cassandra === 'up' && elasticsearch === 'up' ? 'ok' : 'unavailable', cassandra, elasticsearch };
}

async function probe(store: 'cassandra' | 'elasticsearch', options: HealthProbeOptions, query: () => Promise<unknown>): Promise<StoreState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  try {
    await Promise.race([query(), timeout]);
    return 'up';
  } catch (cause) {
    options.onDown?.(store, cause);
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}
