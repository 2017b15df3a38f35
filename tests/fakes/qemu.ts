/**
 * A fake `qemu-system-x86_64` for hosts without KVM/TDX: a Node script in a temp dir the test puts first on PATH.
 * Each boot appends `{argv, env}` as one JSON line to `<dir>/qemu.log`. Behaviour:
 * - `--version` prints a QEMU 9.2 banner; `-object help` lists `tdx-guest`.
 * - A boot decodes the config from `-append` (easyenclave.configz / easyenclave.config), writes
 *   `fake-guest: cmdline <cmdline>` and `fake-guest: config <json>` to the serial file of `-chardev file,…,path=`,
 *   then: measure mode → prints `EASYENCLAVE_MEASUREMENTS=…` (fixed values; or the error line, or nothing, see
 *   `measureMode`) and exits 0 ("poweroff");
 *   with `<dir>/register` present and `control_plane_url` in the config → POSTs
 *   `{vm_name, node_size, datacenter, bootstrap_token}` to `<cp>/api/v1/agents/register` (the "agent" registering);
 *   with `guestAgent(spec)` set → boots a "guest" that runs the real agent: the config from the cmdline merged with
 *   `spec.overrides` and `admin_port` = the host port QEMU's `hostfwd` forwards to :8081, written to
 *   `<dir>/guest-<vm_name>.json` and passed as EASYENCLAVE_CONFIG to `spec.command`; its output goes to the serial
 *   log, and SIGTERM ends it with the "VM";
 *   otherwise runs until SIGTERM/SIGKILL.
 * - SIGTERM is logged to the serial file and ends the process, unless `ignoreSigterm(true)`.
 * - With `<dir>/fail` present: prints its text to stderr and exits 1 at once (a QEMU argument error).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const FAKE_MRTD = 'ab'.repeat(48);

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
  /** Agent-mode guests run this agent command (null: they idle). */
  guestAgent(spec: GuestAgentSpec | null): void;
  close(): void;
}

export interface GuestAgentSpec {
  /** argv of the agent, e.g. [process.execPath, '--import', 'tsx', 'agent/main.ts']. */
  command: string[];
  cwd: string;
  /** Environment of the agent process (PATH with fake docker/cloudflared, …). */
  env: Record<string, string>;
  /** Config keys the test environment needs on top of the launcher's config (fake TSM dir, ITA URL, dirs). */
  overrides: Record<string, unknown>;
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
out('fake-guest: config ' + JSON.stringify(config));
process.on('SIGTERM', () => { out('fake-guest: SIGTERM'); if (!fs.existsSync(path.join(dir, 'ignore-sigterm'))) process.exit(0); });
const measureMode = fs.existsSync(path.join(dir, 'measure-mode')) ? fs.readFileSync(path.join(dir, 'measure-mode'), 'utf8') : 'ok';
if (config.mode === 'measure' && measureMode === 'error') { out('EASYENCLAVE_MEASURE_ERROR=configfs-tsm not available'); process.exit(0); }
if (config.mode === 'measure' && measureMode === 'silent') setInterval(() => {}, 1000);
else if (config.mode === 'measure') {
  const m = { mrtd: '${FAKE_MRTD}', rtmr0: '00'.repeat(48), rtmr1: '11'.repeat(48), rtmr2: '22'.repeat(48), rtmr3: '00'.repeat(48) };
  out('EASYENCLAVE_MEASUREMENTS=' + JSON.stringify(m));
  process.exit(0);
}
const guestSpec = path.join(dir, 'guest-agent.json');
if (config.mode !== 'measure' && fs.existsSync(guestSpec)) {
  const spec = JSON.parse(fs.readFileSync(guestSpec, 'utf8'));
  const netdev = opt('-netdev') || '';
  const fwd = /hostfwd=tcp:127\\.0\\.0\\.1:(\\d+)-:8081/.exec(netdev);
  const guest = { ...config, ...spec.overrides, ...(fwd ? { admin_port: Number(fwd[1]) } : {}) };
  const file = path.join(dir, 'guest-' + (config.vm_name || 'vm') + '.json');
  fs.writeFileSync(file, JSON.stringify(guest), { mode: 0o600 });
  const { spawn } = require('node:child_process');
  const child = spawn(spec.command[0], spec.command.slice(1), { cwd: spec.cwd, env: { ...spec.env, EASYENCLAVE_CONFIG: file }, stdio: ['ignore', 'pipe', 'pipe'] });
  const pipe = (c) => serial && fs.appendFileSync(serial, c);
  child.stdout.on('data', pipe);
  child.stderr.on('data', pipe);
  out('fake-guest: agent started (pid ' + child.pid + ')');
  child.on('exit', (code, sig) => { out('fake-guest: agent exited ' + (code === null ? sig : code)); process.exit(0); });
  process.removeAllListeners('SIGTERM');
  process.on('SIGTERM', () => { out('fake-guest: SIGTERM'); child.kill('SIGTERM'); setTimeout(() => { child.kill('SIGKILL'); process.exit(0); }, 3000).unref(); });
  process.on('exit', () => { try { child.kill('SIGKILL'); } catch {} });
}
else if (fs.existsSync(path.join(dir, 'register')) && config.control_plane_url) {
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
    guestAgent: (spec) =>
      spec === null
        ? rmSync(join(dir, 'guest-agent.json'), { force: true })
        : writeFileSync(join(dir, 'guest-agent.json'), JSON.stringify(spec)),
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
