/**
 * Auth guards by scheme. A guard either sets ctx.state (session, account, agent…) or
 * throws the v1 401/403 with its exact message.
 */
import { authenticateSession, isAdminSession } from '../core/auth/admin-sessions';
import { forbidden, unauthorized } from '../core/errors';
import { agentGuard } from './agent-auth';
import { createAccountGuards } from './auth-accounts';
import type { AdminSession } from '../core/stores/admin-sessions';
import type { AppDeps } from './deps';
import { API_KEY_PREFIX } from '../core/auth/api-keys';
import { isJwtShaped } from '../core/auth/github-oidc';
import { bearerToken } from './http/bearer';
import type { Guard, Guards } from './http/route';

declare module 'koa' {
  interface DefaultState {
    session?: AdminSession;
    isAdmin?: boolean;
  }
}

export function createGuards(deps: AppDeps): Partial<Guards> & Pick<Guards, 'none' | 'session' | 'admin'> {
  const session: Guard = async (ctx) => {
    const token = bearerToken(ctx);
    const result = await authenticateSession(deps.db, token, deps.now(), deps.credentialCache);
    if (!result.ok) throw unauthorized(result.detail);
    ctx.state.session = result.session;
    ctx.state.isAdmin = isAdminSession(result.session, deps.config.admin.githubLogins);
  };
  const accounts = createAccountGuards(deps);
  return {
    ...accounts,
    // The credential's shape picks the check: an `ee_live_` key, a GitHub Actions OIDC JWT, else a session.
    catalog: async (ctx) => {
      const token = bearerToken(ctx, 'api_key, GitHub OIDC token or session token');
      if (token.startsWith(API_KEY_PREFIX) || isJwtShaped(token)) await accounts.deployer(ctx);
      else await session(ctx);
    },
    agent: agentGuard(deps),
    none: async () => {},
    session,
    admin: async (ctx) => {
      await session(ctx);
      if (!ctx.state.isAdmin) throw forbidden('Admin access required');
    },
  };
}
