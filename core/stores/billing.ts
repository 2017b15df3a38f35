/**
 * Hourly charging, insufficient-funds bookkeeping and capacity purchase charges against the database
 * (spec/billing.md §4–§6). Exactly-once rests on two things, both inside ONE transaction per deployment:
 * the deployment row is locked and charged only when its last_charge_time is before the hour being billed, and
 * every ledger row carries the key `charge:<deployment>:<hour>:<role>` (transactions.ledger_key is UNIQUE).
 */
import type { Knex } from 'knex';
import { MIN_CHARGE_MS, planCharge } from '../billing';
import { isPostgres } from '../db/connection';
import { nowIso, toIso, type DeploymentRow } from '../db/tables';
import { formatUsd, type Micros } from '../money';
import { capacityPriceMicros, hourlyCostMicros, type CapacityPrices, type ContributorShare } from '../pricing';
import { appendLedgerEntry, appendLockedLedgerGroups, InsufficientFundsError, lockLedgerAccounts } from './ledger';
import { resolveContributorShares } from './revenue-shares';

export interface ChargeSettings {
  contributorPoolBps: number;
  /** Blank → the platform remainder is not recorded (billing.md §4.1 step 13). */
  platformAccountId: string;
}

export interface ChargeInput extends ChargeSettings {
  deploymentId: string;
  /** UTC hour label `YYYY-MM-DDTHH`; the charge covers usage up to its start (`chargeTime`). */
  hour: string;
  chargeTime: string;
}

export type ChargeOutcome =
  | {
      status: 'charged';
      charge: Micros;
      operator: Micros;
      contributors: Micros;
      platform: Micros;
      unrecorded: Micros;
      ledgerRows: number;
    }
  | { status: 'insufficient_funds'; charge: Micros; balance: Micros }
  | {
      status: 'skipped';
      reason: 'missing' | 'not_running' | 'no_account' | 'already_charged' | 'too_soon' | 'agent_released';
    };

/** Per-batch memo of contributor rules per app (resolved once per batch, not per deployment). */
export type SharesCache = Map<string, Promise<ContributorShare[]>>;

type Db = Knex | Knex.Transaction;

/** Running, billable (has a deployer account) deployment ids after `after`, id order: the run's paging cursor. */
export async function listChargeableDeploymentIds(db: Db, after: string, limit: number): Promise<string[]> {
  const rows = (await db('deployments')
    .where({ status: 'running' })
    .whereNotNull('account_id')
    .andWhere('deployment_id', '>', after)
    .orderBy('deployment_id', 'asc')
    .limit(limit)
    .select('deployment_id')) as { deployment_id: string }[];
  return rows.map((r) => r.deployment_id);
}

function appNameOf(row: DeploymentRow): string {
  if (row.app_name) return row.app_name;
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = typeof row.config === 'string' ? JSON.parse(row.config) : row.config;
    if (parsed && typeof parsed === 'object') config = parsed as Record<string, unknown>;
  } catch {
    // unparsable config: no app name
  }
  const pick = (v: unknown) => (typeof v === 'string' ? v : '');
  return pick(config.app_name) || pick(config.service_name) || '';
}

/**
 * Charges one deployment for the time up to `chargeTime` (billing.md §4.1), atomically: the debit, the operator /
 * contributor / platform credits and the deployment's last_charge_time + total_charged, or nothing. A deployer
 * who cannot cover the charge is marked `insufficient_funds` and nothing is written to the ledger.
 */
export async function chargeDeployment(
  db: Knex,
  input: ChargeInput,
  shares: SharesCache = new Map(),
): Promise<ChargeOutcome> {
  const { deploymentId, ...rest } = input;
  const out = await chargeDeployments(db, { ...rest, deploymentIds: [deploymentId] }, shares);
  return out.get(deploymentId)!;
}

export interface ChargeManyInput extends ChargeSettings {
  deploymentIds: readonly string[];
  /**
   * `YYYY-MM-DDTHH` for an hourly charge, FINAL_CHARGE for the last partial period of a stopping deployment, or
   * moveChargeLabel(seq) for the partial period before a failover.
   */
  hour: string;
  chargeTime: string;
}

