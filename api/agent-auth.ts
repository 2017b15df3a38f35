/**
 * `agent-control` auth (api.md §0.1, fixed): the agent is loaded first (404), then `Authorization: Bearer <secret>`
 * is ALWAYS required and checked against the stored HMAC (or a legacy argon2id hash, then migrated) — there is no legacy "no stored secret" bypass. Verified
 * secrets are remembered briefly under the credential's version (updated_at), so a rotated secret stops at once.
 */
import type { Context } from 'koa';
import { checkAgentSecret } from '../core/auth/agent-secrets';
import { toIso } from '../core/db/tables';
import { notFound, unauthorized } from './http/errors';
import { getAgent, getCredential, type AgentDbRow } from '../core/stores/agents';
import type { AppDeps } from './deps';
import type { Guard } from './http/route';

declare module 'koa' {
  interface DefaultState {
    agent?: AgentDbRow;
  }
}

const MISSING = 'Missing agent Authorization bearer token';
const INVALID = 'Invalid agent Authorization bearer token';

export function agentGuard(deps: AppDeps): Guard {
  return async (ctx: Context) => {
    const agentId = String((ctx.params as Record<string, string> | undefined)?.agent_id ?? '');
    const agent = await getAgent(deps.db, agentId);
    if (!agent) throw notFound('Agent not found');
    const header = ctx.get('authorization').trim();
    if (!/^bearer /i.test(header)) throw unauthorized(MISSING);
    const secret = header.slice(7).trim();
    if (secret === '') throw unauthorized(MISSING);
    const cred = await getCredential(deps.db, agentId);
    if (!cred) throw unauthorized(INVALID);
    const version = `agent:${agentId}:${toIso(cred.updated_at)}:${cred.api_secret_prefix}`;
    const nowMs = deps.now().getTime();
    if (deps.credentialCache.get(secret, nowMs) !== version) {
      if (!(await checkAgentSecret(deps.db, deps.sealingKey, cred, secret))) throw unauthorized(INVALID);
      deps.credentialCache.set(secret, version, nowMs);
    }
    ctx.state.agent = agent;
  };
}
