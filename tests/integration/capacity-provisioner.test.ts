/**
 * Launch orders handed to an external provisioner (background.md §10) against a fake that verifies the bearer token
 * and the HMAC-SHA256 signature of every request: an order is dispatched once with its VM name and one-time
 * bootstrap token, and the agent that registers with that token fulfils it; with a wrong signing secret the
 * provisioner refuses (401) and the order is failed with the reason, not retried forever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeProvisioner, type FakeProvisioner } from '../fakes/provisioner';
import { register, setSetting, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

let w: AgentWorld;
let prov: FakeProvisioner;

async function until<T>(what: string, f: () => Promise<T | undefined | null | false> | T | undefined | null | false) {
  for (let i = 0; i < 600; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const orderRow = (id: string) => w.stack.db('capacity_launch_orders').where({ order_id: id }).first();

async function dispatchOne(datacenter: string): Promise<string> {
  const r = await w.api.post('/api/v1/admin/agents/capacity/reconcile', {
    token: w.admin,
    json: { targets: [{ datacenter, node_size: 'tiny', min_count: 1 }], dispatch: true },
  });
  expect(r.status, r.text).toBe(200);
  const orders = await w.api.get(`/api/v1/admin/agents/capacity/orders?datacenter=${datacenter}`, { token: w.admin });
  expect(orders.body.total).toBe(1);
  return orders.body.orders[0].order_id as string;
}

beforeAll(async () => {
  prov = await startFakeProvisioner();
  w = await startAgentWorld({
    env: {
      AGENT_PROVISIONER_WEBHOOK_URL: prov.dispatchUrl,
      AGENT_PROVISIONER_WEBHOOK_TOKEN: prov.token,
      AGENT_PROVISIONER_SIGNING_SECRET: prov.secret,
      EASYENCLAVE_CP_URL: 'https://cp.example.test',
    },
  });
}, 60_000);
afterAll(async () => {
  await w?.close();
  await prov?.close();
});

describe('external provisioner', () => {
  it('dispatches a signed order once; the agent registering with its token fulfils it', async () => {
    const orderId = await dispatchOne('baremetal:lab-7');
    const d = await until('dispatch', () => prov.dispatches.find((x) => x.body.order_id === orderId));
    expect(prov.refused).toEqual([]);
    expect(d.idempotencyKey).toBe(`launch-order:${orderId}:1`);
    expect(d.body).toMatchObject({ datacenter: 'baremetal:lab-7', node_size: 'tiny', count: 1 });
    expect(d.body.vm_name).toMatch(new RegExp(`^ee-tiny-${orderId.slice(0, 8)}-[0-9a-f]{6}$`));
    expect(d.body.bootstrap_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(d.body.agent_config).toMatchObject({
      mode: 'agent',
      control_plane_url: 'https://cp.example.test',
      vm_name: d.body.vm_name,
      bootstrap_token: d.body.bootstrap_token,
      datacenter: 'baremetal:lab-7',
    });
    const row = await until('provisioning', async () => {
      const r = await orderRow(orderId);
      return r.status === 'provisioning' ? r : null;
    });
    expect(row).toMatchObject({ claimed_by_account_id: 'external-provisioner', vm_name: d.body.vm_name });
    // The token is stored only as its HMAC.
    expect(JSON.stringify(row)).not.toContain(d.body.bootstrap_token);

    // Launchers do not get provisioner orders.
    const launcher = await w.api.post('/api/v1/accounts', { json: { name: 'l-prov', account_type: 'launcher' } });
    const claim = await w.api.post('/api/v1/launchers/capacity/orders/claim', {
      token: launcher.body.api_key,
      json: {},
    });
    expect(claim.status).toBe(204);

    const reg = await register(w, d.body.vm_name, await token(w), {
      datacenter: 'baremetal:lab-7',
      bootstrap_token: d.body.bootstrap_token,
    });
    expect(reg.status, reg.text).toBe(200);
    expect(await orderRow(orderId)).toMatchObject({ status: 'fulfilled', agent_id: reg.body.agent_id });
    expect(prov.dispatchCalls.get(`launch-order:${orderId}:1`)).toBe(1);
  }, 120_000);

  it('a wrong signing secret: the provisioner refuses, the order is failed with the reason', async () => {
    await setSetting(w, 'provisioner.signing_secret', 'not-the-shared-secret');
    const refusedBefore = prov.refused.length;
    const orderId = await dispatchOne('baremetal:lab-8');
    const failed = await until('failed', async () => {
      const r = await orderRow(orderId);
      return r.status === 'failed' ? r : null;
    });
    expect(failed.error).toMatch(/^Provisioner webhook refused the order: HTTP 401/);
    expect(failed.error).toContain('bad signature');
    expect(prov.refused.slice(refusedBefore)).toEqual([{ path: '/dispatch', reason: 'bad signature' }]);
    expect(prov.dispatches.some((x) => x.body.order_id === orderId)).toBe(false);
  }, 120_000);
});