/** Ledger-key label of the last partial period charged when a deployment stops (`charge:<id>:final:<role>`). */
export const FINAL_CHARGE = 'final';
/**
 * Ledger-key label of the partial period charged when a deployment moves off an unhealthy agent (failover, issue
 * #20): `charge:<id>:move<seq>:<role>`, one per move, credited to the operator of the agent it leaves.
 */
export const moveChargeLabel = (seq: number) => `move${seq}`;
const isProrated = (label: string) => label === FINAL_CHARGE || /^move\d+$/.test(label);
/** The final charge is prorated to the second (an hourly charge waits for MIN_CHARGE_MS). */
const FINAL_MIN_CHARGE_MS = 1_000;

/**
 * chargeDeployment for a chunk of deployments in ONE transaction with a constant number of queries (rows locked in
 * id order, then every account in sorted order; keys, heads and inserts in bulk). Each deployment's charge and split
 * stay all-or-nothing (a deployer who cannot pay only skips their group), and the chunk commits or rolls back as a
 * whole — a retry re-runs it and finds the charged ones done (last_charge_time) and their keys taken.
 */
export async function chargeDeployments(
  db: Knex,
  input: ChargeManyInput,
  shares: SharesCache = new Map(),
): Promise<Map<string, ChargeOutcome>> {
  const final = isProrated(input.hour);
  const chargeMs = new Date(input.chargeTime).getTime();
  const minChargeMs = final ? FINAL_MIN_CHARGE_MS : MIN_CHARGE_MS;
  const ids = [...new Set(input.deploymentIds)].sort();
  const platformId = input.platformAccountId.trim();
  return db.transaction(async (trx) => {
    const out = new Map<string, ChargeOutcome>(ids.map((id) => [id, { status: 'skipped', reason: 'missing' }]));
    const q = trx<DeploymentRow>('deployments').whereIn('deployment_id', ids).orderBy('deployment_id');
    const rows = (isPostgres(trx) ? await q.forUpdate() : await q) as DeploymentRow[];

    const work: {
      row: DeploymentRow & { account_id: string };
      elapsedMs: number;
      hourlyMicros: Micros;
      app: string;
    }[] = [];
    for (const row of rows) {
      const id = row.deployment_id;
      if (row.status !== 'running') out.set(id, { status: 'skipped', reason: 'not_running' });
      else if (!row.account_id) out.set(id, { status: 'skipped', reason: 'no_account' });
      else {
        const from = toIso(row.last_charge_time) ?? toIso(row.started_at) ?? toIso(row.created_at);
        const rawMs = from ? chargeMs - new Date(from).getTime() : 0;
        // The final period is billed in whole seconds (prorated to the second); hourly periods as they are.
        const elapsedMs = final ? Math.floor(rawMs / 1000) * 1000 : rawMs;
        if (elapsedMs <= 0) out.set(id, { status: 'skipped', reason: 'already_charged' });
        else if (elapsedMs < minChargeMs) out.set(id, { status: 'skipped', reason: 'too_soon' });
        else {
          const hourlyMicros = hourlyCostMicros({
            cpuVcpus: Number(row.cpu_vcpus),
            memoryGb: Number(row.memory_gb),
            gpuCount: Number(row.gpu_count),
            slaClass: row.sla_class,
            machineSize: row.machine_size,
          });
          work.push({
            row: row as DeploymentRow & { account_id: string },
            elapsedMs,
            hourlyMicros,
            app: appNameOf(row),
          });
        }
      }
    }
    if (work.length === 0) return out;

    const agentIds = [...new Set(work.map((w) => w.row.agent_id))];
    const agents = (await trx('agents')
      .whereIn('agent_id', agentIds)
      .select('agent_id', 'account_id', 'current_deployment_id')) as {
      agent_id: string;
      account_id: string | null;
      current_deployment_id: string | null;
    }[];
    const operatorOf = new Map(agents.map((a) => [a.agent_id, a.account_id]));
    if (!final) {
      // Nothing keeps running on paper: an hour is billed only while the deployment's agent exists and does not
      // hold another deployment (a deleted or re-used agent no longer runs this workload).
      const agentOf = new Map(agents.map((a) => [a.agent_id, a]));
      for (let i = work.length - 1; i >= 0; i--) {
        const w = work[i]!;
        const a = agentOf.get(w.row.agent_id);
        if (!a || (a.current_deployment_id !== null && a.current_deployment_id !== w.row.deployment_id)) {
          out.set(w.row.deployment_id, { status: 'skipped', reason: 'agent_released' });
          work.splice(i, 1);
        }
      }
      if (work.length === 0) return out;
    }
    const rulesOf = new Map<string, ContributorShare[]>();
    for (const app of new Set(work.map((w) => w.app))) {
      let p = shares.get(app);
      if (!p) {
        p = resolveContributorShares(trx, app);
        shares.set(app, p);
      }
      rulesOf.set(app, await p);
    }
    // Lock every account this chunk may touch and learn which still exist: a deleted operator, contributor or
    // platform account leaves its share with the platform / unrecorded instead of failing the charge.
    const existing = await lockLedgerAccounts(trx, [
      ...work.map((w) => w.row.account_id),
      ...work.map((w) => operatorOf.get(w.row.agent_id)).filter((a): a is string => !!a),
      ...(platformId ? [platformId] : []),
      ...[...rulesOf.values()].flat().map((c) => c.accountId),
    ]);

    const plans = work.map((w) => {
      if (!existing.has(w.row.account_id)) throw new Error(`deployer account ${w.row.account_id} not found`);
      const operator = operatorOf.get(w.row.agent_id);
      return planCharge({
        deploymentId: w.row.deployment_id,
        hour: input.hour,
        deployerAccountId: w.row.account_id,
        hourlyMicros: w.hourlyMicros,
        elapsedMs: w.elapsedMs,
        operatorAccountId: operator && existing.has(operator) ? operator : null,
        contributorPoolBps: input.contributorPoolBps,
        contributors: (rulesOf.get(w.app) ?? []).filter((c) => existing.has(c.accountId)),
        platformAccountId: platformId && existing.has(platformId) ? platformId : null,
        appName: w.app,
      });
    });
    const results = await appendLockedLedgerGroups(
      trx,
      plans.map((p) => p.entries),
    );

    const charged: { id: string; charge: Micros }[] = [];
    const unfunded: string[] = [];
    results.forEach((r, i) => {
      const w = work[i]!;
      const plan = plans[i]!;
      if (r instanceof InsufficientFundsError) {
        unfunded.push(w.row.deployment_id);
        out.set(w.row.deployment_id, { status: 'insufficient_funds', charge: plan.charge, balance: r.balance });
        return;
      }
      charged.push({ id: w.row.deployment_id, charge: plan.charge });
      out.set(w.row.deployment_id, {
        status: 'charged',
        charge: plan.charge,
        operator: plan.operator,
        contributors: plan.contributors,
        platform: plan.platform,
        unrecorded: plan.unrecorded,
        ledgerRows: plan.entries.length,
      });
    });
    if (unfunded.length > 0) {
      await trx('deployments')
        .whereIn('deployment_id', unfunded)
        .where({ status: 'running' })
        .update({ status: 'insufficient_funds', error: 'Insufficient funds' });
    }
    for (let i = 0; i < charged.length; i += UPDATE_CHUNK) {
      const part = charged.slice(i, i + UPDATE_CHUNK);
      // One statement per chunk: last_charge_time = the hour, total_charged += each deployment's charge.
      await trx.raw(
        `UPDATE deployments SET last_charge_time = ?, total_charged = total_charged + CASE deployment_id ${part
          .map(() => 'WHEN ? THEN CAST(? AS BIGINT)')
          .join(' ')} ELSE 0 END WHERE deployment_id IN (${part.map(() => '?').join(', ')})`,
        [input.chargeTime, ...part.flatMap((c) => [c.id, c.charge]), ...part.map((c) => c.id)],
      );
    }
    return out;
  });
}

