/**
 * createApp(deps): the Koa application without listen(), so tests drive app.callback()
 * and bin/ decides where it listens. Middleware order: errors → CORS → body → routes.
 */
import Router from '@koa/router';
import Koa from 'koa';
import { createGuards } from './auth';
import type { AppDeps } from './deps';
import { OpenApiRegistry } from './http/openapi';
import { Routes } from './http/route';
import { bodyMiddleware } from './middleware/body';
import { corsMiddleware } from './middleware/cors';
import { errorMiddleware } from './middleware/errors';
import { accountRoutes } from './routes/accounts';
import { billingRoutes } from './routes/billing';
import { revenueShareRoutes } from './routes/revenue-shares';
import { stripeRoutes } from './routes/stripe';
import { adminBillingRoutes } from './routes/admin-billing';
import { adminSettingsRoutes } from './routes/admin-settings';
import { agentControlRoutes } from './routes/agent-control';
import { agentRoutes } from './routes/agents';
import { agentAdminRoutes } from './routes/agents-admin';
import { attestationRoutes } from './routes/attestation';
import { authRoutes } from './routes/auth';
import { deployRoutes } from './routes/deploy';
import { docsRoutes } from './routes/docs';
import { githubAuthRoutes } from './routes/github-auth';
import { healthRoutes } from './routes/health';
import { logRoutes } from './routes/logs';
import { meRoutes } from './routes/me';
import { trustedMrtdRoutes } from './routes/trusted-mrtds';

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: true });
  const router = new Router();
  const registry = new OpenApiRegistry();
  const routes = new Routes(router, registry, createGuards(deps));

  healthRoutes(routes, deps);
  authRoutes(routes, deps);
  trustedMrtdRoutes(routes, deps);
  attestationRoutes(routes, deps);
  agentRoutes(routes, deps);
  agentControlRoutes(routes, deps);
  agentAdminRoutes(routes, deps);
  adminSettingsRoutes(routes, deps);
  adminBillingRoutes(routes, deps);
  logRoutes(routes, deps);
  accountRoutes(routes, deps);
  githubAuthRoutes(routes, deps);
  deployRoutes(routes, deps);
  meRoutes(routes, deps);
  billingRoutes(routes);
  revenueShareRoutes(routes, deps);
  stripeRoutes(routes, deps);
  docsRoutes(router, registry);

  app.use(errorMiddleware(deps.logger));
  app.use(corsMiddleware());
  app.use(bodyMiddleware(deps.config.api.bodyLimitBytes));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
