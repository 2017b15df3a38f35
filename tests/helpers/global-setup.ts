/**
 * Once per test run: start one real Temporal dev server (the pinned CLI, through
 * @temporalio/testing's local environment with an existing executable), prebuild the
 * workflow bundle and build the web dashboard (dist/web, served by every test API). Test files connect to it with their own task queue, database and API.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildWeb } from '../../scripts/build-web.mjs';
import { ensureTool } from '../../scripts/tools.mjs';
import { bundleWorkflows } from '../../bin/lib/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cli = await ensureTool('temporal', { log: () => {} });
  await buildWeb();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      extraArgs: ['--log-level', 'error'],
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'ee-bundle-'));
  const bundlePath = join(dir, 'workflow-bundle.js');
  const { code } = await bundleWorkflows({ logger: quietBundlerLogger });
  writeFileSync(bundlePath, code);
  project.provide('temporalAddress', env.address);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  };
}

const noop = () => {};
export const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
  error: (m: string) => process.stderr.write(`[bundler] ${m}\n`),
  log: noop,
};
