/**
 * `ee` subcommands end to end in-process (runCli) against the fake `qemu-system-x86_64` on PATH and a fake TDX host
 * root (EE_HOST_ROOT): launch/list/logs/stop/rm with --json, TDX argv per preset, config-drive fallback through the
 * real genisoimage, preflight, measure (+ --approve through the admin API), CP cleanup on stop, and the error paths
 * (bad flag, unknown size, missing image, no KVM, QEMU failing): a message, a documented exit code, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../launcher/cli';
import { FAKE_MRTD } from '../fakes/qemu';
import { startFakeLauncherCp } from '../fakes/launcher-cp';
import { alive, argAfter, configOf, launcherEnv, type LauncherEnv } from './helpers';

let t: LauncherEnv;
beforeEach(() => {
  t = launcherEnv();
});
afterEach(async () => {
  await t.run(['rm', 'all', '--timeout', '2']);
  t.close();
});

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('ee launch / list / logs / stop', () => {
  it('boots a plain guest, lists it running, shows its serial log, stops it', async () => {
    const l = await t.run([
      'launch',
      t.image,
      '--no-tdx',
      '--cp-url',
      'http://127.0.0.1:9',
      '--owner',
      'acme/app',
      '--json',
    ]);
    expect(l.stderr).toContain('booting');
    expect(l.code).toBe(0);
    const rec = l.json();
    expect(rec).toMatchObject({ mode: 'agent', node_size: 'tiny', tdx: false, memory_mib: 4096, vcpus: 4 });
    expect(alive(rec.pid)).toBe(true);

    const argv = t.qemu.boots()[0]!;
    expect(argv).toEqual(rec.argv.slice(1));
    expect(argAfter(argv, '-append')[0]).toMatch(/^console=ttyS0,115200 fsck\.mode=skip easyenclave\.config/);
    expect(configOf(argv)).toEqual({
      mode: 'agent',
      node_size: 'tiny',
      control_plane_url: 'http://127.0.0.1:9',
      owner: 'github:acme/app',
      attestation: 'insecure-local',
      vm_name: rec.name,
      vm_id: rec.name,
    });

    const list = await t.run(['list', '--json']);
    expect(list.json().vms).toEqual([expect.objectContaining({ name: rec.name, state: 'running' })]);
    expect((await t.run(['list'])).stdout).toMatch(new RegExp(`${rec.name}\\s+running\\s+tiny`));

    const logs = await t.run(['logs', rec.name]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`fake-guest: config {"mode":"agent"`);

    const stop = await t.run(['stop', rec.name, '--json']);
    expect(stop.code).toBe(0);
    expect(stop.json().results).toEqual([
      expect.objectContaining({ name: rec.name, was_running: true, killed: false }),
    ]);
    expect(alive(rec.pid)).toBe(false);
    expect((await t.run(['list', '--json'])).json().vms[0].state).toBe('stopped');
    expect((await t.run(['logs', rec.name])).stdout).toContain('fake-guest: SIGTERM');
  });

  it('TDX guests on a (fake) TDX host: tdx-guest object, TDVF, vsock, and each preset’s memory/vCPUs', async () => {
    const want = { tiny: ['4G', '4'], standard: ['16G', '16'], llm: ['24G', '12'] } as const;
    for (const size of ['tiny', 'standard', 'llm'] as const) {
      const r = await t.run(['launch', t.image, '--node-size', size, '--disk', '0', '--json'], {
        EASYENCLAVE_LLM_MEM_GIB: '24',
        EASYENCLAVE_LLM_VCPUS: '12',
      });
      expect(r.stderr).not.toContain('error');
      expect(r.code).toBe(0);
      const argv = t.qemu.boots().at(-1)!;
      expect(argAfter(argv, '-accel')).toEqual(['kvm']);
      expect(argAfter(argv, '-machine')).toEqual(['q35,kernel-irqchip=split,confidential-guest-support=tdx0,hpet=off']);
      expect(argAfter(argv, '-object')[0]).toMatch(
        /^tdx-guest,id=tdx0,sept-ve-disable=on,quote-generation-socket\.type=vsock,quote-generation-socket\.cid=2,quote-generation-socket\.port=4050$/,
      );
      expect(argAfter(argv, '-bios')).toEqual(['/usr/share/qemu/OVMF.fd']);
      expect(argAfter(argv, '-m')).toEqual([want[size][0]]);
      expect(argAfter(argv, '-smp')).toEqual([`${want[size][1]},sockets=1,cores=${want[size][1]},threads=1`]);
      expect(argAfter(argv, '-device').some((d) => d.startsWith('vhost-vsock-pci,guest-cid='))).toBe(true);
      expect(configOf(argv)).toMatchObject({ mode: 'agent', node_size: size });
    }
  });

  it('moves a config that does not fit the cmdline to a config-drive ISO (real genisoimage)', async () => {
    const r = await t.run(['launch', t.image, '--no-tdx', '--json'], { EASYENCLAVE_MAX_CMDLINE_BYTES: '60' });
    expect(r.code).toBe(0);
    const rec = r.json();
    expect(rec.config_drive).toBe(true);
    const argv = t.qemu.boots()[0]!;
    expect(argAfter(argv, '-append')).toEqual(['console=ttyS0,115200 fsck.mode=skip']);
    const iso = join(t.env.EE_STATE_DIR!, 'vms', rec.name, 'cidata.iso');
    expect(argAfter(argv, '-drive')).toContain(`file=${iso},if=none,id=cidata,media=cdrom,readonly=on`);
    const x = spawnSync('isoinfo', ['-i', iso, '-J', '-x', '/config.json'], { encoding: 'utf8' });
    expect(x.status).toBe(0);
    expect(JSON.parse(x.stdout)).toMatchObject({ mode: 'agent', vm_name: rec.name });
    expect(spawnSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' }).stdout).toContain('Volume id: EE_CONFIG');
  });

  it('keeps credentials off QEMU’s command line: a config with a secret goes to a 0600 config drive [v1 put it in argv]', async () => {
    const key = 'ita-key-that-must-not-leak-0123456789';
    const r = await t.run(['launch', t.image, '--no-tdx', '--cp-url', 'http://127.0.0.1:9', '--json'], {
      ITA_API_KEY: key,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('config holds credentials (intel_api_key)');
    const rec = r.json();
    expect(rec.config_drive).toBe(true);
    const argv = t.qemu.boots()[0]!;
    // Nothing a local user can read through ps or /proc: neither QEMU's argv nor the saved record carries the key.
    expect(argAfter(argv, '-append')).toEqual(['console=ttyS0,115200 fsck.mode=skip']);
    expect(argv.join(' ')).not.toContain(key);
    const vmDir = join(t.env.EE_STATE_DIR!, 'vms', rec.name);
    expect(readFileSync(join(vmDir, 'vm.json'), 'utf8')).not.toContain(key);
    expect(statSync(vmDir).mode & 0o077).toBe(0);
    for (const f of ['config.json', 'cidata.iso']) expect(statSync(join(vmDir, f)).mode & 0o077).toBe(0);
    // The guest still gets the whole config, key included, from the drive.
    const x = spawnSync('isoinfo', ['-i', join(vmDir, 'cidata.iso'), '-J', '-x', '/config.json'], { encoding: 'utf8' });
    expect(JSON.parse(x.stdout)).toMatchObject({ mode: 'agent', intel_api_key: key, vm_name: rec.name });
  });

  it('stop --cp-url deletes the agent registered under the VM name on the control plane', async () => {
    const cp = await startFakeLauncherCp({ launcherKey: 'k', adminToken: 'admin-tok' });
    try {
      const rec = (await t.run(['launch', t.image, '--no-tdx', '--name', 'ee-tiny-cleanup', '--json'])).json();
      const agentId = cp.addAgent(rec.name);
      cp.addAgent('ee-tiny-cleanup-other');
      const r = await t.run(['stop', rec.name, '--cp-url', cp.url, '--admin-token', 'admin-tok', '--json']);
      expect(r.code).toBe(0);
      expect(r.json().results[0]).toMatchObject({ cp_agent_deleted: agentId, cp_error: null });
      expect(cp.agents.map((a) => a.vm_name)).toEqual(['ee-tiny-cleanup-other']);
      const del = cp.requests.find((q) => q.method === 'DELETE')!;
      expect(del).toMatchObject({ path: `/api/v1/agents/${agentId}`, auth: 'Bearer admin-tok' });
    } finally {
      await cp.close();
    }
  });

  it('a guest ignoring SIGTERM is killed after --timeout; an unreachable CP makes the cleanup (not the stop) fail', async () => {
    t.qemu.ignoreSigterm(true);
    const rec = (await t.run(['launch', t.image, '--no-tdx', '--json'])).json();
    const r = await t.run(['stop', rec.name, '--timeout', '1', '--cp-url', 'http://127.0.0.1:9', '--json']);
    expect(r.code).toBe(1);
    expect(r.json().results[0]).toMatchObject({
      was_running: true,
      killed: true,
      cp_error: expect.stringContaining('control plane unreachable'),
    });
    expect(alive(rec.pid)).toBe(false);
    expect(r.stdout).not.toContain('"exit_code"');
  });

  it('rm removes the state; stop all / rm all handle every VM', async () => {
    const a = (await t.run(['launch', t.image, '--no-tdx', '--json'])).json();
    const b = (await t.run(['launch', t.image, '--no-tdx', '--json'])).json();
    const stop = await t.run(['stop', 'all', '--json']);
    expect(
      stop
        .json()
        .results.map((r: { name: string }) => r.name)
        .sort(),
    ).toEqual([a.name, b.name].sort());
    expect(alive(a.pid) || alive(b.pid)).toBe(false);
    expect((await t.run(['rm', a.name])).code).toBe(0);
    expect(existsSync(join(t.env.EE_STATE_DIR!, 'vms', a.name))).toBe(false);
    expect((await t.run(['list', '--json'])).json().vms.map((v: { name: string }) => v.name)).toEqual([b.name]);
  });
});

describe('ee launch --wait, --cp, logs -f', () => {
  it('--wait returns once the agent registered under the VM name', async () => {
    const cp = await startFakeLauncherCp({ launcherKey: 'k', adminToken: 'a' });
    cp.openRegistration = true;
    t.qemu.registerWithCp(true);
    try {
      const r = await t.run(['launch', t.image, '--no-tdx', '--cp-url', cp.url, '--wait', '--json']);
      expect(r.code).toBe(0);
      const rec = r.json();
      expect(rec.agent).toMatchObject({ vm_name: rec.name, agent_id: cp.agents[0]!.agent_id });
      expect((await t.run(['launch', t.image, '--wait'])).stderr).toContain('--wait needs --cp-url');
    } finally {
      await cp.close();
    }
  });

  it('--cp boots a control-plane VM with the pinned image and the pass-through env keys', async () => {
    expect((await t.run(['launch', t.image, '--cp', '--no-tdx'], { CONTROL_PLANE_IMAGE: undefined })).code).toBe(2);
    const r = await t.run(['launch', t.image, '--cp', '--no-tdx', '--cp-image', 'ghcr.io/ee/cp@sha256:abc', '--json'], {
      CLOUDFLARE_API_TOKEN: 'cf-token',
      STRIPE_SECRET_KEY: '',
    });
    expect(r.code).toBe(0);
    const config = configOf(t.qemu.boots()[0]!)!;
    expect(config).toMatchObject({
      mode: 'control-plane',
      port: 8080,
      control_plane_image: 'ghcr.io/ee/cp@sha256:abc',
      cloudflare_api_token: 'cf-token',
      easyenclave_domain: 'easyenclave.com',
    });
    expect(config).not.toHaveProperty('stripe_secret_key');
    expect(config).not.toHaveProperty('node_size');
    // The Cloudflare token reached the guest through the config drive, not QEMU's argv.
    expect(t.qemu.boots()[0]!.join(' ')).not.toContain('cf-token');
    expect(r.json().name).toMatch(/^ee-cp-[0-9a-f]{8}$/);
  });

  it('logs -f streams new serial output until the VM stops', async () => {
    const rec = (await t.run(['launch', t.image, '--no-tdx', '--json'])).json();
    let out = '';
    const follow = runCli(['logs', rec.name, '-f'], { stdout: (s) => (out += s), stderr: () => {}, env: t.env });
    await vi.waitFor(() => expect(out).toContain('fake-guest: config'));
    appendFileSync(rec.serial_log, 'a new line from the guest\n');
    await vi.waitFor(() => expect(out).toContain('a new line from the guest'));
    await t.run(['stop', rec.name]);
    expect(await follow).toBe(0);
    expect(out).toContain('fake-guest: SIGTERM');
  });
});

describe('bad input: a clear message, a documented exit code, never a stack trace', () => {
  it('unknown flag → 2', async () => {
    const r = await t.run(['launch', t.image, '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
    noStack(r.stderr);
    // --json still gets one JSON document on stdout, for commander's own errors too.
    const j = await t.run(['launch', t.image, '--bogus', '--json']);
    expect(j.code).toBe(2);
    expect(j.json()).toEqual({ error: "unknown option '--bogus'", remedy: null, exit_code: 2 });
    const missing = await t.run(['logs', '--json']);
    expect(missing.json()).toEqual({ error: "missing required argument 'vm'", remedy: null, exit_code: 2 });
  });

  it('every command but the UI takes --json', async () => {
    for (const cmd of ['launch', 'list', 'logs', 'stop', 'rm', 'measure', 'preflight', 'worker']) {
      const r = await t.run([cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/^\s+--json\s/m);
    }
  });

  it('unknown node size → 2 (nothing booted)', async () => {
    const r = await t.run(['launch', t.image, '--node-size', 'huge']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown node size "huge": expected one of tiny, standard, llm');
    expect(t.qemu.boots()).toEqual([]);
    noStack(r.stderr);
  });

  it('missing image → 4 with a remedy, and --json gives {error, exit_code}', async () => {
    const r = await t.run(['launch', join(t.dir, 'nope'), '--no-tdx', '--json']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/error: image .*nope not found\n {2}remedy: /);
    expect(r.json()).toMatchObject({ exit_code: 4, error: expect.stringContaining('not found') });
    noStack(r.stderr);
  });

  it('no KVM on the host → 3 with a remedy naming --no-tdx', async () => {
    const r = await t.run(['launch', t.image], { EE_HOST_ROOT: mkdtempSync(join(tmpdir(), 'ee-empty-host-')) });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no KVM device');
    expect(r.stderr).toContain('--no-tdx');
    noStack(r.stderr);
  });

  it('KVM without TDX enabled → 3 with a remedy (preflight, kvm_intel tdx=1)', async () => {
    const host = mkdtempSync(join(tmpdir(), 'ee-kvm-only-host-'));
    mkdirSync(join(host, 'dev'));
    writeFileSync(join(host, 'dev/kvm'), '');
    const r = await t.run(['launch', t.image], { EE_HOST_ROOT: host });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('TDX is not enabled in KVM');
    expect(r.stderr).toContain('kvm_intel tdx=1');
    expect(t.qemu.boots()).toEqual([]);
  });

  it('QEMU rejecting its arguments → 1 with QEMU’s own message; unknown VM → 4; bad flags elsewhere → 2', async () => {
    t.qemu.fail('qemu-system-x86_64: -object tdx-guest: invalid object type: tdx-guest\n');
    const r = await t.run(['launch', t.image]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('QEMU exited at once (code 1)');
    expect(r.stderr).toContain('invalid object type: tdx-guest');
    noStack(r.stderr);
    expect((await t.run(['stop', 'ee-nope'])).code).toBe(4);
    expect((await t.run(['logs', 'ee-nope'])).stderr).toContain('no VM named ee-nope');
    expect((await t.run(['launch', t.image, '--owner', 'not an owner'])).code).toBe(2);
    expect((await t.run(['launch', t.image, '--datacenter', 'fra1'])).code).toBe(2);
    expect((await t.run(['launch', t.image, '--cp-url', 'nope'])).code).toBe(2);
    expect((await t.run(['launch'])).stderr).toContain("missing required argument 'image'");
    expect((await t.run(['launch', '--help'])).code).toBe(0);
  });
});

describe('ee preflight', () => {
  it('fails with remedies when QGS is absent, passes on a complete (fake) TDX host', async () => {
    const bad = await t.run(['preflight', '--json', '--image', t.image], { EE_QGS_SOCKET: join(t.dir, 'no-qgs.sock') });
    expect(bad.code).toBe(3);
    const checks = bad.json().checks as { id: string; status: string; remedy?: string }[];
    expect(checks.map((c) => c.id)).toEqual(['kvm', 'tdx', 'qgs', 'qemu', 'firmware', 'disk', 'image']);
    const qgs = checks.find((c) => c.id === 'qgs')!;
    expect(qgs.status).toBe('fail');
    expect(qgs.remedy).toMatch(/qgsd/);

    const sock = join(t.dir, 'qgs.sock');
    const server: Server = createServer((c) => c.end());
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const good = await t.run(['preflight', '--image', t.image], { EE_QGS_SOCKET: sock });
      expect(good.stdout).toContain('[ok  ] QEMU: qemu-system-x86_64 9.2.0');
      expect(good.stdout).toContain('[ok  ] Quote generation (QGS)');
      expect(good.stdout).not.toContain('FAIL');
      expect(good.code).toBe(0);
    } finally {
      server.close();
    }

    const none = await t.run(['preflight'], {
      EE_HOST_ROOT: mkdtempSync(join(tmpdir(), 'ee-empty-host-')),
      PATH: '/nonexistent',
    });
    expect(none.code).toBe(3);
    expect(none.stdout).toMatch(/\[FAIL\] KVM device: .*missing\n\s+remedy: .*kvm_intel/);
    expect(none.stdout).toMatch(/\[FAIL\] QEMU: .*\n\s+remedy: apt-get install qemu-system-x86/);
  });
});

describe('ee measure', () => {
  it('the guest’s EASYENCLAVE_MEASURE_ERROR and a silent guest both exit 1 with the reason; the VM is removed', async () => {
    t.qemu.measureMode('error');
    const err = await t.run(['measure', t.image]);
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('error: measurement failed in the guest: configfs-tsm not available');
    t.qemu.measureMode('silent');
    const silent = await t.run(['measure', t.image, '--timeout', '1', '--json']);
    expect(silent.code).toBe(1);
    expect(silent.json().error).toBe('could not capture MRTD: no EASYENCLAVE_MEASUREMENTS line before the timeout');
    expect((await t.run(['list', '--json'])).json().vms).toEqual([]);
    noStack(err.stderr + silent.stderr);
  });

  it('prints the MRTD/RTMRs from the serial log, tears the VM down, and --approve adds the MRTD', async () => {
    const cp = await startFakeLauncherCp({ launcherKey: 'k', adminToken: 'admin-tok' });
    try {
      const r = await t.run([
        'measure',
        t.image,
        '--json',
        '--approve',
        '--cp-url',
        cp.url,
        '--admin-token',
        'admin-tok',
      ]);
      expect(r.stderr).not.toContain('error');
      expect(r.code).toBe(0);
      expect(r.json()).toMatchObject({ mrtd: FAKE_MRTD, rtmr1: '11'.repeat(48), approved: true });
      expect(cp.trustedMrtds).toEqual([{ mrtd: FAKE_MRTD, type: 'agent', note: `ee measure ${t.image}` }]);
      expect(configOf(t.qemu.boots()[0]!)).toEqual({ mode: 'measure', node_size: 'tiny', vm_id: 'measure-tiny' });
      expect((await t.run(['list', '--json'])).json().vms).toEqual([]);
      const human = await t.run(['measure', t.image]);
      expect(human.stdout).toBe(
        `MRTD  ${FAKE_MRTD}\nRTMR0 ${'00'.repeat(48)}\nRTMR1 ${'11'.repeat(48)}\nRTMR2 ${'22'.repeat(48)}\nRTMR3 ${'00'.repeat(48)}\n`,
      );
      expect((await t.run(['measure', t.image, '--approve'])).code).toBe(2);
    } finally {
      await cp.close();
    }
  });
});

it('the ee binary runs from source: --help and a bad flag as a child process', () => {
  const bin = join(import.meta.dirname, '../../launcher/bin/ee.mjs');
  const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', env: t.env });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('Exit codes: 0 ok');
  const bad = spawnSync(process.execPath, [bin, 'list', '--nope'], { encoding: 'utf8', env: t.env });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain("unknown option '--nope'");
  expect(readFileSync(bin, 'utf8')).toMatch(/^#!\/usr\/bin\/env node/);
  const noTty = spawnSync(process.execPath, [bin], { encoding: 'utf8', env: t.env, input: '' });
  expect(noTty.status).toBe(2);
  expect(noTty.stderr).toContain('the terminal UI needs a terminal');
});
