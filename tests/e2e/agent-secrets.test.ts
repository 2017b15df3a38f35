/**
 * Issue #17 end to end with the real agent process (the esbuild bundle, run with Node) against the real control
 * plane, the fake configfs-tsm, the fake ITA and fake `docker`/`cloudflared` on PATH: the agent's HPKE key is bound
 * in its quotes; `ee secrets encrypt` seals an env to it for a chosen deployment id; the deploy carries only
 * ciphertext, and the fake `docker compose up` receives the values in its environment. The control plane's
 * database file, its log buffer and the deployment's Temporal history (decoded with the stack's payload codec) are
 * then searched for the values: nothing. A ciphertext replayed into another deployment, or made for another agent,
 * is refused by the agent and the deployment fails with that reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportDataHex } from '../../core/attestation/report-data';
import { b64url, generateEnvKeyPair, keyBindingHex, keyBinding, fromB64url } from '../../core/secrets/hpke-env';
import { runCli } from '../../launcher/cli';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { MRTD, RTMRS, challenge, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';
import { freePort } from '../helpers/embedded';
import { decodeHistory, historyText } from '../helpers/histories';
import { waitFor } from '../helpers/wait';

const VM = 'e2e-secrets-agent';
const COMPOSE =
  'services:\n  web:\n    image: ghcr.io/example/web@sha256:' +
  'ab'.repeat(32) +
  '\n    environment:\n      - DB_PASSWORD\n      - API_TOKEN\n';
const DB_PASSWORD = `pw-${randomUUID()}`;
const API_TOKEN = `tok-${randomUUID()}`;

describe('tenant secrets end to end with the real agent', () => {
  let w: AgentWorld;
  let tsm: FakeTsm;
  let bins: FakeBins;
  let tmp: string;
  let bundle: string;
  let agent: ChildProcess | undefined;
  let output = '';
  let apiKey: string;
  let agentId: string;
  let envFile: string;
  let workload: Server;

  const deploymentRow = (id: string) => w.stack.db('deployments').where({ deployment_id: id }).first();
  const waitEnded = (id: string) =>
    waitFor(
      `deployment ${id} settles`,
      () => deploymentRow(id),
      (r) => r !== undefined && ['running', 'failed', 'stopped'].includes(r.status),
      60_000,
    );
  async function encrypt(agent: string, deploymentId: string): Promise<Record<string, unknown>> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(
      ['secrets', 'encrypt', '--agent', agent, '--env-file', envFile, '--deployment-id', deploymentId],
      {
        stdout: (s) => (stdout += s),
        stderr: (s) => (stderr += s),
        env: { CP_URL: w.stack.url, ITA_JWKS_URL: w.ita.jwksUrl, ITA_ISSUER: w.ita.issuer },
      },
    );
    expect(code, stderr).toBe(0);
    return JSON.parse(stdout) as Record<string, unknown>;
  }
  const deploy = (fields: Record<string, unknown>) =>
    w.api.post('/api/v1/deploy', { token: apiKey, json: { compose: COMPOSE, app_name: 'web', ...fields } });
  async function undeploy() {
    const u = await w.api.post(`/api/v1/agents/${agentId}/undeploy`, { token: w.admin });
    expect(u.status, u.text).toBe(200);
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'agent-secrets-'));
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
    const agentPort = await freePort();
    workload = createServer((_req, res) => res.end('ok'));
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
    const configPath = join(tmp, 'config.json');
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
        heartbeat_interval: 2,
        retry_initial_seconds: 0.2,
        retry_max_seconds: 1,
        health_timeout_seconds: 10,
      }),
    );
    envFile = join(tmp, 'tenant.env');
    writeFileSync(envFile, `DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN="${API_TOKEN}"\n`);
    const acct = await w.api.post('/api/v1/accounts', { json: { name: 'secrets-e2e', account_type: 'deployer' } });
    apiKey = acct.body.api_key as string;
    await w.api.post(`/api/v1/accounts/${acct.body.account_id}/deposit`, { token: w.admin, json: { amount: 50 } });
    agent = spawn(process.execPath, [bundle], {
      env: { PATH: bins.path, EASYENCLAVE_CONFIG: configPath, HOME: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    agent.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  });

  afterAll(async () => {
    const a = agent;
    if (a && a.exitCode === null) {
      const exited = new Promise((r) => a.once('exit', r));
      a.kill('SIGKILL');
      await exited;
    }
    bins?.close();
    tsm?.close();
    await w?.close();
    await new Promise((r) => workload?.close(r));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('generates its HPKE key in the VM (0600), binds SHA-256(key) in REPORTDATA 32..64 and registers it', async () => {
    const row = await waitFor(
      'registration',
      () => w.stack.db('agents').where({ vm_name: VM }).first(),
      (r) => r !== undefined,
      60_000,
    );
    agentId = row.agent_id;
    const keyPath = join(tmp, 'data', 'env-key.json');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(keyPath, 'utf8'));
    const pub = fromB64url(file.public_key)!;
    expect(row.encryption_public_key).toBe(file.public_key);
    // The registration quote's REPORTDATA: nonce region, then the key's hash.
    expect(tsm.reportData[0]!.slice(64)).toBe(keyBindingHex(pub));
    const served = await w.api.get(`/api/v1/agents/${agentId}/encryption-key`);
    expect(served.status, served.text).toBe(200);
    expect(served.body.public_key).toBe(file.public_key);
    expect(served.body.attestation.report_data.slice(64)).toBe(keyBindingHex(pub));
    // The private key is never in the agent's log or anything the CP holds.
    expect(output).not.toContain(file.private_key);
    await waitFor(
      'agent healthy for placement',
      async () => {
        await w.stack.client.workflow.execute('agentHealthSweep', {
          taskQueue: w.stack.taskQueue,
          workflowId: `sweep-${randomUUID()}`,
          args: [],
        });
        return (await w.stack.db('agents').where({ agent_id: agentId }).first()).health_status;
      },
      (s) => s === 'healthy',
    );
  });

  it('an encrypted env reaches docker compose as environment; the CP database, log buffer and Temporal history hold no plaintext', async () => {
    const pre = await deploy({ dry_run: true, agent_id: agentId });
    expect(pre.body).toMatchObject({ eligible: true, selected_agent_id: agentId });
    const deploymentId = randomUUID();
    const fields = await encrypt(agentId, deploymentId);
    expect(JSON.stringify(fields)).not.toContain(DB_PASSWORD);
    const res = await deploy({
      agent_id: fields.agent_id,
      deployment_id: fields.deployment_id,
      encrypted_env: fields.encrypted_env,
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.deployment_id).toBe(deploymentId);
    const d = await waitEnded(deploymentId);
    expect(d.status, d.error).toBe('running');

    // The workload's `docker compose up` got the values in its environment...
    const up = bins.calls('docker').filter((c) => c.argv.includes('up'));
    expect(up.at(-1)!.env).toMatchObject({ DB_PASSWORD, API_TOKEN });
    // ...and only that call: no other docker invocation (logs, ps, down) sees them.
    for (const c of bins.calls('docker').filter((x) => !x.argv.includes('up'))) {
      expect(c.env.DB_PASSWORD).toBeUndefined();
    }
    // Never written to disk in clear by the agent (workload dir, data dir), never in its log.
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
      );
    for (const f of [...files(join(tmp, 'workload')), ...files(join(tmp, 'data'))]) {
      expect(readFileSync(f, 'utf8'), f).not.toContain(DB_PASSWORD);
    }
    expect(output).not.toContain(DB_PASSWORD);
    expect(output).not.toContain(API_TOKEN);

    // The control plane's database files: the ciphertext is there, the values are not.
    const conn = w.stack.db.client.config.connection as { filename: string };
    const dbBytes = ['', '-wal', '-shm']
      .map((s) => conn.filename + s)
      .filter((p) => existsSync(p))
      .map((p) => readFileSync(p).toString('latin1'))
      .join('\n');
    const ct = (fields.encrypted_env as { ct: string }).ct;
    expect(dbBytes).toContain(ct);
    expect(dbBytes).not.toContain(DB_PASSWORD);
    expect(dbBytes).not.toContain(API_TOKEN);
    const stored = await deploymentRow(deploymentId);
    expect(JSON.parse(stored.encrypted_env)).toEqual(fields.encrypted_env);

    // The control plane's log buffer (every level).
    const logs = await w.api.get('/api/v1/logs/control-plane?min_level=DEBUG&lines=1000', { token: w.admin });
    expect(logs.status).toBe(200);
    expect(logs.body.total).toBeGreaterThan(0);
    expect(logs.text).not.toContain(DB_PASSWORD);
    expect(logs.text).not.toContain(API_TOKEN);

    // The deployment's Temporal history, decoded with the stack's payload codec: ciphertext only.
    const history = await decodeHistory(
      await w.stack.client.workflow.getHandle(`deployment:${deploymentId}`).fetchHistory(),
      w.stack.client.options.loadedDataConverter.payloadCodecs,
    );
    const text = historyText(history);
    expect(text).toContain(ct);
    expect(text).not.toContain(DB_PASSWORD);
    expect(text).not.toContain(API_TOKEN);

    // The deployment view never shows the envelope.
    const view = await w.api.get(`/api/v1/deployments/${deploymentId}`, { token: apiKey });
    expect(view.text).not.toContain(ct);
    // A reused deployment id is a conflict.
    const again = await deploy({ agent_id: agentId, deployment_id: deploymentId, encrypted_env: fields.encrypted_env });
    expect(again.status).toBe(409);
    await undeploy();
  });

  it('a ciphertext replayed into another deployment is refused by the agent: the deployment fails with the reason', async () => {
    const first = randomUUID();
    const fields = await encrypt(agentId, first);
    const other = randomUUID();
    const calls = bins.calls('docker').filter((c) => c.argv.includes('up')).length;
    const res = await deploy({ agent_id: agentId, deployment_id: other, encrypted_env: fields.encrypted_env });
    expect(res.status, res.text).toBe(202);
    const d = await waitEnded(other);
    expect(d.status).toBe('failed');
    expect(d.error).toContain(`encrypted_env does not open on agent ${agentId} for deployment ${other}`);
    // Refused before anything ran.
    expect(bins.calls('docker').filter((c) => c.argv.includes('up')).length).toBe(calls);
    expect((await w.stack.db('agents').where({ agent_id: agentId }).first()).status).toBe('undeployed');
  });

  it('a ciphertext made for agent A, replayed in a deploy to this agent (B), is refused: failed with the reason', async () => {
    // Agent A: another attested agent with its own key (registered over HTTP; it never runs a workload here).
    const keyA = await generateEnvKeyPair();
    const nonce = await challenge(w, 'secrets-agent-a');
    const tok = await token(w, { reportData: reportDataHex(nonce, keyBinding(keyA.publicKey)) });
    const reg = await register(w, 'secrets-agent-a', tok, { encryption_public_key: b64url(keyA.publicKey) });
    expect(reg.status, reg.text).toBe(200);
    const agentA = reg.body.agent_id as string;
    const deploymentId = randomUUID();
    const forA = await encrypt(agentA, deploymentId);
    // Replayed to B with the same deployment id (and B's id in the AAD): B's key does not open it.
    const res = await deploy({ agent_id: agentId, deployment_id: deploymentId, encrypted_env: forA.encrypted_env });
    expect(res.status, res.text).toBe(202);
    const d = await waitEnded(deploymentId);
    expect(d.agent_id).toBe(agentId);
    expect(d.status).toBe('failed');
    expect(d.error).toMatch(/encrypted_env does not open on agent .* encrypted to another agent’s key/);
  });

  it('the API refuses an encrypted deploy that does not pin the agent and the deployment id (422)', async () => {
    const fields = await encrypt(agentId, randomUUID());
    const noAgent = await deploy({ deployment_id: fields.deployment_id, encrypted_env: fields.encrypted_env });
    expect(noAgent.status).toBe(422);
    expect(noAgent.body.detail).toContain('encrypted_env needs agent_id and deployment_id');
    const noId = await deploy({ agent_id: agentId, encrypted_env: fields.encrypted_env });
    expect(noId.status).toBe(422);
    expect(await deploymentRow(fields.deployment_id as string)).toBeUndefined();
  });
});