const UPDATE_CHUNK = 200;

export interface StopDeploymentInput extends ChargeSettings {
  deploymentId: string;
  /** The agent to free, if it still holds the deployment. */
  agentId: string | null;
  /** When the deployment stopped: the final period is billed up to here. */
  stoppedAt: string;
  /** Why it stopped, recorded in `deployments.error` (null: a plain undeploy). */
  reason: string | null;
  /** `billing.enabled`: with billing off nothing is charged. */
  billingEnabled: boolean;
}

/**
 * Ends a deployment (trust issue items 9, 10): the time since its last charge, prorated to the second, is charged
 * under `charge:<id>:final:<role>` with the usual split, and the deployment becomes `stopped` (reason recorded) and
 * its agent free — all in ONE transaction, so no hourly run can bill between the final charge and the stop, and a
 * retry finds the keys taken and the status already `stopped`. A deployer who cannot pay the final period is not
 * debited (the period stays unpaid, as an unfunded hour does).
 */
export async function stopDeploymentWithFinalCharge(
  db: Knex,
  input: StopDeploymentInput,
): Promise<{ stopped: boolean; final: ChargeOutcome | null }> {
  return db.transaction(async (trx) => {
    let final: ChargeOutcome | null = null;
    if (input.billingEnabled) {
      const out = await chargeDeployments(trx as unknown as Knex, {
        deploymentIds: [input.deploymentId],
        hour: FINAL_CHARGE,
        chargeTime: input.stoppedAt,
        contributorPoolBps: input.contributorPoolBps,
        platformAccountId: input.platformAccountId,
      });
      final = out.get(input.deploymentId) ?? null;
    }
    const n = await trx('deployments')
      .where({ deployment_id: input.deploymentId })
      .whereIn('status', ['pending', 'deploying', 'running', 'insufficient_funds', 'reassigning'])
      .update({
        status: 'stopped',
        completed_at: input.stoppedAt,
        ...(input.reason !== null ? { error: input.reason.slice(0, 2000) } : {}),
      });
    if (input.agentId) {
      await trx('agents')
        .where({ agent_id: input.agentId, current_deployment_id: input.deploymentId })
        .update({ status: 'undeployed', current_deployment_id: null, deployed_app: null });
    }
    return { stopped: n > 0, final };
  });
}

