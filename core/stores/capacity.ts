/**
 * Warm-pool targets, reservations and launch orders (data-model.md §2.12–§2.14, background.md §5–§6). Rows are mapped
 * to the API views here; no view carries a bootstrap token field. Launch-order rows are created by a reconcile (in the
 * same transaction that counts the pool's in-flight orders, so two reconciles never both fill one shortfall) and are
 * written afterwards only by their `launch-order:<id>` workflow's activities (the `order*` functions below), each a
 * conditional update on the state the workflow expects.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  DEFAULT_GCP_TINY_REASON,
  DEFAULT_POOL_REASON,
  IN_FLIGHT_STATUSES,
  REQUEUE_ERROR,
  lower,
  matchesPool,
  type OrderView,
  type PoolAgent,
  type PoolRequirements,
  type ReservationView,
  type TargetView,
} from '../capacity';
import {
  nowIso,
  requireIso,
  toBool,
  toIso,
  type CapacityLaunchOrderRow,
  type CapacityPoolTargetRow,
  type CapacityReservationRow,
} from '../db/tables';
import { keysetPage, keyTime } from '../db/keyset';
import type { Page, PageRequest } from '../pagination';

type Db = Knex | Knex.Transaction;

export function toOrderView(r: CapacityLaunchOrderRow): OrderView {
  return {
    order_id: r.order_id,
    datacenter: r.datacenter,
    node_size: r.node_size,
    status: r.status,
    reason: r.reason,
    requested_count: Number(r.requested_count),
    account_id: r.account_id,
    claimed_by_account_id: r.claimed_by_account_id,
    claim_expires_at: toIso(r.claim_expires_at),
    claimed_at: toIso(r.claimed_at),
    fulfilled_at: toIso(r.fulfilled_at),
    vm_name: r.vm_name,
    error: r.error,
    created_at: requireIso(r.created_at),
    updated_at: requireIso(r.updated_at),
  };
}

export function toReservationView(r: CapacityReservationRow): ReservationView {
  return {
    reservation_id: r.reservation_id,
    agent_id: r.agent_id,
    datacenter: r.datacenter,
    node_size: r.node_size,
    status: r.status,
    deployment_id: r.deployment_id,
    note: r.note,
    created_at: requireIso(r.created_at),
    updated_at: requireIso(r.updated_at),
  };
}

const requirementsOf = (t: CapacityPoolTargetRow): PoolRequirements => ({
  requireVerified: toBool(t.require_verified),
  requireHealthy: toBool(t.require_healthy),
  requireHostname: toBool(t.require_hostname),
});

export async function loadPoolAgents(db: Db): Promise<PoolAgent[]> {
  const rows = (await db('agents').select(
    'agent_id',
    'status',
    'verified',
    'health_status',
    'hostname',
    'datacenter',
    'node_size',
    'vm_name',
  )) as (Omit<PoolAgent, 'verified'> & { verified: boolean | number })[];
  return rows.map((r) => ({ ...r, verified: toBool(r.verified) }));
}

// ---------- targets ----------

export interface TargetInput {
  datacenter: string;
  nodeSize: string;
  minWarmCount: number;
  enabled: boolean;
  requireVerified: boolean;
  requireHealthy: boolean;
  requireHostname: boolean;
  dispatch: boolean;
  reason: string;
}

async function targetView(db: Db, t: CapacityPoolTargetRow, agents?: PoolAgent[]): Promise<TargetView> {
  const all = agents ?? (await loadPoolAgents(db));
  const eligible = all.filter(
    (a) => lower(a.status) === 'undeployed' && matchesPool(a, t.datacenter, t.node_size, requirementsOf(t)),
  ).length;
  const [{ n }] = (await db('capacity_reservations')
    .where({ datacenter: t.datacenter, node_size: t.node_size, status: 'open' })
    .count({ n: '*' })) as [{ n: number | string }];
  const min = Number(t.min_warm_count);
  return {
    datacenter: t.datacenter,
    node_size: t.node_size,
    min_warm_count: min,
    enabled: toBool(t.enabled),
    require_verified: toBool(t.require_verified),
    require_healthy: toBool(t.require_healthy),
    require_hostname: toBool(t.require_hostname),
    dispatch: toBool(t.dispatch),
    reason: t.reason,
    eligible_agents: eligible,
    open_reservations: Number(n),
    shortfall: Math.max(0, min - Number(n)),
  };
}

export async function listTargetViews(db: Db): Promise<TargetView[]> {
  const rows = (await db('capacity_pool_targets').orderBy(['datacenter', 'node_size'])) as CapacityPoolTargetRow[];
  const agents = await loadPoolAgents(db);
  const out: TargetView[] = [];
  for (const r of rows) out.push(await targetView(db, r, agents));
  return out;
}

/** Upsert keyed by (datacenter, node_size), both already trimmed and lower-cased by the caller. */
export async function upsertTarget(db: Db, t: TargetInput): Promise<TargetView> {
  const now = nowIso();
  const cols = {
    min_warm_count: t.minWarmCount,
    enabled: t.enabled,
    require_verified: t.requireVerified,
    require_healthy: t.requireHealthy,
    require_hostname: t.requireHostname,
    dispatch: t.dispatch,
    reason: t.reason.trim() || DEFAULT_POOL_REASON,
    updated_at: now,
  };
  const n = await db('capacity_pool_targets').where({ datacenter: t.datacenter, node_size: t.nodeSize }).update(cols);
  if (n === 0) {
    await db('capacity_pool_targets').insert({
      target_id: randomUUID(),
      datacenter: t.datacenter,
      node_size: t.nodeSize,
      created_at: now,
      ...cols,
    });
  }
  const row = (await db('capacity_pool_targets')
    .where({ datacenter: t.datacenter, node_size: t.nodeSize })
    .first()) as CapacityPoolTargetRow;
  return targetView(db, row);
}

