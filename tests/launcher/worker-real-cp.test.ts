/**
 * The real `ee worker` process (launcher/bin/ee.mjs) against the real control plane (Temporal + worker + Koa API,
 * SQLite), with the fake QEMU on PATH acting as the guest: it reads the agent config the launcher put on the kernel
 * cmdline (or on the config-drive ISO) and runs the real ee-agent with it (fake cloudflared on PATH, the stack's fake
 * Cloudflare): plain guests attest insecure-local, which this CP allows; TDX guests (a fake TDX host) attest through
 * the fake configfs-tsm and the fake Intel Trust Authority. An admin reconcile queues a baremetal launch order;
 * the worker claims it, reports provisioning, launches, and the agent registers with the order's bootstrap token,
 * which fulfils the order and binds the agent to it. The token is one-time; a VM whose QEMU dies fails its order
 * with QEMU's message; a plain guest holding a live token is still refused while insecure-local agents are off.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bootstrapTokenHash } from '../../core/auth/bootstrap-token';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { countAgents, MRTD, RTMRS, setSetting, startAgentWorld, type AgentWorld } from '../helpers/agents';
import { decodeHistory } from '../helpers/histories';
import { configOf, launcherEnv, type LauncherEnv } from './helpers';

let w: AgentWorld;
let t: LauncherEnv;
let bins: FakeBins;
let tmp: string;
let agentBundle: string;
let launcher: { id: string; key: string };
let tsm: FakeTsm;

interface Proc {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a child to its end (a bounded run: the test fails rather than hangs if it does not end). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, limitMs = 90_000): Promise<Proc> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Proc = { code: null, stdout: '', stderr: '' };
    child.stdout.on('data', (c: Buffer) => (p.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (p.stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      p.code = code;
      resolve(p);
    });
  });
}

/** `ee worker` as its own process, claiming one order of `datacenter`; plain guests unless `tdx`. */
const eeWorker = (
  datacenter: string,
  o: { env?: Record<string, string>; tdx?: boolean; registerTimeout?: number } = {},
) =>
  run(
    process.execPath,
    [
      'launcher/bin/ee.mjs',
      'worker',
      '--cp-url',
      w.stack.url,
      '--launcher-api-key',
      launcher.key,
      '--image',
      t.image,
      ...(o.tdx ? ['--intel-api-key', w.ita.apiKey] : ['--no-tdx']),
      '--datacenter',
      datacenter,
      '--max-orders',
      '1',
      '--register-timeout',
      String(o.registerTimeout ?? 60),
      '--memory',
      '512M',
      '--json',
    ],
    { ...t.env, EE_WORKER_POLL_MS: '200', ...o.env } as NodeJS.ProcessEnv,
  );

/** The guest's agent once more with the same config, on a wiped data disk, giving up after one attempt. */
function rerunAgent(configPath: string, name: string): Promise<Proc> {
  const f = join(tmp, `${name}.json`);
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  writeFileSync(f, JSON.stringify({ ...cfg, data_dir: join(tmp, name), admin_port: 0, registration_max_attempts: 1 }));
  return run(process.execPath, [agentBundle], { PATH: bins.path, HOME: tmp, EASYENCLAVE_CONFIG: f });
}

const orderRow = (id: string) => w.stack.db('capacity_launch_orders').where({ order_id: id }).first();

/** An open launch order queued by an admin reconcile of a one-VM target in `datacenter`. */
async function queueOrder(datacenter: string): Promise<string> {
  const r = await w.api.post('/api/v1/admin/agents/capacity/reconcile', {
    token: w.admin,
    json: { targets: [{ datacenter, node_size: 'tiny', min_count: 1 }], dispatch: true },
  });
  expect(r.status, r.text).toBe(200);
  const orders = await w.api.get(`/api/v1/admin/agents/capacity/orders?datacenter=${datacenter}`, { token: w.admin });
  expect(orders.body.orders).toHaveLength(1);
  expect(orders.body.orders[0]).toMatchObject({ status: 'open', node_size: 'tiny' });
  return orders.body.orders[0].order_id as string;
}

