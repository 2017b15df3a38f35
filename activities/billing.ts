/**
 * Billing activities behind the `billingRun` and `terminateUnfunded` workflows, and the capacity purchase charge.
 * Each is idempotent: charges are keyed by deployment + hour + role and guarded by last_charge_time in the same
 * transaction (core/stores/billing.ts), state changes are conditional on the expected status.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { isTransientDbError } from '../core/db/transient';
import type { Logger } from '../core/logger';
import { settingBool, settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import { capacityPricesFromSettings } from '../core/pricing';
import { AccountNotFoundError, InsufficientFundsError } from '../core/stores/ledger';
import {
  chargeCapacityPurchase,
  chargeDeployment,
  chargeDeployments,
  hourChargesOf,
  listChargeableDeploymentIds,
  listUnfundedDeployments,
  markUnfundedStopped,
  type CapacityChargeInput,
  type CapacityChargeResult,
  type ChargeOutcome,
  type SharesCache,
} from '../core/stores/billing';
import {
  zeroChargeCounters,
  type BillingConfig,
  type ChargeBatchInput,
  type ChargeBatchResult,
} from '../workflows/contracts/billing';

export interface BillingActivityDeps {
  db: Knex;
  settings: SettingsReader;
  logger: Logger;
}

/** At most this many failing deployment ids are reported per batch (keeps results small). */
const MAX_ERROR_IDS = 20;
/** Deployments charged per DB transaction (bulk queries); a failing chunk is retried one deployment at a time. */
const CHUNK = 50;

