/**
 * `X-CP-Attestation` (agent.md §7.2, attestation.md §9.3) on both sides, with the real agent process and the real
 * control plane: the CP's deploy/undeploy activities fetch the agent's challenge and send their own TDX quote (from
 * a fake configfs-tsm directory standing in for the CP's TEE); an agent in `required` mode refuses a deploy without
 * it, with a bad one, a replayed nonce, a quote not over the nonce or from an untrusted MRTD — and accepts a valid
 * one, so the deployment runs. The same agent, restarted trusting another MRTD, refuses the CP: the deployment fails
 * with the agent's reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { makeTdxQuote } from '../fixtures/make-tdx-quote';
import { MRTD, RTMRS, startAgentWorld, type AgentWorld } from '../helpers/agents';
import { freePort } from '../helpers/embedded';
import { waitFor } from '../helpers/wait';

const VM = 'cp-attest-agent';
const CP_MRTD = 'cc'.repeat(48);
const OTHER_MRTD = 'dd'.repeat(48);
const COMPOSE = 'services:\n  web:\n    image: ghcr.io/example/web@sha256:' + 'ab'.repeat(32) + '\n';

/** An envelope as the CP builds it: base64url of compact `{nonce, quote_b64, mrtd, generated_at}`. */
function envelope(nonce: string, quote: { mrtd: string; reportData: string }): string {
  const q = Buffer.from(makeTdxQuote({ mrtd: quote.mrtd, reportData: quote.reportData })).toString('base64');
  const body = { nonce, quote_b64: q, mrtd: quote.mrtd, generated_at: new Date().toISOString() };
  return Buffer.from(JSON.stringify(body)).toString('base64url');
}
/** REPORTDATA of a CP quote: the nonce's ASCII bytes, zero-padded to 64 bytes. */
const asciiReportData = (nonce: string) =>
  Buffer.concat([Buffer.from(nonce), Buffer.alloc(64)])
    .subarray(0, 64)
    .toString('hex');

