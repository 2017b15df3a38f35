import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { BillingActivities } from '../activities/billing';
import type { CapacityActivities } from '../activities/capacity';
import { microsToUsd as usd } from '../core/money';
import { type PurchaseInput, type PurchaseResult } from './contracts/capacity';
import { CapacityFailure } from './contracts/failures';
import { startLaunchOrders } from './lib/start-launch-orders';

const db = proxyActivities<CapacityActivities & Pick<BillingActivities, 'chargeCapacityPurchase'>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});

/**
 * `capacity-purchase:<account>:<request>` (api.md §10, billing.md §6): charge under ledger key
 * `capacity:<request_id>` (a retried request re-joins this execution or re-runs into the same key: charged once),
 * then the pool target and the account-scoped dispatch. Refused funds end it before any target or order exists.
 */
export async function capacityPurchase(input: PurchaseInput): Promise<PurchaseResult> {
  let charge;
  try {
    charge = await db.chargeCapacityPurchase({
      accountId: input.accountId,
      requestId: input.requestId,
      datacenter: input.datacenter,
      nodeSize: input.nodeSize,
      minWarmCount: input.minWarmCount,
      months: input.months,
    });
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && cause.type === CapacityFailure.InsufficientFunds) {
      return { ok: false, status: 402, detail: cause.message };
    }
    if (cause instanceof ApplicationFailure && cause.type === CapacityFailure.AccountNotFound) {
      return { ok: false, status: 404, detail: 'Account not found' };
    }
    throw err;
  }
  const reason = `${input.reason.trim() || 'capacity-purchase'}:${input.requestId}`;
  const target = await db.upsertCapacityTarget({
    datacenter: input.datacenter,
    nodeSize: input.nodeSize,
    minWarmCount: input.minWarmCount,
    enabled: true,
    requireVerified: true,
    requireHealthy: true,
    requireHostname: true,
    dispatch: true,
    reason,
  });
  const { response, orders } = await db.capacityDispatch({
    targets: [{ datacenter: input.datacenter, nodeSize: input.nodeSize, minCount: input.minWarmCount }],
    requireVerified: true,
    requireHealthy: true,
    requireHostname: true,
    allowedStatuses: ['undeployed', 'deployed', 'deploying'],
    dispatch: true,
    reason,
    accountId: input.accountId,
  });
  await startLaunchOrders(orders);
  return {
    ok: true,
    request_id: input.requestId,
    account_id: input.accountId,
    datacenter: input.datacenter,
    node_size: input.nodeSize,
    min_warm_count: input.minWarmCount,
    months: input.months,
    simulated_payment: charge.simulatedPayment,
    charged_amount_usd: usd(charge.chargedMicros),
    transaction_id: charge.transactionId,
    balance_after: usd(charge.balanceAfter),
    target,
    capacity: response,
  };
}
