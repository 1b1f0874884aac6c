// Starts the real servers with the project's own scripts before the integration suite, and stops
// afterwards only what it started (servers already running are left as they were): PostgreSQL
// (the machine's own, only set up), Cassandra, and the search cluster the suite writes to, chosen
// by CESYNC_TEST_TARGET (default elasticsearch: Elasticsearch 8; elasticsearch7, opensearch2,
// opensearch3). `npm run test:targets` runs the suite once per target.
import type { TestProject } from 'vitest/node';
import { startServices, stopServices, type ServiceName } from '../../scripts/services/index.ts';

export const TEST_TARGETS = ['elasticsearch', 'elasticsearch7', 'opensearch2', 'opensearch3'] as const;
export type TestTargetName = (typeof TEST_TARGETS)[number];

export interface TestTarget {
  /** The service of scripts/services that runs it. */
  readonly service: TestTargetName;
  readonly product: 'elasticsearch' | 'opensearch';
  readonly node: string;
  /** As the running server reports it. */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
}

let started: ServiceName[] = [];

function chosenTarget(): TestTargetName {
  const name = process.env.CESYNC_TEST_TARGET || 'elasticsearch';
  if (!(TEST_TARGETS as readonly string[]).includes(name)) throw new Error(`CESYNC_TEST_TARGET=${name}: expected one of ${TEST_TARGETS.join(', ')}`);
  return name as TestTargetName;
}

/** The running server's own account of itself. */
async function describe(service: TestTargetName, node: string): Promise<TestTarget> {
  const product = service.startsWith('opensearch') ? 'opensearch' : 'elasticsearch';
  // Elasticsearch's integration-test distribution does not serve `GET /`; its nodes API does.
  const res = await fetch(product === 'opensearch' ? `${node}/` : `${node}/_nodes/_local?filter_path=nodes.*.version`);
  const body = (await res.json()) as { version?: { number?: string }; nodes?: Record<string, { version?: string }> };
  const version = (product === 'opensearch' ? body.version?.number : Object.values(body.nodes ?? {})[0]?.version) ?? '0.0.0';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return { service, product, node, version, major, minor };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const service = chosenTarget();
  const result = await startServices(['postgres', 'cassandra', service]);
  started = result.started;
  const node = result.endpoints.targets[service].node;
  project.provide('endpoints', result.endpoints);
  project.provide('target', await describe(service, node));
  return async () => {
    await stopServices(started);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    endpoints: import('../../scripts/services/index.ts').ServiceEndpoints;
    target: TestTarget;
  }
}
