// Starts the real Cassandra and Elasticsearch with the project's own scripts before the
// integration suite, and stops afterwards only what it started (servers already running are
// left as they were).
import type { TestProject } from 'vitest/node';
import { startServices, stopServices, type ServiceName } from '../../scripts/services/index.ts';

let started: ServiceName[] = [];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const result = await startServices();
  started = result.started;
  project.provide('endpoints', result.endpoints);
  return async () => {
    await stopServices(started);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: import('../../scripts/services/index.ts').ServiceEndpoints;
  }
}
