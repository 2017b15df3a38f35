/**
 * Host preflight (launcher.md §8, extended past v1): every check says what it saw and, when it fails, a remedy a
 * person can act on. Paths sit under env EE_HOST_ROOT (default `/`) so tests can stand up a fake TDX host.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { missingImageFiles } from './image';
import { DEFAULT_FIRMWARE, DEFAULT_QEMU } from './qemu';

type Env = Record<string, string | undefined>;

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  remedy?: string;
}

export function hostPaths(env: Env) {
  const root = env.EE_HOST_ROOT || '/';
  return {
    kvm: join(root, 'dev/kvm'),
    tdxParam: join(root, 'sys/module/kvm_intel/parameters/tdx'),
    qgsSocket: env.EE_QGS_SOCKET || join(root, 'var/run/tdx-qgs/qgs.socket'),
    vhostVsock: join(root, 'dev/vhost-vsock'),
    firmware: join(root, DEFAULT_FIRMWARE),
  };
}

/** Minimum QEMU for TDX guests: upstream 10.1 (the Canonical TDX stack's 8.2 also carries `tdx-guest`). */
const MIN_QEMU: [number, number] = [8, 2];
const MIN_FREE_GIB = 10;

function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(timeoutMs, () => done(false));
  });
}

export interface PreflightOptions {
  env: Env;
  stateDir: string;
  qemu?: string;
  /** Image directory to check, when one is known. */
  image?: string;
  /** false: checks for a plain (--no-tdx) guest; TDX-only checks become warnings. */
  tdx?: boolean;
}

export async function runPreflight(o: PreflightOptions): Promise<Check[]> {
  const p = hostPaths(o.env);
  const tdx = o.tdx ?? true;
  const tdxOnly = (s: CheckStatus): CheckStatus => (s === 'fail' && !tdx ? 'warn' : s);
  const checks: Check[] = [];

  const kvm = existsSync(p.kvm);
  checks.push({
    id: 'kvm',
    title: 'KVM device',
    status: kvm ? 'ok' : tdxOnly('fail'),
    detail: kvm ? `${p.kvm} present` : `${p.kvm} missing`,
    remedy: kvm
      ? undefined
      : 'enable VT-x in the BIOS and load kvm_intel (modprobe kvm_intel); --no-tdx boots under TCG',
  });

  let tdxParam = '';
  try {
    tdxParam = readFileSync(p.tdxParam, 'utf8').trim();
  } catch {
    // module not loaded or no TDX support in this kernel
  }
  const tdxOn = tdxParam === 'Y' || tdxParam === '1';
  checks.push({
    id: 'tdx',
    title: 'TDX in KVM',
    status: tdxOn ? 'ok' : tdxOnly('fail'),
    detail: tdxParam ? `${p.tdxParam} = ${tdxParam}` : `${p.tdxParam} not found`,
    remedy: tdxOn
      ? undefined
      : 'boot a TDX-enabled host kernel, enable TDX in the BIOS and load kvm_intel with tdx=1 (options kvm_intel tdx=1)',
  });

  const qgs = existsSync(p.qgsSocket) && (await socketAnswers(p.qgsSocket));
  const vsock = existsSync(p.vhostVsock);
  checks.push({
    id: 'qgs',
    title: 'Quote generation (QGS)',
    status: qgs && vsock ? 'ok' : tdxOnly('fail'),
    detail: `${p.qgsSocket} ${qgs ? 'answers' : existsSync(p.qgsSocket) ? 'does not answer' : 'missing'}; ${p.vhostVsock} ${vsock ? 'present' : 'missing'}`,
    remedy:
      qgs && vsock
        ? undefined
        : 'install and start the Intel QGS (apt install tdx-qgs; systemctl enable --now qgsd) and load vhost_vsock; guests ask it for quotes at vsock CID 2 port 4050',
  });

  const qemu = o.qemu ?? o.env.EE_QEMU ?? DEFAULT_QEMU;
  const v = spawnSync(qemu, ['--version'], { encoding: 'utf8', env: o.env, timeout: 10_000 });
  const m = /version (\d+)\.(\d+)(?:\.(\d+))?/.exec(v.stdout ?? '');
  if (v.error || !m) {
    checks.push({
      id: 'qemu',
      title: 'QEMU',
      status: 'fail',
      detail: v.error ? `${qemu}: ${v.error.message}` : `${qemu} --version printed no version`,
      remedy: 'apt-get install qemu-system-x86 (a TDX-capable build on TDX hosts), or set EE_QEMU',
    });
  } else {
    const [maj, min] = [Number(m[1]), Number(m[2])];
    const recent = maj > MIN_QEMU[0] || (maj === MIN_QEMU[0] && min >= MIN_QEMU[1]);
    const objects = tdx
      ? spawnSync(qemu, ['-object', 'help'], { encoding: 'utf8', env: o.env, timeout: 10_000 })
      : null;
    const hasTdx = objects ? /tdx-guest/.test(objects.stdout ?? '') : true;
    checks.push({
      id: 'qemu',
      title: 'QEMU',
      status: recent && hasTdx ? 'ok' : tdxOnly('fail'),
      detail: `${qemu} ${m[0].slice(8)}${hasTdx ? '' : ' without tdx-guest support'}`,
      remedy:
        recent && hasTdx
          ? undefined
          : `install a TDX-capable QEMU >= ${MIN_QEMU.join('.')} (upstream 10.1+, or the Canonical TDX stack)`,
    });
  }

  if (tdx) {
    const fw = existsSync(p.firmware);
    checks.push({
      id: 'firmware',
      title: 'TDVF firmware',
      status: fw ? 'ok' : 'fail',
      detail: `${p.firmware} ${fw ? 'present' : 'missing'}`,
      remedy: fw
        ? undefined
        : 'install the TDX OVMF build (apt install ovmf from the TDX stack); the MRTD depends on this file',
    });
  }

  try {
    const dir = existsSync(o.stateDir) ? o.stateDir : '/';
    const s = statfsSync(dir);
    const freeGiB = (s.bavail * s.bsize) / 1024 ** 3;
    checks.push({
      id: 'disk',
      title: 'Disk space',
      status: freeGiB >= MIN_FREE_GIB ? 'ok' : freeGiB >= 2 ? 'warn' : 'fail',
      detail: `${freeGiB.toFixed(1)} GiB free under ${dir}`,
      remedy:
        freeGiB >= MIN_FREE_GIB
          ? undefined
          : `free at least ${MIN_FREE_GIB} GiB (images, data disks) or set EE_STATE_DIR elsewhere`,
    });
  } catch (err) {
    checks.push({ id: 'disk', title: 'Disk space', status: 'warn', detail: (err as Error).message });
  }

  if (o.image !== undefined) {
    const missing = existsSync(o.image) ? missingImageFiles(o.image) : ['the directory itself'];
    checks.push({
      id: 'image',
      title: 'VM image',
      status: missing.length ? 'fail' : 'ok',
      detail: missing.length ? `${o.image}: missing ${missing.join(', ')}` : `${o.image} has kernel and initrd`,
      remedy: missing.length
        ? 'build the VM image (image/README.md) or pass the directory holding its output'
        : undefined,
    });
  }
  return checks;
}

export const preflightPassed = (checks: Check[]) => checks.every((c) => c.status !== 'fail');
