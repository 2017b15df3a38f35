/**
 * The real agent process (the esbuild bundle `npm run build:agent` produces, run with Node) against the real control
 * plane (Temporal + worker + API), with a fake configfs-tsm directory, the fake ITA, the fake Cloudflare and fake
 * `docker`/`cloudflared` executables on PATH. One agent lives through the whole file, in order: register →
 * heartbeat → deploy through the deployment workflow → running → undeploy → stopped → cloudflared killed and
 * restarted → agent killed and restarted without a second registration → a failing compose fails the deployment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { MRTD, RTMRS, startAgentWorld, type AgentWorld } from '../helpers/agents';
import { freePort } from '../helpers/embedded';
import { waitFor } from '../helpers/wait';

const VM = 'e2e-agent-1';
const COMPOSE = 'services:\n  web:\n    image: ghcr.io/example/web@sha256:' + 'ab'.repeat(32) + '\n';

describe('agent process against the real control plane', () => {
  let w: AgentWorld;
  let tsm: FakeTsm;
  let bins: FakeBins;
  let tmp: string;
  let bundle: string;
  let configPath: string;
  let agentPort: number;
  let workload: Server;
  let agent: ChildProcess | undefined;
  let output = '';
  let apiKey: string;

  function startAgent(): ChildProcess {
    const child = spawn(process.execPath, [bundle], {
      env: { PATH: bins.path, EASYENCLAVE_CONFIG: configPath, HOME: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    return child;
  }
  async function stopAgent(signal: NodeJS.Signals): Promise<number | null> {
    const a = agent;
    agent = undefined;
    if (!a || a.exitCode !== null) return a?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => a.once('exit', (code) => r(code)));
    a.kill(signal);
    return exited;
  }
  const agentRow = () => w.stack.db('agents').where({ vm_name: VM }).first();
  const deploymentRow = (id: string) => w.stack.db('deployments').where({ deployment_id: id }).first();
  const registrations = async () => {
    let n = 0;
    for await (const _ of w.stack.client.workflow.list({
      query: `WorkflowType = 'registerAgent' AND TaskQueue = '${w.stack.taskQueue}'`,
    }))
      n += 1;
    return n;
  };
  async function healthSweep() {
    await w.stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: w.stack.taskQueue,
      workflowId: `sweep-${Date.now()}`,
      args: [],
    });
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'agent-e2e-'));
    bundle = join(tmp, 'ee-agent.mjs');
    await build({
      entryPoints: ['agent/main.ts'],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile: bundle,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    agentPort = await freePort();
    workload = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-workload': 'yes' });
      res.end(req.method === 'HEAD' ? undefined : `workload saw ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => workload.listen(0, '127.0.0.1', () => r()));
    w = await startAgentWorld({
      env: {
        AGENT_DIRECT_URL: `http://127.0.0.1:${agentPort}`,
        NONCE_ENFORCEMENT_MODE: 'required',
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '60',
      },
    });
    tsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, version: 5 });
    bins = createFakeBins();
    configPath = join(tmp, 'config.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        control_plane_url: w.stack.url,
        intel_api_key: w.ita.apiKey,
        ita_api_url: `${w.ita.url}/appraisal/v1`,
        vm_name: VM,
        node_size: 'tiny',
        datacenter: 'gcp:us-central1-a',
        tsm_report_dir: tsm.root,
        data_dir: join(tmp, 'data'),
        workload_dir: join(tmp, 'workload'),
        listen_host: '127.0.0.1',
        admin_port: agentPort,
        workload_port: (workload.address() as AddressInfo).port,
        heartbeat_interval: 1,
        retry_initial_seconds: 0.2,
        retry_max_seconds: 1,
        health_timeout_seconds: 10,
      }),
    );
    const acct = await w.api.post('/api/v1/accounts', { json: { name: 'agent-e2e', account_type: 'deployer' } });
    apiKey = acct.body.api_key as string;
    await w.api.post(`/api/v1/accounts/${acct.body.account_id}/deposit`, { token: w.admin, json: { amount: 50 } });
    agent = startAgent();
  });

  afterAll(async () => {
    await stopAgent('SIGKILL');
    bins?.close();
    tsm?.close();
    await w?.close();
    await new Promise((r) => workload?.close(r));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('registers with a fresh nonce-bound v5 quote and the ITA token, persists its state 0600, and heartbeats', async () => {
    const row = await waitFor('registration', agentRow, (r) => r !== undefined);
    expect(row).toMatchObject({ status: 'undeployed', mrtd: MRTD, node_size: 'tiny', datacenter: 'gcp:us-central1-a' });
    expect(Boolean(row.verified)).toBe(true);
    expect(row.hostname).toBeTruthy();
    // The quote's REPORTDATA was a challenge nonce (consumed under NONCE_ENFORCEMENT_MODE=required), then the
    // SHA-256 of the agent's HPKE key in bytes 32..64 (tests/e2e/agent-secrets.test.ts).
    expect(tsm.reportData[0]).toMatch(/^[0-9a-f]{32}0{32}[0-9a-f]{64}$/);
    const statePath = join(tmp, 'data', 'state.json');
    await waitFor(
      'state file',
      () => statSync(statePath, { throwIfNoEntry: false }),
      (s) => s !== undefined,
    );
    expect(statSync(statePath).mode & 0o777).toBe(0o600);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    expect(state.agent_id).toBe(row.agent_id);
    expect(state.tunnel_token).toBe(w.cf.tunnels()[0]!.token);
    // Secrets never reach the log.
    expect(output).not.toContain(state.control_secret);
    expect(output).not.toContain(state.tunnel_token);
    expect(output).not.toContain(w.ita.apiKey);

    const first = row.last_heartbeat;
    await waitFor('a heartbeat', agentRow, (r) => r.last_heartbeat !== first);
    expect(w.ita.requests.attest).toBeGreaterThanOrEqual(2); // one fresh attestation per heartbeat

    // cloudflared runs with the tunnel token by environment, not argv.
    const cf = await waitFor(
      'cloudflared',
      () => bins.calls('cloudflared'),
      (c) => c.length >= 1,
    );
    expect(cf[0]!.argv).toEqual(['tunnel', '--no-autoupdate', 'run']);
    expect(cf[0]!.env.TUNNEL_TOKEN).toBe(state.tunnel_token);
  });

  it('serves its API with the control secret and proxies everything else (HEAD and OPTIONS too) to the workload', async () => {
    const base = `http://127.0.0.1:${agentPort}`;
    const health = await (await fetch(`${base}/api/health`)).json();
    expect(health).toMatchObject({ status: 'undeployed', vm_name: VM });
    expect((await fetch(`${base}/api/logs`)).status).toBe(401);
    expect((await fetch(`${base}/api/stats`, { headers: { 'x-agent-secret': 'wrong' } })).status).toBe(401);
    const unbound = (await (await fetch(`${base}/api/health?attest=true`)).json()) as any;
    expect(unbound.attestation).toBeUndefined();
    expect(unbound.attestation_error).toMatch(/nonce/);
    const bound = (await (await fetch(`${base}/api/health?attest=true&nonce=${'5a'.repeat(16)}`)).json()) as any;
    // Bound to the caller's nonce in a layout the CP never takes for a registration nonce.
    expect(bound.attestation.tdx.measurements.report_data).toMatch(/^[0-9a-f]{64}0{64}$/);
    expect(bound.attestation.tdx.measurements.report_data.slice(0, 32)).not.toBe('5a'.repeat(16));
    const root = await fetch(`${base}/`);
    expect(await root.text()).toBe('workload saw GET /');
    expect((await fetch(`${base}/x?y=1`, { method: 'OPTIONS' })).headers.get('x-workload')).toBe('yes');
    expect((await fetch(`${base}/`, { method: 'HEAD' })).status).toBe(200);
  });

  it('deploys through the deployment workflow: compose up -d with the pinned compose, deployed callback, running; undeploy → compose down, stopped', async () => {
    await healthSweep();
    expect((await agentRow()).health_status).toBe('healthy');
    const res = await w.api.post('/api/v1/deploy', { token: apiKey, json: { compose: COMPOSE, app_name: 'web' } });
    expect(res.status, res.text).toBe(202);
    const id = res.body.deployment_id as string;
    const running = await waitFor(
      'running',
      () => deploymentRow(id),
      (r) => r.status === 'running' || r.status === 'failed',
    );
    expect(running.status, running.error).toBe('running');
    const up = bins.calls('docker').find((c) => c.argv.includes('up'))!;
    expect(up.argv).toEqual([
      'compose',
      '-p',
      'ee-workload',
      '-f',
      join(tmp, 'workload', 'docker-compose.yml'),
      'up',
      '-d',
    ]);
    // The pinned image is unchanged, and the paid-for limits of the deployment (2 vCPU, 4 GB by default) are applied.
    expect(up.compose).toContain(`image: ghcr.io/example/web@sha256:${'ab'.repeat(32)}`);
    expect(up.compose).toMatch(/limits:\s+cpus: "2"\s+memory: 4096M/);
    // The callback answer comes after the CP's agent entity recorded it; undeploying earlier races that update.
    await waitFor(
      'callback delivered',
      () => output,
      (o) => o.includes(`deployed ${id} callback delivered`),
    );

    const logs = await w.api.get(`/api/v1/agents/${running.agent_id}/logs`, { token: w.admin });
    expect(logs.status, logs.text).toBe(200);
    expect(JSON.stringify(logs.body)).toContain('listening on :8080');

    const u = await w.api.post(`/api/v1/agents/${running.agent_id}/undeploy`, { token: w.admin });
    expect(u.status, u.text).toBe(200);
    expect((await deploymentRow(id)).status).toBe('stopped');
    expect(bins.calls('docker').some((c) => c.argv.includes('down'))).toBe(true);
    expect(await agentRow()).toMatchObject({ status: 'undeployed', deployed_app: null });
  });

  it('restarts a killed cloudflared with backoff', async () => {
    const before = bins.cloudflaredPids();
    process.kill(before.at(-1)!, 'SIGKILL');
    const after = await waitFor(
      'cloudflared restart',
      () => bins.cloudflaredPids(),
      (p) => p.length > before.length,
    );
    expect(after.at(-1)).not.toBe(before.at(-1));
    expect(output).toMatch(/cloudflared exited \(signal SIGKILL\); restarting in \d+ ms/);
  });

  it('a killed agent restarts with the persisted secret and tunnel token: no second registration, no second tunnel', async () => {
    const row = await agentRow();
    const regs = await registrations();
    expect(regs).toBe(1);
    await stopAgent('SIGKILL');
    for (const pid of bins.cloudflaredPids()) {
      try {
        process.kill(pid, 'SIGKILL'); // the orphan of the killed agent
      } catch {
        // gone
      }
    }
    const cfCalls = bins.calls('cloudflared').length;
    output = '';
    agent = startAgent();
    await waitFor(
      'reconnect',
      () => output,
      (o) => o.includes('reconnected as agent'),
    );
    const beat = (await agentRow()).last_heartbeat;
    await waitFor('a heartbeat after restart', agentRow, (r) => r.last_heartbeat !== beat);
    expect(await registrations()).toBe(1);
    expect((await agentRow()).agent_id).toBe(row.agent_id);
    expect(w.cf.tunnels()).toHaveLength(1);
    const cf = await waitFor(
      'cloudflared again',
      () => bins.calls('cloudflared'),
      (c) => c.length > cfCalls,
    );
    expect(cf.at(-1)!.env.TUNNEL_TOKEN).toBe(w.cf.tunnels()[0]!.token);
  });

  it('a failing docker compose fails the deployment with its stderr in the reason', async () => {
    bins.failComposeUp('Error response from daemon: pull access denied for ghcr.io/example/web');
    await healthSweep();
    const res = await w.api.post('/api/v1/deploy', { token: apiKey, json: { compose: COMPOSE, app_name: 'web' } });
    expect(res.status, res.text).toBe(202);
    const failed = await waitFor(
      'failed',
      () => deploymentRow(res.body.deployment_id),
      (r) => r.status === 'failed',
    );
    expect(failed.error).toContain('pull access denied for ghcr.io/example/web');
    bins.failComposeUp(null);
  });

  it('stops cleanly on SIGTERM (exit 0) and stops its cloudflared', async () => {
    const pids = bins.cloudflaredPids();
    expect(await stopAgent('SIGTERM')).toBe(0);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      'cloudflared gone',
      () => alive(pids.at(-1)!),
      (a) => !a,
      10_000,
    );
  });
});
