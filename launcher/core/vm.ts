/**
 * VM lifecycle on this host: launch (fire-and-forget: QEMU runs detached, the record keeps its pid), stop (SIGTERM,
 * then SIGKILL after a timeout), remove, serial-log reading, and CP-side agent cleanup. No React here: the CLI and
 * the Ink UI both call these.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildCmdline, buildConfig, maxCmdlineBytes, secretKeysOf, DEFAULT_BASE_CMDLINE, type VmMode } from './config';
import { CpClient } from './cp-client';
import { EXIT, LauncherError, hostError, notFoundError, usageError } from './errors';
import { resolveImage, type Progress } from './image';
import { hostPaths } from './preflight';
import { resolveSizing, type SizingInput } from './presets';
import { composeQemuArgs, DEFAULT_QEMU } from './qemu';
import { type StateDir, VM_NAME_RE, pidAlive, view, type VmRecord, type VmView } from './state';

type Env = Record<string, string | undefined>;

export interface LaunchOptions extends SizingInput {
  image: string;
  mode?: VmMode;
  name?: string;
  cpUrl?: string;
  owner?: string;
  datacenter?: string;
  cloudProvider?: string;
  availabilityZone?: string;
  region?: string;
  intelApiKey?: string;
  bootstrapToken?: string;
  cpImage?: string;
  attestation?: string;
  /** false = plain KVM/TCG guest (no TDX object, no TDVF, no vsock). */
  tdx?: boolean;
  /** Accelerator of a --no-tdx guest: auto = kvm when the host has /dev/kvm, else tcg. TDX always uses kvm. */
  accel?: 'auto' | 'kvm' | 'tcg';
  firmware?: string;
}

export interface LauncherContext {
  state: StateDir;
  env: Env;
  /** QEMU executable (env EE_QEMU, default qemu-system-x86_64 on PATH). */
  qemu?: string;
  progress?: Progress;
}