export async function deleteTarget(db: Db, datacenter: string, nodeSize: string): Promise<boolean> {
  return (await db('capacity_pool_targets').where({ datacenter, node_size: nodeSize }).delete()) > 0;
}

/**
 * background.md §5.4: the default tiny GCP target, unless a user-managed target (another reason) holds the pool.
 * Run by every reconcile pass, so a settings change takes effect within one pass (v1: at the next restart).
 */
export async function ensureDefaultGcpTarget(
  db: Db,
  s: { enabled: boolean; datacenter: string | null; count: number; dispatch: boolean },
): Promise<boolean> {
  if (!s.enabled || !s.datacenter) return false;
  const existing = (await db('capacity_pool_targets')
    .where({ datacenter: s.datacenter, node_size: 'tiny' })
    .first()) as CapacityPoolTargetRow | undefined;
  const reason = lower(existing?.reason);
  if (existing && reason !== '' && reason !== DEFAULT_GCP_TINY_REASON) return false;
  await upsertTarget(db, {
    datacenter: s.datacenter,
    nodeSize: 'tiny',
    minWarmCount: Math.max(0, s.count),
    enabled: true,
    requireVerified: true,
    requireHealthy: true,
    requireHostname: true,
    dispatch: s.dispatch,
    reason: DEFAULT_GCP_TINY_REASON,
  });
  return true;
}

// ---------- reservations ----------

export async function listReservations(db: Db, status?: string): Promise<ReservationView[]> {
  const q = db('capacity_reservations').orderBy(['created_at', 'reservation_id']);
  if (status) q.where({ status });
  return ((await q) as CapacityReservationRow[]).map(toReservationView);
}

/** Every open reservation of the agent → expired (agent deleted or cleaned up). */
export async function expireAgentReservations(db: Db, agentId: string): Promise<number> {
  return db('capacity_reservations')
    .where({ agent_id: agentId, status: 'open' })
    .update({ status: 'expired', updated_at: nowIso() });
}

