/**
 * DB activities of the capacity workflows. Order rows are written only through the `order*` activities, which the
 * `launch-order:<id>` workflow calls (conditional updates, so a retry is harmless); pool passes and dispatches create
 * rows for new orders and hand their ids to the workflow that starts one `launch-order` workflow each.
 */
import type { KeyRing } from '../core/auth/keyring';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { isWorkflowClosed } from '../core/temporal/workflow-closed';
import type { Knex } from 'knex';
import { bootstrapTokenHash, mintBootstrapToken } from '../core/auth/bootstrap-token';
import { seal } from '../core/auth/seal';
import { isGcpDatacenter, lower, matchesPool, parseDatacenter } from '../core/capacity';
import type { CapacityLaunchOrderRow } from '../core/db/tables';
import { settingBool, settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import {
  ensureDefaultGcpTarget,
  findOrderAwaitingVm,
  findOrderByTokenHash,
  getOrderRow,
  loadPoolAgents,
  orderClaim,
  orderConsumeToken,
  orderReport,
  orderRequeue,
  queueOrders,
  reconcilePools,
  toOrderView,
  upsertTarget,
  type TargetInput,
} from '../core/stores/capacity';
import type { Rejection, SealedValue } from '../workflows/contracts/agents';
import {
  consumeTokenUpdate,
  launchOrderWorkflowId,
  type DispatchInput,
  type DispatchResponse,
  type Fulfiller,
  type NewOrderRef,
} from '../workflows/contracts/capacity';
import { CapacityFailure } from '../workflows/contracts/failures';

export interface CapacityDeps {
  db: Knex;
  settings: SettingsReader;
  sealingKey: KeyRing;
}

const refOf = (o: CapacityLaunchOrderRow): NewOrderRef => ({
  orderId: o.order_id,
  datacenter: o.datacenter,
  nodeSize: o.node_size,
  fulfiller: (o.fulfiller as Fulfiller | null) ?? 'launcher',
});

export function createCapacityActivities({ db, settings, sealingKey }: CapacityDeps) {
  const graceSeconds = () => settingInt(settings, 'operational.capacity_fulfilled_grace_seconds');
  const gcpConfigured = async () =>
    (await settings.get('gcp.project_id')).trim() !== '' &&
    (await settings.get('gcp.service_account_key')).trim() !== '';
  /**
   * GCP datacenters go to the built-in fulfiller when it is configured; the rest to the external provisioner when
   * provisioner.webhook_url is set (dispatched by the order's workflow); otherwise they wait for a launcher.
   */
  const fulfillerFor = async () => {
    const gcp = await gcpConfigured();
    const provisioner = (await settings.get('provisioner.webhook_url')).trim() !== '';
    return (dc: string): Fulfiller => (gcp && isGcpDatacenter(dc) ? 'gcp' : provisioner ? 'provisioner' : 'launcher');
  };

  return {
    async launchOrderTimings(): Promise<{ leaseSeconds: number; graceSeconds: number }> {
      // v1 floors the lease at 30 s; 5 s here so an operator (or a test) can choose a short lease.
      const lease = Math.max(5, await settingInt(settings, 'operational.capacity_order_claim_ttl_seconds'));
      return { leaseSeconds: lease, graceSeconds: Math.max(60, await graceSeconds()) };
    },

    /** One `capacity-reconcile` pass (background.md §5.2) after ensuring the default tiny GCP target (§5.4). */
    async capacityPoolPass(): Promise<{
      targets: number;
      created: number;
      expired: number;
      shortfall: number;
      dispatched: number;
      orders: NewOrderRef[];
    }> {
      await ensureDefaultGcpTarget(db, {
        enabled: await settingBool(settings, 'operational.default_gcp_tiny_capacity_enabled'),
        datacenter: parseDatacenter(await settings.get('operational.default_gcp_tiny_datacenter')),
        count: await settingInt(settings, 'operational.default_gcp_tiny_capacity_count'),
        dispatch: await settingBool(settings, 'operational.default_gcp_tiny_capacity_dispatch'),
      });
      const r = await reconcilePools(db, { graceSeconds: await graceSeconds(), fulfillerFor: await fulfillerFor() });
      return { ...r, orders: r.orders.map(refOf) };
    },

    /** api.md §10 admin reconcile (also the purchase's second half): eligibility, then optionally queue orders. */
    async capacityDispatch(input: DispatchInput): Promise<{ response: DispatchResponse; orders: NewOrderRef[] }> {
      const agents = await loadPoolAgents(db);
      const statuses = new Set(input.allowedStatuses);
      const fulfiller = await fulfillerFor();
      const response: DispatchResponse = { eligible: true, total_shortfall: 0, targets: [], dispatches: [] };
      const orders: NewOrderRef[] = [];
      for (const t of input.targets) {
        const eligible = agents.filter(
          (a) => statuses.has(lower(a.status)) && matchesPool(a, t.datacenter, t.nodeSize, input),
        );
        const shortfall = Math.max(0, t.minCount - eligible.length);
        response.total_shortfall += shortfall;
        response.targets.push({
          datacenter: t.datacenter,
          node_size: t.nodeSize,
          min_count: t.minCount,
          eligible_count: eligible.length,
          shortfall,
          eligible_agent_ids: eligible.map((a) => a.agent_id),
        });
        if (input.dispatch && shortfall > 0) {
          const q = await queueOrders(db, {
            datacenter: t.datacenter,
            nodeSize: t.nodeSize,
            shortfall,
            reason: input.reason,
            accountId: input.accountId,
            graceSeconds: await graceSeconds(),
            fulfiller: fulfiller(t.datacenter),
          });
          orders.push(...q.orders.map(refOf));
          const dispatched = q.inFlightAfter + q.pendingFulfilled > 0;
          response.dispatches.push({
            datacenter: t.datacenter,
            node_size: t.nodeSize,
            requested_count: q.requested,
            dispatched,
            status_code: dispatched ? 202 : 200,
            detail:
              q.orders.length > 0
                ? `queued ${q.orders.length} launch order(s); in_flight_before=${q.inFlightBefore}, in_flight_after=${q.inFlightAfter}, pending_fulfilled_unregistered=${q.pendingFulfilled}`
                : dispatched
                  ? `no new launch orders queued; existing_in_flight=${q.inFlightAfter}, pending_fulfilled_unregistered=${q.pendingFulfilled}`
                  : 'no launch orders available or queued',
          });
        }
      }
      response.eligible = response.total_shortfall === 0;
      return { response, orders };
    },

    async upsertCapacityTarget(input: TargetInput) {
      return upsertTarget(db, input);
    },

    // ---------- the launch-order workflow's writes ----------

    /** A token for the built-in fulfiller: its HMAC for the row, the token sealed for the VM's cloud-init. */
    async mintSealedBootstrapToken(): Promise<{ tokenHash: string; token: SealedValue }> {
      const token = mintBootstrapToken();
      return { tokenHash: bootstrapTokenHash(sealingKey, token), token: seal(sealingKey, token) };
    },

    async orderClaim(input: { orderId: string; claimedBy: string; tokenHash: string; at: string; expiresAt: string }) {
      if (!(await orderClaim(db, input))) {
        throw ApplicationFailure.nonRetryable(
          `Launch order ${input.orderId} is not open`,
          CapacityFailure.OrderUnavailable,
        );
      }
      return toOrderView((await getOrderRow(db, input.orderId))!);
    },

    async orderReport(input: Parameters<typeof orderReport>[1]) {
      await orderReport(db, input);
      return toOrderView((await getOrderRow(db, input.orderId))!);
    },

    async orderRequeue(input: { orderId: string; at: string; error?: string }): Promise<void> {
      await orderRequeue(db, input);
    },

    async orderConsumeToken(input: Parameters<typeof orderConsumeToken>[1]): Promise<boolean> {
      return orderConsumeToken(db, input);
    },

    // ---------- registration side ----------

    /**
     * For an order-bound registration: a presented token must be a live order's (HMAC look-up), and its order's
     * workflow must accept it (Update `consumeToken`: not used, lease not lapsed, same VM name) — which fulfils the
     * order. A registration without a token whose vm_name is an order's VM still waiting for its agent is refused.
     * Runs before anything of the agent is written, so a refused registration creates nothing.
     */
    async consumeBootstrapToken(input: {
      tokenHash: string | null;
      vmName: string;
      agentId: string;
      consumer: string;
    }): Promise<{ ok: true; orderId: string | null } | Rejection> {
      if (!input.tokenHash) {
        const awaiting = await findOrderAwaitingVm(db, input.vmName);
        if (!awaiting) return { ok: true, orderId: null };
        return {
          ok: false,
          status: 403,
          detail: `Bootstrap token required: ${input.vmName} was launched for capacity order ${awaiting.order_id}`,
        };
      }
      const order = await findOrderByTokenHash(db, input.tokenHash);
      if (!order) return { ok: false, status: 403, detail: 'Invalid or expired bootstrap token' };
      if (order.bootstrap_token_used_at && order.bootstrap_token_consumer !== input.consumer) {
        return { ok: false, status: 403, detail: 'Bootstrap token already used' };
      }
      try {
        const r = await Context.current()
          .client.workflow.getHandle(launchOrderWorkflowId(order.order_id))
          .executeUpdate(consumeTokenUpdate, {
            args: [
              { tokenHash: input.tokenHash, vmName: input.vmName, agentId: input.agentId, consumer: input.consumer },
            ],
          });
        return { ok: true, orderId: r.orderId };
      } catch (err) {
        // Rejected by the validator, failed by the handler, or the order's workflow has closed: refused.
        const closed = isWorkflowClosed(err);
        if (!(err instanceof WorkflowUpdateFailedError) && !closed) throw err;
        const cause = (err as { cause?: { message?: string } }).cause?.message ?? 'the launch order is closed';
        return { ok: false, status: 403, detail: `Bootstrap token rejected: ${cause}` };
      }
    },
  };
}

export type CapacityActivities = ReturnType<typeof createCapacityActivities>;
