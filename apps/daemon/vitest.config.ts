import { defineConfig } from 'vitest/config';

// Integration tests start real daemons with real workers: one file at a time per project on a
// 2-core machine. The cluster files (test/cluster) mostly wait on leases and Redis rather than
// compute, so they are a project of their own. (fileParallelism: false holds the whole run to one
// file at a time, projects included; running the two projects side by side in two vitest
// processes was tried and made a cross-daemon subscription test time out under the load.)
const common = { testTimeout: 60_000, hookTimeout: 60_000, fileParallelism: false };

export default defineConfig({
  test: {
    projects: [
      { test: { ...common, name: 'daemon', include: ['test/**/*.test.ts'], exclude: ['test/cluster/**', '**/node_modules/**'] } },
      { test: { ...common, name: 'cluster', include: ['test/cluster/**/*.test.ts'] } },
    ],
  },
});
