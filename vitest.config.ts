import { defineConfig } from 'vitest/config';

// Three layers (ARCHITECTURE.md, Testing): `unit` needs nothing running (npm run test:unit); `integration` shares one
// Temporal dev server and a prebuilt workflow bundle from its global setup; `e2e` boots whole processes itself
// (npm start, the agent, the launcher) and needs no shared server.
export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts', 'tests/agent/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          setupFiles: ['tests/helpers/quiet-temporal.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts', 'tests/launcher/**/*.test.ts', 'tests/launcher/**/*.test.tsx'],
          setupFiles: ['tests/helpers/quiet-temporal.ts'],
        },
      },
    ],
  },
});