/** The hour's charges of some deployments, as the ledger holds them, split at a point in time. */
export interface HourCharges {
  /** Rows written at or after `since`: what the run that began at `since` charged, whichever attempt wrote it. */
  since: {
    deployments: number;
    chargedMicros: Micros;
    operatorMicros: Micros;
    contributorMicros: Micros;
    platformMicros: Micros;
    /** Charge not matched by credits (platform remainder with no platform account). */
    unrecordedMicros: Micros;
    ledgerRows: number;
  };
  /** Deployments whose hour was charged before `since` (an earlier run of the hour). */
  before: { deployments: number; chargedMicros: Micros };
}

/**
 * Reads back the ledger rows of `charge:<deployment>:<hour>:*` for these deployments. A deployment's rows are
 * written in one transaction, so they fall on one side of `since` together (attributed by its deployer row).
 */
export async function hourChargesOf(
  db: Db,
  input: { deploymentIds: readonly string[]; hour: string; since: string },
): Promise<HourCharges> {
  const out: HourCharges = {
    since: {
      deployments: 0,
      chargedMicros: 0,
      operatorMicros: 0,
      contributorMicros: 0,
      platformMicros: 0,
      unrecordedMicros: 0,
      ledgerRows: 0,
    },
    before: { deployments: 0, chargedMicros: 0 },
  };
  if (input.deploymentIds.length === 0) return out;
  const sinceMs = Date.parse(input.since);
  const rows = (await db('transactions')
    .whereIn('reference_id', [...input.deploymentIds])
    .andWhere('ledger_key', 'like', `charge:%:${input.hour}:%`)
    .select('reference_id', 'amount', 'tx_type', 'created_at')) as {
    reference_id: string;
    amount: number | string;
    tx_type: string;
    created_at: string | Date;
  }[];
  const groups = new Map<string, typeof rows>();
  for (const r of rows) groups.set(r.reference_id, [...(groups.get(r.reference_id) ?? []), r]);
  for (const group of groups.values()) {
    const debit = group.find((r) => r.tx_type === 'charge');
    if (!debit) continue;
    const charge = -Number(debit.amount);
    if (new Date(toIso(debit.created_at)!).getTime() < sinceMs) {
      out.before.deployments += 1;
      out.before.chargedMicros += charge;
      continue;
    }
    const credit = (type: string) => group.filter((r) => r.tx_type === type).reduce((a, r) => a + Number(r.amount), 0);
    const s = out.since;
    s.deployments += 1;
    s.chargedMicros += charge;
    s.operatorMicros += credit('earning');
    s.contributorMicros += credit('contributor_credit');
    s.platformMicros += credit('platform_revenue');
    s.unrecordedMicros += charge - credit('earning') - credit('contributor_credit') - credit('platform_revenue');
    s.ledgerRows += group.length;
  }
  return out;
}