/**
 * After a deployment claimed `agentId` (a first placement or a failover): its reservation is consumed (below);
 * answers the agent's hostname, where the deployment is pushed. Idempotent on retry.
 */
export async function consumeClaimedAgent(
  db: Db,
  agentId: string,
  deploymentId: string,
): Promise<{ hostname: string | null }> {
  const a = (await db('agents').where({ agent_id: agentId }).first('hostname', 'datacenter', 'node_size')) as
    { hostname: string | null; datacenter: string | null; node_size: string | null } | undefined;
  await consumeReservationForDeployment(db, {
    agentId,
    deploymentId,
    datacenter: a?.datacenter ?? '',
    nodeSize: a?.node_size ?? '',
  });
  return { hostname: a?.hostname ?? null };
}

/**
 * api.md §4.3 at deploy: the agent's open reservation is consumed by the deployment; an agent in a warm pool without
 * one gets an on-demand reservation consumed on the spot (v1 created it open; consuming it keeps the pool count honest).
 */
export async function consumeReservationForDeployment(
  db: Db,
  input: { agentId: string; deploymentId: string; datacenter: string; nodeSize: string },
): Promise<void> {
  const now = nowIso();
  const n = await db('capacity_reservations')
    .where({ agent_id: input.agentId, status: 'open' })
    .update({ status: 'consumed', deployment_id: input.deploymentId, updated_at: now });
  if (n > 0) return;
  const dc = lower(input.datacenter);
  const ns = lower(input.nodeSize);
  const targets = (await db('capacity_pool_targets').where({
    enabled: true,
    datacenter: dc,
  })) as CapacityPoolTargetRow[];
  if (!dc || !targets.some((t) => t.node_size === '' || t.node_size === ns)) return;
  const already = await db('capacity_reservations')
    .where({ agent_id: input.agentId, deployment_id: input.deploymentId })
    .first('reservation_id');
  if (already) return;
  await db('capacity_reservations').insert({
    reservation_id: randomUUID(),
    agent_id: input.agentId,
    datacenter: dc,
    node_size: targets.find((t) => t.node_size === ns)?.node_size ?? '',
    status: 'consumed',
    deployment_id: input.deploymentId,
    note: 'on-demand reservation during deploy placement',
    created_at: now,
    updated_at: now,
  });
}

// ---------- orders: reads ----------

export interface OrderFilter {
  status?: string;
  datacenter?: string;
  nodeSize?: string;
  accountId?: string;
}

function ordersQuery(db: Db, f: OrderFilter): Knex.QueryBuilder {
  const q = db('capacity_launch_orders');
  if (f.status) q.where({ status: f.status });
  if (f.datacenter !== undefined && f.datacenter !== '') q.where({ datacenter: f.datacenter });
  if (f.nodeSize !== undefined && f.nodeSize !== '') q.where({ node_size: f.nodeSize });
  if (f.accountId) q.where({ account_id: f.accountId });
  return q;
}

/** Creation order, served by the capacity_launch_orders_created_at_order_id index. */
const ORDER_KEY = ['created_at', 'order_id'] as const;

export async function listOrders(db: Db, f: OrderFilter = {}): Promise<OrderView[]> {
  return ((await ordersQuery(db, f).orderBy([...ORDER_KEY])) as CapacityLaunchOrderRow[]).map(toOrderView);
}

/** One keyset page of `listOrders`. */
export async function listOrdersPage(db: Db, f: OrderFilter, page: PageRequest): Promise<Page<OrderView>> {
  const p = await keysetPage<CapacityLaunchOrderRow>(ordersQuery(db, f), ORDER_KEY, 'asc', page, (r) => [
    keyTime(r.created_at),
    r.order_id,
  ]);
  return { items: p.items.map(toOrderView), next: p.next };
}

