import { configDefaults, defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // The long runs: `npm run test:stress` (vitest.stress.config.mts).
    exclude: [...configDefaults.exclude, '__test__/stress/**'],
    // Native addons and worker threads: one process per test file (vitest's default pool).
    pool: 'forks',
    // inotify instances are per user (max_user_instances, 128 by default) and shared with
    // everything else on the machine: keep parallelism modest.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    teardownTimeout: 10_000,
  },
})
