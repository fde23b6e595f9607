import { defineConfig } from 'vitest/config';

// Integration tests start real daemons with real workers: one file at a time per project on a
// 2-core machine. The cluster files (test/cluster) mostly wait on leases and Redis rather than
// compute, so they run as a second project beside the rest instead of after it: `npm test`
// starts one vitest per project, side by side (fileParallelism: false holds a whole vitest run
// to one file at a time, projects included).
const common = { testTimeout: 60_000, hookTimeout: 60_000, fileParallelism: false };

export default defineConfig({
  test: {
    projects: [
      { test: { ...common, name: 'daemon', include: ['test/**/*.test.ts'], exclude: ['test/cluster/**', '**/node_modules/**'] } },
      { test: { ...common, name: 'cluster', include: ['test/cluster/**/*.test.ts'] } },
    ],
  },
});
