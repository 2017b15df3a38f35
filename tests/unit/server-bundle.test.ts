/**
 * The server bundle `npm start` runs (scripts/build-server.mjs): built from the sources when stale, reused when not,
 * and with every `import.meta.url` of ours pointing at the file it was written in, so source-relative paths (the
 * workflow sources, the dev-server guard, dist/web, package.json) resolve as they do under tsx. tests/e2e/start.test.ts
 * runs it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_BUNDLE, ensureServerBundle } from '../../scripts/build-server.mjs';

describe('server bundle', () => {
  it('records its inputs and is not rebuilt while they are unchanged', async () => {
    await ensureServerBundle();
    const [mark, inputs] = readFileSync(SERVER_BUNDLE, 'utf8').split('\n', 2);
    expect(mark).toMatch(/^\/\/ ee-server-bundle [0-9a-f]{32}$/);
    expect(JSON.parse(inputs!.slice('// inputs '.length))).toEqual(
      expect.arrayContaining(['bin/start.ts', 'bin/lib/worker.ts', 'api/routes/web.ts', 'scripts/tools.mjs']),
    );
    // Another test process may build the same sources at the same time (same key); this one must not rebuild.
    let rebuilt = false;
    await ensureServerBundle({ log: () => (rebuilt = true) });
    expect(rebuilt).toBe(false);
    expect(readFileSync(SERVER_BUNDLE, 'utf8').split('\n', 1)[0]).toBe(mark);
  });

  it('rewrites import.meta.url of each bundled file to that file, relative to the bundle', async () => {
    await ensureServerBundle();
    const code = readFileSync(SERVER_BUNDLE, 'utf8');
    const uses = [...code.matchAll(/import\.meta\.url/g)].length;
    const rewritten = [...code.matchAll(/new URL\("\.\.\/\.\.\/[^"]+", import\.meta\.url\)\.href/g)].map((m) => m[0]);
    expect(uses).toBeGreaterThan(0);
    expect(rewritten).toHaveLength(uses);
    expect(rewritten).toContain('new URL("../../bin/lib/worker.ts", import.meta.url).href');
    // Deep imports of CommonJS packages carry the extension Node's ESM loader needs.
    expect(code).toContain('@temporalio/common/lib/encoding.js');
  });
});
