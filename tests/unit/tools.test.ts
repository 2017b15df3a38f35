import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tools from '../../scripts/tools.mjs';

let root: string;
let emptyDir: string; // a PATH entry holding neither `temporal` nor `go`

function fakeBinary(dir: string, name: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  writeFileSync(p, '#!/bin/sh\necho fake\n');
  chmodSync(p, mode);
  return p;
}

/** A hermetic environment: nothing on PATH, an empty private cache. */
function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: path.join(root, 'home'),
    PATH: emptyDir,
    EASYENCLAVE_CACHE_DIR: mkdtempSync(path.join(root, 'cache-')),
    ...extra,
  };
}

const quiet = { log: () => {} };

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'ee-tools-test-'));
  emptyDir = path.join(root, 'empty-bin');
  mkdirSync(emptyDir);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('ensureTool resolution order', () => {
  it('returns $TEMPORAL_CLI when it is an executable file', async () => {
    const exe = fakeBinary(path.join(root, 'explicit'), 'my-temporal');
    const onPath = path.join(root, 'path-too');
    fakeBinary(onPath, 'temporal');
    const env = baseEnv({ TEMPORAL_CLI: exe, PATH: onPath });
    await expect(tools.ensureTool('temporal', { ...quiet, env })).resolves.toBe(exe);
  });

  it('throws a clear error when $TEMPORAL_CLI points at a missing file', async () => {
    const missing = path.join(root, 'nope', 'temporal');
    const env = baseEnv({ TEMPORAL_CLI: missing });
    await expect(tools.ensureTool('temporal', { ...quiet, env })).rejects.toThrow(
      /TEMPORAL_CLI=.*nope\/temporal does not exist or is not an executable file/,
    );
  });

  it('throws when $TEMPORAL_CLI points at a non-executable file', async () => {
    const notExe = fakeBinary(path.join(root, 'noexec'), 'temporal', 0o644);
    const env = baseEnv({ TEMPORAL_CLI: notExe });
    await expect(tools.ensureTool('temporal', { ...quiet, env })).rejects.toThrow(/TEMPORAL_CLI=/);
  });

  it('ignores an empty $TEMPORAL_CLI and finds `temporal` on PATH', async () => {
    const dir = path.join(root, 'on-path');
    const exe = fakeBinary(dir, 'temporal');
    const env = baseEnv({ TEMPORAL_CLI: '', PATH: [emptyDir, dir].join(path.delimiter) });
    await expect(tools.ensureTool('temporal', { ...quiet, env })).resolves.toBe(exe);
  });

  it('prefers PATH over the cache', async () => {
    const dir = path.join(root, 'on-path-2');
    const exe = fakeBinary(dir, 'temporal');
    const env = baseEnv({ PATH: dir });
    fakeBinary(path.join(env.EASYENCLAVE_CACHE_DIR!, 'bin'), 'temporal');
    await expect(tools.ensureTool('temporal', { ...quiet, env })).resolves.toBe(exe);
  });

  it('returns the cached binary when nothing is on PATH (and no go)', async () => {
    const env = baseEnv();
    const cached = fakeBinary(path.join(env.EASYENCLAVE_CACHE_DIR!, 'bin'), 'temporal');
    const logs: string[] = [];
    await expect(tools.ensureTool('temporal', { log: (m) => logs.push(String(m)), env })).resolves.toBe(cached);
    expect(logs.join('\n')).toMatch(/using cached/);
  });

  it('skips a non-executable `temporal` on PATH', async () => {
    const dir = path.join(root, 'noexec-path');
    fakeBinary(dir, 'temporal', 0o644);
    const env = baseEnv({ PATH: dir });
    const cached = fakeBinary(path.join(env.EASYENCLAVE_CACHE_DIR!, 'bin'), 'temporal');
    await expect(tools.ensureTool('temporal', { ...quiet, env })).resolves.toBe(cached);
  });

  it('accepts a cached binary whose version stamp matches the pin', async () => {
    const env = baseEnv();
    const cached = fakeBinary(path.join(env.EASYENCLAVE_CACHE_DIR!, 'bin'), 'temporal');
    writeFileSync(`${cached}.version`, `${tools.TEMPORAL_CLI_VERSION}\n`);
    await expect(tools.ensureTool('temporal', { ...quiet, env })).resolves.toBe(cached);
  });

  it('honours $STRIPE_MOCK_BIN for stripe-mock', async () => {
    const exe = fakeBinary(path.join(root, 'sm'), 'stripe-mock');
    const env = baseEnv({ STRIPE_MOCK_BIN: exe });
    await expect(tools.ensureTool('stripe-mock', { ...quiet, env })).resolves.toBe(exe);
  });

  it('honours $COSIGN_BIN for cosign and pins cosign v2.6.x', async () => {
    expect(tools.COSIGN_VERSION).toMatch(/^v2\.6\.\d+$/);
    const exe = fakeBinary(path.join(root, 'cs'), 'cosign');
    const env = baseEnv({ COSIGN_BIN: exe });
    await expect(tools.ensureTool('cosign', { ...quiet, env })).resolves.toBe(exe);
  });

  it('rejects unknown tool names', async () => {
    await expect(tools.ensureTool('nope' as 'temporal', { ...quiet, env: baseEnv() })).rejects.toThrow(
      /unknown tool "nope"/,
    );
  });
});

describe('cacheDir', () => {
  it('uses $EASYENCLAVE_CACHE_DIR, then $XDG_CACHE_HOME, then ~/.cache', () => {
    expect(tools.cacheDir({ EASYENCLAVE_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/xdg' })).toBe('/x/y');
    expect(tools.cacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/easyenclave');
    expect(tools.cacheDir({ HOME: '/home/u' })).toBe('/home/u/.cache/easyenclave');
  });
});
