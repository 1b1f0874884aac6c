// cesync's own modules, loaded from dist/ (built by `npm run bench`) and typed from src/, so the
// benchmark converts and writes exactly as the CLI does.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repoRoot, 'dist');

export interface CesyncModules {
  load: typeof import('../src/config/load.ts');
  stores: typeof import('../src/sync/stores.ts');
  pipeline: typeof import('../src/sync/sync-pipeline.ts');
  planner: typeof import('../src/engine/planner.ts');
  tableSchema: typeof import('../src/cassandra/table-schema.ts');
  cassandraClient: typeof import('../src/cassandra/client.ts');
  esClient: typeof import('../src/elasticsearch/client.ts');
  indexSink: typeof import('../src/search-index/index-sink.ts');
}

export async function loadCesync(): Promise<CesyncModules> {
  if (!existsSync(path.join(dist, 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (`npm run bench` does both)');
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
  return {
    load: await load('config/load.js'),
    stores: await load('sync/stores.js'),
    pipeline: await load('sync/sync-pipeline.js'),
    planner: await load('engine/planner.js'),
    tableSchema: await load('cassandra/table-schema.js'),
    cassandraClient: await load('cassandra/client.js'),
    esClient: await load('elasticsearch/client.js'),
    indexSink: await load('search-index/index-sink.js'),
  };
}
