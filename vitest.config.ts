import { defineConfig } from 'vitest/config';

// Two suites: unit (pure logic, fakes allowed) and integration (real Cassandra and
// Elasticsearch, started by the project's own scripts in global-setup.ts).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          // test/reliability: faults a user's systems cause (signals at random points, stores
          // stopped, 429 storms, poison documents, two writers), a quick pass here and the long
          // one in `npm run test:reliability` (CESYNC_RELIABILITY=full).
          include: ['test/integration/**/*.test.ts', 'test/reliability/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          // One file at a time: the servers are shared and the machine has two cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
