import { proxyActivities } from '@temporalio/workflow';
import type { CapacityActivities } from '../activities/capacity';
import type { DispatchInput, DispatchResponse } from './contracts/capacity';
import { startLaunchOrders } from './lib/start-launch-orders';

const db = proxyActivities<CapacityActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '500 ms' },
});

/** `POST /api/v1/admin/agents/capacity/reconcile` (api.md §10): eligibility per target, optionally queued orders. */
export async function capacityDispatch(input: DispatchInput): Promise<DispatchResponse> {
  const { response, orders } = await db.capacityDispatch(input);
  await startLaunchOrders(orders);
  return response;
}
