/**
 * Console access for an agent (spec/attestation.md §9.4): an eea1 token signed with the
 * agent's control secret (unsealed from its stored copy) and the relay URL. Shared by the
 * admin/owner route and the owner-scoped /me route.
 */
import type { Context } from 'koa';
import { z } from 'zod';
import { CONSOLE_TTL_MAX, CONSOLE_TTL_MIN, mintConsoleToken } from '../core/auth/console-token';
import { unseal } from '../core/auth/seal';
import { badRequest, conflict } from './http/errors';
import { getCredential } from '../core/stores/agents';
import type { AppDeps } from './deps';

export const ConsoleAccessQuery = z.object({
  ttl_seconds: z.coerce.number().int().min(CONSOLE_TTL_MIN).max(CONSOLE_TTL_MAX).default(900),
});

export const ConsoleAccessSchema = z.object({
  agent_id: z.string(),
  hostname: z.string(),
  console_url: z.string(),
  token: z.string(),
  expires_at: z.string(),
  auth_mode: z.literal('cp_relay'),
});

/** Percent-encode every reserved character (Python's quote(…, safe='')). */
const encodeAll = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export async function issueConsoleAccess(
  deps: AppDeps,
  ctx: Context,
  agent: { agent_id: string; hostname: string | null },
  ttlSeconds: number,
): Promise<z.infer<typeof ConsoleAccessSchema>> {
  if (!agent.hostname) throw badRequest('Agent has no tunnel hostname');
  const sealed = (await getCredential(deps.db, agent.agent_id))?.api_secret_sealed;
  if (!sealed) throw conflict('Agent does not have a control credential; ask agent to re-register');
  const s = ctx.state.session;
  const { token, expiresAtSec } = mintConsoleToken({
    agentId: agent.agent_id,
    secret: unseal(deps.sealingKey, { sealed }),
    ttlSeconds,
    nowMs: deps.now().getTime(),
    authMethod: s?.auth_method,
    githubLogin: s?.github_login,
    githubOrgs: s?.github_orgs,
    isAdmin: ctx.state.isAdmin === true,
  });
  return {
    agent_id: agent.agent_id,
    hostname: agent.hostname,
    console_url: `https://${agent.hostname}/admin?token=${encodeAll(token)}`,
    token,
    expires_at: new Date(expiresAtSec * 1000).toISOString(),
    auth_mode: 'cp_relay',
  };
}
