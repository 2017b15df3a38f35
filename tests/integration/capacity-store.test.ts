/**
 * The capacity store (core/stores/capacity.ts) and the clean-up reads (core/stores/cloud.ts) on each engine:
 * targets, queuing a shortfall once, the order transitions as conditional updates (claim, consume, requeue),
 * reservation consumption at deploy, and the reaper's conditional fail. Runs on PostgreSQL too when
 * TEST_DATABASE_URL is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  consumeReservationForDeployment,
  findOrderByTokenHash,
  getOrderRow,
  listReservations,
  listTargetViews,
  openOrderIds,
  orderClaim,
  orderConsumeToken,
  orderRequeue,
  queueOrders,
  upsertTarget,
} from '../../core/stores/capacity';
import { cloudAgents, failReapedOrder, inFlightOrders } from '../../core/stores/cloud';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAgent, seedDeployment } from '../helpers/seed';

const target = (over: Record<string, unknown> = {}) => ({
  datacenter: 'baremetal:store-1',
  nodeSize: 'tiny',
  minWarmCount: 2,
  enabled: true,
  requireVerified: false,
  requireHealthy: false,
  requireHostname: false,
  dispatch: true,
  reason: 'test',
  ...over,
});
const queue = (db: TestDb['db'], datacenter: string, shortfall: number) =>
  queueOrders(db, {
    datacenter,
    nodeSize: 'tiny',
    shortfall,
    reason: '',
    accountId: null,
    graceSeconds: 60,
    fulfiller: 'launcher',
  });

describe.each(testEngines())('capacity store (%s)', (engine) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(engine);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('upserts a target by (datacenter, node_size) and reports its shortfall', async () => {
    await upsertTarget(t.db, target());
    const v = await upsertTarget(t.db, target({ minWarmCount: 3 }));
    expect(v).toMatchObject({ datacenter: 'baremetal:store-1', node_size: 'tiny', min_warm_count: 3, shortfall: 3 });
    expect((await listTargetViews(t.db)).filter((x) => x.datacenter === 'baremetal:store-1')).toHaveLength(1);
  });

  it('queues a shortfall once: a second queue counts the in-flight orders', async () => {
    const first = await queue(t.db, 'baremetal:store-2', 2);
    expect(first.orders).toHaveLength(2);
    const again = await queue(t.db, 'baremetal:store-2', 2);
    expect(again.orders).toHaveLength(0);
    expect(again.inFlightAfter).toBe(2);
    const open = await openOrderIds(t.db, { datacenter: 'baremetal:store-2', nodeSize: '', fulfiller: 'launcher' });
    expect(open.sort()).toEqual(first.orders.map((o) => o.order_id).sort());
    expect((await inFlightOrders(t.db)).map((o) => o.order_id)).toEqual(expect.arrayContaining(open));
  });

  it('claim, consume and requeue are conditional on the state the workflow expects', async () => {
    const [o] = (await queue(t.db, 'baremetal:store-3', 1)).orders;
    const id = o!.order_id;
    const at = new Date().toISOString();
    const hash = 'a'.repeat(64);
    expect(await orderClaim(t.db, { orderId: id, claimedBy: 'l1', tokenHash: hash, at, expiresAt: at })).toBe(true);
    // A retried claim with the same token is its own write; another claimant is refused.
    expect(await orderClaim(t.db, { orderId: id, claimedBy: 'l1', tokenHash: hash, at, expiresAt: at })).toBe(true);
    expect(await orderClaim(t.db, { orderId: id, claimedBy: 'l2', tokenHash: 'b'.repeat(64), at, expiresAt: at })).toBe(
      false,
    );
    expect((await findOrderByTokenHash(t.db, hash))?.order_id).toBe(id);
    const consume = { orderId: id, tokenHash: hash, vmName: 'vm-1', agentId: 'agent-1', at };
    expect(await orderConsumeToken(t.db, { ...consume, consumer: 'reg-1' })).toBe(true);
    expect(await orderConsumeToken(t.db, { ...consume, consumer: 'reg-1' })).toBe(true);
    expect(await orderConsumeToken(t.db, { ...consume, consumer: 'reg-2' })).toBe(false);
    expect(await getOrderRow(t.db, id)).toMatchObject({ status: 'fulfilled', agent_id: 'agent-1', claim_count: 1 });

    const [o2] = (await queue(t.db, 'baremetal:store-4', 1)).orders;
    await orderClaim(t.db, { orderId: o2!.order_id, claimedBy: 'l1', tokenHash: 'c'.repeat(64), at, expiresAt: at });
    await orderRequeue(t.db, { orderId: o2!.order_id, at });
    expect(await getOrderRow(t.db, o2!.order_id)).toMatchObject({
      status: 'open',
      bootstrap_token_hash: null,
      claimed_by_account_id: null,
      error: 'claim expired and was re-queued',
    });
    // The reaper only fails a fulfilled order.
    expect(await failReapedOrder(t.db, o2!.order_id, 'x')).toBe(false);
    expect(await failReapedOrder(t.db, id, 'reaped')).toBe(true);
    expect(await getOrderRow(t.db, id)).toMatchObject({ status: 'failed', error: 'reaped' });
  });

  it('a deployment consumes the open reservation, or an on-demand one in a warm pool', async () => {
    await upsertTarget(t.db, target({ datacenter: 'baremetal:store-5', nodeSize: '' }));
    const a = await seedAgent(t.db, { datacenter: 'baremetal:store-5', node_size: 'tiny' });
    const { deployment_id } = await seedDeployment(t.db, { agent_id: a.agent_id });
    await consumeReservationForDeployment(t.db, {
      agentId: a.agent_id,
      deploymentId: deployment_id,
      datacenter: 'baremetal:store-5',
      nodeSize: 'tiny',
    });
    // Retried: still one.
    await consumeReservationForDeployment(t.db, {
      agentId: a.agent_id,
      deploymentId: deployment_id,
      datacenter: 'baremetal:store-5',
      nodeSize: 'tiny',
    });
    const mine = (await listReservations(t.db)).filter((r) => r.agent_id === a.agent_id);
    expect(mine).toEqual([
      expect.objectContaining({
        status: 'consumed',
        deployment_id,
        note: 'on-demand reservation during deploy placement',
      }),
    ]);
    const agents = await cloudAgents(t.db);
    expect(agents.find((x) => x.agent_id === a.agent_id)).toMatchObject({ datacenter: 'baremetal:store-5' });
  });
});