export async function getOrderRow(db: Db, orderId: string): Promise<CapacityLaunchOrderRow | undefined> {
  return (await db('capacity_launch_orders').where({ order_id: orderId }).first()) as
    CapacityLaunchOrderRow | undefined;
}

/** Oldest open orders matching the claim filters (the API offers them to their workflows in this order). */
export async function openOrderIds(
  db: Db,
  f: { datacenter: string; nodeSize: string; fulfiller: string },
  limit = 20,
): Promise<string[]> {
  const q = db('capacity_launch_orders')
    .where({ status: 'open', fulfiller: f.fulfiller })
    .orderBy(['created_at', 'order_id'])
    .limit(limit);
  if (f.datacenter) q.where({ datacenter: f.datacenter });
  if (f.nodeSize) q.where({ node_size: f.nodeSize });
  return ((await q.select('order_id')) as { order_id: string }[]).map((r) => r.order_id);
}

export async function findOrderByTokenHash(db: Db, hash: string): Promise<CapacityLaunchOrderRow | undefined> {
  return (await db('capacity_launch_orders').where({ bootstrap_token_hash: hash }).first()) as
    CapacityLaunchOrderRow | undefined;
}

/** An order whose VM is named `vmName` and still waits for its agent: such a registration must bring the token. */
export async function findOrderAwaitingVm(db: Db, vmName: string): Promise<CapacityLaunchOrderRow | undefined> {
  return (await db('capacity_launch_orders')
    .whereRaw('lower(vm_name) = ?', [lower(vmName)])
    .whereIn('status', ['claimed', 'provisioning', 'fulfilled'])
    .whereNull('bootstrap_token_used_at')
    .whereNotNull('bootstrap_token_hash')
    .first()) as CapacityLaunchOrderRow | undefined;
}

// ---------- orders: queuing (background.md §5.3) ----------

export interface QueueInput {
  datacenter: string;
  nodeSize: string;
  shortfall: number;
  reason: string;
  accountId: string | null;
  /** Fulfilled-but-unregistered orders younger than this still count as pending capacity. */
  graceSeconds: number;
  fulfiller: string;
}

export interface QueueResult {
  orders: CapacityLaunchOrderRow[];
  inFlightBefore: number;
  inFlightAfter: number;
  pendingFulfilled: number;
  requested: number;
}

export async function queueOrders(db: Knex, input: QueueInput): Promise<QueueResult> {
  return db.transaction(async (trx) => {
    const dc = input.datacenter;
    const ns = input.nodeSize;
    const known = new Set(
      (
        (await trx('agents')
          .where({ datacenter: dc })
          .modify((q) => {
            if (ns) q.where({ node_size: ns });
          })
          .select('vm_name')) as { vm_name: string }[]
      ).map((r) => lower(r.vm_name)),
    );
    const since = new Date(Date.now() - Math.max(60, input.graceSeconds) * 1000).toISOString();
    const scoped = (q: Knex.QueryBuilder) => {
      q.where({ datacenter: dc, node_size: ns });
      if (input.accountId) q.where({ account_id: input.accountId });
      return q;
    };
    const fulfilled = (await scoped(trx('capacity_launch_orders'))
      .where({ status: 'fulfilled' })
      .where('fulfilled_at', '>=', since)
      .select('vm_name', 'agent_id')) as { vm_name: string | null; agent_id: string | null }[];
    const pendingFulfilled = fulfilled.filter(
      (o) => lower(o.vm_name) !== '' && !known.has(lower(o.vm_name)) && !o.agent_id,
    ).length;
    const requested = Math.max(0, input.shortfall - pendingFulfilled);
    const [{ n }] = (await scoped(trx('capacity_launch_orders'))
      .whereIn('status', IN_FLIGHT_STATUSES as string[])
      .count({ n: '*' })) as [{ n: number | string }];
    const inFlightBefore = Number(n);
    const toCreate = Math.max(0, requested - inFlightBefore);
    const orders: CapacityLaunchOrderRow[] = [];
    const base = Date.now();
    for (let i = 0; i < toCreate; i++) {
      // Distinct, ordered created_at values keep the FIFO key stable within one batch.
      const at = new Date(base + i).toISOString();
      const row = {
        order_id: randomUUID(),
        datacenter: dc,
        node_size: ns,
        status: 'open',
        reason: input.reason.trim() || DEFAULT_POOL_REASON,
        requested_count: 1,
        account_id: input.accountId || null,
        fulfiller: input.fulfiller,
        claim_count: 0,
        created_at: at,
        updated_at: at,
      };
      await trx('capacity_launch_orders').insert(row);
      orders.push((await trx('capacity_launch_orders').where({ order_id: row.order_id }).first()) as never);
    }
    return { orders, inFlightBefore, inFlightAfter: inFlightBefore + toCreate, pendingFulfilled, requested };
  });
}

