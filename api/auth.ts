/**
 * Auth guards by scheme. A guard either sets ctx.state (session, account, agent…) or
 * throws the v1 401/403 with its exact message.
 */
import { authenticateSession, isAdminSession } from '../core/auth/admin-sessions';
import { forbidden, unauthorized } from './http/errors';
import { API_KEY_PREFIX } from '../core/auth/api-keys';
import { isJwtShaped } from '../core/auth/github-oidc';
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
    const result = await authenticateSession(deps.db, deps.sealingKey, token, deps.now(), deps.credentialCache);
    if (!result.ok) throw unauthorized(result.detail);
    ctx.state.session = result.session;
    ctx.state.isAdmin = isAdminSession(result.session, deps.config.admin.githubLogins);
  };
  const accounts = createAccountGuards(deps);
  /** Any of the three user credentials, chosen by the token's shape (JWT → OIDC, ee_live_ → API key, else session). */
  const caller: Guard = async (ctx) => {
    const token = bearerToken(ctx, 'session token, API key or GitHub OIDC token');
    if (isJwtShaped(token)) await accounts.oidc(ctx);
    else if (token.startsWith(API_KEY_PREFIX)) await accounts.apiKey(ctx);
    else await session(ctx);
  };
  return {
    ...accounts,
    caller,
    viewer: async (ctx) => {
      if (ctx.get('authorization')) await caller(ctx);
    },
    // App catalog writes: the same three credentials; who maintains an app is decided per app by the handler.
    catalog: caller,
    agent: agentGuard(deps),
    none: async () => {},
    session,
    admin: async (ctx) => {
      await session(ctx);
      if (!ctx.state.isAdmin) throw forbidden('Admin access required');
    },
  };
}
