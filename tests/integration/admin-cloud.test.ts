/**
 * Admin cloud through HTTP against the fakes (Cloudflare, GCP Compute, a signature-checking provisioner): the
 * Cloudflare views and deletes, cloud resources (agents and the provisioner's inventory), the unified orphan
 * clean-up (the dry run lists exactly the seeded orphans; the real run removes them and nothing else — a live
 * agent's tunnel, DNS record and VM survive), single-agent and stale-agent clean-ups, and the GCP reaper.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGcpCompute, type FakeGcpCompute } from '../fakes/gcp-compute';
import { startFakeProvisioner, type FakeProvisioner } from '../fakes/provisioner';
import { register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

let w: AgentWorld;
let gcp: FakeGcpCompute;
let prov: FakeProvisioner;
const DC = 'gcp:us-central1-a';
const LIVE_VM = 'ee-tiny-live0000-aaaaaa';
const OLD = '2020-01-01T00:00:00.000Z';
const managed = (extra: Record<string, string> = {}) => ({
  easyenclave: 'managed',
  'ee-network': 'test-net',
  ...extra,
});

async function agentRow(vm: string) {
  return w.stack.db('agents').where({ vm_name: vm }).first();
}
async function registerAgent(vm: string) {
  const r = await register(w, vm, await token(w), { datacenter: DC });
  expect(r.status, r.text).toBe(200);
  return (await agentRow(vm))!;
}
const makeStale = (agentId: string) =>
  w.stack.db('agents').where({ agent_id: agentId }).update({ last_heartbeat: OLD, last_contact_at: OLD });
const tunnelIds = () => w.cf.tunnels().map((t) => t.id);
const recordIds = () => w.cf.dnsRecords().map((r) => r.id);

beforeAll(async () => {
  gcp = await startFakeGcpCompute();
  prov = await startFakeProvisioner();
  w = await startAgentWorld({
    env: {
      GCP_PROJECT_ID: gcp.project,
      GCP_SERVICE_ACCOUNT_KEY: gcp.serviceAccountKey,
      GCP_COMPUTE_API_ENDPOINT: gcp.url,
      GCP_OAUTH_TOKEN_URL: gcp.tokenUrl,
      EASYENCLAVE_NETWORK_NAME: 'Test-Net',
      AGENT_PROVISIONER_INVENTORY_URL: prov.inventoryUrl,
      AGENT_PROVISIONER_CLEANUP_URL: prov.cleanupUrl,
      AGENT_PROVISIONER_WEBHOOK_TOKEN: prov.token,
      AGENT_PROVISIONER_SIGNING_SECRET: prov.secret,
    },
  });
}, 60_000);
afterAll(async () => {
  await w?.close();
  await gcp?.close();
  await prov?.close();
});

describe('unified orphan clean-up', () => {
  it('dry run lists exactly the seeded orphans; the real run deletes them and nothing else', async () => {
    const live = await registerAgent(LIVE_VM);
    expect(live.tunnel_id).toBeTruthy();
    const stale = await registerAgent('ee-tiny-stale111-bbbbbb');
    await makeStale(stale.agent_id);
    gcp.seedInstance({ name: LIVE_VM, zone: 'us-central1-a', labels: managed() });
    gcp.seedInstance({ name: 'ee-tiny-orphan01-cccccc', zone: 'us-central1-a', labels: managed() });
    // Too young to judge (its agent may still be booting), not ours (other network), not managed: all survive.
    gcp.seedInstance({
      name: 'ee-tiny-young000-dddddd',
      zone: 'us-central1-a',
      labels: managed(),
      creationTimestamp: new Date().toISOString(),
    });
    gcp.seedInstance({
      name: 'ee-tiny-othernet-eeeeee',
      zone: 'us-central1-a',
      labels: managed({ 'ee-network': 'x' }),
    });
    gcp.seedInstance({ name: 'hand-made-vm', zone: 'us-central1-a', labels: {} });
    const ghost = w.cf.seedTunnel({ name: 'agent-ghost-1' });
    const ghostDns = w.cf.seedDnsRecord({
      name: `agent-ghost-1.${w.cf.zoneName}`,
      content: `${ghost.id}.cfargotunnel.com`,
    });
    const dangling = w.cf.seedDnsRecord({ name: `agent-gone.${w.cf.zoneName}`, content: 'deadbeef.cfargotunnel.com' });
    const cp = w.cf.seedTunnel({ name: 'easyenclave-control-plane' });
    const unmanaged = w.cf.seedTunnel({ name: 'someone-elses-tunnel' });
    const plain = w.cf.seedDnsRecord({ name: `www.${w.cf.zoneName}`, content: 'example.org' });
    prov.resources.push({ resource_id: 'ext-orphan-1', provider: 'aws', name: 'vm-nobody' });

    const tunnels = await w.api.get('/api/v1/admin/cloudflare/tunnels', { token: w.admin });
    expect(tunnels.status).toBe(200);
    expect(tunnels.body.orphaned_count).toBe(1);
    const row = (id: string) => tunnels.body.tunnels.find((t: any) => t.tunnel_id === id);
    expect(row(ghost.id)).toMatchObject({ orphaned: true, owner: 'agent', agent_id: null });
    expect(row(cp.id)).toMatchObject({ protected: true, orphaned: false, owner: 'control-plane' });
    expect(row(live.tunnel_id)).toMatchObject({ agent_id: live.agent_id, agent_vm_name: LIVE_VM, orphaned: false });
    const dns = await w.api.get('/api/v1/admin/cloudflare/dns', { token: w.admin });
    expect(dns.body.orphaned_count).toBe(1); // the dangling one; the ghost's record still has its tunnel
    expect(dns.body.records.find((r: any) => r.record_id === plain.id)).toMatchObject({ is_tunnel_record: false });

    const tunnelsBefore = tunnelIds().sort();
    const recordsBefore = recordIds().sort();
    const vmsBefore = [...gcp.instances.keys()].sort();
    const dry = await w.api.post('/api/v1/admin/cleanup/orphans', { token: w.admin, json: {} });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.dry_run).toBe(true);
    expect(dry.body.plan.tunnels.map((t: any) => t.tunnel_id)).toEqual([ghost.id]);
    expect(dry.body.plan.dns_records.map((r: any) => r.record_id).sort()).toEqual([ghostDns.id, dangling.id].sort());
    expect(dry.body.plan.gcp_instances.map((i: any) => i.name)).toEqual(['ee-tiny-orphan01-cccccc']);
    expect(dry.body.plan.stale_agents.map((a: any) => a.agent_id)).toEqual([stale.agent_id]);
    expect(dry.body.cloudflare).toMatchObject({ tunnels_candidates: 1, dns_candidates: 2, tunnels_deleted: 0 });
    expect(dry.body.external_cloud).toMatchObject({
      configured: true,
      dispatched: true,
      dry_run: true,
      requested_count: 0,
    });
    // Nothing touched.
    expect(tunnelIds().sort()).toEqual(tunnelsBefore);
    expect(recordIds().sort()).toEqual(recordsBefore);
    expect([...gcp.instances.keys()].sort()).toEqual(vmsBefore);
    expect(await agentRow('ee-tiny-stale111-bbbbbb')).toBeDefined();
    expect(prov.resources).toHaveLength(1);

    const real = await w.api.post('/api/v1/admin/cleanup/orphans', {
      token: w.admin,
      json: { dry_run: false, external_resource_ids: ['ext-orphan-1'] },
    });
    expect(real.status, real.text).toBe(200);
    expect(real.body.plan).toEqual(dry.body.plan);
    expect(real.body.cloudflare).toMatchObject({
      tunnels_deleted: 1,
      dns_deleted: 2,
      tunnels_failed: 0,
      dns_failed: 0,
    });
    expect(real.body.gcp).toMatchObject({ candidates: 1, deleted: 1, failed: 0 });
    expect(real.body.stale_agents).toMatchObject({ candidates: 1, deleted: 1 });
    const gone = new Set([ghost.id, stale.tunnel_id]);
    expect(tunnelIds().sort()).toEqual(tunnelsBefore.filter((t) => !gone.has(t)).sort());
    expect(tunnelIds()).toEqual(expect.arrayContaining([live.tunnel_id, cp.id, unmanaged.id]));
    const liveDns = w.cf.dnsRecords().filter((r) => r.content === `${live.tunnel_id}.cfargotunnel.com`);
    expect(liveDns).toHaveLength(1);
    expect(recordIds()).not.toEqual(expect.arrayContaining([ghostDns.id]));
    expect(recordIds()).not.toEqual(expect.arrayContaining([dangling.id]));
    expect(recordIds()).toContain(plain.id);
    expect(w.cf.dnsRecords().some((r) => r.content === `${stale.tunnel_id}.cfargotunnel.com`)).toBe(false);
    expect([...gcp.instances.keys()].sort()).toEqual(vmsBefore.filter((n) => n !== 'ee-tiny-orphan01-cccccc').sort());
    expect(await agentRow('ee-tiny-stale111-bbbbbb')).toBeUndefined();
    expect(await agentRow(LIVE_VM)).toMatchObject({ agent_id: live.agent_id, tunnel_id: live.tunnel_id });
    // The provisioner received a signed cleanup for the named resource and removed it.
    expect(prov.refused).toEqual([]);
    expect(prov.cleanups.at(-1)).toMatchObject({ dry_run: false, resource_ids: ['ext-orphan-1'] });
    expect(prov.resources).toHaveLength(0);

    // A second real run finds nothing left to delete.
    const again = await w.api.post('/api/v1/admin/cleanup/orphans', { token: w.admin, json: { dry_run: false } });
    expect(again.body.plan).toEqual({ tunnels: [], dns_records: [], gcp_instances: [], stale_agents: [] });
  }, 120_000);

  it('Cloudflare failing on every attempt: 502 whose detail names the failed call, not a bare 500', async () => {
    w.cf.failNext(50, { pathIncludes: '/cfd_tunnel', method: 'GET', status: 500 });
    try {
      const r = await w.api.post('/api/v1/admin/cleanup/orphans', { token: w.admin, json: {} });
      expect(r.status, r.text).toBe(502);
      expect(r.body.detail).toMatch(/^Orphan clean-up failed: .*HTTP 500/);
    } finally {
      w.cf.clearFaults();
    }
    // The fault gone, the same request plans again.
    const ok = await w.api.post('/api/v1/admin/cleanup/orphans', { token: w.admin, json: {} });
    expect(ok.status, ok.text).toBe(200);
  }, 120_000);
});

describe('Cloudflare admin deletes', () => {
  it('refuses the protected tunnel; deleting an agent tunnel clears the agent; DNS delete by id', async () => {
    const cp = w.cf.tunnels().find((t) => t.name === 'easyenclave-control-plane')!;
    const refused = await w.api.delete(`/api/v1/admin/cloudflare/tunnels/${cp.id}`, { token: w.admin });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toBe('Refusing to delete the protected control plane tunnel.');
    expect(tunnelIds()).toContain(cp.id);

    const a = await registerAgent('ee-tiny-tunnel00-ffffff');
    const del = await w.api.delete(`/api/v1/admin/cloudflare/tunnels/${a.tunnel_id}`, { token: w.admin });
    expect(del.status, del.text).toBe(200);
    expect(del.body).toEqual({ deleted: true, tunnel_id: a.tunnel_id });
    expect(tunnelIds()).not.toContain(a.tunnel_id);
    expect(await agentRow('ee-tiny-tunnel00-ffffff')).toMatchObject({ tunnel_id: null, hostname: null });

    const rec = w.cf.seedDnsRecord({ name: `x.${w.cf.zoneName}`, content: 'y.cfargotunnel.com' });
    const d = await w.api.delete(`/api/v1/admin/cloudflare/dns/${rec.id}`, { token: w.admin });
    expect(d.body).toEqual({ deleted: true, record_id: rec.id });
    expect((await w.api.delete(`/api/v1/admin/cloudflare/dns/${rec.id}`, { token: w.admin })).body.deleted).toBe(false);
    const status = await w.api.get('/api/v1/admin/cloudflare/status', { token: w.admin });
    expect(status.body).toMatchObject({ configured: true, protected_tunnel_names: ['easyenclave-control-plane'] });
  }, 60_000);
});

describe('cloud resources', () => {
  it('summarises agents per cloud and links the provisioner inventory to agents', async () => {
    const res = await w.api.get('/api/v1/admin/cloud/resources', { token: w.admin });
    expect(res.status).toBe(200);
    expect(res.body.total_agents).toBe(
      await w.stack
        .db('agents')
        .count({ n: '*' })
        .then((r: any) => Number(r[0].n)),
    );
    const gcpCloud = res.body.clouds.find((c: any) => c.cloud === 'gcp');
    expect(gcpCloud).toMatchObject({ datacenters: [DC] });
    expect(res.body.agents.find((a: any) => a.vm_name === LIVE_VM)).toMatchObject({
      cloud: 'gcp',
      availability_zone: 'us-central1-a',
      region: 'us-central1',
    });

    prov.resources.push(
      { id: 'ext-live', provider: 'google', vm_name: LIVE_VM, zone: 'us-central1-a' },
      { id: 'ext-stray', cloud: 'aws', name: 'stray', zone: 'eu-west-1a' },
    );
    const ext = await w.api.get('/api/v1/admin/cloud/resources/external', { token: w.admin });
    expect(ext.status, ext.text).toBe(200);
    expect(ext.body).toMatchObject({ configured: true, total_resources: 2, tracked_count: 1, orphaned_count: 1 });
    const live = ext.body.resources.find((r: any) => r.resource_id === 'ext-live');
    expect(live).toMatchObject({ cloud: 'gcp', datacenter: DC, region: 'us-central1', tracked: true, orphaned: false });
    expect(live.linked_agent_id).toBe((await agentRow(LIVE_VM)).agent_id);
    expect(ext.body.resources.find((r: any) => r.resource_id === 'ext-stray')).toMatchObject({ orphaned: true });
    prov.resources.length = 0;
  });
});

describe('single-agent and stale clean-ups', () => {
  it('agent clean-up: dry run changes nothing; the real run removes its provisioner resource, VM, tunnel and row', async () => {
    const vm = 'ee-tiny-single00-111111';
    const a = await registerAgent(vm);
    gcp.seedInstance({ name: vm, zone: 'us-central1-a', labels: managed() });
    prov.resources.push({ resource_id: 'ext-single', provider: 'aws', linked_agent_id: a.agent_id });
    const path = `/api/v1/admin/agents/${a.agent_id}/cleanup`;
    expect((await w.api.post('/api/v1/admin/agents/no-such-agent/cleanup', { token: w.admin, json: {} })).status).toBe(
      404,
    );
    const dry = await w.api.post(path, { token: w.admin, json: {} });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body).toMatchObject({ dry_run: true, agent_deleted: false, external_candidates: 2 });
    expect(await agentRow(vm)).toBeDefined();
    expect(gcp.instances.has(vm)).toBe(true);

    const cleanupsBefore = prov.cleanups.length;
    const real = await w.api.post(path, { token: w.admin, json: { dry_run: false } });
    expect(real.status, real.text).toBe(200);
    expect(real.body).toMatchObject({ dry_run: false, agent_deleted: true, cloudflare_deleted: true });
    expect(prov.cleanups.slice(cleanupsBefore)).toEqual([
      expect.objectContaining({ dry_run: false, only_orphaned: false, resource_ids: ['ext-single'] }),
    ]);
    expect(await agentRow(vm)).toBeUndefined();
    expect(tunnelIds()).not.toContain(a.tunnel_id);
    // The webhook dispatched, so the built-in GCP path left the VM to the provisioner (v1's rule).
    expect(gcp.instances.has(vm)).toBe(true);
    gcp.instances.delete(vm);
  }, 60_000);

  it('stale clean-up: 422 for a non-positive threshold; dry run lists; deployed agents are skipped', async () => {
    for (const stale_hours of [0, -1]) {
      const r = await w.api.post('/api/v1/admin/agents/cleanup/stale', { token: w.admin, json: { stale_hours } });
      expect(r.status).toBe(422);
      expect(JSON.stringify(r.body.detail)).toContain('stale_hours must be > 0');
    }
    const a = await registerAgent('ee-tiny-stale222-222222');
    const b = await registerAgent('ee-tiny-stale333-333333');
    await makeStale(a.agent_id);
    await makeStale(b.agent_id);
    await w.stack
      .db('agents')
      .where({ agent_id: b.agent_id })
      .update({ status: 'deployed', current_deployment_id: 'dep-x' });
    const dry = await w.api.post('/api/v1/admin/agents/cleanup/stale', { token: w.admin, json: {} });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.deleted_agents).toEqual([{ agent_id: a.agent_id, vm_name: a.vm_name, dry_run: true }]);
    expect(dry.body.skipped_agents).toEqual([
      { agent_id: b.agent_id, vm_name: b.vm_name, reason: 'active_deployment' },
    ]);
    expect(await agentRow(a.vm_name)).toBeDefined();
    const real = await w.api.post('/api/v1/admin/agents/cleanup/stale', { token: w.admin, json: { dry_run: false } });
    expect(real.body.deleted_agents).toEqual([{ agent_id: a.agent_id, vm_name: a.vm_name }]);
    expect(await agentRow(a.vm_name)).toBeUndefined();
    expect(await agentRow(b.vm_name)).toBeDefined();
    await w.stack
      .db('agents')
      .where({ agent_id: b.agent_id })
      .update({ status: 'undeployed', current_deployment_id: null });
  }, 60_000);
});

describe('GCP reaper', () => {
  it('deletes a stale fulfilled order VM (order failed) and an orphaned instance; live VMs stay', async () => {
    const orderVm = 'ee-tiny-reaped00-444444';
    const now = new Date().toISOString();
    await w.stack.db('capacity_launch_orders').insert({
      order_id: 'reap-order-1',
      datacenter: DC,
      node_size: 'tiny',
      status: 'fulfilled',
      reason: 'test',
      requested_count: 1,
      claimed_by_account_id: 'cp-internal-launcher',
      fulfilled_at: OLD,
      vm_name: orderVm,
      fulfiller: 'gcp',
      claim_count: 1,
      created_at: OLD,
      updated_at: now,
    });
    gcp.seedInstance({ name: orderVm, zone: 'us-central1-a', labels: managed() });
    gcp.seedInstance({ name: 'ee-tiny-orphan02-555555', zone: 'us-central1-a', labels: managed() });
    const r = (await w.stack.client.workflow.execute('gcpReaper', {
      taskQueue: w.stack.taskQueue,
      workflowId: `gcp-reaper-test-${Date.now()}`,
      args: [],
    })) as { orders_reaped: string[]; instances_deleted: string[] };
    expect(r.orders_reaped).toEqual(['reap-order-1']);
    expect(r.instances_deleted).toContain('ee-tiny-orphan02-555555');
    expect(gcp.instances.has(orderVm)).toBe(false);
    expect(gcp.instances.has('ee-tiny-orphan02-555555')).toBe(false);
    expect(gcp.instances.has(LIVE_VM)).toBe(true);
    expect(gcp.instances.has('ee-tiny-young000-dddddd')).toBe(true);
    expect(await w.stack.db('capacity_launch_orders').where({ order_id: 'reap-order-1' }).first()).toMatchObject({
      status: 'failed',
      error: 'stale fulfilled order reclaimed; vm deleted or missing',
    });
  }, 60_000);
});
