/**
 * The state dir: one folder per VM under `<state>/vms/<name>/` holding `vm.json` (the record below), `serial.log`
 * (the guest's serial console), `qemu.log` (QEMU's own stdout/stderr) and, when used, `config.json` + `cidata.iso`
 * and `data.qcow2`. Images pulled from a registry are cached under `<state>/images/`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { VmMode } from './config';
import type { NodeSize } from './presets';

export interface VmRecord {
  name: string;
  mode: VmMode;
  node_size: NodeSize;
  memory_mib: number;
  vcpus: number;
  disk_gib: number;
  tdx: boolean;
  accel: 'kvm' | 'tcg';
  image: string;
  pid: number | null;
  argv: string[];
  serial_log: string;
  /** Host port forwarded to the guest's agent API (:8081). */
  agent_port: number | null;
  config_drive: boolean;
  cp_url: string | null;
  created_at: string;
  stopped_at: string | null;
}

export type VmState = 'running' | 'stopped' | 'exited';

export interface VmView extends VmRecord {
  state: VmState;
  /** Seconds since launch while running, else null. */
  uptime_s: number | null;
}

export function defaultStateDir(env: Record<string, string | undefined>): string {
  if (env.EE_STATE_DIR) return env.EE_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'easyenclave');
}

export const VM_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export class StateDir {
  constructor(readonly root: string) {}

  vmDir(name: string): string {
    return join(this.root, 'vms', name);
  }
  imagesDir(): string {
    return join(this.root, 'images');
  }

  create(name: string): string {
    const dir = this.vmDir(name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Atomic write (tmp + rename) so a concurrent `ee list` never reads half a record. */
  save(rec: VmRecord): void {
    const dir = this.create(rec.name);
    const tmp = join(dir, 'vm.json.tmp');
    writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, join(dir, 'vm.json'));
  }

  load(name: string): VmRecord | null {
    try {
      return JSON.parse(readFileSync(join(this.vmDir(name), 'vm.json'), 'utf8')) as VmRecord;
    } catch {
      return null;
    }
  }

  names(): string[] {
    const dir = join(this.root, 'vms');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => existsSync(join(dir, n, 'vm.json')))
      .sort();
  }

  all(): VmRecord[] {
    return this.names()
      .map((n) => this.load(n))
      .filter((r): r is VmRecord => r !== null);
  }

  remove(name: string): void {
    rmSync(this.vmDir(name), { recursive: true, force: true });
  }
}

/** Alive and still our QEMU (the pid was not reused): its /proc cmdline names the VM. */
export function pidAlive(pid: number | null, name: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false; // a zombie is not running
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(name);
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

export function view(rec: VmRecord, now = Date.now()): VmView {
  const alive = pidAlive(rec.pid, rec.name);
  const state: VmState = alive ? 'running' : rec.stopped_at ? 'stopped' : 'exited';
  const uptime_s = alive ? Math.max(0, Math.round((now - Date.parse(rec.created_at)) / 1000)) : null;
  return { ...rec, state, uptime_s };
}

export function formatUptime(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(h / 24)}d`;
}