// ---------- pools (background.md §5.2) ----------

export interface PoolPassResult {
  targets: number;
  created: number;
  expired: number;
  shortfall: number;
  dispatched: number;
  orders: CapacityLaunchOrderRow[];
}

export async function reconcilePools(
  db: Knex,
  opts: { graceSeconds: number; fulfillerFor: (datacenter: string) => string },
): Promise<PoolPassResult> {
  const out: PoolPassResult = { targets: 0, created: 0, expired: 0, shortfall: 0, dispatched: 0, orders: [] };
  const targets = (await db('capacity_pool_targets')
    .where({ enabled: true })
    .orderBy(['datacenter', 'node_size'])) as CapacityPoolTargetRow[];
  out.targets = targets.length;
  for (const t of targets) {
    const dc = lower(t.datacenter);
    const ns = lower(t.node_size);
    if (!dc) continue;
    const min = Number(t.min_warm_count);
    const shortfall = await db.transaction(async (trx) => {
      const agents = await loadPoolAgents(trx);
      const eligible = agents.filter(
        (a) => lower(a.status) === 'undeployed' && matchesPool(a, dc, ns, requirementsOf(t)),
      );
      const eligibleIds = new Set(eligible.map((a) => a.agent_id));
      const open = (await trx('capacity_reservations')
        .where({ datacenter: dc, node_size: ns, status: 'open' })
        .orderBy(['created_at', 'reservation_id'])) as CapacityReservationRow[];
      const keep: string[] = [];
      const now = nowIso();
      for (const r of open) {
        if (eligibleIds.has(r.agent_id) && !keep.includes(r.agent_id) && keep.length < min) keep.push(r.agent_id);
        else {
          await trx('capacity_reservations')
            .where({ reservation_id: r.reservation_id, status: 'open' })
            .update({ status: 'expired', updated_at: now });
          out.expired++;
        }
      }
      if (keep.length < min) {
        const reserved = new Set(
          (
            (await trx('capacity_reservations').where({ status: 'open' }).select('agent_id')) as { agent_id: string }[]
          ).map((r) => r.agent_id),
        );
        for (const a of eligible) {
          if (keep.length >= min) break;
          if (keep.includes(a.agent_id) || reserved.has(a.agent_id)) continue;
          await trx('capacity_reservations').insert({
            reservation_id: randomUUID(),
            agent_id: a.agent_id,
            datacenter: dc,
            node_size: ns,
            status: 'open',
            note: `warm-capacity:${dc}:${ns || 'default'}`,
            created_at: now,
            updated_at: now,
          });
          keep.push(a.agent_id);
          out.created++;
        }
      }
      return Math.max(0, min - keep.length);
    });
    out.shortfall += shortfall;
    if (shortfall > 0 && toBool(t.dispatch)) {
      const q = await queueOrders(db, {
        datacenter: dc,
        nodeSize: ns,
        shortfall,
        reason: t.reason,
        accountId: null,
        graceSeconds: opts.graceSeconds,
        fulfiller: opts.fulfillerFor(dc),
      });
      out.dispatched++;
      out.orders.push(...q.orders);
    }
  }
  return out;
}

