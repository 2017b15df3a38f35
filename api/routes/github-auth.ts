/**
 * GitHub OAuth login (api.md §7, attestation.md §7.4). Any GitHub user may sign in; admin rights come from
 * ADMIN_GITHUB_LOGINS per request, everyone else gets owner-scoped access (/api/v1/me/*).
 *
 * State: signed and expiring (core/auth/oauth-state.ts), so every API replica can check it, and one-time — the
 * callback records its nonce in `oauth_states_used` (unique key), so a replayed state is refused.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { createAdminSession } from '../../core/auth/admin-sessions';
import { createGithubOAuthClient, readGithubOAuthSettings } from '../../clients/github-oauth-client';
import { OAUTH_STATE_RE, OAUTH_STATE_TTL_MS, createOAuthState, verifyOAuthState } from '../../core/auth/oauth-state';
import { badRequest, forbidden, serviceUnavailable } from '../http/errors';
import { consumeOAuthNonce } from '../../core/stores/oauth-states';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const INVALID_STATE = 'Invalid or expired state token';
/**
 * HttpOnly cookie that binds a state to the browser that started the flow (login CSRF: without it an attacker could
 * send a victim a callback URL with the attacker's own code and state and log the victim in as the attacker).
 */
export const OAUTH_BINDING_COOKIE = 'ee_oauth_binding';

function setBindingCookie(ctx: Context, value: string | null): void {
  ctx.cookies.set(OAUTH_BINDING_COOKIE, value, {
    httpOnly: true,
    sameSite: 'lax',
    path: '/auth/github',
    maxAge: value ? OAUTH_STATE_TTL_MS : 0,
    secure: ctx.secure,
    overwrite: true,
  });
}

/** The state MAC key, derived from the install's sealing key (identical on every replica, never stored). */
function stateSecret(deps: AppDeps): string {
  return createHmac('sha256', deps.sealingKey.current.text).update('ee-oauth-state-key.v1').digest('base64url');
}

export function githubAuthRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/auth/github',
      summary:
        'Start the GitHub OAuth flow: the authorize URL and its one-time state (10 min), bound to this browser by ' +
        'an HttpOnly cookie that the callback checks',
      tag: 'auth',
      auth: 'none',
      responses: {
        200: { description: 'Authorize URL', schema: z.object({ auth_url: z.string(), state: z.string() }) },
        503: { description: 'GitHub OAuth not configured' },
      },
    },
    async (_input, ctx) => {
      const s = await readGithubOAuthSettings(deps.settings);
      if (!s.clientId) throw serviceUnavailable('GitHub OAuth not configured. Set GITHUB_OAUTH_CLIENT_ID.');
      const binding = randomBytes(16).toString('base64url');
      setBindingCookie(ctx, binding);
      const state = createOAuthState(stateSecret(deps), deps.now().getTime(), OAUTH_STATE_TTL_MS, { binding });
      const client = createGithubOAuthClient(s);
      return { auth_url: client.authorizeUrl(state), state };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/auth/github/callback',
      summary: 'GitHub redirects here: checks the state, exchanges the code, creates a session, 302 to /admin',
      tag: 'auth',
      auth: 'none',
      query: z.object({
        code: z.string().min(1).max(512).describe('OAuth code from GitHub'),
        state: z
          .string()
          .regex(OAUTH_STATE_RE)
          .describe('The state from GET /auth/github (nonce.expiry.mac); checked with the binding cookie'),
      }),
      responses: {
        302: { description: 'Location: /admin?token=<session token>' },
        400: { description: 'GitHub authentication failed (the code was refused)' },
        403: { description: 'Invalid, expired, replayed or foreign (binding cookie) state token' },
      },
    },
    async ({ query }, ctx) => {
      const binding = ctx.cookies.get(OAUTH_BINDING_COOKIE);
      if (!binding) throw forbidden(INVALID_STATE);
      const checked = verifyOAuthState(stateSecret(deps), query.state, deps.now().getTime(), { binding });
      if (!checked.ok) throw forbidden(INVALID_STATE);
      setBindingCookie(ctx, null);
      const used = !(await consumeOAuthNonce(
        deps.db,
        checked.nonce,
        new Date(checked.expiresAtMs).toISOString(),
        deps.now().toISOString(),
      ));
      if (used) throw forbidden(INVALID_STATE);

      const s = await readGithubOAuthSettings(deps.settings);
      if (!s.clientId) throw serviceUnavailable('GitHub OAuth not configured. Set GITHUB_OAUTH_CLIENT_ID.');
      const client = createGithubOAuthClient(s);
      let github;
      try {
        const accessToken = await client.exchangeCode(query.code);
        const profile = await client.fetchProfile(accessToken);
        const orgs = await client.fetchOrgs(accessToken);
        github = { id: profile.id, login: profile.login, email: profile.email, avatarUrl: profile.avatar_url, orgs };
      } catch (err) {
        deps.logger.warn(`GitHub login failed: ${(err as Error).message}`);
        throw badRequest('GitHub authentication failed');
      }
      const { token } = await createAdminSession(
        deps.db,
        deps.sealingKey,
        { authMethod: 'github_oauth', ipAddress: ctx.ip, github },
        deps.now(),
      );
      ctx.status = 302;
      ctx.redirect(`/admin?token=${encodeURIComponent(token)}`);
      return undefined;
    },
  );
}