/** The Updates the order's workflow accepted, in order, with their (decoded) arguments. */
async function acceptedUpdates(orderId: string): Promise<{ name: string; arg: Record<string, unknown> }[]> {
  const raw = await w.stack.client.workflow.getHandle(`launch-order:${orderId}`).fetchHistory();
  const history = await decodeHistory(raw, w.stack.client.options.loadedDataConverter.payloadCodecs);
  return (history.events ?? []).flatMap((e) => {
    const input = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
    if (!input) return [];
    const arg = input.args?.payloads?.[0]?.data;
    return [{ name: input.name!, arg: arg ? JSON.parse(Buffer.from(arg).toString('utf8')) : {} }];
  });
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ee-worker-cp-'));
  agentBundle = join(tmp, 'ee-agent.mjs');
  await build({
    entryPoints: ['agent/main.ts'],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: agentBundle,
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    logLevel: 'silent',
  });
  w = await startAgentWorld({ env: { ALLOW_INSECURE_LOCAL_AGENTS: 'true' } });
  const acct = await w.api.post('/api/v1/accounts', { json: { name: 'host-launcher', account_type: 'launcher' } });
  expect(acct.status, acct.text).toBe(200);
  launcher = { id: acct.body.account_id, key: acct.body.api_key };
  t = launcherEnv();
  bins = createFakeBins();
  // The guest image: the real agent, its local paths laid under what the launcher configured.
  tsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, version: 5 });
  t.qemu.bootAgent({
    command: [process.execPath, agentBundle],
    // What a TDX guest has: configfs-tsm (the fake's directory) and an ITA endpoint (the fake Trust Authority).
    image: {
      retry_initial_seconds: 0.2,
      retry_max_seconds: 1,
      tsm_report_dir: tsm.root,
      ita_api_url: `${w.ita.url}/appraisal/v1`,
    },
    env: { PATH: bins.path, HOME: tmp },
  });
});

afterEach(() => t.qemu.fail(null));

