/**
 * The deploy action's `encrypted-env-file` (issue #17): the env reaches only the attested agent. The file is either
 * a dotenv file — the action dry-runs for the agent (unless `agent_id` pins one), verifies that agent's key binding
 * with clients/secrets (ITA signature against `ita_jwks_url`, MRTD in `trusted_mrtds` or the control plane's list,
 * SHA-256 of the key in the signed REPORTDATA) and seals the env for a fresh deployment id — or the JSON that
 * `ee secrets encrypt` printed, used as it is. The deploy body then carries agent_id, deployment_id and
 * encrypted_env; the values are masked in the log and never sent in clear.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { encryptEnvForAgent, SecretsClientError } from '../../clients/secrets/encrypt-env';
import { parseDotenv } from '../../core/secrets/hpke-env';
import { CpError, explain, type CpClient } from '../lib/cp';
import { ActionFailure, getInput, getListInput, info, mask, type ActionIo } from '../lib/toolkit';

interface Prepared {
  deployment_id: string;
  agent_id: string;
  encrypted_env: { enc: string; ct: string };
}

function preEncrypted(text: string): Prepared | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const p = v as Partial<Prepared>;
  if (typeof p?.deployment_id !== 'string' || typeof p.agent_id !== 'string' || !p.encrypted_env) {
    throw new ActionFailure('encrypted-env-file is JSON but not the output of `ee secrets encrypt`');
  }
  return { deployment_id: p.deployment_id, agent_id: p.agent_id, encrypted_env: p.encrypted_env };
}

/** Adds agent_id, deployment_id and encrypted_env to `body` when the input is set. */
export async function addEncryptedEnv(
  io: ActionIo,
  cp: CpClient,
  baseUrl: string,
  path: string,
  body: Record<string, unknown>,
): Promise<void> {
  const file = getInput(io, 'encrypted-env-file');
  if (!file) return;
  const full = resolve(io.env.GITHUB_WORKSPACE ?? process.cwd(), file);
  if (!existsSync(full)) throw new ActionFailure(`encrypted-env-file not found: ${file} (looked at ${full})`);
  const text = readFileSync(full, 'utf8');
  const ready = preEncrypted(text);
  if (ready) {
    if (body.agent_id && body.agent_id !== ready.agent_id) {
      throw new ActionFailure(
        `encrypted-env-file was encrypted to agent ${ready.agent_id}, not ${String(body.agent_id)}`,
      );
    }
    Object.assign(body, ready);
    info(io, `Using the pre-encrypted env for deployment ${ready.deployment_id} on agent ${ready.agent_id}`);
    return;
  }
  let env: Record<string, string>;
  try {
    env = parseDotenv(text);
  } catch (e) {
    throw new ActionFailure(`encrypted-env-file ${file}: ${(e as Error).message}`);
  }
  for (const v of Object.values(env)) if (v.length >= 4) mask(io, v);

  let agentId = typeof body.agent_id === 'string' ? body.agent_id : '';
  if (!agentId) {
    // Placement first: the ciphertext is bound to one agent, so the agent is chosen before encrypting.
    try {
      const pre = (
        await cp.call<{ selected_agent_id: string | null; reason: string }>('POST', path, {
          ...body,
          dry_run: true,
        })
      ).body;
      if (!pre.selected_agent_id) throw new ActionFailure(`No agent to encrypt the env to: ${pre.reason}`);
      agentId = pre.selected_agent_id;
    } catch (err) {
      if (err instanceof CpError) throw new ActionFailure(explain(err, 'Dry run for the encrypted env'));
      throw err;
    }
  }
  const trusted = getListInput(io, 'trusted_mrtds');
  try {
    const r = await encryptEnvForAgent({
      cpUrl: baseUrl,
      agentId,
      env,
      itaJwksUrl: getInput(io, 'ita_jwks_url') || undefined,
      itaIssuer: getInput(io, 'ita_issuer') || undefined,
      trustedMrtds: trusted.length > 0 ? trusted : undefined,
      fetch: io.fetch,
    });
    Object.assign(body, { agent_id: r.agent_id, deployment_id: r.deployment_id, encrypted_env: r.encrypted_env });
    info(
      io,
      `Encrypted ${Object.keys(env).length} env values to agent ${agentId} (MRTD ${r.verified.mrtd.slice(0, 16)}…, ` +
        `attested ${r.verified.issued_at}, trusted list: ${r.verified.trusted_mrtds_from}) for deployment ${r.deployment_id}`,
    );
  } catch (err) {
    if (err instanceof SecretsClientError) throw new ActionFailure(err.message);
    throw err;
  }
}
