/**
 * `npm start` as a user runs it: the embedded control plane comes up with its own
 * Temporal dev server, answers /health and the Web UI, and Ctrl-C (SIGINT) stops
 * everything it started within 10 s, leaving no temporal process behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../core/db/connection';
import { ensureTool } from '../../scripts/tools.mjs';
import { freePort, startArgv } from '../helpers/embedded';

/** Pids whose command line mentions `needle` (read from /proc; nothing is signalled). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // process ended while we looked
    }
  }
  return out;
}

describe('npm start (embedded control plane)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ee-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts API + Temporal + Web UI and stops all of it on Ctrl-C', async () => {
    const [apiPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, await startArgv(), {
      cwd: new URL('../..', import.meta.url).pathname,
      env: {
        ...process.env,
        TEMPORAL_CLI: await ensureTool('temporal', { log: () => {} }),
        TEMPORAL_ADDRESS: '',
        DATABASE_URL: '',
        EE_DATA_DIR: dataDir,
        PORT: String(apiPort),
        API_HOST: '127.0.0.1',
        TEMPORAL_DEV_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        ADMIN_PASSWORD: 'e2e-password',
        EASYENCLAVE_SEALING_KEY: '',
        EASYENCLAVE_SEALING_KEY_FILE: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    try {
      const deadline = Date.now() + 90_000;
      while (!output.includes('control plane is up')) {
        if (child.exitCode !== null) throw new Error(`start exited early:\n${output}`);
        if (Date.now() > deadline) throw new Error(`start did not come up in 90 s:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(output).toContain(`http://127.0.0.1:${apiPort}`);
      expect(output).toContain(`Web UI: http://127.0.0.1:${uiPort}`);

      const health = await fetch(`http://127.0.0.1:${apiPort}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'healthy' });
      const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
      expect(ui.status).toBe(200);

      const login = await fetch(`http://127.0.0.1:${apiPort}/admin/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: 'e2e-password' }),
      });
      expect(login.status).toBe(200);

      const temporalPids = pidsMentioning(join(dataDir, 'temporal.db'));
      expect(temporalPids.length).toBeGreaterThan(0);

      child.kill('SIGINT');
      // Within 10 s, or start's own watchdog exits 1 ("shutdown took longer than 10 s").
      const code = await exited;
      expect(code).toBe(0);
      expect(output).toContain('Stopped.');
      // One clean start and stop: no ERROR line, no bundler module listing, no SDK shutdown complaints.
      expect(output).not.toMatch(/\bERROR\b/);
      expect(output).not.toMatch(/webpack|\[built\]|modules by path|orphan modules/i);
      expect(output).not.toContain('IllegalStateError');
      expect(output).not.toContain('Cannot close connection');
      expect(pidsMentioning(join(dataDir, 'temporal.db'))).toEqual([]);

      // The embedded start made its own sealing key file (0600) and the database holds no key.
      expect(statSync(join(dataDir, 'sealing.key')).mode & 0o777).toBe(0o600);
      const db = createDb({ filename: join(dataDir, 'easyenclave.db') });
      try {
        expect(await db('settings').where({ key: 'internal.sealing_key' }).first()).toBeUndefined();
      } finally {
        await db.destroy();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 150_000);
});