describe('X-CP-Attestation between the real control plane and the real agent (mode required)', () => {
  let w: AgentWorld;
  let agentTsm: FakeTsm;
  let cpTsm: FakeTsm;
  let bins: FakeBins;
  let tmp: string;
  let bundle: string;
  let configPath: string;
  let agentPort: number;
  let workload: Server;
  let agent: ChildProcess | undefined;
  let output = '';
  let apiKey: string;
  let base: string;
  let secret: string;

  const config = (trusted: string) => ({
    control_plane_url: w.stack.url,
    intel_api_key: w.ita.apiKey,
    ita_api_url: w.ita.url,
    vm_name: VM,
    node_size: 'tiny',
    datacenter: 'gcp:us-central1-a',
    tsm_report_dir: agentTsm.root,
    data_dir: join(tmp, 'data'),
    workload_dir: join(tmp, 'workload'),
    listen_host: '127.0.0.1',
    admin_port: agentPort,
    workload_port: (workload.address() as AddressInfo).port,
    retry_initial_seconds: 0.2,
    retry_max_seconds: 1,
    health_timeout_seconds: 10,
    cp_to_agent_attestation_mode: 'required',
    trusted_proxy_mrtds: trusted,
  });
  function startAgent(trusted: string): void {
    writeFileSync(configPath, JSON.stringify(config(trusted)));
    output = '';
    agent = spawn(process.execPath, [bundle], {
      env: { PATH: bins.path, EASYENCLAVE_CONFIG: configPath, HOME: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    agent.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  }
  async function stopAgent(): Promise<void> {
    const a = agent;
    agent = undefined;
    if (!a || a.exitCode !== null) return;
    const exited = new Promise((r) => a.once('exit', r));
    a.kill('SIGTERM');
    await exited;
  }
  const deploymentRow = (id: string) => w.stack.db('deployments').where({ deployment_id: id }).first();
  async function healthSweep() {
    await w.stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: w.stack.taskQueue,
      workflowId: `sweep-${Date.now()}`,
      args: [],
    });
  }
  const control = (path: string, headers: Record<string, string> = {}, body = '{}') =>
    fetch(`${base}${path}`, {
      method: path === '/api/control/challenge' ? 'GET' : 'POST',
      headers: { 'x-agent-secret': secret, 'content-type': 'application/json', ...headers },
      body: path === '/api/control/challenge' ? undefined : body,
    });
  const nonce = async () => ((await (await control('/api/control/challenge')).json()) as { nonce: string }).nonce;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'agent-cp-att-'));
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
    base = `http://127.0.0.1:${agentPort}`;
    workload = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => workload.listen(0, '127.0.0.1', () => r()));
    agentTsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS });
    cpTsm = startFakeTsm({ mrtd: CP_MRTD, rtmrs: RTMRS });
    w = await startAgentWorld({
      tsmRoot: cpTsm.root,
      env: {
        AGENT_DIRECT_URL: base,
        CP_TO_AGENT_ATTESTATION_MODE: 'required',
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '60',
      },
    });
    bins = createFakeBins();
    configPath = join(tmp, 'config.json');
    const acct = await w.api.post('/api/v1/accounts', { json: { name: 'cp-att', account_type: 'deployer' } });
    apiKey = acct.body.api_key as string;
    await w.api.post(`/api/v1/accounts/${acct.body.account_id}/deposit`, { token: w.admin, json: { amount: 50 } });
    startAgent(CP_MRTD);
    await waitFor(
      'registration',
      () => output,
      (o) => o.includes('agent API listening on'),
    );
    secret = JSON.parse(readFileSync(join(tmp, 'data', 'state.json'), 'utf8')).control_secret as string;
  });

  afterAll(async () => {
    await stopAgent();
    bins?.close();
    agentTsm?.close();
    cpTsm?.close();
    await w?.close();
    await new Promise((r) => workload?.close(r));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the agent refuses deploy and undeploy without, or with a bad, CP attestation (401 naming the reason)', async () => {
    const refused = async (headers: Record<string, string>, path = '/api/deploy') => {
      const r = await control(path, headers);
      expect(r.status).toBe(401);
      return ((await r.json()) as { error: string }).error;
    };
    expect(await refused({})).toBe('Control-plane attestation required: missing X-CP-Attestation');
    expect(await refused({}, '/api/undeploy')).toBe('Control-plane attestation required: missing X-CP-Attestation');
    expect(await refused({ 'x-cp-attestation': '%%%not-base64%%%' })).toMatch(/not base64url JSON/);
    const stranger = 'ab'.repeat(32); // never issued by this agent
    expect(
      await refused({
        'x-cp-attestation': envelope(stranger, { mrtd: CP_MRTD, reportData: asciiReportData(stranger) }),
      }),
    ).toMatch(/unknown or expired challenge nonce/);
    const n1 = await nonce();
    expect(
      await refused({ 'x-cp-attestation': envelope(n1, { mrtd: OTHER_MRTD, reportData: asciiReportData(n1) }) }),
    ).toMatch(/control-plane MRTD not trusted/);
    // Single use: the same nonce again, now with a good quote, is refused.
    expect(
      await refused({ 'x-cp-attestation': envelope(n1, { mrtd: CP_MRTD, reportData: asciiReportData(n1) }) }),
    ).toMatch(/unknown or expired challenge nonce/);
    const n2 = await nonce();
    const n3 = await nonce();
    // A quote over another nonce (a replayed CP quote) is refused.
    expect(
      await refused({ 'x-cp-attestation': envelope(n2, { mrtd: CP_MRTD, reportData: asciiReportData(n3) }) }),
    ).toMatch(/REPORTDATA does not carry the challenge nonce/);
    // Without the secret, attestation alone opens nothing.
    const n4 = await nonce();
    const noSecret = await fetch(`${base}/api/undeploy`, {
      method: 'POST',
      headers: { 'x-cp-attestation': envelope(n4, { mrtd: CP_MRTD, reportData: asciiReportData(n4) }) },
    });
    expect(noSecret.status).toBe(401);
    // A valid envelope opens the gate (an empty payload then fails validation, not attestation).
    const n5 = await nonce();
    const past = await control('/api/deploy', {
      'x-cp-attestation': envelope(n5, { mrtd: CP_MRTD, reportData: asciiReportData(n5) }),
    });
    expect(past.status).toBe(400);
    expect(((await past.json()) as { error: string }).error).toMatch(/^invalid deploy payload/);
    expect(bins.calls('docker').some((c) => c.argv.includes('up'))).toBe(false);
  });

  it('the control plane attests itself: deploy through the workflow runs, undeploy stops it', async () => {
    await healthSweep();
    const seen = cpTsm.reportData.length;
    const res = await w.api.post('/api/v1/deploy', { token: apiKey, json: { compose: COMPOSE, app_name: 'web' } });
    expect(res.status, res.text).toBe(202);
    const id = res.body.deployment_id as string;
    const row = await waitFor(
      'running',
      () => deploymentRow(id),
      (r) => r.status === 'running' || r.status === 'failed',
      60_000,
    );
    expect(row.status, row.error).toBe('running');
    // The CP quoted over the agent's challenge nonce (64 hex chars as ASCII = all 64 REPORTDATA bytes).
    const rd = cpTsm.reportData.slice(seen);
    expect(rd.length).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(rd[0]!, 'hex').toString('ascii')).toMatch(/^[0-9a-f]{64}$/);
    await waitFor(
      'callback delivered',
      () => output,
      (o) => o.includes(`deployed ${id} callback delivered`),
    );
    const afterDeploy = cpTsm.reportData.length;
    const u = await w.api.post(`/api/v1/agents/${row.agent_id}/undeploy`, { token: w.admin });
    expect(u.status, u.text).toBe(200);
    expect((await deploymentRow(id)).status).toBe('stopped');
    expect(cpTsm.reportData.length).toBeGreaterThan(afterDeploy); // a fresh quote over a fresh nonce for the undeploy
  });

  it('an agent that does not trust this CP refuses it: the deployment fails with the agent’s reason', async () => {
    await stopAgent();
    startAgent(OTHER_MRTD); // same persisted identity, other trusted CP
    await waitFor(
      'reconnect',
      () => output,
      (o) => o.includes('agent API listening on'),
    );
    await healthSweep();
    const res = await w.api.post('/api/v1/deploy', { token: apiKey, json: { compose: COMPOSE, app_name: 'web' } });
    expect(res.status, res.text).toBe(202);
    const row = await waitFor(
      'failed',
      () => deploymentRow(res.body.deployment_id as string),
      (r) => r.status === 'failed' || r.status === 'running',
      60_000,
    );
    expect(row.status).toBe('failed');
    expect(row.error).toContain('Control-plane attestation required: control-plane MRTD not trusted');
  });
});
