/**
 * Capacity management (api.md §10): warm-pool targets, reservations and launch orders (admin), the admin reconcile
 * (a `capacityDispatch` workflow), and the account's capacity purchase (a `capacityPurchase` workflow) and order list.
 *
 * v2 decisions: a target's datacenter must be `<cloud>:<zone>` after registration normalization and its node_size
 * one of tiny/standard/llm (or blank = any), 422 otherwise (v1 stored anything); insufficient funds for a purchase is
 * 402 (v1: 400). The purchase request id derives from the `Idempotency-Key` header, so a retry charges once.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { LISTS, nextCursor, nextCursorField, pageQuery, pageRequest } from '../http/pagination';
import { DATACENTER_INPUT_RE } from '../../core/agents/registration-input';
import {
  INVALID_DATACENTER,
  INVALID_NODE_SIZE,
  NODE_SIZES,
  ORDER_STATUSES,
  RESERVATION_STATUSES,
  lower,
  parseDatacenter,
} from '../../core/capacity';
import { forbidden, HttpError, notFound } from '../http/errors';
import { getAccount } from '../../core/stores/accounts';
import {
  deleteTarget,
  listOrders,
  listOrdersPage,
  listReservations,
  listTargetViews,
  upsertTarget,
  type OrderFilter,
} from '../../core/stores/capacity';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const TargetView = z.object({
  datacenter: z.string(),
  node_size: z.string(),
  min_warm_count: z.number().int(),
  enabled: z.boolean(),
  require_verified: z.boolean(),
  require_healthy: z.boolean(),
  require_hostname: z.boolean(),
  dispatch: z.boolean(),
  reason: z.string(),
  eligible_agents: z.number().int(),
  open_reservations: z.number().int(),
  shortfall: z.number().int(),
});
const ts = z.string().nullable();
export const OrderViewSchema = z.object({
  order_id: z.string(),
  datacenter: z.string(),
  node_size: z.string(),
  status: z.string(),
  reason: z.string(),
  requested_count: z.number().int(),
  account_id: z.string().nullable(),
  claimed_by_account_id: z.string().nullable(),
  claim_expires_at: ts,
  claimed_at: ts,
  fulfilled_at: ts,
  vm_name: z.string().nullable(),
  error: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
const ReservationView = z.object({
  reservation_id: z.string(),
  agent_id: z.string(),
  datacenter: z.string(),
  node_size: z.string(),
  status: z.string(),
  deployment_id: z.string().nullable(),
  note: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
const DispatchResponse = z.object({
  eligible: z.boolean(),
  total_shortfall: z.number().int(),
  targets: z.array(
    z.object({
      datacenter: z.string(),
      node_size: z.string(),
      min_count: z.number().int(),
      eligible_count: z.number().int(),
      shortfall: z.number().int(),
      eligible_agent_ids: z.array(z.string()),
    }),
  ),
  dispatches: z.array(
    z.object({
      datacenter: z.string(),
      node_size: z.string(),
      requested_count: z.number().int(),
      dispatched: z.boolean(),
      status_code: z.number().int(),
      detail: z.string(),
    }),
  ),
});

const count = (min: number) => z.number().int().min(min);
/** Per reconcile request: targets, and warm agents per target. */
const MAX_RECONCILE_TARGETS = 10;
const MAX_RECONCILE_COUNT = 25;

/** A word in any case as a flag-free pattern (JSON Schema patterns carry no flags). */
const anyCase = (word: string) => [...word].map((c) => (/[a-z]/.test(c) ? `[${c.toUpperCase()}${c}]` : c)).join('');
/** One of `words`, any case, spaces around (what `lower()` normalizes); blank too when `blank`. */
const oneOf = (words: readonly string[], blank: boolean) =>
  new RegExp(`^ *(?:${[...(blank ? [''] : []), ...words.map(anyCase)].join('|')}) *$`);

/**
 * What normalizes to `<cloud>:<zone>` (see parseDatacenter): the registration input format with spaces (not any
 * `\s`, whose meaning differs between JavaScript and other regex engines) around the parts.
 */
const DATACENTER_INPUT = DATACENTER_INPUT_RE.source.replaceAll('\\s', ' ');
export const DatacenterInput = z
  .string()
  .regex(new RegExp(DATACENTER_INPUT), INVALID_DATACENTER)
  .describe("'<cloud>:<zone>' (for example gcp:us-central1-a), any case; a missing zone is 'default'");
/** DatacenterInput or blank (any datacenter). */
export const DatacenterFilter = z
  .string()
  .regex(new RegExp(`^ *$|${DATACENTER_INPUT}`), INVALID_DATACENTER)
  .describe("'<cloud>:<zone>' (any case), or '' for any");
/** tiny/standard/llm in any case, or blank (any size) when `blank`. */
export const NodeSizeInput = (blank: boolean) =>
  z
    .string()
    .regex(oneOf(NODE_SIZES, blank), INVALID_NODE_SIZE)
    .describe(`One of ${NODE_SIZES.join(', ')} (any case)${blank ? ", or '' for any" : ''}`);

