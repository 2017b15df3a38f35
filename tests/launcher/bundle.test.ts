/**
 * `npm run build:launcher` bundles `ee` (CLI and Ink UI) into one file that runs with plain Node 20 and no
 * node_modules: --help, a command, and a closed stdout pipe (no EPIPE stack trace).
 */
import { execSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'ee-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('builds a single-file ee that runs outside the repository', () => {
  const out = join(dir, 'ee.mjs');
  const root = join(import.meta.dirname, '../..');
  execSync(`npm run -s build:launcher -- --outfile=${out} --log-level=error`, { cwd: root, stdio: 'pipe' });
  const env = { ...process.env, EE_STATE_DIR: join(dir, 'state') };
  const help = spawnSync(process.execPath, [out, '--help'], { cwd: dir, encoding: 'utf8', env });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('Usage: ee');
  const list = spawnSync(process.execPath, [out, 'list', '--json'], { cwd: dir, encoding: 'utf8', env });
  expect(list.status).toBe(0);
  expect(JSON.parse(list.stdout)).toEqual({ vms: [] });
  // `| true` closes the pipe before ee writes: every write hits EPIPE
  const piped = spawnSync(
    'sh',
    ['-c', `"${process.execPath}" "${out}" --help | true; echo "ee=\${PIPESTATUS:-done}"`],
    {
      cwd: dir,
      encoding: 'utf8',
      env,
    },
  );
  expect(piped.stderr).toBe('');
  expect(piped.stdout).toBe('ee=done\n');
});
