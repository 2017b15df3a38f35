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
import { adminSettingsRoutes } from './routes/admin-settings';
import { authRoutes } from './routes/auth';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { logRoutes } from './routes/logs';
import { trustedMrtdRoutes } from './routes/trusted-mrtds';

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: true });
  const router = new Router();
  const registry = new OpenApiRegistry();
  const routes = new Routes(router, registry, createGuards(deps));

  healthRoutes(routes, deps);
  authRoutes(routes, deps);
  trustedMrtdRoutes(routes, deps);
  adminSettingsRoutes(routes, deps);
  logRoutes(routes, deps);
  docsRoutes(router, registry);

  app.use(errorMiddleware(deps.logger));
  app.use(corsMiddleware());
  app.use(bodyMiddleware(deps.config.api.bodyLimitBytes));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
