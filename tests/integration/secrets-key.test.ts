/**
 * Issue #17, the attested key, through HTTP and the `ee` CLI against the real control plane (Temporal + worker +
 * API) and the fake Intel Trust Authority: registration refuses a key its quote does not bind; the encryption-key
 * endpoint serves the key with the registration's token; `ee secrets encrypt` verifies that evidence itself and
 * refuses a wrong MRTD, a forged token and a key whose hash is not in the signed report data — what a dishonest
 * control plane would serve.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportDataHex } from '../../core/attestation/report-data';
import { b64url, generateEnvKeyPair, keyBinding, openEnv, type EnvKeyPair } from '../../core/secrets/hpke-env';
import { runCli } from '../../launcher/cli';
import { MRTD, challenge, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

const OTHER_MRTD = 'd4'.repeat(48);

describe('attested HPKE key: registration, endpoint and client verification', () => {
  let w: AgentWorld;
  let tmp: string;
  let envFile: string;
  let key: EnvKeyPair;
  let agentId: string;
  let goodToken: string;

  async function ee(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await runCli(['secrets', 'encrypt', '--cp-url', w.stack.url, '--env-file', envFile, ...args], {
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
      env: { ITA_JWKS_URL: w.ita.jwksUrl, ITA_ISSUER: w.ita.issuer },
    });
    return { code, stdout, stderr };
  }

  /** Registers `vm` with a token over nonce ‖ binding and `publicKey` (may differ, for the mismatch case). */
  async function registerWithKey(vm: string, binding: Uint8Array, publicKey: Uint8Array) {
    const nonce = await challenge(w, vm);
    const tok = await token(w, { reportData: reportDataHex(nonce, binding) });
    const r = await register(w, vm, tok, { encryption_public_key: b64url(publicKey) });
    return { r, tok };
  }

  beforeAll(async () => {
    w = await startAgentWorld({ cloudflare: false, env: { NONCE_ENFORCEMENT_MODE: 'required' } });
    tmp = mkdtempSync(join(tmpdir(), 'secrets-key-'));
    envFile = join(tmp, '.env');
    writeFileSync(envFile, 'DB_PASSWORD="s3cr3t-value-\\n-line2"\n# comment\nexport API_TOKEN=tok-123456\n');
    key = await generateEnvKeyPair();
    const { r, tok } = await registerWithKey('key-vm-1', keyBinding(key.publicKey), key.publicKey);
    expect(r.status, r.text).toBe(200);
    agentId = r.body.agent_id as string;
    goodToken = tok;
  });
  afterAll(async () => {
    await w?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('stores the key with the registration token and serves both at /encryption-key', async () => {
    const row = await w.stack.db('agents').where({ agent_id: agentId }).first();
    expect(row.encryption_public_key).toBe(b64url(key.publicKey));
    expect(row.encryption_key_token).toBe(goodToken);
    const r = await w.api.get(`/api/v1/agents/${agentId}/encryption-key`);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({
      agent_id: agentId,
      public_key: b64url(key.publicKey),
      kem_id: 0x20,
      kdf_id: 1,
      aead_id: 2,
      info: 'easyenclave/env/v1',
      attestation: { ita_token: goodToken, mrtd: MRTD, verified: true },
    });
    expect(r.body.attestation.report_data.slice(64)).toBe(Buffer.from(keyBinding(key.publicKey)).toString('hex'));
    // Declared in the served OpenAPI document.
    const doc = (await w.api.get('/openapi.json')).body;
    expect(doc.paths['/api/v1/agents/{agent_id}/encryption-key'].get.responses['200']).toBeDefined();
    expect((await w.api.get(`/api/v1/agents/00000000-0000-4000-8000-000000000009/encryption-key`)).status).toBe(404);
  });

  it('refuses a registration whose quote does not bind the key it sends (403, typed), and writes nothing', async () => {
    const other = await generateEnvKeyPair();
    const { r } = await registerWithKey('key-vm-2', keyBinding(other.publicKey), key.publicKey);
    expect(r.status).toBe(403);
    expect(r.body.detail).toMatch(/^Encryption key not bound to the attestation/);
    expect(await w.stack.db('agents').where({ vm_name: 'key-vm-2' }).first()).toBeUndefined();
    // No binding at all (an unbound quote) with a key: refused the same way.
    const { r: r2 } = await registerWithKey('key-vm-2', new Uint8Array(32), key.publicKey);
    expect(r2.status).toBe(403);
    expect(r2.body.detail).toContain('quote has no binding');
    // A malformed key is a schema error.
    const bad = await register(w, 'key-vm-2', goodToken, { encryption_public_key: 'not-a-key' });
    expect(bad.status).toBe(422);
  });

  it('attack: the served registration token cannot register anyone (its nonce is consumed)', async () => {
    const served = (await w.api.get(`/api/v1/agents/${agentId}/encryption-key`)).body.attestation.ita_token;
    const replay = await register(w, 'key-vm-1', served, {
      version: '9.9.9',
      encryption_public_key: b64url(key.publicKey),
    });
    expect(replay.status).toBe(403);
    expect(replay.body.agent_api_secret).toBeUndefined();
    expect(JSON.stringify(replay.body)).toMatch(/nonce/i);
  });

  it('ee secrets encrypt verifies the evidence and seals the env for (deployment id, agent id)', async () => {
    const id = '5b4e0a3c-1d2e-4f60-8a7b-9c0d1e2f3a4b';
    const r = await ee('--agent', agentId, '--deployment-id', id);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ deployment_id: id, agent_id: agentId, verified: { mrtd: MRTD } });
    expect(out.verified.trusted_mrtds_from).toBe('control-plane');
    expect(r.stdout).not.toContain('s3cr3t-value');
    const env = await openEnv({ keyPair: key, envelope: out.encrypted_env, deploymentId: id, agentId });
    expect(env).toEqual({ DB_PASSWORD: 's3cr3t-value-\n-line2', API_TOKEN: 'tok-123456' });
  });

  it('refuses an MRTD outside the pinned trusted list', async () => {
    const r = await ee('--agent', agentId, '--trusted-mrtd', OTHER_MRTD);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`MRTD ${MRTD} in the signed token is not on the trusted list`);
    // Pinned to the right one, it encrypts.
    expect((await ee('--agent', agentId, '--trusted-mrtd', MRTD)).code).toBe(0);
  });

  it('refuses a forged token (signature not from the ITA JWKS), even with the right claims', async () => {
    const row = await w.stack.db('agents').where({ agent_id: agentId }).first();
    const claims = JSON.parse(Buffer.from(goodToken.split('.')[1]!, 'base64url').toString('utf8'));
    const forged = await w.ita.signToken(claims, { forged: true });
    await w.stack.db('agents').where({ agent_id: agentId }).update({ encryption_key_token: forged });
    try {
      const r = await ee('--agent', agentId);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('ITA token does not verify: Token signature verification failed');
    } finally {
      await w.stack
        .db('agents')
        .where({ agent_id: agentId })
        .update({ encryption_key_token: row.encryption_key_token });
    }
  });

  it('refuses a key whose SHA-256 is not in the signed report data (a swapped key)', async () => {
    const swapped = await generateEnvKeyPair();
    await w.stack
      .db('agents')
      .where({ agent_id: agentId })
      .update({ encryption_public_key: b64url(swapped.publicKey) });
    try {
      const r = await ee('--agent', agentId);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/signed report data bytes 32\.\.64 are [0-9a-f]{64}, not SHA-256\(public_key\)/);
    } finally {
      await w.stack
        .db('agents')
        .where({ agent_id: agentId })
        .update({ encryption_public_key: b64url(key.publicKey) });
    }
    expect((await ee('--agent', agentId)).code).toBe(0);
  });

  it('refuses bad input as usage errors (exit 2): a deployment id that is not a UUID, a reserved env name', async () => {
    expect((await ee('--agent', agentId, '--deployment-id', 'nope')).code).toBe(2);
    writeFileSync(join(tmp, 'bad.env'), 'DOCKER_HOST=tcp://evil:2375\n');
    let stderr = '';
    const code = await runCli(
      ['secrets', 'encrypt', '--cp-url', w.stack.url, '--env-file', join(tmp, 'bad.env'), '--agent', agentId],
      { stdout: () => undefined, stderr: (s) => (stderr += s), env: { ITA_JWKS_URL: w.ita.jwksUrl } },
    );
    expect(code).toBe(2);
    expect(stderr).toContain('may not set DOCKER_HOST');
  });
});
