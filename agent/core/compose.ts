/**
 * What the agent does to a tenant's compose file before running it: the deployment's paid-for limits on EVERY
 * service (a tenant's larger values are lowered, smaller ones kept), GPU access only as many devices as paid for,
 * and the workload files' names kept inside the workload directory.
 */
import { isAbsolute, normalize, resolve, sep } from 'node:path';
import { parse, stringify } from 'yaml';
import type { Resources } from './deploy-payload';

export class ComposeError extends Error {
  override readonly name = 'ComposeError';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const child = (o: Obj, k: string): Obj => {
  if (!isObj(o[k])) o[k] = {};
  return o[k] as Obj;
};

/** Bytes of a compose memory value (`512m`, `2g`, `1073741824`, `1.5gb`); null when unreadable. */
export function memoryBytes(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v);
  if (!m) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as 'k'];
  return Number(m[1]) * mult;
}

const isGpuDevice = (d: unknown) =>
  isObj(d) &&
  ((Array.isArray(d.capabilities) && d.capabilities.includes('gpu')) ||
    (typeof d.driver === 'string' && d.driver.toLowerCase() === 'nvidia'));

/** The compose YAML with `resources` applied to every service. Throws ComposeError on a malformed file. */
export function applyResourceLimits(composeYaml: string, resources: Resources | null | undefined): string {
  let doc: unknown;
  try {
    doc = parse(composeYaml);
  } catch (err) {
    throw new ComposeError(`compose file is not valid YAML: ${(err as Error).message}`);
  }
  if (!isObj(doc) || !isObj(doc.services) || Object.keys(doc.services).length === 0) {
    throw new ComposeError('compose file has no services');
  }
  if (!resources) return composeYaml;
  const memBytes = Math.floor(resources.memory_gb * 1024 ** 3);
  for (const [name, svc] of Object.entries(doc.services)) {
    if (!isObj(svc)) throw new ComposeError(`compose service ${name} is not a mapping`);
    const limits = child(child(child(svc, 'deploy'), 'resources'), 'limits');
    // Legacy per-service keys would conflict with (or bypass) deploy.resources: fold them in, then drop them.
    const tenantCpus = [limits.cpus, svc.cpus].map((v) => Number(v)).filter((n) => Number.isFinite(n) && n > 0);
    const tenantMem = [limits.memory, svc.mem_limit].map(memoryBytes).filter((n): n is number => n !== null && n > 0);
    for (const k of [
      'cpus',
      'cpu_count',
      'cpu_percent',
      'cpu_quota',
      'cpu_period',
      'mem_limit',
      'memswap_limit',
      'gpus',
    ]) {
      delete svc[k];
    }
    limits.cpus = String(Math.min(resources.cpu_vcpus, ...tenantCpus));
    limits.memory = `${Math.floor(Math.min(memBytes, ...tenantMem) / 1024 ** 2)}M`;

    const reservations = child(child(svc.deploy as Obj, 'resources'), 'reservations');
    const devices = Array.isArray(reservations.devices) ? reservations.devices.filter((d) => !isGpuDevice(d)) : [];
    if (resources.gpu_count > 0) {
      devices.push({ driver: 'nvidia', count: resources.gpu_count, capabilities: ['gpu'] });
    }
    if (devices.length > 0) reservations.devices = devices;
    else delete reservations.devices;
    // Memory reservations above the limit would make the container unschedulable.
    const reservedMem = memoryBytes(reservations.memory);
    if (reservedMem !== null && reservedMem > memBytes) reservations.memory = limits.memory;
    const reservedCpus = Number(reservations.cpus);
    if (Number.isFinite(reservedCpus) && reservedCpus > resources.cpu_vcpus) reservations.cpus = limits.cpus;
    if (Object.keys(reservations).length === 0) delete (svc.deploy as { resources: Obj }).resources.reservations;
  }
  return stringify(doc);
}

/**
 * A build-context file name as a path inside `dir`, or a ComposeError: no absolute paths, no `..`, no NUL, no
 * names that would replace the compose file or the env file the agent writes.
 */
export function safeWorkloadPath(dir: string, name: string): string {
  if (name === '' || name.includes('\0') || isAbsolute(name) || name.includes('\\')) {
    throw new ComposeError(`build_context file name ${JSON.stringify(name)} is not a relative path`);
  }
  const norm = normalize(name);
  if (norm.split(sep).includes('..') || norm === '.') {
    throw new ComposeError(`build_context file name ${JSON.stringify(name)} leaves the workload directory`);
  }
  if (['docker-compose.yml', '.env'].includes(norm)) {
    throw new ComposeError(`build_context file name ${JSON.stringify(name)} is reserved`);
  }
  const full = resolve(dir, norm);
  if (!full.startsWith(resolve(dir) + sep)) {
    throw new ComposeError(`build_context file name ${JSON.stringify(name)} leaves the workload directory`);
  }
  return full;
}

/** `.env` text for compose interpolation; keys must be shell-like names, values single-line. */
export function envFileText(env: Record<string, string>): string {
  let out = '';
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ComposeError(`env name ${JSON.stringify(k)} is not valid`);
    if (/[\r\n]/.test(v)) throw new ComposeError(`env value of ${k} must be a single line`);
    out += `${k}=${JSON.stringify(v)}\n`;
  }
  return out;
}
