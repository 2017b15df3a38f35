/**
 * Built-in GCP fulfilment with the real `@google-cloud/compute` client against the fake Compute API (OAuth token
 * exchange, long-running zone operations): a pool of 2 warm tiny agents → 2 orders → 2 TDX instances with the spec's
 * names, labels and cloud-init → agents registering with the cloud-init tokens fulfil the orders; a stolen token is
 * refused. A worker killed during an insert makes no second VM (same requestId) and the order still completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { uuidV5 } from '../../core/auth/bootstrap-token';
import { sanitizeName } from '../../core/capacity';
import { startFakeGcpCompute, type FakeGcpCompute, type FakeInstance } from '../fakes/gcp-compute';
import { countAgents, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

let w: AgentWorld;
let gcp: FakeGcpCompute;

async function until<T>(what: string, f: () => Promise<T | undefined | null | false> | T | undefined | null | false) {
  for (let i = 0; i < 900; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function configOf(i: FakeInstance): Record<string, any> {
  const userData = (i.resource.metadata.items as { key: string; value: string }[]).find((x) => x.key === 'user-data')!;
  expect(userData.value.startsWith('#cloud-config\n')).toBe(true);
  const doc = parse(userData.value);
  const file = doc.write_files.find((f: any) => f.path === '/etc/easyenclave/config.json');
  return JSON.parse(file.content);
}

const reconcile = () =>
  w.stack.client.workflow.execute('capacityReconcile', {
    taskQueue: w.stack.taskQueue,
    workflowId: `capacity-reconcile-test-${Date.now()}`,
    args: [],
  }) as Promise<{ orders: string[]; shortfall: number }>;

beforeAll(async () => {
  gcp = await startFakeGcpCompute();
  w = await startAgentWorld({
    env: {
      GCP_PROJECT_ID: gcp.project,
      GCP_SERVICE_ACCOUNT_KEY: gcp.serviceAccountKey,
      GCP_COMPUTE_API_ENDPOINT: gcp.url,
      GCP_OAUTH_TOKEN_URL: gcp.tokenUrl,
      EASYENCLAVE_CP_URL: 'https://cp.example.test',
      EASYENCLAVE_NETWORK_NAME: 'Test-Net',
    },
  });
}, 60_000);
afterAll(async () => {
  await w?.close();
  await gcp?.close();
});

describe('GCP fulfilment', () => {
  it('a pool of 2 warm tiny agents: 2 orders, 2 TDX instances, registrations with the tokens fulfil them', async () => {
    const put = await w.api.put('/api/v1/admin/agents/capacity/targets', {
      token: w.admin,
      json: { datacenter: 'gcp:us-central1-a', node_size: 'tiny', min_warm_count: 2, dispatch: true },
    });
    expect(put.status).toBe(200);
    const pass = await reconcile();
    expect(pass.shortfall).toBe(2);
    expect(pass.orders).toHaveLength(2);
    // A second pass sees both orders in flight.
    expect((await reconcile()).orders).toHaveLength(0);

    await until('2 instances', () => gcp.instances.size === 2);
    expect(gcp.tokensIssued).toBeGreaterThan(0);
    const byOrder = new Map<string, FakeInstance>();
    for (const i of gcp.instances.values()) byOrder.set(configOf(i).bootstrap_order_id, i);
    expect([...byOrder.keys()].sort()).toEqual([...pass.orders].sort());
    for (const [orderId, i] of byOrder) {
      expect(i.name).toMatch(new RegExp(`^ee-tiny-${orderId.slice(0, 8)}-[0-9a-f]{6}$`));
      expect(i.zone).toBe('us-central1-a');
      expect(i.machineType).toBe('zones/us-central1-a/machineTypes/c3-standard-4');
      expect(i.resource.confidentialInstanceConfig).toEqual({ confidentialInstanceType: 'TDX' });
      expect(i.resource.scheduling).toMatchObject({ onHostMaintenance: 'TERMINATE', automaticRestart: false });
      expect(i.labels).toMatchObject({
        easyenclave: 'managed',
        'ee-order': sanitizeName(orderId.slice(0, 24)),
        'ee-node': 'tiny',
        'ee-dc': 'gcp-us-central1-a',
        'ee-network': 'test-net',
        'ee-cp-host': 'cp-example-test',
      });
      expect(gcp.insertsByRequestId.get(uuidV5(orderId))).toBe(1);
      const cfg = configOf(i);
      expect(cfg).toMatchObject({
        mode: 'agent',
        control_plane_url: 'https://cp.example.test',
        node_size: 'tiny',
        cloud_provider: 'gcp',
        availability_zone: 'us-central1-a',
        region: 'us-central1',
        datacenter: 'gcp:us-central1-a',
        vm_name: i.name,
        bootstrap_order_id: orderId,
      });
      expect(cfg.bootstrap_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const row = await w.stack.db('capacity_launch_orders').where({ order_id: orderId }).first();
      await until(
        'provisioning',
        async () =>
          (await w.stack.db('capacity_launch_orders').where({ order_id: orderId }).first()).status === 'provisioning',
      );
      expect(row.vm_name).toBe(i.name);
    }

    const [[o1, i1], [o2, i2]] = [...byOrder] as [[string, FakeInstance], [string, FakeInstance]];
    const reg = async (vm: string, bootstrap: string) =>
      register(w, vm, await token(w), { datacenter: 'gcp:us-central1-a', bootstrap_token: bootstrap });
    // A stolen token (another VM name than the order's instance) is refused and creates nothing.
    expect((await reg('ee-tiny-intruder', configOf(i1!).bootstrap_token)).status).toBe(403);
    expect(await countAgents(w)).toBe(0);
    const a1 = await reg(i1!.name, configOf(i1!).bootstrap_token);
    expect(a1.status, a1.text).toBe(200);
    const a2 = await reg(i2!.name, configOf(i2!).bootstrap_token);
    expect(a2.status, a2.text).toBe(200);
    for (const [orderId, agentId] of [
      [o1, a1.body.agent_id],
      [o2, a2.body.agent_id],
    ]) {
      const row = await w.stack.db('capacity_launch_orders').where({ order_id: orderId }).first();
      expect(row).toMatchObject({
        status: 'fulfilled',
        agent_id: agentId,
        claimed_by_account_id: 'cp-internal-launcher',
      });
    }
    // Reused: refused, still 2 agents and 2 instances.
    expect((await reg(i1!.name, configOf(i1!).bootstrap_token)).status).toBe(403);
    expect(await countAgents(w)).toBe(2);
    expect(gcp.instances.size).toBe(2);
  }, 120_000);

  it('a worker killed during the insert makes no second VM; the order still completes', async () => {
    // The first pool's agents are not healthy yet (no health check ran): keep it out of this pass.
    await w.api.put('/api/v1/admin/agents/capacity/targets', {
      token: w.admin,
      json: { datacenter: 'gcp:us-central1-a', node_size: 'tiny', min_warm_count: 2, enabled: false },
    });
    gcp.holdInserts();
    const put = await w.api.put('/api/v1/admin/agents/capacity/targets', {
      token: w.admin,
      json: { datacenter: 'gcp:europe-west4-b', node_size: 'tiny', min_warm_count: 1, dispatch: true },
    });
    expect(put.status).toBe(200);
    const before = [...gcp.insertsByRequestId.values()].reduce((a, b) => a + b, 0);
    const pass = await reconcile();
    expect(pass.orders).toHaveLength(1);
    const orderId = pass.orders[0]!;
    await gcp.waitForInserts(before + 1);
    // The insert reached Compute; the worker goes down before it learns the outcome.
    const stopping = w.stack.stopWorker();
    await new Promise((r) => setTimeout(r, 1500));
    gcp.releaseInserts();
    await stopping;
    await w.stack.startWorker();

    const inst = await until('the instance', () =>
      [...gcp.instances.values()].find((i) => i.labels['ee-order'] === sanitizeName(orderId.slice(0, 24))),
    );
    expect(gcp.insertsByRequestId.get(uuidV5(orderId))).toBeGreaterThanOrEqual(2);
    expect(
      [...gcp.instances.values()].filter((i) => i.labels['ee-order'] === sanitizeName(orderId.slice(0, 24))),
    ).toHaveLength(1);
    await until(
      'provisioning',
      async () =>
        (await w.stack.db('capacity_launch_orders').where({ order_id: orderId }).first()).status === 'provisioning',
    );
    const r = await register(w, inst.name, await token(w), {
      datacenter: 'gcp:europe-west4-b',
      bootstrap_token: configOf(inst).bootstrap_token,
    });
    expect(r.status, r.text).toBe(200);
    const row = await w.stack.db('capacity_launch_orders').where({ order_id: orderId }).first();
    expect(row).toMatchObject({ status: 'fulfilled', agent_id: r.body.agent_id, vm_name: inst.name });
  }, 120_000);
});
