/**
 * Hourly-charge planning (spec/billing.md §4.1): from a deployment, its hourly cost, the elapsed time and the
 * resolved beneficiaries to the exact ledger entries of one charge, each under an idempotency key.
 *
 * Pure: no I/O, no clock, no randomness — the billing workflows import this file directly (hour ids).
 */
import { HOUR_MS } from './time';
import type { Micros } from './money';
import { splitCharge, usageChargeMicros, type ContributorShare } from './pricing';

/** Below this much unbilled time a deployment is skipped without advancing last_charge_time (v1: 0.0167 h). */
export const MIN_CHARGE_MS = 60_000;

/** `2026-11-24T05` for any instant inside that UTC hour. */
export function hourLabel(at: Date | string | number): string {
  const ms = new Date(at).getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`invalid time: ${String(at)}`);
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString().slice(0, 13);
}

/** `2026-11-24T05` → `2026-11-24T05:00:00.000Z`; throws on anything else. */
export function hourStartIso(label: string): string {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(label)) throw new RangeError(`not an hour label: ${label}`);
  const d = new Date(`${label}:00:00.000Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 13) !== label) {
    throw new RangeError(`not an hour label: ${label}`);
  }
  return d.toISOString();
}

/** Ledger keys of one deployment's charge for one hour: a re-run, a retry or a crash can only find them taken. */
export const chargeKeys = {
  deployer: (deploymentId: string, hour: string) => `charge:${deploymentId}:${hour}:deployer`,
  operator: (deploymentId: string, hour: string) => `charge:${deploymentId}:${hour}:operator`,
  contributor: (deploymentId: string, hour: string, accountId: string) =>
    `charge:${deploymentId}:${hour}:contributor:${accountId}`,
  platform: (deploymentId: string, hour: string) => `charge:${deploymentId}:${hour}:platform`,
};

export type ChargeTxType = 'charge' | 'earning' | 'contributor_credit' | 'platform_revenue';

export interface PlannedEntry {
  accountId: string;
  amount: Micros;
  txType: ChargeTxType;
  description: string;
  referenceId: string;
  ledgerKey: string;
  /** Only the deployer's debit is refused when it would overdraw. */
  forbidNegative: boolean;
}

export interface ChargePlanInput {
  deploymentId: string;
  hour: string;
  deployerAccountId: string;
  hourlyMicros: Micros;
  elapsedMs: number;
  /** The agent's operator account when it exists; null → the operator share goes to the platform (§4.1 step 9). */
  operatorAccountId: string | null;
  contributorPoolBps: number;
  /** Resolved contributor rules (existing accounts only), §4.2. */
  contributors: readonly ContributorShare[];
  /** `billing.platform_account_id` when it names an existing account; null → the remainder is not recorded. */
  platformAccountId: string | null;
  appName: string;
}

export interface ChargePlan {
  charge: Micros;
  operator: Micros;
  contributors: Micros;
  platform: Micros;
  /** Platform remainder not written because no platform account is configured. */
  unrecorded: Micros;
  overallocated: boolean;
  entries: PlannedEntry[];
}

/**
 * The entries of one hourly charge. Zero amounts are not written; a contributor account listed twice (two maintainers
 * mapping to one account) gets one merged entry so its key stays unique. Σ credits + unrecorded === charge.
 */
export function planCharge(input: ChargePlanInput): ChargePlan {
  const charge = usageChargeMicros({ hourlyMicros: input.hourlyMicros, elapsedMs: input.elapsedMs });
  const split = splitCharge({
    chargeMicros: charge,
    operatorBps: input.operatorAccountId ? undefined : 0,
    contributorPoolBps: input.contributorPoolBps,
    contributorShares: input.contributors,
  });
  const { deploymentId: id, hour } = input;
  const hours = (input.elapsedMs / HOUR_MS).toFixed(2);
  const entries: PlannedEntry[] = [];
  const push = (e: Omit<PlannedEntry, 'referenceId' | 'forbidNegative'>, forbidNegative = false) => {
    if (e.amount !== 0) entries.push({ ...e, referenceId: id, forbidNegative });
  };

  push(
    {
      accountId: input.deployerAccountId,
      amount: -charge,
      txType: 'charge',
      description: `Deployment ${id} usage (${hours} hours)`,
      ledgerKey: chargeKeys.deployer(id, hour),
    },
    true,
  );
  if (input.operatorAccountId) {
    push({
      accountId: input.operatorAccountId,
      amount: split.operator,
      txType: 'earning',
      description: `Agent revenue from deployment ${id}`,
      ledgerKey: chargeKeys.operator(id, hour),
    });
  }
  const merged = new Map<string, { amount: Micros; label: string }>();
  for (const c of split.contributors) {
    const prev = merged.get(c.accountId);
    merged.set(c.accountId, { amount: (prev?.amount ?? 0) + c.amount, label: prev?.label ?? c.label ?? '' });
  }
  let contributors = 0;
  for (const [accountId, c] of merged) {
    contributors += c.amount;
    push({
      accountId,
      amount: c.amount,
      txType: 'contributor_credit',
      description: `Contributor credit for ${input.appName || 'deployment'} (${hours}h, ${c.label || 'configured'})`,
      ledgerKey: chargeKeys.contributor(id, hour, accountId),
    });
  }
  if (input.platformAccountId) {
    push({
      accountId: input.platformAccountId,
      amount: split.platform,
      txType: 'platform_revenue',
      description: `Platform revenue from deployment ${id}`,
      ledgerKey: chargeKeys.platform(id, hour),
    });
  }
  return {
    charge,
    operator: split.operator,
    contributors,
    platform: input.platformAccountId ? split.platform : 0,
    unrecorded: input.platformAccountId ? 0 : split.platform,
    overallocated: split.overallocated,
    entries,
  };
}