export function qemuBinary(ctx: LauncherContext): string {
  return ctx.qemu ?? ctx.env.EE_QEMU ?? DEFAULT_QEMU;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export function newVmName(mode: VmMode, size: string): string {
  const id = randomBytes(4).toString('hex');
  return mode === 'agent' ? `ee-${size}-${id}` : mode === 'control-plane' ? `ee-cp-${id}` : `ee-measure-${size}-${id}`;
}

/** Boots one VM and returns as soon as QEMU is up (or throws with QEMU's own message when it exits at once). */
export async function launchVm(ctx: LauncherContext, o: LaunchOptions): Promise<VmRecord> {
  const progress = ctx.progress ?? (() => {});
  const mode = o.mode ?? 'agent';
  const sizing = resolveSizing(o, ctx.env);
  const name = o.name ?? newVmName(mode, sizing.size);
  if (!VM_NAME_RE.test(name)) throw usageError(`invalid VM name ${JSON.stringify(name)}: use a-z, 0-9 and -`);
  if (ctx.state.load(name)) throw usageError(`a VM named ${name} already exists`, `ee rm ${name}`);
  if (o.cpUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(o.cpUrl)) {
    throw usageError(`invalid --cp-url ${JSON.stringify(o.cpUrl)}: expected http(s)://host[:port]`);
  }
  const tdx = o.tdx ?? true;
  const paths = hostPaths(ctx.env);
  const kvm = o.accel === 'tcg' ? false : o.accel === 'kvm' ? true : existsSync(paths.kvm);
  if (tdx && o.accel === 'tcg') throw usageError('--accel tcg needs --no-tdx: TDX guests run under KVM only');
  if (tdx && !existsSync(paths.kvm)) {
    throw hostError(
      `no KVM device (${paths.kvm}): TDX guests need KVM`,
      'run on a TDX host with kvm_intel loaded, or pass --no-tdx to boot a plain guest (TCG)',
    );
  }
  if (tdx && !/^(Y|1)$/.test(readOr(paths.tdxParam))) {
    throw hostError(
      `TDX is not enabled in KVM (${paths.tdxParam} is not Y)`,
      'boot a TDX host kernel with TDX enabled in the BIOS and kvm_intel tdx=1 (ee preflight shows every check), or pass --no-tdx',
    );
  }
  if (mode === 'control-plane' && !o.cpImage) {
    throw usageError('a control-plane VM needs --cp-image (or env CONTROL_PLANE_IMAGE): the agent pins it, no :latest');
  }
  progress(`resolving image ${o.image}`);
  const image = await resolveImage(o.image, ctx.state.imagesDir(), progress);
  const dir = ctx.state.create(name);
  const config = buildConfig(
    {
      mode,
      nodeSize: sizing.size,
      vmName: name,
      vmId: name,
      cpUrl: o.cpUrl,
      intelApiKey: o.intelApiKey,
      owner: o.owner,
      datacenter: o.datacenter,
      cloudProvider: o.cloudProvider,
      availabilityZone: o.availabilityZone,
      region: o.region,
      bootstrapToken: o.bootstrapToken,
      cpImage: o.cpImage,
      attestation: o.attestation,
    },
    ctx.env,
  );
  let kernel;
  try {
    kernel = buildCmdline({
      base: image.baseCmdline ?? DEFAULT_BASE_CMDLINE,
      config,
      memoryMiB: sizing.memoryMiB,
      maxBytes: maxCmdlineBytes(ctx.env),
    });
  } catch (err) {
    ctx.state.remove(name);
    throw new LauncherError((err as Error).message, EXIT.usage);
  }
  let configIso: string | undefined;
  if (kernel.configDrive) {
    const secrets = secretKeysOf(kernel.configDrive);
    progress(
      secrets.length > 0
        ? `config holds credentials (${secrets.join(', ')}): writing a config drive, not the kernel cmdline`
        : 'config too long for the kernel cmdline: writing a config drive',
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify(kernel.configDrive, null, 2) + '\n', { mode: 0o600 });
    configIso = join(dir, 'cidata.iso');
    const g = spawnSync(
      'genisoimage',
      ['-quiet', '-output', configIso, '-volid', 'EE_CONFIG', '-joliet', '-rock', 'config.json'],
      { cwd: dir, encoding: 'utf8' },
    );
    if (g.error || g.status !== 0) {
      ctx.state.remove(name);
      throw hostError(`genisoimage failed: ${g.error?.message ?? g.stderr.trim()}`, 'apt-get install genisoimage');
    }
    chmodSync(configIso, 0o600);
  }
  let dataDisk: string | undefined;
  if (sizing.diskGiB > 0) {
    dataDisk = join(dir, 'data.qcow2');
    const q = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', dataDisk, `${sizing.diskGiB}G`], {
      encoding: 'utf8',
    });
    if (q.error || q.status !== 0) {
      ctx.state.remove(name);
      throw hostError(`qemu-img failed: ${q.error?.message ?? q.stderr.trim()}`, 'apt-get install qemu-utils');
    }
  }
  const serialLog = join(dir, 'serial.log');
  writeFileSync(serialLog, '');
  const agentPort = await freePort();
  const argv = composeQemuArgs({
    name,
    sizing,
    tdx,
    accel: kvm ? 'kvm' : 'tcg',
    kernel: image.kernel,
    initrd: image.initrd,
    cmdline: kernel.cmdline,
    rootDisk: image.root,
    dataDisk,
    configIso,
    serialLog,
    agentPort,
    firmware: o.firmware,
    vsockCid: 3 + (randomBytes(2).readUInt16BE() % 60000),
  });
  const rec: VmRecord = {
    name,
    mode,
    node_size: sizing.size,
    memory_mib: sizing.memoryMiB,
    vcpus: sizing.vcpus,
    disk_gib: sizing.diskGiB,
    tdx,
    accel: tdx || kvm ? 'kvm' : 'tcg',
    image: image.ref,
    pid: null,
    argv: [qemuBinary(ctx), ...argv],
    serial_log: serialLog,
    agent_port: agentPort,
    config_drive: Boolean(configIso),
    cp_url: o.cpUrl ?? null,
    created_at: new Date().toISOString(),
    stopped_at: null,
  };
  ctx.state.save(rec);
  progress(`booting ${name}`);
  const out = openSync(join(dir, 'qemu.log'), 'a');
  const child = spawn(qemuBinary(ctx), argv, { detached: true, stdio: ['ignore', out, out], env: ctx.env });
  closeSync(out);
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (e) => resolve(e));
  });
  if (spawned) {
    ctx.state.remove(name);
    throw hostError(
      `cannot run ${qemuBinary(ctx)}: ${spawned.message}`,
      'apt-get install qemu-system-x86 (or set EE_QEMU)',
    );
  }
  let exited: number | null = null;
  child.once('exit', (code, sig) => (exited = code ?? (sig ? 128 : 1)));
  rec.pid = child.pid ?? null;
  ctx.state.save(rec);
  // QEMU rejects bad arguments within milliseconds; a short grace turns that into an error instead of a dead VM.
  // Output on the serial console ends the grace early: the guest is running.
  const graceEnd = Date.now() + Number(ctx.env.EE_BOOT_GRACE_MS ?? 700);
  while (exited === null && Date.now() < graceEnd && statSync(serialLog).size === 0) await sleep(25);
  child.unref();
  if (exited === 0) {
    // The guest powered off already (measure VMs do exactly that): not a QEMU failure.
    progress(`${name} powered off during start-up`);
  } else if (exited !== null) {
    rec.stopped_at = new Date().toISOString();
    ctx.state.save(rec);
    const log = readTail(join(dir, 'qemu.log'), 2000).trim();
    throw new LauncherError(`QEMU exited at once (code ${exited}) for ${name}: ${log || '(no output)'}`);
  }
  return rec;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function readTail(path: string, bytes: number): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

