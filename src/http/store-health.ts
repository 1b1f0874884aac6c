/**
 * Health of the configured stores, by the cheapest query each answers: `SELECT release_version
 * FROM system.local` for Cassandra, `SELECT 1` for PostgreSQL, cluster health for the search
 * cluster (a red cluster still answers, so it counts as up: the question is whether cesync can
 * talk to it), named by its product (`elasticsearch` or `opensearch`). A store the configuration
 * does not use is not probed and not named in the answer.
 */
import type { Stores } from '../sync/stores.js';

export type StoreState = 'up' | 'down';

export interface StoreHealth {
  readonly status: 'ok' | 'unavailable';
  readonly cassandra?: StoreState;
  readonly postgres?: StoreState;
  readonly elasticsearch?: StoreState;
  readonly opensearch?: StoreState;
}

export interface HealthProbeOptions {
  /** Per store, milliseconds. */
  readonly timeoutMs: number;
  /** Told why a store is down (the answer itself says only up/down). */
  readonly onDown?: (store: StoreName, cause: unknown) => void;
}

type StoreName = 'cassandra' | 'postgres' | 'elasticsearch' | 'opensearch';

export async function probeStores(stores: Pick<Stores, 'cassandra' | 'postgres' | 'target'>, options: HealthProbeOptions): Promise<StoreHealth> {
  const { timeoutMs } = options;
  const { cassandra: c, postgres: pg } = stores;
  const product = stores.target.server.product;
  const [cassandra, postgres, search] = await Promise.all([
    c ? probe('cassandra', options, () => c.execute('SELECT release_version FROM system.local', [], { readTimeout: timeoutMs, isIdempotent: true })) : undefined,
    pg ? probe('postgres', options, () => pg.query('SELECT 1')) : undefined,
    probe(product, options, () => stores.target.health(timeoutMs)),
  ]);
  const up = [cassandra, postgres, search].every((s) => s === undefined || s === 'up');
  return { status: up ? 'ok' : 'unavailable', ...(cassandra ? { cassandra } : {}), ...(postgres ? { postgres } : {}), [product]: search };
}

async function probe(store: StoreName, options: HealthProbeOptions, query: () => Promise<unknown>): Promise<StoreState> {
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
