import { bundleWorkflowCode } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../bin/lib/worker';
import { SCHEDULES } from '../../workflows/contracts/schedules';
import * as workflows from '../../workflows/index';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/forbidden-workflows/${name}.ts`, import.meta.url));

/** The harmony export lines of one webpack module of the bundle: exported name → re-exported binding. */
function reexportsOf(code: string, moduleId: string): { name: string; target: string }[] {
  // The module's definition (`/***/ "<id>"` on its own line), not a require of it.
  const start = code.indexOf(`\n/***/ "${moduleId}"\n`);
  expect(start, `module ${moduleId} in the bundle`).toBeGreaterThan(-1);
  const block = code.slice(start, code.indexOf('/* harmony export */ });', start));
  return [
    ...block.matchAll(/^\/\* harmony export \*\/ {3}(\w+): \(\) => \(\/\* reexport safe \*\/ \w+\.(\w+)\),?$/gm),
  ].map((m) => ({ name: m[1]!, target: m[2]! }));
}

describe('workflow bundle', () => {
  it('bundles every workflow of workflows/index.ts', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
    const names = Object.keys(workflows);
    expect(names.length).toBeGreaterThan(0);
    // The entry module's webpack export table: `name: () => (/* reexport safe */ <module>.name)` per workflow, so
    // each workflow is exported under its own name (a substring elsewhere in the bundle proves nothing).
    const exported = reexportsOf(code, './workflows/index.ts');
    expect(exported.map((e) => e.name).sort()).toEqual([...names].sort());
    expect(exported.filter((e) => e.name !== e.target)).toEqual([]);
    // Every scheduled workflow type is one the bundle exports.
    expect(SCHEDULES.map((s) => s.workflowType).filter((type) => !names.includes(type))).toEqual([]);
    expect(code).not.toMatch(/require\(["']knex["']\)/);
  });

  it.each([
    ['uses-node-fs', /node:fs/],
    ['uses-knex', /knex/],
    ['uses-activity-values', /knex|node:crypto|@node-rs\/argon2/],
  ])('refuses a workflow that %s', async (name, reason) => {
    // Webpack's reasons reach the logger; the thrown error only says the build failed.
    const errors: string[] = [];
    const logger = { ...quiet, error: (m: string) => errors.push(m), warn: (m: string) => errors.push(m) };
    await expect(bundleWorkflowCode({ workflowsPath: fixture(name), logger })).rejects.toThrow(
      /Webpack finished with errors/,
    );
    expect(errors.join('\n')).toMatch(reason);
  });
});
