/**
 * Rate card, hourly cost, revenue split and capacity pricing (spec/billing.md §1, §2, §4.1 steps 9–13, §4.2, §6),
 * in integer micro-dollars.
 *
 * Rounding rule (the only one for usage): quantities are read as exact decimals, the cost is computed as an
 * exact rational and rounded ONCE, half-up, to the nearest micro-dollar at the end. Splits never round: they
 * floor and hand the leftover micros to the platform, so the parts always sum to the charge.
 *
 * Pure: no I/O, no clock, no randomness — Temporal workflows import this file directly.
 */
import { MICROS_PER_CENT, type Micros, assertMicros, splitProportional, toExactDecimal, usdToMicros } from './money';

/** Public rates in micro-dollars (billing.md §1). Storage is display-only: never used in charging. */
export const RATES_MICROS = {
  cpuPerVcpuHour: 40_000, // $0.04
  memoryPerGbHour: 5_000, // $0.005
  gpuPerGpuHour: 500_000, // $0.50
  storagePerGbMonth: 100_000, // $0.10 (display only)
} as const;

export interface RateCard {
  rates: {
    cpu_per_vcpu_hr: number;
    memory_per_gb_hr: number;
    gpu_per_gpu_hr: number;
    storage_per_gb_mo: number;
  };
  currency: 'USD';
}

/** Body of `GET /api/v1/billing/rates`, exactly v1's shape. Multipliers are deliberately not exposed. */
export function rateCard(): RateCard {
  return {
    rates: {
      cpu_per_vcpu_hr: RATES_MICROS.cpuPerVcpuHour / 1_000_000,
      memory_per_gb_hr: RATES_MICROS.memoryPerGbHour / 1_000_000,
      gpu_per_gpu_hr: RATES_MICROS.gpuPerGpuHour / 1_000_000,
      storage_per_gb_mo: RATES_MICROS.storagePerGbMonth / 1_000_000,
    },
    currency: 'USD',
  };
}

// Multipliers in tenths so they stay integers (1.5 → 15). Unknown keys → 1.0 (billing.md §2).
const SLA_TENTHS: Readonly<Record<string, number>> = { adhoc: 10, three_nines: 15, four_nines: 20, five_nines: 30 };
const SIZE_TENTHS: Readonly<Record<string, number>> = { default: 10, h100: 100 };

function tenths(table: Readonly<Record<string, number>>, key: string | null | undefined): number {
  // Exact-match lookup like v1's dict.get; Object.hasOwn keeps "constructor" & co. out.
  return typeof key === 'string' && Object.hasOwn(table, key) ? (table[key] as number) : 10;
}

/** SLA multiplier (adhoc 1, three_nines 1.5, four_nines 2, five_nines 3, anything else 1). */
export function slaMultiplier(slaClass?: string | null): number {
  return tenths(SLA_TENTHS, slaClass) / 10;
}

/** Machine-size multiplier (default 1, h100 10, anything else 1). */
export function machineSizeMultiplier(machineSize?: string | null): number {
  return tenths(SIZE_TENTHS, machineSize) / 10;
}

/** The smallest billable request (trust issue item 8): below it a deployment would run for (almost) nothing. */
export const MIN_BILLABLE = { cpuVcpus: 1, memoryGb: 1 } as const;

export interface HourlyCostInput {
  cpuVcpus: number;
  memoryGb: number;
  gpuCount: number;
  slaClass?: string | null;
  machineSize?: string | null;
}

function quantity(value: number, what: string): { digits: bigint; scale: number } {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number ≥ 0, got ${String(value)}`);
  }
  const d = toExactDecimal(value);
  return { digits: d.digits, scale: d.scale };
}

/** floor((num / den) + 1/2) for num ≥ 0, den > 0: round half-up. */
function roundHalfUp(num: bigint, den: bigint): bigint {
  return (2n * num + den) / (2n * den);
}

function safe(n: bigint, what: string): Micros {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} exceeds the safe integer range`);
  return Number(n);
}

/**
 * Hourly cost of a deployment in micro-dollars (billing.md §2):
 * `(cpu × 40_000 + memory × 5_000 + gpu × 500_000) × sla_multiplier × size_multiplier`.
 *
 * Rounding: each quantity is taken as the exact decimal it prints as (0.1 vCPU is one tenth, not the nearest
 * double), the whole expression is evaluated exactly, and the total is rounded half-up to the nearest
 * micro-dollar once. With whole-number quantities the result is always exact (all rates are whole micros and
 * the multipliers are whole tenths applied to multiples of 5_000), so rounding only touches fractional
 * vCPU/GB/GPU quantities. Negative or non-finite quantities throw RangeError.
 *
 * Examples: (2, 4, 0) → 100_000 ($0.10); (4, 8, 0, three_nines) → 300_000; (8, 32, 1, five_nines, h100) → 29_400_000.
 */
