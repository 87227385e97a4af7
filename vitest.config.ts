import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'outputs/**/*.test.ts'],
    // Integration suites share one Redis; each test uses its own key prefix, but running
    // files one at a time keeps timing-sensitive tests (rate limits, retries) honest on 2 cores.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globals: false,
    globalSetup: ['test/global-setup.ts'],
  },
});
