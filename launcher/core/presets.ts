/**
 * Node-size presets (launcher.md §2): tiny 4 GiB / 4 vCPU, standard 16 GiB / 16 vCPU, llm from env
 * (EASYENCLAVE_LLM_MEM_GIB / _VCPUS / _DISK_GIB, defaults 16 / 8 / 80). Pure: the environment is passed in.
 */
import { usageError } from './errors';

export const NODE_SIZES = ['tiny', 'standard', 'llm'] as const;
export type NodeSize = (typeof NODE_SIZES)[number];

export interface Sizing {
  /** Preset name (what becomes config node_size, even when overridden). */
  size: NodeSize;
  memoryMiB: number;
  vcpus: number;
  /** Data disk in GiB; 0 = none (/data is tmpfs in the guest). */
  diskGiB: number;
}

type Env = Record<string, string | undefined>;

function envInt(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw usageError(`invalid integer for ${name}: ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function presets(env: Env = {}): Record<NodeSize, Omit<Sizing, 'size'>> {
  return {
    tiny: { memoryMiB: 4 * 1024, vcpus: 4, diskGiB: 0 },
    standard: { memoryMiB: 16 * 1024, vcpus: 16, diskGiB: 0 },
    llm: {
      memoryMiB: envInt(env, 'EASYENCLAVE_LLM_MEM_GIB', 16) * 1024,
      vcpus: envInt(env, 'EASYENCLAVE_LLM_VCPUS', 8),
      diskGiB: envInt(env, 'EASYENCLAVE_LLM_DISK_GIB', 80),
    },
  };
}

export function parseNodeSize(raw: string): NodeSize {
  const s = raw.trim().toLowerCase();
  if ((NODE_SIZES as readonly string[]).includes(s)) return s as NodeSize;
  throw usageError(`unknown node size ${JSON.stringify(raw)}: expected one of ${NODE_SIZES.join(', ')}`);
}

/** `4G`, `512M`, `2048MiB` or a plain integer (GiB) → MiB. */
export function parseMemory(raw: string): number {
  const m = /^\s*(\d+)\s*(g|gb|gib|m|mb|mib)?\s*$/i.exec(raw);
  if (!m || Number(m[1]) <= 0) throw usageError(`invalid memory ${JSON.stringify(raw)}: expected e.g. 4G or 512M`);
  const n = Number(m[1]);
  return (m[2] ?? 'g').toLowerCase().startsWith('m') ? n : n * 1024;
}

export function parsePositiveInt(raw: string, what: string, min = 1): number {
  if (!/^\s*\d+\s*$/.test(raw) || Number(raw) < min) {
    throw usageError(`invalid ${what} ${JSON.stringify(raw)}: expected an integer >= ${min}`);
  }
  return Number(raw);
}

export interface SizingInput {
  size?: string;
  memory?: string;
  vcpus?: string;
  disk?: string;
}

/** Preset = --node-size, else env EASYENCLAVE_DEFAULT_SIZE, else tiny; then individual overrides. */
export function resolveSizing(input: SizingInput, env: Env = {}): Sizing {
  const size = parseNodeSize(input.size ?? env.EASYENCLAVE_DEFAULT_SIZE ?? 'tiny');
  const p = presets(env)[size];
  return {
    size,
    memoryMiB: input.memory !== undefined ? parseMemory(input.memory) : p.memoryMiB,
    vcpus: input.vcpus !== undefined ? parsePositiveInt(input.vcpus, 'vcpus') : p.vcpus,
    diskGiB: input.disk !== undefined ? parsePositiveInt(input.disk, 'disk size', 0) : p.diskGiB,
  };
}

export function formatMemory(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}
