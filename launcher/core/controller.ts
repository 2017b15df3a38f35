/**
 * What the terminal UI needs from the launcher, as one interface over core (no React): the real one drives VMs on
 * this host and polls the control plane; UI tests pass a fake.
 */
import { normalizeDatacenter, normalizeOwner } from './config';
import { CpClient, type CpAgent } from './cp-client';
import { runPreflight, type Check } from './preflight';
import { NODE_SIZES, parseMemory, type NodeSize } from './presets';
import { launchVm, listVms, readTail, stopVm, type LauncherContext } from './vm';
import type { VmRecord, VmView } from './state';

export interface LaunchForm {
  image: string;
  size: NodeSize;
  memory: string;
  cpUrl: string;
  datacenter: string;
  owner: string;
  tdx: boolean;
}

export const emptyLaunchForm = (env: Record<string, string | undefined> = {}): LaunchForm => ({
  image: env.EE_IMAGE ?? '',
  size: 'tiny',
  memory: '',
  cpUrl: env.EASYENCLAVE_CP_URL ?? '',
  datacenter: '',
  owner: '',
  tdx: true,
});

export type FormErrors = Partial<Record<keyof LaunchForm, string>>;

/** Field-level validation shown in the form before anything is launched. */
export function validateLaunchForm(f: LaunchForm): FormErrors {
  const e: FormErrors = {};
  if (!f.image.trim()) e.image = 'required: an image directory or OCI reference';
  if (!NODE_SIZES.includes(f.size)) e.size = `one of ${NODE_SIZES.join(', ')}`;
  if (f.memory.trim()) {
    try {
      parseMemory(f.memory);
    } catch {
      e.memory = 'e.g. 4G or 512M';
    }
  }
  if (f.cpUrl.trim() && !/^https?:\/\/[^\s/]+\S*$/.test(f.cpUrl.trim())) e.cpUrl = 'an http(s):// URL';
  if (f.datacenter.trim() && !normalizeDatacenter(f.datacenter))
    e.datacenter = '<provider>:<location>, e.g. baremetal:fra1';
  if (f.owner.trim() && !normalizeOwner(f.owner)) e.owner = 'github:org or github:org/name';
  return e;
}

export interface Controller {
  list(): VmView[];
  launch(form: LaunchForm, progress: (m: string) => void): Promise<VmRecord>;
  stop(name: string): Promise<void>;
  /** The last `bytes` of the serial log. */
  logTail(name: string, bytes?: number): string;
  preflight(): Promise<Check[]>;
  /** Agents on the control plane by vm_name (empty when no CP is configured or it is unreachable). */
  cpAgents(): Promise<Map<string, CpAgent>>;
}

export function createController(ctx: LauncherContext): Controller {
  return {
    list: () => listVms(ctx),
    launch: (f, progress) =>
      launchVm(
        { ...ctx, progress },
        {
          image: f.image.trim(),
          size: f.size,
          memory: f.memory.trim() || undefined,
          cpUrl: f.cpUrl.trim() || undefined,
          datacenter: normalizeDatacenter(f.datacenter) ?? undefined,
          owner: normalizeOwner(f.owner) ?? undefined,
          tdx: f.tdx,
          attestation: f.tdx ? undefined : 'insecure-local',
        },
      ),
    stop: async (name) => {
      await stopVm(ctx, name, { timeoutMs: 10_000 });
    },
    logTail: (name, bytes = 64 * 1024) => {
      const rec = ctx.state.load(name);
      return rec ? readTail(rec.serial_log, bytes) : '';
    },
    preflight: () => runPreflight({ env: ctx.env, stateDir: ctx.state.root }),
    cpAgents: async () => {
      const urls = new Set(
        listVms(ctx)
          .map((v) => v.cp_url)
          .filter((u): u is string => Boolean(u)),
      );
      if (ctx.env.EASYENCLAVE_CP_URL) urls.add(ctx.env.EASYENCLAVE_CP_URL);
      const byName = new Map<string, CpAgent>();
      for (const url of urls) {
        const agents = await new CpClient(url, undefined, 5_000).agents().catch(() => []);
        for (const a of agents) byName.set(a.vm_name, a);
      }
      return byName;
    },
  };
}