/** The normalized datacenter of a DatacenterInput-valid string. */
export const datacenterOf = (raw: string): string => parseDatacenter(raw)!;

const filter = (words: readonly string[], what: string) =>
  z
    .string()
    .regex(oneOf(words, true), `Invalid ${what} status filter`)
    .optional()
    .describe(`One of ${words.join(', ')} (any case)`);

const OrderQuery = z.object({
  status: filter(ORDER_STATUSES, 'launch order'),
  datacenter: z.string().optional(),
  node_size: z.string().optional(),
  ...pageQuery(LISTS.orders),
});

const OrderList = z.object({ orders: z.array(OrderViewSchema), total: z.number(), next_cursor: nextCursorField });

const orderFilter = (q: z.output<typeof OrderQuery>) => ({
  status: lower(q.status) || undefined,
  datacenter: lower(q.datacenter),
  nodeSize: lower(q.node_size),
});

export function capacityRoutes(routes: Routes, deps: AppDeps): void {
  const listOrderPage = async (f: OrderFilter, query: z.output<typeof OrderQuery>) => {
    const page = pageRequest(query);
    if (!page) {
      const orders = await listOrders(deps.db, f);
      return { orders, total: orders.length };
    }
    const p = await listOrdersPage(deps.db, f, page);
    return { orders: p.items, total: p.items.length, next_cursor: nextCursor(LISTS.orders, p) };
  };

  const base = '/api/v1/admin/agents/capacity';

  routes.add(
    {
      method: 'get',
      path: `${base}/targets`,
      summary: 'Warm-pool targets with their eligible agents, open reservations and shortfall',
      tag: 'capacity',
      auth: 'admin',
      responses: {
        200: { description: 'Targets', schema: z.object({ targets: z.array(TargetView), total: z.number() }) },
      },
    },
    async () => {
      const targets = await listTargetViews(deps.db);
      return { targets, total: targets.length };
    },
  );

  routes.add(
    {
      method: 'put',
      path: `${base}/targets`,
      summary: 'Upsert a warm-pool target keyed by (datacenter, node_size)',
      tag: 'capacity',
      auth: 'admin',
      body: z.object({
        datacenter: DatacenterInput,
        node_size: NodeSizeInput(true).default(''),
        min_warm_count: count(0).default(0),
        enabled: z.boolean().default(true),
        require_verified: z.boolean().default(true),
        require_healthy: z.boolean().default(true),
        require_hostname: z.boolean().default(true),
        dispatch: z.boolean().default(false),
        reason: z.string().default('capacity-pool-controller'),
      }),
      responses: { 200: { description: 'The target', schema: TargetView }, 422: { description: 'Invalid target' } },
    },
    async ({ body }) =>
      upsertTarget(deps.db, {
        datacenter: datacenterOf(body.datacenter),
        nodeSize: lower(body.node_size),
        minWarmCount: body.min_warm_count,
        enabled: body.enabled,
        requireVerified: body.require_verified,
        requireHealthy: body.require_healthy,
        requireHostname: body.require_hostname,
        dispatch: body.dispatch,
        reason: body.reason,
      }),
  );

  routes.add(
    {
      method: 'delete',
      path: `${base}/targets`,
      summary: 'Delete a warm-pool target',
      tag: 'capacity',
      auth: 'admin',
      query: z.object({ datacenter: z.string(), node_size: z.string().default('') }),
      responses: {
        200: {
          description: 'Deleted',
          schema: z.object({ status: z.literal('deleted'), datacenter: z.string(), node_size: z.string() }),
        },
        404: { description: 'Capacity target not found' },
      },
    },
    async ({ query }) => {
      const dc = parseDatacenter(query.datacenter) ?? lower(query.datacenter);
      if (!(await deleteTarget(deps.db, dc, lower(query.node_size)))) throw notFound('Capacity target not found');
      return { status: 'deleted' as const, datacenter: query.datacenter, node_size: query.node_size };
    },
  );

  routes.add(
    {
      method: 'get',
      path: `${base}/reservations`,
      summary: 'Warm-capacity reservations',
      tag: 'capacity',
      auth: 'admin',
      query: z.object({ status: filter(RESERVATION_STATUSES, 'reservation') }),
      responses: {
        200: {
          description: 'Reservations',
          schema: z.object({ reservations: z.array(ReservationView), total: z.number() }),
        },
        422: { description: 'Invalid reservation status filter' },
      },
    },
    async ({ query }) => {
      const reservations = await listReservations(deps.db, lower(query.status) || undefined);
      return { reservations, total: reservations.length };
    },
  );

  routes.add(
    {
      method: 'get',
      path: `${base}/orders`,
      summary: 'Launch orders (never their bootstrap tokens)',
      tag: 'capacity',
      auth: 'admin',
      query: OrderQuery,
      etag: true,
      responses: {
        200: { description: 'Orders in creation order', schema: OrderList },
        422: { description: 'Invalid launch order status filter' },
      },
    },
    async ({ query }) => {
      return listOrderPage(orderFilter(query), query);
    },
  );

  routes.add(
    {
      method: 'post',
      path: `${base}/reconcile`,
      summary: 'Compute shortfalls per target and optionally queue launch orders (a capacityDispatch workflow)',
      tag: 'capacity',
      auth: 'admin',
      body: z.object({
        targets: z
          .array(
            z.object({
              datacenter: DatacenterInput,
              node_size: NodeSizeInput(true).default(''),
              // Bounded: a dispatching reconcile starts one launch-order workflow per missing agent while the
              // caller waits (MAX_RECONCILE_TARGETS × MAX_RECONCILE_COUNT at most).
              min_count: count(0).max(MAX_RECONCILE_COUNT).default(1),
            }),
          )
          .min(1, 'At least one target is required')
          .max(MAX_RECONCILE_TARGETS),
        require_verified: z.boolean().default(true),
        require_healthy: z.boolean().default(true),
        require_hostname: z.boolean().default(true),
        allowed_statuses: z
          .array(z.string().regex(/^ *[A-Za-z0-9_-]{1,32} *$/, 'an agent status'))
          .min(1, 'allowed_statuses must include at least one status')
          .default(['undeployed', 'deployed', 'deploying']),
        dispatch: z.boolean().default(false),
        reason: z.string().default(''),
        account_id: z.string().nullable().default(null),
      }),
      responses: {
        200: { description: 'Shortfalls and dispatches', schema: DispatchResponse },
        422: { description: 'Invalid' },
      },
    },
    async ({ body }) => {
      const statuses = body.allowed_statuses.map(lower);
      const targets = body.targets.map((t) => ({
        datacenter: datacenterOf(t.datacenter),
        nodeSize: lower(t.node_size),
        minCount: t.min_count,
      }));
      return deps.workflows.capacity.dispatch(
        {
          targets,
          requireVerified: body.require_verified,
          requireHealthy: body.require_healthy,
          requireHostname: body.require_hostname,
          allowedStatuses: statuses,
          dispatch: body.dispatch,
          reason: body.reason.trim() || 'agent-capacity-reconcile',
          accountId: body.account_id?.trim() || null,
        },
        randomUUID(),
      );
    },
  );

  const self = (ctx: Context, accountId: string, message: string) => {
    if (ctx.state.account?.account_id !== accountId) throw forbidden(message);
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/accounts/:account_id/capacity/request',
      summary:
        'Purchase warm capacity: charge (ledger key capacity:<request_id>), upsert the pool target, queue launch orders. ' +
        'Send an Idempotency-Key header to make a retry charge once.',
      tag: 'capacity',
      auth: 'apiKey',
      params: z.object({ account_id: z.string() }),
      body: z.object({
        datacenter: DatacenterInput,
        node_size: NodeSizeInput(false).default('tiny'),
        min_warm_count: count(1).default(1),
        months: count(1).default(1),
        reason: z.string().default('capacity-purchase'),
      }),
      responses: {
        200: { description: 'Purchased', schema: z.object({ request_id: z.string() }).passthrough() },
        402: { description: 'Insufficient funds (nothing written besides the refusal)' },
        403: { description: 'Not your account, or not a deployer account' },
        404: { description: 'Account not found' },
        422: { description: 'Invalid datacenter or node_size' },
      },
    },
    async ({ params, body }, ctx) => {
      self(ctx, params.account_id, 'Cannot request capacity for other accounts');
      const account = await getAccount(deps.db, params.account_id);
      if (!account) throw notFound('Account not found');
      if (lower(account.account_type) !== 'deployer') throw forbidden('Capacity purchases require a deployer account');
      const datacenter = datacenterOf(body.datacenter);
      const nodeSize = lower(body.node_size);
      const key = ctx.get('idempotency-key').trim() || randomUUID();
      const requestId = `capacity-${createHash('sha256').update(`${params.account_id}:${key}`).digest('hex').slice(0, 16)}`;
      const r = await deps.workflows.capacity.purchase({
        accountId: params.account_id,
        requestId,
        datacenter,
        nodeSize,
        minWarmCount: body.min_warm_count,
        months: body.months,
        reason: body.reason,
      });
      if (!r.ok) throw new HttpError(r.status, r.detail);
      const { ok: _ok, ...view } = r;
      return view;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/accounts/:account_id/capacity/orders',
      summary: "The account's launch orders",
      tag: 'capacity',
      auth: 'apiKey',
      params: z.object({ account_id: z.string() }),
      query: OrderQuery,
      etag: true,
      responses: {
        200: { description: 'Orders in creation order', schema: OrderList },
        403: { description: 'Cannot access other account orders' },
        422: { description: 'Invalid launch order status filter' },
      },
    },
    async ({ params, query }, ctx) => {
      self(ctx, params.account_id, 'Cannot access other account orders');
      return listOrderPage({ ...orderFilter(query), accountId: params.account_id }, query);
    },
  );
}
