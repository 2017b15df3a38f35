/**
 * Contracts of the billing processes: hourly `billingHourly` (scheduled) → `billingRun` per UTC hour, and the
 * `terminateUnfunded` sweep. Ids and JSON-plain inputs/results only.
 */

/** Settings of one run, read once at its start. */
export interface BillingConfig {
  enabled: boolean;
  contributorPoolBps: number;
  /** Blank → the platform remainder is not recorded. */
  platformAccountId: string;
  /**
   * When the run began, on a worker's clock (the clock ledger rows are stamped with): rows of the hour written
   * before it were charged before the run, rows written after it by the run (whichever attempt). Absent in runs
   * started before this field existed (then the workflow's start time stands in).
   */
  startedAt?: string;
}

export interface BillingHourlyInput {
  /** Prefix of the run's workflow id; default `billing-run` (tests isolate themselves with their own). */
  runIdPrefix?: string;
}

export interface BillingHourlyResult {
  hour: string;
  runWorkflowId: string;
  /** False when a run for this hour already existed (started before, or by hand): it is not billed again. */
  started: boolean;
  result?: BillingRunResult;
}

export interface BillingRunInput {
  /** UTC hour label `YYYY-MM-DDTHH`; usage is billed up to its start. */
  hour: string;
  /** Deployments per chargeBatch activity; default 200. */
  batchSize?: number;
  /** chargeBatch activities in flight at once; default 4. */
  concurrency?: number;
  /** Ids listed per page; default 2000. */
  pageSize?: number;
  /** Carried across continue-as-new. */
  state?: { cursor: string; totals: BillingRunTotals; config: BillingConfig };
}

/** `billing-run:<hour>`: the scheduled run of an hour. */
export const billingRunWorkflowId = (hour: string) => `billing-run:${hour}`;
/** `billing-run:<hour>:rerun-<n>`: the n-th operator re-run of an hour (POST /api/v1/admin/billing/runs). */
export const billingRerunWorkflowId = (hour: string, n: number) => `billing-run:${hour}:rerun-${n}`;

/** Counters a charge batch reports and a run adds up. */
export interface ChargeCounters {
  insufficientFunds: number;
  skipped: number;
  errors: number;
  /** Up to 20 ids whose charge failed (retried implicitly next hour: their time stays unbilled). */
  errorIds: string[];
  chargedMicros: number;
  operatorMicros: number;
  contributorMicros: number;
  platformMicros: number;
  /** Platform remainder not written because billing.platform_account_id is blank. */
  unrecordedMicros: number;
  ledgerRows: number;
}

export const zeroChargeCounters = (): ChargeCounters => ({
  insufficientFunds: 0,
  skipped: 0,
  errors: 0,
  errorIds: [],
  chargedMicros: 0,
  operatorMicros: 0,
  contributorMicros: 0,
  platformMicros: 0,
  unrecordedMicros: 0,
  ledgerRows: 0,
});

/**
 * What a run charged for its hour, read back from the ledger (rows of the hour's keys written since the run began),
 * so a chunk committed by an attempt that then crashed still counts: `deploymentsCharged` / `chargedMicros` equal
 * the ledger. Deployments that already had this hour's charge when the run began are `alreadyCharged`.
 */
export interface BillingRunTotals extends ChargeCounters {
  deploymentsCharged: number;
  batches: number;
  alreadyCharged?: number;
  alreadyChargedMicros?: number;
}

export interface BillingRunSkipped {
  hour: string;
  chargeTime: string;
  skipped: 'billing disabled';
}

export interface BillingRunCharged extends BillingRunTotals {
  hour: string;
  chargeTime: string;
  /** chargedMicros in USD, for people reading the Web UI. */
  chargedUsd: string;
  alreadyChargedUsd?: string;
}

export type BillingRunResult = BillingRunSkipped | BillingRunCharged;

export interface ChargeBatchInput {
  hour: string;
  chargeTime: string;
  deploymentIds: string[];
  contributorPoolBps: number;
  platformAccountId: string;
  /** BillingConfig.startedAt; absent → every row of the hour counts as this run's (the old accounting). */
  runStartedAt?: string;
}

/**
 * `charged` and the micro-dollar counters come from the ledger rows of the batch's deployments for the hour written
 * since the run began; `skipped` counts the rest that were neither charged, already charged, unfunded nor failing.
 */
export interface ChargeBatchResult extends ChargeCounters {
  charged: number;
  alreadyCharged?: number;
  alreadyChargedMicros?: number;
}

export interface TerminateUnfundedResult {
  skipped?: 'billing disabled';
  stopped: number;
  failed: number;
  failedIds: string[];
}