// ---------- orders: the launch-order workflow's writes ----------

export async function orderClaim(
  db: Db,
  input: { orderId: string; claimedBy: string; tokenHash: string; at: string; expiresAt: string },
): Promise<boolean> {
  const n = await db('capacity_launch_orders')
    .where({ order_id: input.orderId, status: 'open' })
    .update({
      status: 'claimed',
      claimed_by_account_id: input.claimedBy,
      claimed_at: input.at,
      claim_expires_at: input.expiresAt,
      bootstrap_token_hash: input.tokenHash,
      bootstrap_token_issued_at: input.at,
      bootstrap_token_used_at: null,
      bootstrap_token_consumer: null,
      claim_count: db.raw('claim_count + 1'),
      error: null,
      updated_at: input.at,
    });
  if (n > 0) return true;
  // A retried activity finds its own claim already written.
  const row = await getOrderRow(db, input.orderId);
  return row?.bootstrap_token_hash === input.tokenHash;
}

export async function orderReport(
  db: Db,
  input: {
    orderId: string;
    status: string;
    claimedBy: string;
    vmName?: string | null;
    error?: string | null;
    at: string;
    claimExpiresAt?: string | null;
  },
): Promise<void> {
  const cols: Record<string, unknown> = {
    status: input.status,
    claimed_by_account_id: input.claimedBy,
    updated_at: input.at,
  };
  if (input.vmName !== undefined) cols.vm_name = input.vmName?.trim() || null;
  if (input.error !== undefined) cols.error = input.error?.trim().slice(0, 450) || null;
  if (input.status === 'fulfilled') {
    cols.fulfilled_at = input.at;
    cols.claim_expires_at = null;
  } else if (input.status === 'failed') cols.claim_expires_at = null;
  else if (input.claimExpiresAt !== undefined) cols.claim_expires_at = input.claimExpiresAt;
  await db('capacity_launch_orders').where({ order_id: input.orderId }).update(cols);
}

/** background.md §6.3: back to `open` with the claim, the token and the VM name cleared. */
export async function orderRequeue(db: Db, input: { orderId: string; at: string; error?: string }): Promise<void> {
  await db('capacity_launch_orders')
    .where({ order_id: input.orderId })
    .whereIn('status', ['claimed', 'provisioning', 'fulfilled'])
    .update({
      status: 'open',
      claimed_by_account_id: null,
      claimed_at: null,
      claim_expires_at: null,
      bootstrap_token_hash: null,
      bootstrap_token_issued_at: null,
      bootstrap_token_used_at: null,
      bootstrap_token_consumer: null,
      vm_name: null,
      error: input.error ?? REQUEUE_ERROR,
      updated_at: input.at,
    });
}

/** The registration presenting the token fulfils the order; idempotent for the same consumer. */
export async function orderConsumeToken(
  db: Db,
  input: { orderId: string; tokenHash: string; consumer: string; vmName: string; agentId: string; at: string },
): Promise<boolean> {
  const n = await db('capacity_launch_orders')
    .where({ order_id: input.orderId, bootstrap_token_hash: input.tokenHash })
    .whereNull('bootstrap_token_used_at')
    .update({
      status: 'fulfilled',
      bootstrap_token_used_at: input.at,
      bootstrap_token_consumer: input.consumer,
      agent_id: input.agentId,
      vm_name: input.vmName,
      fulfilled_at: db.raw('coalesce(fulfilled_at, ?)', [input.at]),
      claim_expires_at: null,
      error: null,
      updated_at: input.at,
    });
  if (n > 0) return true;
  const row = await getOrderRow(db, input.orderId);
  return row?.bootstrap_token_consumer === input.consumer;
}
