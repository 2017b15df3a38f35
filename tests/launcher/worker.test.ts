/**
 * `ee worker` against a fake control plane speaking api.md §11 (tests/fakes/launcher-cp.ts) and the fake QEMU, whose
 * "guest" registers with the CP named in its config using the bootstrap token from its kernel cmdline:
 * claim → provisioning → launch → the agent registers with the order's token → fulfilled; a guest that never
 * registers → failed and its VM removed; an expired lease → the VM is stopped and nothing more is reported; a wrong
 * launcher key and missing flags give clear errors and their exit codes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeLauncherCp, type FakeLauncherCp } from '../fakes/launcher-cp';
import { alive, configOf, launcherEnv, type LauncherEnv } from './helpers';

let t: LauncherEnv;
let cp: FakeLauncherCp;
const KEY = 'ee_live_launcher_key';

beforeEach(async () => {
  t = launcherEnv();
  cp = await startFakeLauncherCp({ launcherKey: KEY, adminToken: 'admin' });
});
afterEach(async () => {
  await t.run(['rm', 'all', '--timeout', '2']);
  await cp.close();
  t.close();
});

const worker = (...extra: (string | Record<string, string>)[]) => {
  const env = extra.find((x): x is Record<string, string> => typeof x === 'object') ?? {};
  const args = extra.filter((x): x is string => typeof x === 'string');
  return t.run(
    ['worker', '--cp-url', cp.url, '--launcher-api-key', KEY, '--image', t.image, '--no-tdx', '--json', ...args],
    { EE_WORKER_POLL_MS: '100', ...env },
  );
};

describe('ee worker', () => {
  it('claims an order, launches it, and reports fulfilled once the agent registers with the order token', async () => {
    const order = cp.addOrder({ datacenter: 'baremetal:fra1', node_size: 'tiny' });
    t.qemu.registerWithCp(true);
    const r = await worker('--one-shot', '--memory', '512M');
    expect(r.stderr).toContain('[worker] claimed order');
    expect(r.code).toBe(0);
    // The registration closed the order (as the real CP does): the worker's own report is answered 409.
    expect(r.stderr).toContain(`order ${order.order_id} was already fulfilled by its agent`);
    expect(order.history).toEqual(['open', 'claimed', 'provisioning', 'fulfilled']);
    const agent = cp.agents[0]!;
    expect(agent.bootstrap_token).toBe(order.bootstrap_token);
    expect(order.bootstrap_token_used).toBe(true);
    expect(order.vm_name).toBe(agent.vm_name);
    expect(r.json().outcomes).toEqual([
      { order_id: order.order_id, status: 'fulfilled', vm_name: agent.vm_name, agent_id: agent.agent_id },
    ]);

    const argv = t.qemu.boots()[0]!;
    expect(configOf(argv)).toMatchObject({
      mode: 'agent',
      node_size: 'tiny',
      control_plane_url: cp.url,
      cloud_provider: 'baremetal',
      availability_zone: 'fra1',
      datacenter: 'baremetal:fra1',
      bootstrap_token: order.bootstrap_token,
      vm_name: agent.vm_name,
      attestation: 'insecure-local',
    });
    expect(argv[argv.indexOf('-m') + 1]).toBe('512M');
    const vm = (await t.run(['list', '--json'])).json().vms[0];
    expect(vm).toMatchObject({ name: agent.vm_name, state: 'running' });

    const claim = cp.requests.find((q) => q.path.endsWith('/claim'))!;
    expect(claim).toMatchObject({ method: 'POST', auth: `Bearer ${KEY}`, body: { datacenter: '', node_size: '' } });
    const updates = cp.requests.filter((q) => q.path === `/api/v1/launchers/capacity/orders/${order.order_id}`);
    expect(updates.map((u) => u.body)).toEqual([
      { status: 'provisioning', vm_name: agent.vm_name },
      { status: 'fulfilled', vm_name: agent.vm_name },
    ]);
  });

  it('reports failed (and removes the VM) when the agent never registers; filters go to the claim', async () => {
    const order = cp.addOrder({ datacenter: 'baremetal:fra1', node_size: 'standard' });
    const r = await worker(
      '--one-shot',
      '--register-timeout',
      '1',
      '--node-size',
      'standard',
      '--datacenter',
      'baremetal:fra1',
      '--memory',
      '512M',
      '--vcpus',
      '1',
    );
    expect(r.code).toBe(1);
    expect(order.history).toEqual(['open', 'claimed', 'provisioning', 'failed']);
    expect(order.error).toMatch(/^agent ee-standard-[0-9a-f]{8} did not register within 1 s$/);
    expect(cp.requests[0]!.body).toEqual({ datacenter: 'baremetal:fra1', node_size: 'standard' });
    expect((await t.run(['list', '--json'])).json().vms).toEqual([]);
  });

  it('fails orders it cannot serve: a gcp datacenter, a VM whose QEMU dies', async () => {
    const gcp = cp.addOrder({ datacenter: 'gcp:us-central1-a', node_size: 'tiny' });
    expect((await worker('--one-shot')).code).toBe(1);
    expect(gcp.history.at(-1)).toBe('failed');
    expect(gcp.error).toBe('provider gcp is not enabled on this launcher');

    const dies = cp.addOrder({ datacenter: 'baremetal:fra1', node_size: 'tiny' });
    t.qemu.fail('qemu-system-x86_64: cannot allocate memory\n');
    expect((await worker('--one-shot')).code).toBe(1);
    expect(dies.history.at(-1)).toBe('failed');
    expect(dies.error).toContain('cannot allocate memory');
  });

  it('honours the lease: stops the VM and reports nothing more once claim_expires_at passes', async () => {
    cp.claimTtlSeconds = 1;
    const order = cp.addOrder({ datacenter: 'baremetal:fra1', node_size: 'tiny' });
    const r = await worker('--one-shot', '--register-timeout', '60');
    expect(r.stderr).toContain('expired before registration');
    expect(r.json().outcomes[0]).toMatchObject({ status: 'lease-expired' });
    expect(order.history).toEqual(['open', 'claimed', 'provisioning']);
    expect(t.qemu.boots()).toHaveLength(1);
    expect((await t.run(['list', '--json'])).json().vms).toEqual([]);
    // the CP re-queues it at the next claim
    cp.claimTtlSeconds = 600;
    t.qemu.registerWithCp(true);
    expect((await worker('--one-shot')).code).toBe(0);
    expect(order.history).toEqual(['open', 'claimed', 'provisioning', 'open', 'claimed', 'provisioning', 'fulfilled']);
  });

  it('no open order: one-shot exits 0; --max-orders stops after that many', async () => {
    const idle = await worker('--one-shot');
    expect(idle.code).toBe(0);
    expect(idle.json()).toEqual({ outcomes: [], exitCode: 0 });
    t.qemu.registerWithCp(true);
    cp.addOrder({ datacenter: 'baremetal:a', node_size: 'tiny' });
    cp.addOrder({ datacenter: 'baremetal:b', node_size: 'tiny' });
    const r = await worker('--max-orders', '2');
    expect(r.code).toBe(0);
    expect(r.json().outcomes.map((o: { status: string }) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    const vms = (await t.run(['list', '--json'])).json().vms as { pid: number }[];
    expect(vms.every((v) => alive(v.pid))).toBe(true);
  });

  it('a flag beats its env variable (providers, max orders)', async () => {
    t.qemu.registerWithCp(true);
    cp.addOrder({ datacenter: 'baremetal:a', node_size: 'tiny' });
    cp.addOrder({ datacenter: 'baremetal:b', node_size: 'tiny' });
    const r = await worker('--max-orders', '1', '--providers', 'baremetal', '--poll-seconds', '2', {
      LAUNCHER_MAX_ORDERS: '2',
      LAUNCHER_PROVIDERS: 'gcp',
      LAUNCHER_POLL_SECONDS: 'not a number',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().outcomes.map((o: { status: string }) => o.status)).toEqual(['fulfilled']);
    expect(cp.orders.map((o) => o.status)).toEqual(['fulfilled', 'open']);
  });

  it('a wrong launcher key → 1 with the CP’s answer; missing flags → 2', async () => {
    const r = await t.run([
      'worker',
      '--cp-url',
      cp.url,
      '--launcher-api-key',
      'ee_live_deployer',
      '--image',
      t.image,
      '--one-shot',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'control plane request failed: POST /api/v1/launchers/capacity/orders/claim -> 403: {"detail":"Launcher API key required"}',
    );
    const missing = await t.run(['worker', '--image', t.image], { CP_URL: undefined, LAUNCHER_API_KEY: undefined });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('worker needs --cp-url');
    expect(
      (await t.run(['worker', '--cp-url', cp.url, '--launcher-api-key', KEY, '--image', t.image, '--node-size', 'xl']))
        .code,
    ).toBe(2);
    const down = await t.run([
      'worker',
      '--cp-url',
      'http://127.0.0.1:9',
      '--launcher-api-key',
      KEY,
      '--image',
      t.image,
      '--one-shot',
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('control plane unreachable');
  });
});
