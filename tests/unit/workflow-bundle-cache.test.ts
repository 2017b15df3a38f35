/**
 * `npm start` loads its workflow bundle from a cache keyed on the sources (bin/lib/workflow-bundle-cache.ts), built
 * in a child process, so webpack never runs in the serving process (docs/performance.md, Memory). The key must change
 * whenever a bundled input changes — a stale bundle would run old workflow code — and a hit must not rebuild.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedWorkflowBundle, workflowBundleKey } from '../../bin/lib/workflow-bundle-cache';

const dir = mkdtempSync(join(tmpdir(), 'ee-bundle-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal source tree with the paths the key reads. */
function tree(name: string): string {
  const root = join(dir, name);
  for (const d of ['workflows/contracts', 'core/db', 'bin/lib']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'workflows/index.ts'), 'export { a } from "./a";\n');
  writeFileSync(join(root, 'workflows/contracts/ids.ts'), 'export const id = (x: string) => `a:${x}`;\n');
  writeFileSync(join(root, 'core/db/time.ts'), 'export const now = 1;\n');
  writeFileSync(join(root, 'bin/lib/worker.ts'), '// interceptors\n');
  writeFileSync(join(root, 'bin/build-workflows.ts'), '// build\n');
  writeFileSync(join(root, 'package-lock.json'), '{"@temporalio/workflow":"1.24.0"}\n');
  return root;
}

describe('workflow bundle cache', () => {
  it('keys the bundle on every bundled input and on the tracing flag', async () => {
    const root = tree('a');
    const base = await workflowBundleKey({ root, tracing: false });
    expect(base).toMatch(/^[0-9a-f]{32}$/);
    expect(await workflowBundleKey({ root, tracing: false })).toBe(base);
    expect(await workflowBundleKey({ root, tracing: true })).not.toBe(base);

    const seen = new Set([base]);
    const changes: [string, string][] = [
      ['workflows/contracts/ids.ts', 'export const id = (x: string) => `b:${x}`;\n'],
      ['workflows/new-process.ts', 'export {};\n'],
      ['core/db/time.ts', 'export const now = 2;\n'],
      ['bin/lib/worker.ts', '// other interceptors\n'],
      ['package-lock.json', '{"@temporalio/workflow":"1.25.0"}\n'],
    ];
    for (const [file, text] of changes) {
      writeFileSync(join(root, file), text);
      const key = await workflowBundleKey({ root, tracing: false });
      expect(seen.has(key), `changing ${file} changes the key`).toBe(false);
      seen.add(key);
    }
    // A copy of the same sources elsewhere has the same key (paths are hashed relative to the root).
    const copy = join(dir, 'copy');
    cpSync(root, copy, { recursive: true });
    expect(await workflowBundleKey({ root: copy, tracing: false })).toBe([...seen].at(-1));
  });

  it('builds the bundle once in a child process and then reuses it', { timeout: 240_000 }, async () => {
    const cache = join(dir, 'cache');
    const previous = process.env.EASYENCLAVE_CACHE_DIR;
    process.env.EASYENCLAVE_CACHE_DIR = cache;
    try {
      const logs: string[] = [];
      const first = await cachedWorkflowBundle({ tracing: false, log: (m) => logs.push(m) });
      expect(first.built).toBe(true);
      expect(first.code).toContain('agentHealthSweep');
      expect(first.path.startsWith(join(cache, 'workflow-bundles'))).toBe(true);
      expect(logs.join('\n')).toContain('Bundling workflows');
      // webpack ran in the child: this process never loaded it.
      expect(Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('/webpack/lib/'))).toBe(false);

      const second = await cachedWorkflowBundle({ tracing: false, log: (m) => logs.push(m) });
      expect(second).toEqual({ ...first, built: false });
      expect(logs).toHaveLength(1);
      expect(readdirSync(join(cache, 'workflow-bundles'))).toEqual([first.path.split('/').at(-1)]);
    } finally {
      if (previous === undefined) delete process.env.EASYENCLAVE_CACHE_DIR;
      else process.env.EASYENCLAVE_CACHE_DIR = previous;
    }
  });
});