export function getVm(ctx: LauncherContext, name: string): VmRecord {
  const rec = ctx.state.load(name);
  if (!rec) throw notFoundError(`no VM named ${name}`, 'ee list shows the VMs of this state dir');
  return rec;
}

export function listVms(ctx: LauncherContext): VmView[] {
  return ctx.state.all().map((r) => view(r));
}

/** Names for `<vm|all>`. */
export function targets(ctx: LauncherContext, which: string): string[] {
  if (which === 'all') return ctx.state.names();
  getVm(ctx, which);
  return [which];
}

export interface StopResult {
  name: string;
  was_running: boolean;
  killed: boolean;
  cp_agent_deleted: string | null;
  cp_error: string | null;
}

/** SIGTERM (QEMU exits cleanly), wait up to `timeoutMs`, then SIGKILL. The record stays (its logs too). */
export async function stopVm(
  ctx: LauncherContext,
  name: string,
  opts: { timeoutMs?: number; cpUrl?: string; adminToken?: string } = {},
): Promise<StopResult> {
  const rec = getVm(ctx, name);
  const res: StopResult = { name, was_running: false, killed: false, cp_agent_deleted: null, cp_error: null };
  if (pidAlive(rec.pid, name)) {
    res.was_running = true;
    signalGroup(rec.pid!, 'SIGTERM');
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    while (pidAlive(rec.pid, name) && Date.now() < deadline) await sleep(100);
    if (pidAlive(rec.pid, name)) {
      signalGroup(rec.pid!, 'SIGKILL');
      res.killed = true;
      while (pidAlive(rec.pid, name)) await sleep(50);
    }
  }
  if (!rec.stopped_at) {
    rec.stopped_at = new Date().toISOString();
    ctx.state.save(rec);
  }
  if (opts.cpUrl) {
    try {
      res.cp_agent_deleted = await deleteCpAgent(opts.cpUrl, name, opts.adminToken);
    } catch (err) {
      res.cp_error = (err as Error).message;
    }
  }
  return res;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig); // QEMU leads its own process group (detached)
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Deletes the CP agent registered under this VM's name (launcher.md §7.2); null when there is none. */
export async function deleteCpAgent(cpUrl: string, vmName: string, adminToken?: string): Promise<string | null> {
  const cp = new CpClient(cpUrl, undefined, 10_000);
  const agent = await cp.agentByVmName(vmName);
  if (!agent) return null;
  await cp.deleteAgent(agent.agent_id, adminToken);
  return agent.agent_id;
}

export async function removeVm(
  ctx: LauncherContext,
  name: string,
  opts: { timeoutMs?: number; cpUrl?: string; adminToken?: string } = {},
): Promise<StopResult> {
  const r = await stopVm(ctx, name, opts);
  ctx.state.remove(name);
  return r;
}

export function serialLog(ctx: LauncherContext, name: string): string {
  const rec = getVm(ctx, name);
  return existsSync(rec.serial_log) ? readFileSync(rec.serial_log, 'utf8') : '';
}

/** Calls `onData` with new serial output until the VM stops or `signal` aborts. */
export async function followLog(
  ctx: LauncherContext,
  name: string,
  onData: (chunk: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const rec = getVm(ctx, name);
  let offset = 0;
  for (;;) {
    const size = existsSync(rec.serial_log) ? statSync(rec.serial_log).size : 0;
    if (size > offset) {
      const buf = readFileSync(rec.serial_log);
      onData(buf.subarray(offset).toString('utf8'));
      offset = buf.length;
    }
    if (signal?.aborted || !pidAlive(rec.pid, name)) return;
    await sleep(200);
  }
}
