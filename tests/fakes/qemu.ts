/**
 * A fake `qemu-system-x86_64` for hosts without KVM/TDX: a Node script in a temp dir the test puts first on PATH.
 * Each boot appends `{argv, env}` as one JSON line to `<dir>/qemu.log`. Behaviour:
 * - `--version` prints a QEMU 9.2 banner; `-object help` lists `tdx-guest`.
 * - A boot decodes the config from `-append` (easyenclave.configz / easyenclave.config), writes
 *   `fake-guest: cmdline <cmdline>` and `fake-guest: config <json>` to the serial file of `-chardev file,…,path=`,
 *   then: measure mode → prints `EASYENCLAVE_MEASUREMENTS=…` (fixed values; or the error line, or nothing, see
 *   `measureMode`) and exits 0 ("poweroff");
 *   with `<dir>/register` present and `control_plane_url` in the config → POSTs
 *   `{vm_name, node_size, datacenter, bootstrap_token}` to `<cp>/api/v1/agents/register` (the "agent" registering,
 *   for tests/fakes/launcher-cp.ts);
 *   with `<dir>/guest-agent.json` present (`bootAgent`) → the guest's init: it runs the given agent command (the real
 *   ee-agent) with the config it got from the launcher — the config drive's `config.json` when a `media=cdrom` drive
 *   is attached (read with `isoinfo`, as the agent probes the cdrom first), else the kernel cmdline — laid over the
 *   image's local defaults (data dirs, the forwarded agent port), the agent's output going to the serial log;
 *   otherwise runs until SIGTERM/SIGKILL.
 *   Every boot's decoded config is appended to `<dir>/guests.log` (`guests()`).
 * - SIGTERM is logged to the serial file and ends the process, unless `ignoreSigterm(true)`.
 * - With `<dir>/fail` present: prints its text to stderr and exits 1 at once (a QEMU argument error).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const FAKE_MRTD = 'ab'.repeat(48);

export interface GuestAgentSpec {
  command: string[];
  /** Working directory of the agent process (default: the fake QEMU's). */
  cwd?: string;
  image?: Record<string, unknown>;
  env?: Record<string, string>;
}

export interface FakeGuest {
  vm_name: string | null;
  source: 'kernel cmdline' | 'config drive';
  config: Record<string, unknown>;
  /** The merged config file the guest's agent was started with (null without `bootAgent`). */
  agent_config_path: string | null;
}

export interface FakeQemu {
  dir: string;
  /** PATH with the fake first. */
  path: string;
  /** argv of every boot (not --version / -object help). */
  boots(): string[][];
  fail(stderr: string | null): void;
  /** Make booted "guests" register with the CP named in their config. */
  registerWithCp(on: boolean): void;
  /** Guests that ignore SIGTERM (only SIGKILL ends them). */
  ignoreSigterm(on: boolean): void;
  /** Measure VMs print the measurements (`ok`), a `EASYENCLAVE_MEASURE_ERROR=` line (`error`) or nothing (`silent`). */
  measureMode(mode: 'ok' | 'error' | 'silent'): void;
  /**
   * Guests run this agent command (null: stop doing so). `image` holds the image's local config keys (paths, retry
   * timings); every key the launcher put in the config wins over them. The agent gets only `env` plus
   * `EASYENCLAVE_CONFIG` (the merged file).
   */
  bootAgent(spec: GuestAgentSpec | null): void;
  /** What each booted guest saw: its decoded config, where it came from, and the merged file its agent read. */
  guests(): FakeGuest[];
  close(): void;
}