export function hourlyCostMicros(input: HourlyCostInput): Micros {
  const parts = [
    { q: quantity(input.cpuVcpus, 'cpuVcpus'), rate: BigInt(RATES_MICROS.cpuPerVcpuHour) },
    { q: quantity(input.memoryGb, 'memoryGb'), rate: BigInt(RATES_MICROS.memoryPerGbHour) },
    { q: quantity(input.gpuCount, 'gpuCount'), rate: BigInt(RATES_MICROS.gpuPerGpuHour) },
  ];
  const scale = Math.max(...parts.map((p) => p.q.scale));
  // base = Σ digits_i × 10^(scale − scale_i) × rate_i  /  10^scale   (micros)
  const baseNum = parts.reduce((acc, p) => acc + p.q.digits * 10n ** BigInt(scale - p.q.scale) * p.rate, 0n);
  const mult = BigInt(tenths(SLA_TENTHS, input.slaClass) * tenths(SIZE_TENTHS, input.machineSize)); // hundredths
  return safe(roundHalfUp(baseNum * mult, 10n ** BigInt(scale) * 100n), 'hourly cost');
}

const MS_PER_HOUR = 3_600_000n;

/**
 * Usage charge for `elapsedMs` at `hourlyMicros` (billing.md §4.1 step 6: charge = hourly_cost × hours),
 * rounded half-up to the nearest micro-dollar once. The hourly cost is already an integer (see
 * hourlyCostMicros), so one hour at 100_000/h is exactly 100_000.
 */
export function usageChargeMicros(input: { hourlyMicros: Micros; elapsedMs: number }): Micros {
  assertMicros(input.hourlyMicros, 'hourlyMicros');
  if (input.hourlyMicros < 0) throw new RangeError('hourlyMicros must be ≥ 0');
  if (!Number.isSafeInteger(input.elapsedMs) || input.elapsedMs < 0) {
    throw new RangeError(`elapsedMs must be a safe integer ≥ 0, got ${String(input.elapsedMs)}`);
  }
  return safe(roundHalfUp(BigInt(input.hourlyMicros) * BigInt(input.elapsedMs), MS_PER_HOUR), 'usage charge');
}

export const BPS_DENOMINATOR = 10_000;
/** Operator (agent) share of a charge when the agent has a ledger account (billing.md §4.1 step 9). */
export const DEFAULT_OPERATOR_BPS = 7_000;

/** int() then clamp to [0, 10000], like v1's `clamp(int(value), 0, 10000)`. */
function clampBps(bps: number, what: string): number {
  if (typeof bps !== 'number' || !Number.isFinite(bps)) throw new RangeError(`${what} must be a finite number`);
  return Math.min(BPS_DENOMINATOR, Math.max(0, Math.trunc(bps)));
}

export interface ContributorShare {
  accountId: string;
  shareBps: number;
  label?: string;
}

export interface ContributorCredit {
  accountId: string;
  amount: Micros;
  shareBps: number;
  label?: string;
}

export interface SplitChargeInput {
  chargeMicros: Micros;
  /** Operator share; pass 0 when the deployment's agent has no ledger account (then the platform keeps 100 %). */
  operatorBps?: number;
  /** `billing.contributor_pool_bps`: share of the platform cut routed to contributors; clamped to [0, 10000]. */
  contributorPoolBps: number;
  /** Resolved contributor rules (§4.2: explicit app rows in created_at order, else maintainerAutoShares). */
  contributorShares: readonly ContributorShare[];
}

export interface SplitChargeResult {
  /** Credit for the agent operator (`earning`). */
  operator: Micros;
  /** charge − operator, before contributors. */
  platformCut: Micros;
  /** The contributor pool: floor(platformCut × poolBps / 10000). */
  pool: Micros;
  /** One entry per input share, same order (duplicates kept); amounts may be 0 — write only those > 0. */
  contributors: ContributorCredit[];
  /** What stays with the platform (`platform_revenue`): platformCut − Σ contributors. */
  platform: Micros;
  /** Σ max(0, shareBps) > 10000: no contributor gets anything and the whole cut stays with the platform (warn). */
  overallocated: boolean;
}

/**
 * Split a charge between the agent operator, the app's contributors and the platform (billing.md §4.1 9–13).
 * Always `operator + Σ contributors.amount + platform === chargeMicros`.
 *
 * - operator = floor(charge × operatorBps / 10000); the leftover micro goes to the platform side.
 * - platformCut = charge − operator; pool = floor(platformCut × clamp(poolBps) / 10000).
 * - Contributors with total T = Σ max(0, bps): T > 10000 → nothing (overallocated); otherwise they share
 *   floor(pool × T / 10000) in proportion to their bps (largest remainder, exact), so bps below 10000 leave the
 *   unallocated part with the platform. No shares, or pool 0 → everything in the cut stays with the platform.
 */
