import { defineConfig } from 'vitest/config'

// `npm run test:stress`: the long runs of the reliability suite (issue 6), sized by environment
// variables (SOAK_MINUTES, STRESS_CYCLES, PROPTEST_CASES; `.ci/run` bounds them). One file at a
// time: the soak measures memory and wants the machine quiet.
export default defineConfig({
  test: {
    include: ['__test__/stress/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 60 * 60 * 1000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
  },
})
