import { defineConfig } from 'vitest/config';

// `npm run soak`: the long versions of the fault-injection suite (the README's fault suite):
// many crash cycles, 10 minutes of fuzzing, 10k connections. Sizes come from env
// (CP_* variables, see each file) with nightly-sized defaults.
export default defineConfig({
  test: {
    include: ['test/soak/**/*.soak.ts'],
    testTimeout: 3 * 60 * 60 * 1000,
    hookTimeout: 5 * 60 * 1000,
    fileParallelism: false,
  },
});
