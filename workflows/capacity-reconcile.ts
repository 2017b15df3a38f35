import { proxyActivities } from '@temporalio/workflow';
import type { CapacityActivities } from '../activities/capacity';
import type { CapacityReconcileResult } from './contracts/capacity';
import { startLaunchOrders } from './lib/start-launch-orders';

const db = proxyActivities<CapacityActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});

/**
 * Started every 30 s by the `capacity-reconcile` schedule (background.md §5.2): fill each enabled pool's warm
 * reservations from eligible agents, and for a dispatching pool's shortfall queue launch orders, each handed to its
 * own `launch-order:<id>` workflow. Lease expiry is the order workflows' own timer, not this pass.
 */
export async function capacityReconcile(): Promise<CapacityReconcileResult> {
  const r = await db.capacityPoolPass();
  await startLaunchOrders(r.orders);
  return { ...r, orders: r.orders.map((o) => o.orderId) };
}
