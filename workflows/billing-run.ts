import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { BillingActivities } from '../activities/billing';
import { hourStartIso } from '../core/billing';
import { formatUsd } from '../core/money';
import {
  zeroChargeCounters,
  type BillingRunInput,
  type BillingRunResult,
  type BillingRunTotals,
  type ChargeBatchResult,
} from './contracts/billing';

const { billingConfig, listChargeableDeployments } = proxyActivities<BillingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

// A batch is ~200 transactions; retries are safe (every charge is keyed and guarded by last_charge_time).
const { chargeBatch } = proxyActivities<BillingActivities>({
  startToCloseTimeout: '10 minutes',
  // Heartbeats between chunks (one transaction of ≤50 deployments, well under a second): a batch lost with its
  // worker is retried after this, so a crashed run resumes in seconds rather than after 10 minutes (or 30 s).
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const emptyTotals = (): BillingRunTotals => ({
  ...zeroChargeCounters(),
  deploymentsCharged: 0,
  batches: 0,
  alreadyCharged: 0,
  alreadyChargedMicros: 0,
});

function add(t: BillingRunTotals, b: ChargeBatchResult): void {
  t.deploymentsCharged += b.charged;
  t.insufficientFunds += b.insufficientFunds;
  t.skipped += b.skipped;
  t.errors += b.errors;
  t.errorIds = [...t.errorIds, ...b.errorIds].slice(0, 20);
  t.chargedMicros += b.chargedMicros;
  t.operatorMicros += b.operatorMicros;
  t.contributorMicros += b.contributorMicros;
  t.platformMicros += b.platformMicros;
  t.unrecordedMicros += b.unrecordedMicros;
  t.ledgerRows += b.ledgerRows;
  t.alreadyCharged = (t.alreadyCharged ?? 0) + (b.alreadyCharged ?? 0);
  t.alreadyChargedMicros = (t.alreadyChargedMicros ?? 0) + (b.alreadyChargedMicros ?? 0);
  t.batches += 1;
}

/**
 * Charges every running deployment for the usage up to the start of `hour` (billing.md §4). Ids are listed in
 * pages (cursor = last id) and charged by `chargeBatch` activities, a bounded number at a time. The result — the
 * totals of the run, read back from the ledger so they equal it even after a crash — is what the Web UI shows. Long runs continue-as-new with the cursor and totals so far.
 */
export async function billingRun(input: BillingRunInput): Promise<BillingRunResult> {
  const chargeTime = hourStartIso(input.hour);
  const batchSize = input.batchSize ?? 200;
  const concurrency = Math.max(1, input.concurrency ?? 4);
  const pageSize = input.pageSize ?? 2000;
  const config = input.state?.config ?? (await billingConfig());
  const runStartedAt = config.startedAt ?? workflowInfo().runStartTime.toISOString();
  if (!config.enabled) return { hour: input.hour, chargeTime, skipped: 'billing disabled' };
  const totals = input.state?.totals ?? emptyTotals();
  let cursor = input.state?.cursor ?? '';

  for (;;) {
    const { ids } = await listChargeableDeployments({ after: cursor, limit: pageSize });
    if (ids.length === 0) break;
    cursor = ids[ids.length - 1]!;
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += batchSize) batches.push(ids.slice(i, i + batchSize));
    let next = 0;
    const lane = async () => {
      while (next < batches.length) {
        const deploymentIds = batches[next++]!;
        add(
          totals,
          await chargeBatch({
            hour: input.hour,
            chargeTime,
            deploymentIds,
            contributorPoolBps: config.contributorPoolBps,
            platformAccountId: config.platformAccountId,
            runStartedAt,
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, lane));
    if (ids.length < pageSize) break;
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof billingRun>({ ...input, state: { cursor, totals, config } });
    }
  }
  return {
    hour: input.hour,
    chargeTime,
    chargedUsd: formatUsd(totals.chargedMicros),
    alreadyChargedUsd: formatUsd(totals.alreadyChargedMicros ?? 0),
    ...totals,
  };
}
