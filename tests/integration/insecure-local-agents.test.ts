/**
 * `insecure-local` registration (development without TDX): refused by a control plane with default settings,
 * accepted when `operational.allow_insecure_local_agents` is true — and then recorded as `unverified-dev`, never
 * verified. The last case runs the real agent process with `--local` against that control plane.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

  beforeAll(async () => {
    w = await startAgentWorld({ env: { NONCE_ENFORCEMENT_MODE: 'required' } });
    tmp = mkdtempSync(join(tmpdir(), 'agent-local-'));
    bins = createFakeBins();
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
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
    agent = spawn(
      process.execPath,
      [bundle, '--local', '--cp-url', w.stack.url, '--data-dir', join(tmp, 'data'), '--port', '0'],
      { env: { PATH: bins.path, VM_NAME: 'dev-laptop-agent' }, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
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
  });
});