export interface UnfundedDeployment {
  deploymentId: string;
  agentId: string;
  /** Agent tunnel hostname; null when the agent row is gone or has none. */
  hostname: string | null;
  agentExists: boolean;
}

export async function listUnfundedDeployments(db: Db, limit: number): Promise<UnfundedDeployment[]> {
  const rows = (await db('deployments as d')
    .leftJoin('agents as a', 'a.agent_id', 'd.agent_id')
    .where('d.status', 'insufficient_funds')
    .orderBy('d.deployment_id', 'asc')
    .limit(limit)
    .select('d.deployment_id', 'd.agent_id', 'a.hostname', 'a.agent_id as found_agent')) as {
    deployment_id: string;
    agent_id: string;
    hostname: string | null;
    found_agent: string | null;
  }[];
  return rows.map((r) => ({
    deploymentId: r.deployment_id,
    agentId: r.agent_id,
    hostname: r.hostname ?? null,
    agentExists: r.found_agent !== null,
  }));
}

/**
 * After the agent stopped the workload: deployment `insufficient_funds` → `stopped` (conditional, so a repeat is a
 * no-op) and the agent, if it still holds this deployment, back to `undeployed` (billing.md §5.2).
 */
export async function markUnfundedStopped(db: Knex, deploymentId: string): Promise<{ stopped: boolean }> {
  return db.transaction(async (trx) => {
    const at = nowIso();
    const n = await trx('deployments')
      .where({ deployment_id: deploymentId, status: 'insufficient_funds' })
      .update({ status: 'stopped', completed_at: at, error: 'Insufficient funds' });
    const dep = (await trx('deployments').where({ deployment_id: deploymentId }).first('agent_id')) as
      { agent_id: string } | undefined;
    if (n > 0 && dep) {
      await trx('agents').where({ agent_id: dep.agent_id, current_deployment_id: deploymentId }).update({
        status: 'undeployed',
        current_deployment_id: null,
        deployed_app: null,
        service_url: null,
        health_status: 'unknown',
        last_health_check: null,
        unhealthy_since: null,
      });
    }
    return { stopped: n > 0 };
  });
}

// ---------- capacity purchase (billing.md §6) ----------

export interface CapacityChargeInput {
  accountId: string;
  /** `capacity-<16 hex>`; the ledger key is `capacity:<requestId>`, so a retried purchase charges once. */
  requestId: string;
  datacenter: string;
  nodeSize: string;
  minWarmCount: number;
  months: number;
  billingEnabled: boolean;
  /** `billing.capacity_request_dev_simulation`. */
  simulate: boolean;
  prices: CapacityPrices;
}

export interface CapacityChargeResult {
  simulatedPayment: boolean;
  chargedMicros: Micros;
  transactionId: string;
  balanceAfter: Micros;
}

/**
 * Writes the capacity purchase entry: a 0-amount `[BILLING_DISABLED $x]` / `[SIMULATED $x]` record, or the real
 * debit (refused with InsufficientFundsError when the balance cannot cover it; AccountNotFoundError if no account).
 */
export async function chargeCapacityPurchase(db: Knex, input: CapacityChargeInput): Promise<CapacityChargeResult> {
  const charged = capacityPriceMicros({
    nodeSize: input.nodeSize,
    months: input.months,
    minWarmCount: input.minWarmCount,
    prices: input.prices,
  });
  const simulated = input.simulate || !input.billingEnabled;
  const base = `Warm capacity ${input.datacenter}/${input.nodeSize} x${input.minWarmCount} for ${input.months} month(s)`;
  const tag = !input.billingEnabled ? 'BILLING_DISABLED' : 'SIMULATED';
  const entry = await appendLedgerEntry(db, {
    accountId: input.accountId,
    amount: simulated ? 0 : -charged,
    txType: 'charge',
    description: simulated ? `[${tag} $${formatUsd(charged)}] ${base}` : base,
    referenceId: input.requestId,
    ledgerKey: `capacity:${input.requestId}`,
    forbidNegative: true,
  });
  return {
    simulatedPayment: simulated,
    chargedMicros: charged,
    transactionId: entry.transaction_id,
    balanceAfter: entry.balance_after,
  };
}
