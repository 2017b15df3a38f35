/**
 * Launch orders end to end through HTTP, the real Temporal server and SQLite: targets and their validation, the
 * launcher claim with its lease (lapse → re-queued → claimable again), the bootstrap token checked and consumed at
 * registration (missing, wrong, reused or expired → refused, nothing created), and capacity purchases (charged once
 * per Idempotency-Key, 402 and no order without funds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLedgerEntry } from '../../core/stores/ledger';
import { countAgents, register, setSetting, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

let w: AgentWorld;
let launcherKey: string;
let otherLauncherKey: string;
const DC = 'baremetal:lab-1';

async function until<T>(what: string, f: () => Promise<T | undefined | null | false>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const orderRow = (id: string) => w.stack.db('capacity_launch_orders').where({ order_id: id }).first();
const orderCount = async () => Number(((await w.stack.db('capacity_launch_orders').count({ n: '*' })) as any)[0].n);

async function newAccount(type: string): Promise<{ id: string; key: string }> {
  const r = await w.api.post('/api/v1/accounts', { json: { name: `${type}-${Math.random()}`, account_type: type } });
  expect(r.status).toBe(200);
  return { id: r.body.account_id, key: r.body.api_key };
}

beforeAll(async () => {
  w = await startAgentWorld({ env: { CAPACITY_ORDER_CLAIM_TTL_SECONDS: '5' } });
  launcherKey = (await newAccount('launcher')).key;
  otherLauncherKey = (await newAccount('launcher')).key;
}, 60_000);
afterAll(async () => w?.close());

describe('targets', () => {
  it('upserts, lists and deletes a target; bad input is 422 with detail and writes nothing', async () => {
    const put = await w.api.put('/api/v1/admin/agents/capacity/targets', {
      token: w.admin,
      json: { datacenter: ' GCP:US-EAST1-B ', node_size: 'Standard', min_warm_count: 3 },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      datacenter: 'gcp:us-east1-b',
      node_size: 'standard',
      min_warm_count: 3,
      shortfall: 3,
    });
    const bad = [
      { datacenter: 'gcp:us-east1-b', node_size: 'huge', min_warm_count: 1 },
      { datacenter: 'gcp:us-east1-b', node_size: 'tiny', min_warm_count: -1 },
      { datacenter: 'not a datacenter!', node_size: 'tiny', min_warm_count: 1 },
      { datacenter: '', node_size: 'tiny' },
    ];
    for (const json of bad) {
      const r = await w.api.put('/api/v1/admin/agents/capacity/targets', { token: w.admin, json });
      expect(r.status, JSON.stringify(json)).toBe(422);
      expect(r.body.detail).toBeDefined();
    }
    expect(await w.stack.db('capacity_pool_targets').count({ n: '*' })).toEqual([{ n: 1 }]);
    const list = await w.api.get('/api/v1/admin/agents/capacity/targets', { token: w.admin });
    expect(list.body.total).toBe(1);
    const del = await w.api.delete(
      '/api/v1/admin/agents/capacity/targets?datacenter=gcp:us-east1-b&node_size=standard',
      {
        token: w.admin,
      },
    );
    expect(del.status).toBe(200);
    const again = await w.api.delete(
      '/api/v1/admin/agents/capacity/targets?datacenter=gcp:us-east1-b&node_size=standard',
      {
        token: w.admin,
      },
    );
    expect(again.status).toBe(404);
    expect((await w.api.get('/api/v1/admin/agents/capacity/orders?status=bogus', { token: w.admin })).status).toBe(422);
    // The admin reconcile validates each target the same way, before any workflow runs: nothing is queued.
    for (const t of [
      { datacenter: 'baremetal:lab-x', node_size: 'huge', min_count: 1 },
      { datacenter: 'baremetal:lab-x', node_size: 'tiny', min_count: -1 },
      { datacenter: 'lab x!', node_size: 'tiny', min_count: 1 },
    ]) {
      const r = await w.api.post('/api/v1/admin/agents/capacity/reconcile', {
        token: w.admin,
        json: { targets: [t], dispatch: true },
      });
      expect(r.status, JSON.stringify(t)).toBe(422);
      expect(r.body.detail).toBeDefined();
    }
    expect(await orderCount()).toBe(0);
  });
});

describe('launcher orders', () => {
  it('claim → lease lapses → re-queued → claimed again; tokens: expired, valid, reused', async () => {
    const rec = await w.api.post('/api/v1/admin/agents/capacity/reconcile', {
      token: w.admin,
      json: { targets: [{ datacenter: DC, node_size: 'tiny', min_count: 1 }], dispatch: true },
    });
    expect(rec.status).toBe(200);
    expect(rec.body).toMatchObject({ eligible: false, total_shortfall: 1 });
    expect(rec.body.dispatches[0]).toMatchObject({ requested_count: 1, dispatched: true, status_code: 202 });
    const orders = await w.api.get(`/api/v1/admin/agents/capacity/orders?datacenter=${DC}`, { token: w.admin });
    expect(orders.body.total).toBe(1);
    const orderId = orders.body.orders[0].order_id as string;
    // A second reconcile counts the in-flight order: nothing new.
    await w.api.post('/api/v1/admin/agents/capacity/reconcile', {
      token: w.admin,
      json: { targets: [{ datacenter: DC, node_size: 'tiny', min_count: 1 }], dispatch: true },
    });
    expect(
      (await w.api.get(`/api/v1/admin/agents/capacity/orders?datacenter=${DC}`, { token: w.admin })).body.total,
    ).toBe(1);

    const claim = async (key: string) =>
      until('claimable order', async () => {
        const r = await w.api.post('/api/v1/launchers/capacity/orders/claim', { token: key, json: { datacenter: DC } });
        return r.status === 200 ? r : null;
      });
    const first = await claim(launcherKey);
    expect(first.body.order).toMatchObject({ order_id: orderId, status: 'claimed' });
    expect(first.body.bootstrap_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(first.body.order)).not.toContain('bootstrap');
    const stored = await orderRow(orderId);
    expect(stored.bootstrap_token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.bootstrap_token_hash).not.toContain(first.body.bootstrap_token);

    // The live order is not handed out twice.
    const second = await w.api.post('/api/v1/launchers/capacity/orders/claim', { token: otherLauncherKey, json: {} });
    expect(second.status).toBe(204);
    // Another launcher cannot report on it.
    const foreign = await w.api.post(`/api/v1/launchers/capacity/orders/${orderId}`, {
      token: otherLauncherKey,
      json: { status: 'provisioning' },
    });
    expect(foreign.status).toBe(404);
    expect(
      (
        await w.api.post(`/api/v1/launchers/capacity/orders/${orderId}`, {
          token: launcherKey,
          json: { status: 'nope' },
        })
      ).status,
    ).toBe(422);

    // Lease (5 s) lapses: the workflow re-queues the order and clears the token.
    const requeued = await until('re-queue', async () => {
      const r = await orderRow(orderId);
      return r.status === 'open' && r.error === 'claim expired and was re-queued' ? r : null;
    });
    expect(requeued.bootstrap_token_hash).toBeNull();

    const expiredToken = first.body.bootstrap_token as string;
    const again = await claim(otherLauncherKey);
    expect(again.body.order.order_id).toBe(orderId);
    const liveToken = again.body.bootstrap_token as string;
    expect(liveToken).not.toBe(expiredToken);
    const prov = await w.api.post(`/api/v1/launchers/capacity/orders/${orderId}`, {
      token: otherLauncherKey,
      json: { status: 'provisioning', vm_name: 'lab-vm-1' },
    });
    expect(prov.status).toBe(200);
    expect(prov.body).toMatchObject({ status: 'provisioning', vm_name: 'lab-vm-1' });

    const reg = (vm: string, bootstrap?: string) =>
      token(w).then((t) =>
        register(w, vm, t, { datacenter: DC, ...(bootstrap === undefined ? {} : { bootstrap_token: bootstrap }) }),
      );
    // The order's VM must bring a token; the expired one and a made-up one are refused; nothing is created.
    expect((await reg('lab-vm-1')).status).toBe(403);
    const expired = await reg('lab-vm-1', expiredToken);
    expect(expired.status).toBe(403);
    expect((await reg('lab-vm-1', 'x'.repeat(43))).status).toBe(403);
    expect(await countAgents(w)).toBe(0);

    const ok = await reg('lab-vm-1', liveToken);
    expect(ok.status, ok.text).toBe(200);
    const fulfilled = await orderRow(orderId);
    expect(fulfilled).toMatchObject({ status: 'fulfilled', agent_id: ok.body.agent_id, vm_name: 'lab-vm-1' });
    expect(fulfilled.bootstrap_token_used_at).not.toBeNull();

    // Reused (by another VM, or by the same VM again): refused, no second agent.
    const stolen = await reg('lab-vm-2', liveToken);
    expect(stolen.status).toBe(403);
    expect((await reg('lab-vm-1', liveToken)).status).toBe(403);
    expect(await countAgents(w)).toBe(1);
    // The order is closed now.
    const late = await w.api.post(`/api/v1/launchers/capacity/orders/${orderId}`, {
      token: otherLauncherKey,
      json: { status: 'failed' },
    });
    expect(late.status).toBe(409);
  }, 120_000);
});

describe('capacity purchase', () => {
  it('charges the price once per Idempotency-Key; no funds → 402 and no order; bad input 422', async () => {
    await setSetting(w, 'billing.capacity_request_dev_simulation', 'false');
    const rich = await newAccount('deployer');
    const poor = await newAccount('deployer');
    await appendLedgerEntry(w.stack.db, { accountId: rich.id, amount: 1_000_000_000, txType: 'deposit' });
    const body = { datacenter: 'baremetal:lab-2', node_size: 'standard', min_warm_count: 2, months: 3 };
    const buy = (key: string, idem: string, json: Record<string, unknown> = body) =>
      w.api.post(`/api/v1/accounts/${key === rich.key ? rich.id : poor.id}/capacity/request`, {
        token: key,
        json,
        headers: { 'idempotency-key': idem },
      });
    const r1 = await buy(rich.key, 'buy-1');
    expect(r1.status, r1.text).toBe(200);
    // billing.md §6: 100 USD × 2 × 3 months.
    expect(r1.body).toMatchObject({ charged_amount_usd: 600, simulated_payment: false, balance_after: 400 });
    expect(r1.body.capacity.dispatches[0]).toMatchObject({ requested_count: 2 });
    const r2 = await buy(rich.key, 'buy-1');
    expect(r2.status).toBe(200);
    expect(r2.body.request_id).toBe(r1.body.request_id);
    const charges = await w.stack.db('transactions').where({ account_id: rich.id, tx_type: 'charge' });
    expect(charges).toHaveLength(1);
    expect(Number(charges[0].amount)).toBe(-600_000_000);
    const mine = await w.api.get(`/api/v1/accounts/${rich.id}/capacity/orders`, { token: rich.key });
    expect(mine.body.total).toBe(2);
    expect(mine.body.orders.every((o: any) => o.account_id === rich.id)).toBe(true);
    expect((await w.api.get(`/api/v1/accounts/${rich.id}/capacity/orders`, { token: poor.key })).status).toBe(403);

    const before = await orderCount();
    const broke = await buy(poor.key, 'buy-2');
    expect(broke.status).toBe(402);
    expect(broke.body.detail).toMatch(/Insufficient funds/);
    expect(await orderCount()).toBe(before);
    expect(await w.stack.db('transactions').where({ account_id: poor.id })).toHaveLength(0);

    for (const json of [
      { ...body, node_size: 'huge' },
      { ...body, min_warm_count: -2 },
      { ...body, datacenter: 'no way' },
    ]) {
      const r = await buy(rich.key, `bad-${JSON.stringify(json)}`, json);
      expect(r.status, JSON.stringify(json)).toBe(422);
      expect(r.body.detail).toBeDefined();
    }
    expect(await orderCount()).toBe(before);
  }, 60_000);
});