export function createBillingActivities({ db, settings, logger }: BillingActivityDeps) {
  return {
    /** Settings of one run, read once so every batch of the run bills under the same rules. */
    async billingConfig(): Promise<BillingConfig> {
      const poolBps = await settingInt(settings, 'billing.contributor_pool_bps');
      return {
        enabled: await settingBool(settings, 'billing.enabled'),
        contributorPoolBps: Math.min(10_000, Math.max(0, poolBps)),
        platformAccountId: (await settings.get('billing.platform_account_id')).trim(),
        // Taken before any charge of the run is written, on the clock ledger rows are stamped with.
        startedAt: new Date().toISOString(),
      };
    },

    async listChargeableDeployments(input: { after: string; limit: number }): Promise<{ ids: string[] }> {
      return { ids: await listChargeableDeploymentIds(db, input.after, input.limit) };
    },

    /**
     * Charges the deployments in chunks of CHUNK, one transaction each. A deployment that cannot be charged is
     * counted and reported, not thrown: its time stays unbilled (last_charge_time did not move) and the next run
     * bills it. The charged totals are then read back from the ledger (hourChargesOf), so a retry after a crash
     * reports the chunks its failed attempt committed as charged by this run, not as skipped.
     */
    async chargeBatch(input: ChargeBatchInput): Promise<ChargeBatchResult> {
      const out: ChargeBatchResult = { ...zeroChargeCounters(), charged: 0 };
      const shares: SharesCache = new Map();
      const ctx = activityContext();
      const tally = (r: ChargeOutcome) => {
        if (r.status === 'charged') {
          out.charged += 1;
          out.chargedMicros += r.charge;
          out.operatorMicros += r.operator;
          out.contributorMicros += r.contributors;
          out.platformMicros += r.platform;
          out.unrecordedMicros += r.unrecorded;
          out.ledgerRows += r.ledgerRows;
        } else if (r.status === 'insufficient_funds') {
          out.insufficientFunds += 1;
        } else {
          out.skipped += 1;
        }
      };
      const fail = (deploymentId: string, err: unknown) => {
        out.errors += 1;
        if (out.errorIds.length < MAX_ERROR_IDS) out.errorIds.push(deploymentId);
        logger.error(`billing: charging deployment ${deploymentId} for ${input.hour} failed: ${String(err)}`);
      };
      const base = {
        hour: input.hour,
        chargeTime: input.chargeTime,
        contributorPoolBps: input.contributorPoolBps,
        platformAccountId: input.platformAccountId,
      };
      for (let i = 0; i < input.deploymentIds.length; i += CHUNK) {
        const chunk = input.deploymentIds.slice(i, i + CHUNK);
        // Between chunks (each one transaction): report liveness, and stop at once when cancelled (worker shutdown)
        // so the retry, on this or another worker, resumes the batch — charged ones are skipped (last_charge_time).
        ctx?.heartbeat(chunk[0]);
        if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
        try {
          const outcomes = await chargeDeployments(db, { ...base, deploymentIds: chunk }, shares);
          for (const r of outcomes.values()) tally(r);
        } catch (err) {
          // A busy, locked or unreachable database says nothing about these deployments: fail the attempt so the
          // activity is retried (charged chunks are skipped by last_charge_time) instead of leaving them unbilled.
          if (isTransientDbError(err)) throw err;
          // Isolate the culprit: one transaction per deployment, so only a broken deployment stays unbilled (its
          // time is not lost: last_charge_time did not move, and the next hour's run bills it).
          for (const deploymentId of chunk) {
            try {
              tally(await chargeDeployment(db, { ...base, deploymentId }, shares));
            } catch (err) {
              if (isTransientDbError(err)) throw err;
              fail(deploymentId, err);
            }
          }
        }
      }
      if (!input.runStartedAt) return out; // scheduled by a run older than the ledger read-back
      const ledger = await hourChargesOf(db, {
        deploymentIds: input.deploymentIds,
        hour: input.hour,
        since: input.runStartedAt,
      });
      const s = ledger.since;
      const counted: ChargeBatchResult = {
        ...out,
        charged: s.deployments,
        chargedMicros: s.chargedMicros,
        operatorMicros: s.operatorMicros,
        contributorMicros: s.contributorMicros,
        platformMicros: s.platformMicros,
        unrecordedMicros: s.unrecordedMicros,
        ledgerRows: s.ledgerRows,
        alreadyCharged: ledger.before.deployments,
        alreadyChargedMicros: ledger.before.chargedMicros,
      };
      counted.skipped = Math.max(
        0,
        new Set(input.deploymentIds).size -
          counted.charged -
          ledger.before.deployments -
          counted.insufficientFunds -
          counted.errors,
      );
      return counted;
    },

    async listUnfundedDeployments(input: { limit: number }) {
      return { deployments: await listUnfundedDeployments(db, input.limit) };
    },

    async markUnfundedStopped(input: { deploymentId: string }): Promise<{ stopped: boolean }> {
      return markUnfundedStopped(db, input.deploymentId);
    },

    /**
     * Capacity purchase charge (billing.md §6), for the capacity workflow. Idempotent under `capacity:<requestId>`:
     * a retry returns the first entry. Throws InsufficientFundsError / AccountNotFoundError (callers map them).
     */
    async chargeCapacityPurchase(
      input: Omit<CapacityChargeInput, 'billingEnabled' | 'simulate' | 'prices'>,
    ): Promise<CapacityChargeResult> {
      const billingEnabled = await settingBool(settings, 'billing.enabled');
      const simulate = await settingBool(settings, 'billing.capacity_request_dev_simulation');
      const prices = capacityPricesFromSettings({
        tiny: await settings.get('billing.capacity_price_tiny_monthly_usd'),
        standard: await settings.get('billing.capacity_price_standard_monthly_usd'),
        llm: await settings.get('billing.capacity_price_llm_monthly_usd'),
      });
      try {
        return await chargeCapacityPurchase(db, { ...input, billingEnabled, simulate, prices });
      } catch (err) {
        if (err instanceof InsufficientFundsError) {
          throw ApplicationFailure.create({
            message: err.message,
            type: 'InsufficientFunds',
            nonRetryable: true,
            details: [{ balance: err.balance, amount: err.amount }],
          });
        }
        if (err instanceof AccountNotFoundError) {
          throw ApplicationFailure.nonRetryable(err.message, 'AccountNotFound');
        }
        throw err;
      }
    },
  };
}

export type BillingActivities = ReturnType<typeof createBillingActivities>;

/** The running activity's context, or undefined when called outside an activity (scripts, benches). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
