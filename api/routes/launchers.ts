/**
 * Launcher worker API (api.md §11, auth `launcher-key`). A claim offers the oldest matching open orders, one by one,
 * to their `launch-order:<id>` workflows (an Update each; the workflow serializes claims, so two launchers never get
 * the same order). The bootstrap token is minted here and only its HMAC enters Temporal and the database; the clear
 * token is in this answer and nowhere else. No claimable order → 204 (v1: 200 with `claimed: false`).
 */
import { z } from 'zod';
import { bootstrapTokenHash, mintBootstrapToken } from '../../core/auth/bootstrap-token';
import { REPORTABLE_STATUSES, lower } from '../../core/capacity';
import { notFound, unprocessable } from '../http/errors';
import { getOrderRow, openOrderIds } from '../../core/stores/capacity';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { DatacenterFilter, NodeSizeInput, OrderViewSchema, datacenterOf } from './capacity';

export function launcherRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'post',
      path: '/api/v1/launchers/capacity/orders/claim',
      summary: 'Claim the oldest matching open launch order; the one-time bootstrap token is returned only here',
      tag: 'launchers',
      auth: 'launcherKey',
      body: z.object({ datacenter: DatacenterFilter.default(''), node_size: NodeSizeInput(true).default('') }).default({
        datacenter: '',
        node_size: '',
      }),
      responses: {
        200: {
          description: 'Claimed',
          schema: z.object({ claimed: z.literal(true), order: OrderViewSchema, bootstrap_token: z.string() }),
        },
        204: { description: 'No claimable order' },
        422: { description: 'Invalid datacenter or node_size filter' },
      },
    },
    async ({ body }, ctx) => {
      const datacenter = body.datacenter.trim() ? datacenterOf(body.datacenter) : '';
      const nodeSize = lower(body.node_size);
      const launcherId = ctx.state.account!.account_id;
      for (const orderId of await openOrderIds(deps.db, { datacenter, nodeSize, fulfiller: 'launcher' })) {
        const token = mintBootstrapToken();
        const order = await deps.workflows.capacity.claim(orderId, {
          claimedBy: launcherId,
          tokenHash: bootstrapTokenHash(deps.sealingKey, token),
        });
        if (order) return { claimed: true as const, order, bootstrap_token: token };
      }
      ctx.status = 204;
      return undefined;
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/launchers/capacity/orders/:order_id',
      summary: 'Report an order claimed / provisioning / fulfilled / failed (claimed orders: by their launcher only)',
      tag: 'launchers',
      auth: 'launcherKey',
      params: z.object({ order_id: z.string() }),
      body: z.object({
        status: z.string(),
        vm_name: z.string().nullable().optional(),
        error: z.string().nullable().optional(),
      }),
      responses: {
        200: { description: 'The order', schema: OrderViewSchema },
        404: { description: 'Capacity launch order not found' },
        409: { description: 'The order is closed (fulfilled by its agent, or failed)' },
        422: { description: 'invalid order status' },
      },
    },
    async ({ params, body }, ctx) => {
      const status = lower(body.status);
      if (!(REPORTABLE_STATUSES as readonly string[]).includes(status)) throw unprocessable('invalid order status');
      const row = await getOrderRow(deps.db, params.order_id);
      const launcherId = ctx.state.account!.account_id;
      if (!row || (row.claimed_by_account_id && row.claimed_by_account_id !== launcherId)) {
        throw notFound('Capacity launch order not found');
      }
      return deps.workflows.capacity.report(params.order_id, {
        launcherId,
        status: status as (typeof REPORTABLE_STATUSES)[number],
        vmName: body.vm_name,
        error: body.error,
      });
    },
  );
}
