import { z } from 'zod';
import { authenticateSession, createAdminSession, isAdminSession } from '../../core/auth/admin-sessions';
import { githubOAuthConfigured, passwordLoginAllowed } from '../../core/auth/login-policy';
import { verifyPassword } from '../../core/auth/secrets';
import { forbidden, unauthorized } from '../http/errors';
import { RATE_LIMITS } from '../../core/rate-limit';
import { deleteSession } from '../../core/stores/admin-sessions';
import type { AppDeps } from '../deps';
import { parseBearer } from '../http/bearer';
import type { Routes } from '../http/route';
import { createRateLimiter, type RateTicket } from '../middleware/rate-limit';

const LoginBody = z.object({ password: z.string() });
const LoginResponse = z.object({ token: z.string(), expires_at: z.string() });
const Methods = z.object({ password: z.boolean(), github: z.boolean() });
const Me = z.object({
  authenticated: z.literal(true),
  auth_method: z.string(),
  is_admin: z.boolean(),
  github_login: z.string().nullable(),
  github_email: z.string().nullable(),
  github_avatar_url: z.string().nullable(),
  github_orgs: z.array(z.string()),
  created_at: z.string(),
  expires_at: z.string(),
});

/** How a password login is refused: by policy (403), by the failed-login throttle (429), by the hash (401). */
const LOGIN_REFUSALS = {
  403: { description: 'Password login disabled or not configured' },
  429: { description: 'Too many failed logins from this IP or against the account (see Retry-After)' },
  401: { description: 'Invalid password' },
};

export function authRoutes(routes: Routes, deps: AppDeps): void {
  const limiter = createRateLimiter(deps);
  routes.add(
    {
      method: 'post',
      path: '/admin/login',
      summary: 'Password login; returns a 24 h admin session token',
      tag: 'auth',
      auth: 'none',
      body: LoginBody,
      responses: { 200: { description: 'Session created', schema: LoginResponse }, ...LOGIN_REFUSALS },
    },
    async ({ body }, ctx) => {
      if (!(await passwordLoginAllowed(deps.settings, deps.config.production))) {
        throw forbidden('Password login is disabled. Use GitHub OAuth.');
      }
      if (!deps.adminPasswordHash) throw forbidden('Password login is not configured. Use GitHub OAuth.');
      // Both limits count failed attempts: every attempt is counted up front (so concurrent guesses on any
      // replica cannot slip past the limit) and a correct password gives its counts back.
      const perIp = await limiter.perIp(RATE_LIMITS.adminLoginPerIp, ctx);
      let perAccount: RateTicket;
      try {
        perAccount = await limiter.consume(RATE_LIMITS.adminLoginPerAccount, 'account:admin');
      } catch (err) {
        await perIp.refund();
        throw err;
      }
      if (!(await verifyPassword(deps.adminPasswordHash, body.password))) {
        deps.logger.warn(`failed admin password login from ${ctx.ip}`);
        throw unauthorized('Invalid password');
      }
      await Promise.all([perIp.refund(), perAccount.refund()]);
      const { token, session } = await createAdminSession(
        deps.db,
        deps.sealingKey,
        { authMethod: 'password', ipAddress: ctx.ip },
        deps.now(),
      );
      return { token, expires_at: session.expires_at };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/admin/logout',
      summary: 'End the session of the bearer token (if any); always answers Logged out',
      tag: 'auth',
      auth: 'none',
      responses: { 200: { description: 'Logged out', schema: z.object({ message: z.string() }) } },
    },
    async (_input, ctx) => {
      const token = parseBearer(ctx.get('authorization'));
      if (token !== null) {
        const found = await authenticateSession(deps.db, deps.sealingKey, token, deps.now(), deps.credentialCache);
        if (found.ok) {
          await deleteSession(deps.db, found.session.session_id);
          deps.credentialCache.forgetId(found.session.session_id);
        }
      }
      return { message: 'Logged out' };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/auth/methods',
      summary: 'Which login methods are available (never reveals a password)',
      tag: 'auth',
      auth: 'none',
      responses: { 200: { description: 'Available methods', schema: Methods } },
    },
    async () => ({
      password: deps.adminPasswordHash !== null && (await passwordLoginAllowed(deps.settings, deps.config.production)),
      github: await githubOAuthConfigured(deps.settings),
    }),
  );

  routes.add(
    {
      method: 'get',
      path: '/auth/me',
      summary: 'The current session: method, admin flag, GitHub identity, expiry',
      tag: 'auth',
      auth: 'session',
      responses: { 200: { description: 'Session info', schema: Me }, 401: { description: 'No valid session' } },
    },
    async (_input, ctx) => {
      const s = ctx.state.session!;
      return {
        authenticated: true,
        auth_method: s.auth_method,
        is_admin: isAdminSession(s, deps.config.admin.githubLogins),
        github_login: s.github_login,
        github_email: s.github_email,
        github_avatar_url: s.github_avatar_url,
        github_orgs: s.github_orgs,
        created_at: s.created_at,
        expires_at: s.expires_at,
      } satisfies z.infer<typeof Me>;
    },
  );
}
