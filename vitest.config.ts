import { defineConfig } from 'vitest/config';

// Three layers (ARCHITECTURE.md, Testing): `unit` needs nothing running (npm run test:unit); `integration` (incl. the
// browser tests) shares one Temporal dev server, a prebuilt workflow bundle and the built dashboard from its global
// setup; `e2e` boots whole processes (npm start, the agent, the launcher, QEMU) and gets the same global setup,
// because most of its files run those processes against a test control plane.
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
          include: ['tests/integration/**/*.test.ts', 'tests/browser/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          setupFiles: ['tests/helpers/quiet-temporal.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts', 'tests/launcher/**/*.test.ts', 'tests/launcher/**/*.test.tsx'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          setupFiles: ['tests/helpers/quiet-temporal.ts'],
        },
      },
    ],
  },
});
