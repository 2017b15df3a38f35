/**
 * Reads of the admin cloud views and clean-up plans, and the two writes they need (an agent's cleared tunnel
 * fields after an admin tunnel delete; a stale fulfilled GCP order reclaimed by the reaper, whose launch-order
 * workflow has long closed).
 */
import type { Knex } from 'knex';
import type { AgentIn, ResourceAgentIn, StaleAgentRef } from '../cloud-admin';
import { nowIso, toBool, toIso, type AgentRow, type CapacityLaunchOrderRow } from '../db/tables';

type Db = Knex | Knex.Transaction;

/** Deployment statuses that keep their agent (and its VM) alive (background.md §4). */
export const ACTIVE_DEPLOYMENT_STATUSES = ['pending', 'deploying', 'running', 'in_progress', 'reassigning'] as const;

export type CloudAgent = AgentIn &
  ResourceAgentIn & { last_contact: string | null; current_deployment_id: string | null; active: boolean };

export async function cloudAgents(db: Db): Promise<CloudAgent[]> {
  const rows = (await db('agents').orderBy('agent_id').select('*')) as (AgentRow & {
    last_contact_at?: Date | string | null;
  })[];
  const active = new Set(
    (
      (await db('deployments')
        .whereIn('status', [...ACTIVE_DEPLOYMENT_STATUSES])
        .whereNot('agent_id', '')
        .select('agent_id')) as { agent_id: string }[]
    ).map((r) => r.agent_id),
  );
  return rows.map((r) => ({
    agent_id: r.agent_id,
    vm_name: r.vm_name,
    status: r.status,
    tunnel_id: r.tunnel_id,
    hostname: r.hostname,
    datacenter: r.datacenter ?? '',
    node_size: r.node_size ?? '',
    health_status: r.health_status,
    verified: toBool(r.verified),
    deployed_app: r.deployed_app,
    current_deployment_id: r.current_deployment_id,
    last_contact: toIso(r.last_contact_at ?? r.last_heartbeat),
    active: active.has(r.agent_id),
  }));
}

export async function deploymentCounts(db: Db): Promise<{ total: number; active: number }> {
  const count = async (q: Knex.QueryBuilder) => Number(((await q.count({ n: '*' })) as { n: number | string }[])[0]!.n);
  return {
    total: await count(db('deployments')),
    active: await count(db('deployments').whereIn('status', ['pending', 'deploying', 'running', 'in_progress'])),
  };
}

/** Orders whose VM may still be coming up: their names and `ee-order` labels protect instances. */
export async function inFlightOrders(db: Db): Promise<{ order_id: string; vm_name: string | null }[]> {
  return (await db('capacity_launch_orders')
    .whereIn('status', ['open', 'claimed', 'provisioning'])
    .select('order_id', 'vm_name')) as { order_id: string; vm_name: string | null }[];
}

export async function fulfilledGcpOrders(db: Db): Promise<CapacityLaunchOrderRow[]> {
  return (await db('capacity_launch_orders').where({ status: 'fulfilled' }).select('*')) as CapacityLaunchOrderRow[];
}

/** background.md §4.1: the reaper fails a stale fulfilled order whose VM it deleted (conditional on `fulfilled`). */
export async function failReapedOrder(db: Db, orderId: string, error: string): Promise<boolean> {
  const at = nowIso();
  const n = await db('capacity_launch_orders')
    .where({ order_id: orderId, status: 'fulfilled' })
    .update({ status: 'failed', error, claim_expires_at: null, updated_at: at });
  return n > 0;
}

/** api.md §12: after an admin tunnel delete, every agent on that tunnel loses its tunnel fields. */
export async function clearAgentTunnel(db: Db, tunnelId: string): Promise<number> {
  return db('agents').where({ tunnel_id: tunnelId }).update({ tunnel_id: null, hostname: null, tunnel_token: null });
}

export const staleRef = (a: CloudAgent): StaleAgentRef => ({
  agent_id: a.agent_id,
  vm_name: a.vm_name,
  tunnel_id: a.tunnel_id,
  hostname: a.hostname,
});
