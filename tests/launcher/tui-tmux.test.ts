/**
 * The real TUI (`ee` with no arguments, the ee binary) in a tmux pane of 80×24, driven with send-keys and read
 * with capture-pane: launch a VM through the form (TDX, on a fake TDX host, through the fake qemu-system-x86_64 on
 * PATH), see it running in the list, check the QEMU argv the launcher composed, stop it with confirmation, quit.
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

it('launches a VM from the form, lists it running, stops it after confirmation', async () => {
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

  const argv = t.qemu.boots()[0]!;
  const name = /ee-tiny-[0-9a-f]{8}/.exec(screen())![0];
  expect(argAfter(argv, '-name')).toEqual([`${name},process=ee-${name}`]);
  expect(argAfter(argv, '-machine')).toEqual(['q35,kernel-irqchip=split,confidential-guest-support=tdx0,hpet=off']);
  expect(argAfter(argv, '-object')[0]).toMatch(/^tdx-guest,id=tdx0,sept-ve-disable=on,/);
  expect(argAfter(argv, '-m')).toEqual(['4G']);
  expect(argAfter(argv, '-smp')).toEqual(['4,sockets=1,cores=4,threads=1']);
  expect(configOf(argv)).toMatchObject({ mode: 'agent', node_size: 'tiny', vm_name: name });

  tmux('send-keys', '-t', 'ee', 'l');
  await until(new RegExp(`serial console of ${name}`));
  expect(screen()).toContain('fake-guest: config {"mode":"agent"');
  tmux('send-keys', '-t', 'ee', 'Escape');
  await until(/n launch/);

  tmux('send-keys', '-t', 'ee', 's');
  await until(new RegExp(`Stop ${name}\\?`));
  tmux('send-keys', '-t', 'ee', 'y');
  await until(new RegExp(`${name}\\s+stopped`));
  const listed = await t.run(['list', '--json']);
  expect(listed.json().vms).toEqual([expect.objectContaining({ name, state: 'stopped' })]);

  tmux('send-keys', '-t', 'ee', 'q');
  await vi.waitFor(() => expect(spawnSync('tmux', ['-L', socket, 'has-session', '-t', 'ee']).status).not.toBe(0), {
    timeout: 10_000,
  });
});