const SCRIPT = (dir: string) => `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const dir = ${JSON.stringify(dir)};
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('QEMU emulator version 9.2.0 (fake)'); process.exit(0); }
if (argv[0] === '-object' && argv[1] === 'help') { console.log('List of user creatable objects:\\n  tdx-guest'); process.exit(0); }
fs.appendFileSync(path.join(dir, 'qemu.log'), JSON.stringify({ argv }) + '\\n');
if (fs.existsSync(path.join(dir, 'fail'))) { process.stderr.write(fs.readFileSync(path.join(dir, 'fail'), 'utf8')); process.exit(1); }
const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const chardev = opt('-chardev') || '';
const serial = (/path=([^,]+)/.exec(chardev) || [])[1];
const cmdline = opt('-append') || '';
let config = {};
for (const p of cmdline.split(/\\s+/)) {
  if (p.startsWith('easyenclave.configz=')) config = JSON.parse(zlib.inflateSync(Buffer.from(p.slice(20), 'base64')).toString());
  else if (p.startsWith('easyenclave.config=')) config = JSON.parse(Buffer.from(p.slice(19), 'base64').toString());
}
const out = (line) => serial && fs.appendFileSync(serial, line + '\\r\\n');
out('fake-guest: cmdline ' + cmdline);
let source = 'kernel cmdline';
const cdrom = argv.find((a) => a.includes('media=cdrom'));
const iso = cdrom && (/file=([^,]+)/.exec(cdrom) || [])[1];
if (iso) {
  const r = require('node:child_process').spawnSync('isoinfo', ['-i', iso, '-J', '-x', '/config.json'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) { config = JSON.parse(r.stdout); source = 'config drive'; }
  else out('fake-guest: config drive unreadable: ' + (r.error ? r.error.message : r.stderr));
}
out('fake-guest: config ' + JSON.stringify(config));
const guest = { vm_name: config.vm_name || null, source, config, agent_config_path: null };
let agent = null;
const agentSpec = path.join(dir, 'guest-agent.json');
if (config.mode !== 'measure' && fs.existsSync(agentSpec)) {
  const spec = JSON.parse(fs.readFileSync(agentSpec, 'utf8'));
  const fwd = /hostfwd=tcp:([0-9.]*):([0-9]+)-:8081/.exec(opt('-netdev') || '') || [];
  const root = fs.mkdtempSync(path.join(dir, 'guest-'));
  // The image's local defaults first: everything the launcher configured wins.
  const merged = {
    data_dir: path.join(root, 'data'),
    workload_dir: path.join(root, 'workload'),
    listen_host: fwd[1] || '127.0.0.1',
    admin_port: fwd[2] ? Number(fwd[2]) : 0,
    ...(spec.image || {}),
    ...config,
  };
  guest.agent_config_path = path.join(root, 'config.json');
  fs.writeFileSync(guest.agent_config_path, JSON.stringify(merged));
  agent = require('node:child_process').spawn(spec.command[0], spec.command.slice(1), {
    env: { ...(spec.env || {}), EASYENCLAVE_CONFIG: guest.agent_config_path },
    cwd: spec.cwd || undefined,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const s of [agent.stdout, agent.stderr]) s.on('data', (c) => serial && fs.appendFileSync(serial, c));
  agent.on('exit', (code, sig) => { out('fake-guest: agent exited ' + (sig || code)); agent = null; });
  process.on('exit', () => { if (agent) agent.kill('SIGKILL'); });
}
fs.appendFileSync(path.join(dir, 'guests.log'), JSON.stringify(guest) + '\\n');
process.on('SIGTERM', () => { out('fake-guest: SIGTERM'); if (!fs.existsSync(path.join(dir, 'ignore-sigterm'))) process.exit(0); });
const measureMode = fs.existsSync(path.join(dir, 'measure-mode')) ? fs.readFileSync(path.join(dir, 'measure-mode'), 'utf8') : 'ok';
if (config.mode === 'measure' && measureMode === 'error') { out('EASYENCLAVE_MEASURE_ERROR=configfs-tsm not available'); process.exit(0); }
if (config.mode === 'measure' && measureMode === 'silent') setInterval(() => {}, 1000);
else if (config.mode === 'measure') {
  const m = { mrtd: '${FAKE_MRTD}', rtmr0: '00'.repeat(48), rtmr1: '11'.repeat(48), rtmr2: '22'.repeat(48), rtmr3: '00'.repeat(48) };
  out('EASYENCLAVE_MEASUREMENTS=' + JSON.stringify(m));
  process.exit(0);
}
if (fs.existsSync(path.join(dir, 'register')) && config.control_plane_url) {
  fetch(config.control_plane_url + '/api/v1/agents/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ vm_name: config.vm_name, node_size: config.node_size, datacenter: config.datacenter, bootstrap_token: config.bootstrap_token }),
  }).then((r) => out('fake-guest: registered ' + r.status), (e) => out('fake-guest: register failed ' + e.message));
}
setInterval(() => {}, 1000);
`;

export function createFakeQemu(): FakeQemu {
  const dir = mkdtempSync(join(tmpdir(), 'ee-fake-qemu-'));
  const bin = join(dir, 'qemu-system-x86_64');
  writeFileSync(bin, SCRIPT(dir));
  chmodSync(bin, 0o755);
  const log = join(dir, 'qemu.log');
  return {
    dir,
    path: `${dir}:${process.env.PATH ?? ''}`,
    boots: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as { argv: string[] }).argv)
        : [],
    fail: (stderr) =>
      stderr === null ? rmSync(join(dir, 'fail'), { force: true }) : writeFileSync(join(dir, 'fail'), stderr),
    registerWithCp: (on) =>
      on ? writeFileSync(join(dir, 'register'), '1') : rmSync(join(dir, 'register'), { force: true }),
    ignoreSigterm: (on) =>
      on ? writeFileSync(join(dir, 'ignore-sigterm'), '1') : rmSync(join(dir, 'ignore-sigterm'), { force: true }),
    measureMode: (mode) => writeFileSync(join(dir, 'measure-mode'), mode),
    bootAgent: (spec) =>
      spec === null
        ? rmSync(join(dir, 'guest-agent.json'), { force: true })
        : writeFileSync(join(dir, 'guest-agent.json'), JSON.stringify(spec)),
    guests: () =>
      existsSync(join(dir, 'guests.log'))
        ? readFileSync(join(dir, 'guests.log'), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as FakeGuest)
        : [],
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A fake TDX host root for EE_HOST_ROOT: /dev/kvm, kvm_intel tdx=Y, /dev/vhost-vsock, the TDVF file. */
export function createFakeTdxHost(): { root: string; close(): void } {
  const root = mkdtempSync(join(tmpdir(), 'ee-fake-host-'));
  const put = (p: string, text: string) => {
    const f = join(root, p);
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, text);
  };
  put('dev/kvm', '');
  put('dev/vhost-vsock', '');
  put('sys/module/kvm_intel/parameters/tdx', 'Y\n');
  put('usr/share/qemu/OVMF.fd', 'fake tdvf');
  return { root, close: () => rmSync(root, { recursive: true, force: true }) };
}
