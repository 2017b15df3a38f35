/**
 * The real TUI (`ee` with no arguments, the ee binary) in a tmux pane of 80×24, driven with send-keys and read
 * with capture-pane: launch a VM of each preset through the form (TDX, on a fake TDX host, through the fake
 * qemu-system-x86_64 on PATH), see them running in the list, check the QEMU argv the launcher composed for each
 * preset against launcher.md §4.3, read the first one's serial log, stop it with confirmation, quit.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { argAfter, configOf, launcherEnv, type LauncherEnv } from './helpers';

const BIN = join(import.meta.dirname, '../../launcher/bin/ee.mjs');
let t: LauncherEnv;
let socket: string;

const tmux = (...args: string[]) => {
  const r = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const screen = () => tmux('capture-pane', '-p', '-t', 'ee');
// settle after a match: the new screen subscribes to input a moment after its first frame
const until = async (re: RegExp) => {
  await vi.waitFor(() => expect(screen()).toMatch(re), { timeout: 30_000, interval: 100 });
  await new Promise((r) => setTimeout(r, 50));
};

beforeEach(() => {
  t = launcherEnv();
  socket = `ee-test-${process.pid}-${Date.now()}`;
});
afterEach(async () => {
  spawnSync('tmux', ['-L', socket, 'kill-server']);
  await t.run(['rm', 'all', '--timeout', '2']);
  t.close();
});

it('launches a VM of each preset from the form, lists them running, stops one after confirmation', async () => {
  const vars = ['PATH', 'EE_STATE_DIR', 'EE_HOST_ROOT', 'EE_BOOT_GRACE_MS'].map((k) => `${k}=${t.env[k]}`);
  tmux(
    'new-session',
    '-d',
    '-s',
    'ee',
    '-x',
    '80',
    '-y',
    '24',
    'env',
    ...vars,
    'TERM=xterm-256color',
    // Ink renders only the last frame when it thinks it runs in CI (is-in-ci reads CI, which CI sets): a person's
    // terminal is not CI.
    'CI=false',
    process.execPath,
    BIN,
  );
  await until(/No VMs yet\. Press n to launch one\./);
  expect(screen()).toMatch(/n launch\s+s stop/);

  tmux('send-keys', '-t', 'ee', 'n');
  await until(/Launch a VM/);
  tmux('send-keys', '-t', 'ee', '-l', t.image);
  await until(new RegExp(`Image\\s+${t.image.slice(0, 40)}`));
  tmux('send-keys', '-t', 'ee', 'Enter');
  await until(/ee-tiny-[0-9a-f]{8}\s+running\s+tiny 4G\/4/);
  expect(screen()).toMatch(/launched ee-tiny-[0-9a-f]{8}/);
  expect(
    Math.max(
      ...screen()
        .split('\n')
        .map((l) => l.length),
    ),
  ).toBeLessThanOrEqual(80);

  const name = /ee-tiny-[0-9a-f]{8}/.exec(screen())![0];

  // The other presets: the form keeps the last image and size; → on the Size field picks the next preset.
  for (const size of ['standard', 'llm']) {
    tmux('send-keys', '-t', 'ee', 'n');
    await until(/Launch a VM/);
    tmux('send-keys', '-t', 'ee', 'Down');
    tmux('send-keys', '-t', 'ee', 'Right');
    await until(new RegExp(`preset ${size}:`));
    tmux('send-keys', '-t', 'ee', 'Enter');
    await until(new RegExp(`ee-${size}-[0-9a-f]{8}\\s+running`));
  }
  expect(screen()).toMatch(/ee-standard-[0-9a-f]{8}\s+running\s+standard 16G\/16/);
  expect(screen()).toMatch(/ee-llm-[0-9a-f]{8}\s+running\s+llm 16G\/8/);

  // launcher.md §4.3 for each preset: TDX machine and object, TDVF, memory and topology, disks, NIC, serial, vsock.
  const want = { tiny: ['4G', 4], standard: ['16G', 16], llm: ['16G', 8] } as const;
  const boots = t.qemu.boots();
  expect(boots).toHaveLength(3);
  for (const argv of boots) {
    const cfg = configOf(argv)!;
    const size = cfg.node_size as keyof typeof want;
    const vm = String(cfg.vm_name);
    expect(vm).toMatch(new RegExp(`^ee-${size}-[0-9a-f]{8}$`));
    expect(argAfter(argv, '-name')).toEqual([`${vm},process=ee-${vm}`]);
    expect(argAfter(argv, '-accel')).toEqual(['kvm']);
    expect(argAfter(argv, '-machine')).toEqual(['q35,kernel-irqchip=split,confidential-guest-support=tdx0,hpet=off']);
    expect(argAfter(argv, '-object')).toEqual([
      'tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket.type=vsock,quote-generation-socket.cid=2,' +
        'quote-generation-socket.port=4050',
    ]);
    expect(argAfter(argv, '-bios')).toEqual(['/usr/share/qemu/OVMF.fd']);
    expect(argAfter(argv, '-m')).toEqual([want[size][0]]);
    expect(argAfter(argv, '-cpu')).toEqual(['host']);
    expect(argAfter(argv, '-smp')).toEqual([`${want[size][1]},sockets=1,cores=${want[size][1]},threads=1`]);
    expect(argAfter(argv, '-append')[0]).toMatch(/^console=ttyS0,115200 fsck\.mode=skip easyenclave\.configz?=/);
    expect(argAfter(argv, '-netdev')[0]).toMatch(/^user,id=nic0,hostfwd=tcp:127\.0\.0\.1:\d+-:8081$/);
    expect(argAfter(argv, '-serial')).toEqual(['chardev:serial0']);
    const devices = argAfter(argv, '-device');
    expect(devices).toContain('virtio-net-pci,netdev=nic0,bus=pcie.0,addr=0x5');
    expect(devices.some((d) => /^vhost-vsock-pci,guest-cid=\d+$/.test(d))).toBe(true);
    // Only llm has a data disk: qcow2, writeback cache.
    const drives = argAfter(argv, '-drive');
    if (size === 'llm')
      expect(drives).toEqual([expect.stringMatching(/\/data\.qcow2,if=none,id=data,format=qcow2,cache=writeback$/)]);
    else expect(drives).toEqual([]);
    expect(argv.slice(-4)).toEqual(['-nodefaults', '-display', 'none', '-no-reboot']);
    expect(cfg).toMatchObject({ mode: 'agent', node_size: size });
  }
  expect(
    Math.max(
      ...screen()
        .split('\n')
        .map((l) => l.length),
    ),
  ).toBeLessThanOrEqual(80);
  // The list is sorted by name (llm, standard, tiny): ↓↓ selects the first VM for the log pane and the stop.
  tmux('send-keys', '-t', 'ee', 'Down');
  tmux('send-keys', '-t', 'ee', 'Down');
  await until(new RegExp(`› ${name}`));

  tmux('send-keys', '-t', 'ee', 'l');
  await until(new RegExp(`serial console of ${name}`));
  expect(screen()).toContain('fake-guest: config {"mode":"agent"');
  tmux('send-keys', '-t', 'ee', 'Escape');
  await until(/n launch/);

  tmux('send-keys', '-t', 'ee', 's');
  await until(new RegExp(`Stop ${name}\\?`));
  tmux('send-keys', '-t', 'ee', 'y');
  await until(new RegExp(`${name}\\s+stopped`));
  const listed = (await t.run(['list', '--json'])).json().vms as { name: string; state: string }[];
  expect(listed.find((v) => v.name === name)).toMatchObject({ state: 'stopped' });
  expect(listed.filter((v) => v.state === 'running')).toHaveLength(2);

  tmux('send-keys', '-t', 'ee', 'q');
  await vi.waitFor(() => expect(spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'ee']).status).not.toBe(0), {
    timeout: 10_000,
  });
});
