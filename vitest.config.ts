import { defineConfig } from 'vitest/config';

// Two groups that `vitest run` runs one after the other: unit tests need no servers; integration tests
// share one real Kafka broker and one Elasticsearch node, so they run a file at a time on a 2-core box.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    // The integration group's global teardown stops Kafka and Elasticsearch, which can take ~30 s each.
    teardownTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Some unit tests simulate hours of traffic (2-3 s alone); on a shared 2-core machine under load
          // they took over vitest's 5 s default. Correctness is asserted, not speed (benchmarks measure that).
          testTimeout: 30_000,
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
