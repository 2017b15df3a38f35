/**
 * The real cosign binary for tests (scripts/tools.mjs: $COSIGN_BIN, PATH or the tool cache, else `go install`):
 * a generated key pair (empty password) and signing with `--tlog-upload=false`, so nothing leaves the machine.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureTool } from '../../scripts/tools.mjs';

const run = promisify(execFile);

export interface CosignKeys {
  bin: string;
  dir: string;
  publicKey: string;
  sign(ref: string): Promise<void>;
  cleanup(): void;
}

export async function cosignKeys(): Promise<CosignKeys> {
  const bin = await ensureTool('cosign', { log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'ee-cosign-keys-'));
  const env = { PATH: process.env.PATH ?? '', HOME: dir, COSIGN_PASSWORD: '' };
  await run(bin, ['generate-key-pair'], { cwd: dir, env });
  return {
    bin,
    dir,
    publicKey: readFileSync(join(dir, 'cosign.pub'), 'utf8'),
    async sign(ref) {
      await run(
        bin,
        [
          'sign',
          '--key',
          join(dir, 'cosign.key'),
          '--tlog-upload=false',
          '--allow-http-registry',
          '--allow-insecure-registry',
          '--yes',
          ref,
        ],
        { cwd: dir, env },
      );
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
