import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one worker on a 2-core CI machine. Much of
    // the suite waits on other processes (moto_server, spawned CLIs, Chromium), so a worker per core
    // keeps both busy: 4 min 15 s instead of about 11 min for the whole suite on this 2-core machine.
    maxWorkers: Math.max(2, availableParallelism()),
    reporters: ['default'],
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true', AWS_REGION: 'us-east-1' },
  },
});
