/**
 * Contracts of the billing processes: hourly `billingHourly` (scheduled) → `billingRun` per UTC hour, and the
 * `terminateUnfunded` sweep. Ids and JSON-plain inputs/results only.
 */
export const BILLING_HOURLY_WORKFLOW = 'billingHourly';
export const BILLING_RUN_WORKFLOW = 'billingRun';
export const TERMINATE_UNFUNDED_WORKFLOW = 'terminateUnfunded';

export const BILLING_HOURLY_SCHEDULE_ID = 'billing-hourly';
export const TERMINATE_UNFUNDED_SCHEDULE_ID = 'terminate-unfunded';

/** Settings of one run, read once at its start. */
export interface BillingConfig {
  enabled: boolean;
  contributorPoolBps: number;
  /** Blank → the platform remainder is not recorded. */
  platformAccountId: string;
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

export interface BillingRunTotals extends ChargeCounters {
  deploymentsCharged: number;
  batches: number;
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
}

export type BillingRunResult = BillingRunSkipped | BillingRunCharged;

export interface ChargeBatchInput {
  hour: string;
  chargeTime: string;
  deploymentIds: string[];
  contributorPoolBps: number;
  platformAccountId: string;
}

export interface ChargeBatchResult extends ChargeCounters {
  charged: number;
}

export interface TerminateUnfundedResult {
  skipped?: 'billing disabled';
  stopped: number;
  failed: number;
  failedIds: string[];
}
