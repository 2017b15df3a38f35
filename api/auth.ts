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
  return {
    ...createAccountGuards(deps),
    agent: agentGuard(deps),
    none: async () => {},
    session,
    admin: async (ctx) => {
      await session(ctx);
      if (!ctx.state.isAdmin) throw forbidden('Admin access required');
    },
  };
}
