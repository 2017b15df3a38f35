/**
 * A real VM: `ee launch --no-tdx` (the ee binary, as a child process) boots Debian's cloud kernel with a busybox
 * initramfs built here under the real qemu-system-x86_64 (TCG), the guest prints its /proc/cmdline on the serial
 * console, the config the launcher encoded arrives there intact (decoded by the agent's own parser), and `ee stop`
 * ends the QEMU process. Needs the Debian packages qemu-system-x86, busybox-static, linux-image-cloud-amd64 and
 * cpio (.ci/run installs them).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { configFromCmdline } from '../../agent/core/config';
import { alive } from './helpers';

const BIN = join(import.meta.dirname, '../../launcher/bin/ee.mjs');
let dir: string;
let image: string;
let env: Record<string, string | undefined>;

function ee(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ee-qemu-boot-'));
  image = join(dir, 'image');
  const root = join(dir, 'initramfs');
  for (const d of ['bin', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  writeFileSync(
    join(root, 'init'),
    [
      '#!/bin/busybox sh',
      '/bin/busybox mount -t proc proc /proc',
      'echo "EE-GUEST-CMDLINE: $(/bin/busybox cat /proc/cmdline)"',
      'echo EE-GUEST-READY',
      'while true; do /bin/busybox sleep 1; done',
      '',
    ].join('\n'),
  );
  chmodSync(join(root, 'init'), 0o755);
  mkdirSync(image);
  const cpio = execFileSync('sh', ['-c', 'find . | cpio -o -H newc --quiet | gzip -1'], {
    cwd: root,
    maxBuffer: 64 << 20,
  });
  writeFileSync(join(image, 'easyenclave.initrd'), cpio);
  const kernel = readdirSync('/boot').find((f) => /^vmlinuz-.*-cloud-amd64$/.test(f));
  if (!kernel) throw new Error('no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64 (see .ci/run)');
  copyFileSync(join('/boot', kernel), join(image, 'easyenclave.vmlinuz'));
  writeFileSync(join(image, 'easyenclave.cmdline'), 'console=ttyS0 panic=-1 quiet\n');
  env = { ...process.env, EE_STATE_DIR: join(dir, 'state') };
});

afterAll(() => {
  ee('rm', 'all', '--timeout', '2');
  rmSync(dir, { recursive: true, force: true });
});

it('boots a real kernel under TCG, the guest sees the encoded config on its cmdline, ee stop ends QEMU', async () => {
  const launch = ee(
    'launch', image, '--no-tdx', '--accel', 'tcg', '--memory', '256M', '--vcpus', '1',
    '--cp-url', 'http://10.0.2.2:8080', '--owner', 'github:acme/app', '--datacenter', 'baremetal:ci', '--json',
  ); // prettier-ignore
  expect(launch.stderr).not.toContain('error');
  expect(launch.code).toBe(0);
  const rec = JSON.parse(launch.stdout) as { name: string; pid: number; serial_log: string; argv: string[] };
  expect(rec.argv[0]).toBe('qemu-system-x86_64');
  expect(alive(rec.pid)).toBe(true);

  const serial = () => readFileSync(rec.serial_log, 'utf8');
  await vi.waitFor(
    () => {
      if (!alive(rec.pid))
        throw new Error(`QEMU exited early: ${readFileSync(join(dir, 'state/vms', rec.name, 'qemu.log'), 'utf8')}`);
      expect(serial()).toContain('EE-GUEST-READY');
    },
    { timeout: 120_000, interval: 250 },
  );
  const line = serial()
    .split(/\r?\n/)
    .find((l) => l.startsWith('EE-GUEST-CMDLINE: '))!;
  const guestCmdline = line.slice('EE-GUEST-CMDLINE: '.length);
  expect(guestCmdline).toMatch(/^console=ttyS0 panic=-1 quiet easyenclave\.configz=/);
  expect(configFromCmdline(guestCmdline)).toEqual({
    mode: 'agent',
    node_size: 'tiny',
    control_plane_url: 'http://10.0.2.2:8080',
    datacenter: 'baremetal:ci',
    owner: 'github:acme/app',
    attestation: 'insecure-local',
    vm_name: rec.name,
    vm_id: rec.name,
  });

  const logs = ee('logs', rec.name);
  expect(logs.stdout).toContain('EE-GUEST-READY');
  const list = JSON.parse(ee('list', '--json').stdout) as { vms: { name: string; state: string }[] };
  expect(list.vms).toEqual([expect.objectContaining({ name: rec.name, state: 'running' })]);

  const stop = ee('stop', rec.name, '--json');
  expect(stop.code).toBe(0);
  expect(JSON.parse(stop.stdout).results[0]).toMatchObject({ name: rec.name, was_running: true });
  expect(alive(rec.pid)).toBe(false);
  expect(JSON.parse(ee('list', '--json').stdout).vms[0].state).toBe('stopped');
});
