// The fault-injection suite (`npm run faults`): long scenarios that break Postgres, the network, the
// state database, Feishu and the connector process while a workload runs, then check the invariants.
// Kept apart from `npm test` (its include is test/**/*.test.ts; these files end in .fault.ts) and run
// one file at a time, because each scenario loads the 2-core machine on its own.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    // The one FAULT line of each scenario goes straight to stdout, without vitest's per-test header.
    disableConsoleIntercept: true,
  },
});