export function splitCharge(input: SplitChargeInput): SplitChargeResult {
  const charge = input.chargeMicros;
  assertMicros(charge, 'chargeMicros');
  if (charge < 0) throw new RangeError('chargeMicros must be ≥ 0');
  const operatorBps = clampBps(input.operatorBps ?? DEFAULT_OPERATOR_BPS, 'operatorBps');
  const poolBps = clampBps(input.contributorPoolBps, 'contributorPoolBps');
  const den = BigInt(BPS_DENOMINATOR);

  const operator = Number((BigInt(charge) * BigInt(operatorBps)) / den);
  const platformCut = charge - operator;
  const pool = Number((BigInt(platformCut) * BigInt(poolBps)) / den);

  const weights = input.contributorShares.map((s) => {
    if (!Number.isSafeInteger(s.shareBps)) throw new RangeError(`shareBps must be an integer for ${s.accountId}`);
    return Math.max(0, s.shareBps);
  });
  const totalBps = weights.reduce((a, b) => a + b, 0);
  const overallocated = totalBps > BPS_DENOMINATOR;

  let amounts = weights.map(() => 0);
  if (pool > 0 && totalBps > 0 && !overallocated) {
    // Rules summing below 10000 hand out only their part of the pool; the rest stays with the platform.
    const allocated = Number((BigInt(pool) * BigInt(totalBps)) / den);
    amounts = splitProportional(allocated, weights);
  }
  const contributors = input.contributorShares.map((s, i) => {
    const credit: ContributorCredit = { accountId: s.accountId, amount: amounts[i] ?? 0, shareBps: s.shareBps };
    if (s.label !== undefined) credit.label = s.label;
    return credit;
  });
  const distributed = amounts.reduce((a, b) => a + b, 0);
  return { operator, platformCut, pool, contributors, platform: platformCut - distributed, overallocated };
}

/**
 * Maintainer fallback rules (billing.md §4.2 step 2) for the n accounts already resolved from the app's
 * maintainers, in maintainer order: 10000 div n each, the first 10000 mod n get one more; label `maintainer-auto`.
 */
export function maintainerAutoShares(accountIds: readonly string[]): ContributorShare[] {
  const n = accountIds.length;
  if (n === 0) return [];
  const even = Math.floor(BPS_DENOMINATOR / n);
  const rem = BPS_DENOMINATOR - even * n;
  return accountIds.map((accountId, i) => ({
    accountId,
    shareBps: i < rem ? even + 1 : even,
    label: 'maintainer-auto',
  }));
}

export type CapacityNodeSize = 'tiny' | 'standard' | 'llm';

/** Monthly price per warm unit, in micros. */
export type CapacityPrices = Record<CapacityNodeSize, Micros>;

export const DEFAULT_CAPACITY_PRICES: Readonly<CapacityPrices> = {
  tiny: 25_000_000,
  standard: 100_000_000,
  llm: 500_000_000,
};

/**
 * Capacity price settings (`billing.capacity_price_<size>_monthly_usd`) → micros: blank or unparsable
 * (including more than 6 decimals) → the default, negative → 0 (billing.md §6, settings.md #44–46).
 */
export function capacityPricesFromSettings(
  raw: Partial<Record<CapacityNodeSize, string | null | undefined>>,
): CapacityPrices {
  const one = (size: CapacityNodeSize): Micros => {
    const text = raw[size];
    if (text === undefined || text === null || text.trim() === '') return DEFAULT_CAPACITY_PRICES[size];
    let micros: Micros;
    try {
      micros = usdToMicros(text);
    } catch {
      return DEFAULT_CAPACITY_PRICES[size];
    }
    return Math.max(0, micros);
  };
  return { tiny: one('tiny'), standard: one('standard'), llm: one('llm') };
}

export interface CapacityPriceInput {
  nodeSize: string;
  months: number;
  /** Warm units bought; default 1. */
  minWarmCount?: number;
  /** Monthly unit prices in micros; missing sizes use the defaults. Negative prices count as 0. */
  prices?: Partial<CapacityPrices>;
}

/**
 * Capacity purchase price in micros (billing.md §6): `round(unit_price × min_warm_count × months, 2)`.
 * Sizes are matched trimmed and lower-cased; unknown sizes use the tiny price. The product is exact, then
 * rounded half-up to whole cents (the "2 decimals" of v1) — it only matters for sub-cent unit prices.
 * months and minWarmCount must be safe integers ≥ 0 (the API enforces ≥ 1).
 */
export function capacityPriceMicros(input: CapacityPriceInput): Micros {
  const minWarmCount = input.minWarmCount ?? 1;
  for (const [what, v] of [
    ['months', input.months],
    ['minWarmCount', minWarmCount],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what} must be a safe integer ≥ 0, got ${String(v)}`);
  }
  const key = input.nodeSize.trim().toLowerCase();
  const size: CapacityNodeSize = key === 'standard' || key === 'llm' ? key : 'tiny';
  const unit = input.prices?.[size] ?? DEFAULT_CAPACITY_PRICES[size];
  assertMicros(unit, `capacity price for ${size}`);
  const total = BigInt(Math.max(0, unit)) * BigInt(minWarmCount) * BigInt(input.months);
  const cent = BigInt(MICROS_PER_CENT);
  return safe(roundHalfUp(total, cent) * cent, 'capacity price');
}
