/** Shared set-up of the launcher tests: a temp state dir, an image dir, the fake QEMU, and runCli with captured io. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { runCli } from '../../launcher/cli';
import { createFakeQemu, createFakeTdxHost, type FakeQemu } from '../fakes/qemu';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: <T = any>() => T;
}

export interface LauncherEnv {
  dir: string;
  image: string;
  qemu: FakeQemu;
  host: { root: string; close(): void };
  env: Record<string, string | undefined>;
  run(args: string[], extraEnv?: Record<string, string | undefined>): Promise<Run>;
  close(): void;
}

export function launcherEnv(): LauncherEnv {
  const dir = mkdtempSync(join(tmpdir(), 'ee-launcher-test-'));
  const image = join(dir, 'image');
  mkdirSync(image);
  writeFileSync(join(image, 'easyenclave.vmlinuz'), 'kernel');
  writeFileSync(join(image, 'easyenclave.initrd'), 'initrd');
  writeFileSync(join(image, 'easyenclave.cmdline'), 'console=ttyS0,115200 fsck.mode=skip\n');
  const qemu = createFakeQemu();
  const host = createFakeTdxHost();
  const env = {
    ...process.env,
    PATH: qemu.path,
    EE_STATE_DIR: join(dir, 'state'),
    EE_HOST_ROOT: host.root,
    EE_BOOT_GRACE_MS: '5000', // the fake writes the serial log at once, which ends the grace
    ITA_API_KEY: undefined,
    INTEL_API_KEY: undefined,
  };
  return {
    dir,
    image,
    qemu,
    host,
    env,
    run: async (args, extraEnv = {}) => {
      let stdout = '';
      let stderr = '';
      const code = await runCli(args, {
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        env: { ...env, ...extraEnv },
      });
      return { code, stdout, stderr, json: () => JSON.parse(stdout) };
    },
    close: () => {
      qemu.close();
      host.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The config a QEMU argv carries on its kernel cmdline. */
/** The config a guest boots with: from the kernel cmdline, else from the config drive's ISO (read with isoinfo). */
export function configOf(argv: string[]): Record<string, unknown> | null {
  const cmdline = argv[argv.indexOf('-append') + 1] ?? '';
  const p = cmdline.split(' ').find((x) => x.startsWith('easyenclave.config'));
  if (!p) {
    const drive = argv.find((a) => a.includes('media=cdrom'));
    const iso = drive
      ?.split(',')
      .find((x) => x.startsWith('file='))
      ?.slice('file='.length);
    if (!iso) return null;
    const x = spawnSync('isoinfo', ['-i', iso, '-J', '-x', '/config.json'], { encoding: 'utf8' });
    return x.status === 0 ? (JSON.parse(x.stdout) as Record<string, unknown>) : null;
  }
  const [k, v] = [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)];
  const buf = Buffer.from(v, 'base64');
  return JSON.parse((k === 'easyenclave.configz' ? inflateSync(buf) : buf).toString()) as Record<string, unknown>;
}

export const argAfter = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

/** The process exists and has not ended (a zombie waiting for its reaper has ended). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
