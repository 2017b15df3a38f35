/**
 * The deploy action's `encrypted-env-file` (issue #17), its committed bundle run as the runner runs it, against the
 * real control plane, the fake GitHub OIDC, the fake ITA (JWKS + tokens) and the fake agent server: the action
 * dry-runs for the agent, verifies the agent's key evidence, seals the dotenv file to it and deploys; the agent
 * receives only `{enc, ct}`, which opens with the agent's private key to the file's values. Evidence that does not
 * verify (MRTD not in `trusted_mrtds`) fails the step before anything is deployed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportDataHex } from '../../core/attestation/report-data';
import { seal } from '../../core/auth/seal';
import { b64url, generateEnvKeyPair, keyBinding, openEnv, type EnvKeyPair } from '../../core/secrets/hpke-env';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { itaClaims, startFakeIntelTa, type FakeIntelTa } from '../fakes/intel-ta';
import { runActionBundle } from '../helpers/actions';
import { MRTD, RTMRS } from '../helpers/agents';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: hashicorp/http-echo:latest\n    environment: [DB_PASSWORD]\n';
const DB_PASSWORD = 'action-s3cret-value';

describe('the deploy action with encrypted-env-file', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let ita: FakeIntelTa;
  let agents: FakeAgentServer;
  let workspace: string;
  let key: EnvKeyPair;
  let agentId: string;

  beforeAll(async () => {
    gh = await startFakeGithub();
    ita = await startFakeIntelTa();
    agents = await startFakeAgent();
    stack = await startStack({
      env: {
        GITHUB_OIDC_JWKS_URL: gh.jwksUrl,
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10',
        TRUSTED_AGENT_MRTDS: MRTD,
      },
    });
    workspace = mkdtempSync(join(tmpdir(), 'deploy-action-secrets-'));
    writeFileSync(join(workspace, 'docker-compose.yml'), COMPOSE);
    writeFileSync(join(workspace, 'tenant.env'), `DB_PASSWORD=${DB_PASSWORD}\n`);
    key = await generateEnvKeyPair();
    const a = await seedAgent(stack.db, { github_owner: 'octo-org', mrtd: MRTD });
    agentId = a.agent_id;
    const tok = await ita.signToken(
      itaClaims({ mrtd: MRTD, rtmrs: RTMRS, reportData: reportDataHex('ab'.repeat(16), keyBinding(key.publicKey)) }),
    );
    await stack
      .db('agents')
      .where({ agent_id: agentId })
      .update({ encryption_public_key: b64url(key.publicKey), encryption_key_token: tok });
    const secret = await seedAgentSecret(stack.db, agentId);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: agentId })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(agentId, { secret, callback: { cpUrl: stack.url, delayMs: 200 } });
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await ita?.close();
    await gh?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  const run = (inputs: Record<string, string>) =>
    runActionBundle(
      'deploy',
      {
        control_plane_url: stack.url,
        compose_file: 'docker-compose.yml',
        app_name: 'hello',
        poll_seconds: '1',
        timeout_seconds: '60',
        'encrypted-env-file': 'tenant.env',
        ita_jwks_url: ita.jwksUrl,
        ...inputs,
      },
      { job: gh.actionsJob({ repository: 'octo-org/app', repository_owner: 'octo-org' }), workspace },
    );

  it('refuses evidence whose MRTD is not in trusted_mrtds: the step fails, nothing is deployed', async () => {
    const r = await run({ trusted_mrtds: 'd4'.repeat(48) });
    expect(r.code, r.stdout).toBe(1);
    expect(r.errors[0]).toContain(`MRTD ${MRTD} in the signed token is not on the trusted list`);
    expect(await stack.db('deployments').count({ n: '*' }).first()).toMatchObject({ n: 0 });
    expect(agents.agent(agentId).deploys).toHaveLength(0);
  });

  it('seals the env to the dry-run’s agent and deploys ciphertext only; the agent’s key opens it', async () => {
    const r = await run({ trusted_mrtds: MRTD });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`::add-mask::${DB_PASSWORD}`);
    expect(r.stdout).toContain(`Encrypted 1 env values to agent ${agentId}`);
    const id = r.outputs.deployment_id!;
    const pushed = agents.agent(agentId).deploys.at(-1)!;
    expect(pushed.deployment_id).toBe(id);
    expect(JSON.stringify(pushed)).not.toContain(DB_PASSWORD);
    const env = await openEnv({
      keyPair: key,
      envelope: pushed.encrypted_env as { enc: string; ct: string },
      deploymentId: id,
      agentId,
    });
    expect(env).toEqual({ DB_PASSWORD });
    const row = await stack.db('deployments').where({ deployment_id: id }).first();
    expect(row.status).toBe('running');
    expect(row.encrypted_env).not.toContain(DB_PASSWORD);
  });
});
