/**
 * `insecure-local` registration (development without TDX): refused by a control plane with default settings,
 * accepted when `operational.allow_insecure_local_agents` is true — and then recorded as `unverified-dev`, never
 * verified. The last cases run the real agent process with `--local` against that control plane: a deploy does not
 * land on it unless the same setting is on (then it runs there, through the deployment workflow).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInsecureLocalQuote } from '../../core/attestation/insecure-local';
import { reportDataForNonce } from '../../core/attestation/report-data';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { challenge, countAgents, setSetting, startAgentWorld, type AgentWorld } from '../helpers/agents';

async function evidence(w: AgentWorld, vmName: string) {
  const nonce = await challenge(w, vmName);
  const quote = Buffer.from(buildInsecureLocalQuote(reportDataForNonce(nonce))).toString('base64');
  return { provider: 'insecure-local', tdx: { quote_b64: quote } };
}

describe('insecure-local agents', () => {
  let w: AgentWorld;
  let tmp: string;
  let bins: FakeBins;
  let agent: ChildProcess | undefined;
  let agentUrl = '';
  let workload: Server;

  beforeAll(async () => {
    w = await startAgentWorld({ env: { NONCE_ENFORCEMENT_MODE: 'required', DEPLOY_CALLBACK_TIMEOUT_SECONDS: '60' } });
    tmp = mkdtempSync(join(tmpdir(), 'agent-local-'));
    bins = createFakeBins();
    workload = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => workload.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await new Promise((r) => workload?.close(r));
    bins?.close();
    await w?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const register = async (vmName: string) =>
    w.api.post('/api/v1/agents/register', {
      json: {
        vm_name: vmName,
        node_size: 'tiny',
        datacenter: 'baremetal:local',
        attestation: await evidence(w, vmName),
      },
    });

  it('a control plane with default settings refuses insecure-local evidence (403 naming the setting)', async () => {
    const r = await register('dev-laptop-1');
    expect(r.status).toBe(403);
    expect(r.body.detail).toContain('operational.allow_insecure_local_agents');
    expect(await countAgents(w, 'dev-laptop-1')).toBe(0);
  });

  it('when allowed, the agent is recorded as unverified-dev, never verified', async () => {
    await setSetting(w, 'operational.allow_insecure_local_agents', 'true');
    const r = await register('dev-laptop-2');
    expect(r.status, r.text).toBe(200);
    const view = await w.api.get(`/api/v1/agents/${r.body.agent_id}`);
    expect(view.body).toMatchObject({
      status: 'unverified-dev',
      verified: false,
      verification_error: 'unverified-dev',
    });
    // The nonce is still enforced: the same challenge cannot be replayed.
    const nonce = await challenge(w, 'dev-laptop-3');
    const quote = Buffer.from(buildInsecureLocalQuote(reportDataForNonce(nonce))).toString('base64');
    const body = {
      vm_name: 'dev-laptop-3',
      node_size: 'tiny',
      datacenter: 'baremetal:local',
      attestation: { provider: 'insecure-local', tdx: { quote_b64: quote } },
    };
    expect((await w.api.post('/api/v1/agents/register', { json: body })).status).toBe(200);
    const replay = await w.api.post('/api/v1/agents/register', { json: { ...body, version: '2.0.1' } });
    expect(replay.status).toBe(403);
  });

  it('the real agent with --local registers against that control plane and serves its API', async () => {
    const bundle = join(tmp, 'ee-agent.mjs');
    await build({
      entryPoints: ['agent/main.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    let out = '';
    const config = join(tmp, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        workload_port: (workload.address() as AddressInfo).port,
        health_timeout_seconds: 10,
        retry_initial_seconds: 0.2,
        retry_max_seconds: 1,
      }),
    );
    agent = spawn(
      process.execPath,
      [bundle, '--local', '--cp-url', w.stack.url, '--data-dir', join(tmp, 'data'), '--port', '0'],
      {
        env: { PATH: bins.path, VM_NAME: 'dev-laptop-agent', EASYENCLAVE_CONFIG: config },
        cwd: tmp,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    agent.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const until = Date.now() + 30_000;
    while (!/agent API listening on (http:\/\/\S+)/.test(out) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /agent API listening on (http:\/\/\S+)/.exec(out)?.[1];
    expect(url, out).toBeTruthy();
    expect(out).toContain('insecure-local');
    const row = await w.stack.db('agents').where({ vm_name: 'dev-laptop-agent' }).first();
    expect(row).toMatchObject({ status: 'unverified-dev' });
    expect(Boolean(row.verified)).toBe(false);
    const health = (await (await fetch(`${url}/api/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ vm_name: 'dev-laptop-agent', attestation_provider: 'insecure-local' });
    agentUrl = url!;
  });

  const deployer = async (name: string) => {
    const acct = await w.api.post('/api/v1/accounts', { json: { name, account_type: 'deployer' } });
    await w.api.post(`/api/v1/accounts/${acct.body.account_id}/deposit`, { token: w.admin, json: { amount: 50 } });
    return acct.body.api_key as string;
  };
  const compose = 'services:\n  web:\n    image: ghcr.io/example/web@sha256:' + 'cd'.repeat(32) + '\n';
  const devAgent = () => w.stack.db('agents').where({ vm_name: 'dev-laptop-agent' }).first();

  it('attack: with the setting off, a deploy does not land on the (healthy, reachable) unverified-dev agent', async () => {
    // Reachable and healthy, so only its trust level can keep a deployment off it.
    await setSetting(w, 'operational.agent_direct_url', agentUrl);
    await w.stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: w.stack.taskQueue,
      workflowId: `sweep-local-${Date.now()}`,
      args: [],
    });
    expect(await devAgent()).toMatchObject({ status: 'unverified-dev', health_status: 'healthy' });
    await setSetting(w, 'operational.allow_insecure_local_agents', 'false');
    const key = await deployer('victim');
    const res = await w.api.post('/api/v1/deploy', { token: key, json: { compose, app_name: 'web' } });
    expect(res.status, res.text).toBe(503);
    expect(res.body.detail).toMatch(/^No eligible agents available for deployment/);
    const dry = await w.api.post('/api/v1/deploy', { token: key, json: { compose, app_name: 'web', dry_run: true } });
    expect(dry.body.issues).toContainEqual(expect.objectContaining({ code: 'AGENT_UNVERIFIED_DEV' }));
    const agentId = (await devAgent()).agent_id as string;
    const explicit = await w.api.post('/api/v1/deploy', {
      token: key,
      json: { compose, app_name: 'web', agent_id: agentId },
    });
    expect(explicit.status, explicit.text).toBe(403);
    expect(await w.stack.db('deployments').where({ agent_id: agentId }).first()).toBeUndefined();
    expect(bins.calls('docker').some((c) => c.argv.includes('up'))).toBe(false);
  });

  it('with operational.allow_insecure_local_agents on, a local developer deploys onto the local agent', async () => {
    await setSetting(w, 'operational.allow_insecure_local_agents', 'true');
    const key = await deployer('local-dev');
    // By id: the other unverified-dev agents of this file (registered over HTTP above) share the direct URL.
    const agentId = (await devAgent()).agent_id as string;
    const res = await w.api.post('/api/v1/deploy', {
      token: key,
      json: { compose, app_name: 'web', agent_id: agentId },
    });
    expect(res.status, res.text).toBe(202);
    const id = res.body.deployment_id as string;
    const until = Date.now() + 60_000;
    let row = await w.stack.db('deployments').where({ deployment_id: id }).first();
    while (!['running', 'failed'].includes(row?.status) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      row = await w.stack.db('deployments').where({ deployment_id: id }).first();
    }
    expect(row.status, row.error).toBe('running');
    expect(row.agent_id).toBe(agentId);
    expect(bins.calls('docker').find((c) => c.argv.includes('up'))?.compose).toContain('cd'.repeat(32));
  });
});