afterAll(async () => {
  if (t) {
    await t.run(['rm', 'all', '--timeout', '2']);
    t.close();
  }
  bins?.close();
  tsm?.close();
  await w?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('ee worker against the real control plane', () => {
  it('claims an order, launches it, and the agent’s registration with the order token fulfils it', async () => {
    const orderId = await queueOrder('baremetal:lab-a');
    const r = await eeWorker('baremetal:lab-a');
    expect(r.code, r.stderr).toBe(0);
    const [outcome] = JSON.parse(r.stdout).outcomes;
    expect(outcome).toMatchObject({ order_id: orderId, status: 'fulfilled' });
    const vmName = outcome.vm_name as string;
    expect(vmName).toMatch(/^ee-tiny-[0-9a-f]{8}$/);

    // The order: fulfilled by the agent of this VM, its token consumed, claimed by this launcher.
    const row = await orderRow(orderId);
    expect(row).toMatchObject({
      status: 'fulfilled',
      vm_name: vmName,
      agent_id: outcome.agent_id,
      claimed_by_account_id: launcher.id,
      claim_count: 1,
      error: null,
    });
    expect(row.bootstrap_token_used_at).not.toBeNull();
    const agent = await w.stack.db('agents').where({ vm_name: vmName }).first();
    expect(agent).toMatchObject({
      agent_id: outcome.agent_id,
      node_size: 'tiny',
      datacenter: 'baremetal:lab-a',
      status: 'unverified-dev',
    });
    expect(Boolean(agent.verified)).toBe(false);

    // What the guest saw: the launcher's config, carrying the order's one-time token — on the config drive, since
    // it holds a credential: QEMU's argv (readable by every local user) carries no config at all.
    const [guest] = t.qemu.guests();
    expect(guest).toMatchObject({ vm_name: vmName, source: 'config drive' });
    expect(configOf(t.qemu.boots()[0]!)).toEqual(guest!.config);
    expect(t.qemu.boots()[0]!.join(' ')).not.toContain('easyenclave.config');
    expect(t.qemu.boots()[0]!.join(' ')).not.toContain(String(guest!.config.bootstrap_token));
    expect(guest!.config).toMatchObject({
      mode: 'agent',
      node_size: 'tiny',
      control_plane_url: w.stack.url,
      datacenter: 'baremetal:lab-a',
      cloud_provider: 'baremetal',
      availability_zone: 'lab-a',
      attestation: 'insecure-local',
      vm_name: vmName,
    });
    const token = String(guest!.config.bootstrap_token);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(bootstrapTokenHash(w.stack.deps.sealingKey, token)).toBe(row.bootstrap_token_hash);
    // The agent's log on the serial console shows the registration (the CP lists the agent a moment before the
    // agent has read its answer, hence the wait); the token never appears in it, nor in the worker's output (the
    // fake firmware's own `fake-guest:` lines print the decoded config, so they are left out).
    const agentLog = async () =>
      (await t.run(['logs', vmName])).stdout
        .split('\n')
        .filter((l) => !l.startsWith('fake-guest:'))
        .join('\n');
    await vi.waitFor(async () => expect(await agentLog()).toContain(`registered as agent ${outcome.agent_id}`), {
      timeout: 10_000,
    });
    expect(await agentLog()).not.toContain(token);
    expect(r.stdout + r.stderr).not.toContain(token);

    // The worker reported provisioning with its VM name, then the agent's registration consumed the token; the
    // worker's own `fulfilled` report found the order already closed by it (the workflow ends with the token).
    expect(
      (await acceptedUpdates(orderId)).slice(0, 3).map((u) => [u.name, u.arg.status ?? null, u.arg.vmName ?? null]),
    ).toEqual([
      ['claim', null, null],
      ['report', 'provisioning', vmName],
      ['consumeToken', null, vmName],
    ]);
    expect(r.stderr).toContain(`[worker] claimed order ${orderId} (baremetal:lab-a, tiny)`);
    expect(r.stderr).toContain(`[worker] order ${orderId} was already fulfilled by its agent`);
    expect(r.stderr).toContain(`[worker] order ${orderId}: fulfilled`);

    // The VM keeps running and its agent answers on the forwarded port.
    const vm = (await t.run(['list', '--json'])).json().vms.find((v: { name: string }) => v.name === vmName);
    expect(vm).toMatchObject({ state: 'running' });
    const health = await fetch(`http://127.0.0.1:${vm.agent_port}/api/health`);
    expect(health.status).toBe(200);

    // The token is one-time: the same guest config registering again (a wiped data disk) is refused.
    const second = await rerunAgent(guest!.agent_config_path!, 'again');
    expect(second.code).toBe(3);
    expect(second.stdout + second.stderr).toContain('403');
    expect(second.stdout + second.stderr).toContain('Bootstrap token already used');
    expect(await countAgents(w)).toBe(1);
    expect(await orderRow(orderId)).toMatchObject({ status: 'fulfilled', agent_id: outcome.agent_id });
  }, 120_000);

  it('a config too long for the cmdline reaches the agent on the config-drive ISO', async () => {
    const orderId = await queueOrder('baremetal:lab-b');
    const r = await eeWorker('baremetal:lab-b', { env: { EASYENCLAVE_MAX_CMDLINE_BYTES: '120' } });
    expect(r.code, r.stderr).toBe(0);
    const [outcome] = JSON.parse(r.stdout).outcomes;
    expect(outcome).toMatchObject({ order_id: orderId, status: 'fulfilled' });
    const guest = t.qemu.guests().find((g) => g.vm_name === outcome.vm_name);
    expect(guest).toMatchObject({ source: 'config drive' });
    expect(t.qemu.boots().at(-1)!.join(' ')).not.toContain('easyenclave.config');
    const row = await orderRow(orderId);
    expect(bootstrapTokenHash(w.stack.deps.sealingKey, String(guest!.config.bootstrap_token))).toBe(
      row.bootstrap_token_hash,
    );
    expect(row).toMatchObject({ status: 'fulfilled', agent_id: outcome.agent_id, vm_name: outcome.vm_name });
  }, 120_000);

  it('a TDX guest: the agent attests through configfs-tsm and ITA and registers verified for the order', async () => {
    const orderId = await queueOrder('baremetal:lab-d');
    const r = await eeWorker('baremetal:lab-d', { tdx: true });
    expect(r.code, r.stderr).toBe(0);
    const [outcome] = JSON.parse(r.stdout).outcomes;
    expect(outcome).toMatchObject({ order_id: orderId, status: 'fulfilled' });
    const argv = t.qemu.boots().at(-1)!;
    expect(argv[argv.indexOf('-object') + 1]).toMatch(/^tdx-guest,id=tdx0,/);
    const cfg = configOf(argv)!;
    expect(cfg).toMatchObject({ vm_name: outcome.vm_name, intel_api_key: w.ita.apiKey });
    expect(cfg.attestation).toBeUndefined();
    const agent = await w.stack.db('agents').where({ agent_id: outcome.agent_id }).first();
    expect(agent).toMatchObject({ vm_name: outcome.vm_name, status: 'undeployed', mrtd: MRTD });
    expect(Boolean(agent.verified)).toBe(true);
    expect(await orderRow(orderId)).toMatchObject({ status: 'fulfilled', agent_id: outcome.agent_id });
  }, 120_000);

  it('a launch that fails (QEMU exits non-zero) fails the order with QEMU’s message', async () => {
    const orderId = await queueOrder('baremetal:lab-c');
    t.qemu.fail('qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied\n');
    const agentsBefore = await countAgents(w);
    const r = await eeWorker('baremetal:lab-c');
    expect(r.code).toBe(0); // --max-orders: the worker served its order; the order failed
    const [outcome] = JSON.parse(r.stdout).outcomes;
    expect(outcome).toMatchObject({ order_id: orderId, status: 'failed' });
    const row = await orderRow(orderId);
    expect(row.status).toBe('failed');
    expect(row.error).toContain('failed to initialize kvm: Permission denied');
    expect(row.error.length).toBeLessThanOrEqual(450);
    expect(row.agent_id).toBeNull();
    expect(await countAgents(w)).toBe(agentsBefore);
    const names = (await t.run(['list', '--json'])).json().vms.map((v: { name: string }) => v.name);
    expect(names).not.toContain(outcome.vm_name);
    expect((await acceptedUpdates(orderId)).map((u) => [u.name, u.arg.status ?? null])).toEqual([
      ['claim', null],
      ['report', 'provisioning'],
      ['report', 'failed'],
    ]);
    // The order is closed: a late report is refused.
    const late = await w.api.post(`/api/v1/launchers/capacity/orders/${orderId}`, {
      token: launcher.key,
      json: { status: 'fulfilled' },
    });
    expect(late.status).toBe(409);
  }, 120_000);

  it('attack: a plain guest holding a live order token is refused while insecure-local agents are not allowed', async () => {
    await setSetting(w, 'operational.allow_insecure_local_agents', 'false');
    try {
      const orderId = await queueOrder('baremetal:lab-e');
      const agentsBefore = await countAgents(w);
      const r = await eeWorker('baremetal:lab-e', { registerTimeout: 6 });
      const [outcome] = JSON.parse(r.stdout).outcomes;
      expect(outcome).toMatchObject({ order_id: orderId, status: 'failed' });
      expect(outcome.error).toBe(`agent ${outcome.vm_name} did not register within 6 s`);
      // The guest's agent was told why (the worker removed the VM, its serial log with it; the boot log stays).
      const guest = t.qemu.guests().find((g) => g.vm_name === outcome.vm_name)!;
      expect(guest.config).toMatchObject({ attestation: 'insecure-local', bootstrap_token: expect.any(String) });
      // Nothing was created and the token was not consumed by the refused attempts.
      expect(await countAgents(w)).toBe(agentsBefore);
      const row = await orderRow(orderId);
      expect(row).toMatchObject({ status: 'failed', agent_id: null, bootstrap_token_used_at: null });
      // The CP's answer, as the agent got it: 403 naming the setting.
      const refused = await rerunAgent(guest.agent_config_path!, 'refused');
      expect(refused.code).toBe(3);
      expect(refused.stdout + refused.stderr).toContain(
        'insecure-local attestation refused: the setting operational.allow_insecure_local_agents is false',
      );
    } finally {
      await setSetting(w, 'operational.allow_insecure_local_agents', 'true');
    }
  }, 120_000);
});
