/**
 * createApp(deps): the Koa application without listen(), so tests drive app.callback()
 * and bin/ decides where it listens (through createRequestListener, which answers GET /health and the unpaginated
 * GET /api/v1/agents before Koa). Middleware order: request metrics → tracing span → request id → errors →
 * /metrics → GET /health (with CORS) → client IP → codec CORS → CORS → body → service proxy → allowed methods → routes.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { RequestListener } from 'node:http';
import { randomKeyRing } from '../core/auth/keyring';
import { AgentLists, agentListListener } from './agent-list';
import { createGuards } from './auth';
import type { AppDeps } from './deps';
import { OpenApiRegistry } from './http/openapi';
import { Routes } from './http/route';
import { allowedMethodsMiddleware } from './middleware/allowed-methods';
import { bodyMiddleware } from './middleware/body';
import { clientIpMiddleware } from './middleware/client-ip';
import { codecCorsMiddleware } from './middleware/codec-cors';
import { CORS_ORIGINS, corsMiddleware } from './middleware/cors';
import { errorMiddleware } from './middleware/errors';
import { metricsEndpointMiddleware, requestMetricsMiddleware } from './middleware/metrics';
import { requestIdMiddleware } from './middleware/request-id';
import { tracingMiddleware } from './middleware/tracing';
import { createRateLimiter, type RateLimiter } from './middleware/rate-limit';
import { SettingsSnapshot } from '../core/settings/snapshot';
import { type ChallengeIssuer, challengeIssuer, challengeListener } from './routes/challenge';
import { accountRoutes } from './routes/accounts';
import { appRoutes, measurementCallbackGuard } from './routes/apps';
import { catalogDeployRoutes } from './routes/catalog-deploy';
import { proxyInfoRoutes, proxyMiddleware } from './routes/proxy';
import { billingRoutes } from './routes/billing';
import { codecRoutes } from './routes/codec';
import { capacityRoutes } from './routes/capacity';
import { launcherRoutes } from './routes/launchers';
import { adminCloudRoutes } from './routes/admin-cloud';
import { revenueShareRoutes } from './routes/revenue-shares';
import { stripeRoutes } from './routes/stripe';
import { adminBillingRoutes } from './routes/admin-billing';
import { adminSettingsRoutes } from './routes/admin-settings';
import { agentControlRoutes } from './routes/agent-control';
import { agentRoutes } from './routes/agents';
import { agentAdminRoutes, agentUndeployRoutes } from './routes/agents-admin';
import { attestationRoutes } from './routes/attestation';
import { authRoutes } from './routes/auth';
import { deployRoutes } from './routes/deploy';
import { dashboardRoutes } from './routes/dashboard';
import { apiDocument, docsRoutes } from './routes/docs';
import { githubAuthRoutes } from './routes/github-auth';
import { VERSION, healthFastPath, healthListener, healthResponder, healthRoutes } from './routes/health';
import { logRoutes } from './routes/logs';
import { meRoutes } from './routes/me';
import { trustedMrtdRoutes } from './routes/trusted-mrtds';
import { webRoutes } from './routes/web';

/** Declares every route on `router` (and in the returned registry, which the OpenAPI document is built from). */
/** What the app holds for its lifetime beside deps: one per createApp, never module state. */
interface AppParts {
  health: ReturnType<typeof healthResponder>;
  agentLists: AgentLists;
  /** Every setting, renewed at most once per second (and at once after a change through this process). */
  settings: SettingsSnapshot;
  limiter: RateLimiter;
  challenge: ChallengeIssuer;
}

const appParts = (deps: AppDeps): AppParts => {
  const settings = new SettingsSnapshot(() => deps.settings);
  return {
    health: healthResponder(deps),
    agentLists: new AgentLists(deps, VERSION),
    settings,
    limiter: createRateLimiter(deps, settings),
    challenge: challengeIssuer(deps, settings),
  };
};

function mountRoutes(router: Router, deps: AppDeps, parts: AppParts = appParts(deps)): OpenApiRegistry {
  const registry = new OpenApiRegistry();
  const guards = {
    ...createGuards(deps),
    measurement: measurementCallbackGuard(deps),
    // The Stripe webhook verifies its signature itself (api/routes/stripe.ts): the raw body and the event are there.
    stripe: async () => {},
  };
  const routes = new Routes(router, registry, guards, parts.limiter);

  healthRoutes(routes, deps, parts.health);
  authRoutes(routes, deps);
  trustedMrtdRoutes(routes, deps);
  attestationRoutes(routes, deps);
  agentRoutes(routes, deps, parts.agentLists, parts.challenge);
  agentControlRoutes(routes, deps);
  agentAdminRoutes(routes, deps);
  adminSettingsRoutes(routes, deps);
  adminBillingRoutes(routes, deps);
  logRoutes(routes, deps);
  accountRoutes(routes, deps);
  githubAuthRoutes(routes, deps);
  const deploy = deployRoutes(routes, deps);
  agentUndeployRoutes(routes, deps);
  appRoutes(routes, deps);
  catalogDeployRoutes(routes, deps, deploy);
  proxyInfoRoutes(routes, deps);
  meRoutes(routes, deps);
  billingRoutes(routes);
  revenueShareRoutes(routes, deps);
  stripeRoutes(routes, deps);
  codecRoutes(routes, deps);
  capacityRoutes(routes, deps);
  launcherRoutes(routes, deps);
  adminCloudRoutes(routes, deps);
  dashboardRoutes(routes, deps);
  docsRoutes(router, registry);
  webRoutes(router);
  return registry;
}

export function createApp(deps: AppDeps): Koa {
  return buildApp(deps).app;
}

/**
 * The node:http request listener bin/ serves: GET/HEAD /health answered before Koa is entered (api/routes/health.ts
 * healthListener: prebuilt body, same headers, counted in easyenclave_health_requests_total), GET
 * /api/v1/agents/challenge (api/routes/challenge.ts challengeListener: same steps and answers) and GET/HEAD
 * /api/v1/agents without a query string (api/agent-list.ts agentListListener: the held body) unless tracing is on,
 * everything else — /health's other methods and CORS preflights included — by the Koa app.
 */
export function createRequestListener(deps: AppDeps): RequestListener {
  const { app, parts } = buildApp(deps);
  const koa = app.callback();
  if (deps.tracing) return koa;
  const health = healthListener(parts.health, {
    now: deps.now,
    origins: CORS_ORIGINS,
    counted: deps.metrics ? () => deps.metrics!.healthRequests.inc() : undefined,
  });
  const challenge = challengeListener({
    issue: parts.challenge,
    limiter: parts.limiter,
    settings: parts.settings,
    logger: deps.logger,
    origins: CORS_ORIGINS,
    metrics: deps.metrics,
  });
  const list = agentListListener(parts.agentLists, {
    origins: CORS_ORIGINS,
    observe: deps.metrics
      ? (method, status, seconds) =>
          deps.metrics!.httpDuration.observe({ method, route: '/api/v1/agents', status: String(status) }, seconds)
      : undefined,
    logError: (message, fields) => deps.logger.error(message, fields),
  });
  return (req, res) => {
    if (!health(req, res) && !challenge(req, res) && !list(req, res)) void koa(req, res);
  };
}

function buildApp(deps: AppDeps): { app: Koa; parts: AppParts } {
  // proxy off: X-Forwarded-For is believed only from api.trusted_proxies (api/middleware/client-ip.ts).
  const app = new Koa({ proxy: false });
  const router = new Router();
  const parts = appParts(deps);
  const registry = mountRoutes(router, deps, parts);

  // Outermost: the latency of every request, with its final status (after the error middleware mapped it).
  if (deps.metrics) app.use(requestMetricsMiddleware(deps.metrics));
  if (deps.tracing) app.use(tracingMiddleware(deps.tracing));
  app.use(requestIdMiddleware(deps.logger));
  app.use(errorMiddleware(deps.logger));
  if (deps.metrics) app.use(metricsEndpointMiddleware(deps, deps.metrics, createGuards(deps).admin));
  // A liveness probe needs no client IP, body, proxy or router: answered here (api/routes/health.ts).
  app.use(healthFastPath(parts.health, corsMiddleware()));
  app.use(clientIpMiddleware(parts.settings));
  app.use(codecCorsMiddleware(deps.settings));
  app.use(corsMiddleware());
  app.use(bodyMiddleware(deps.config.api.bodyLimitBytes));
  app.use(proxyMiddleware(deps, registry));
  app.use(allowedMethodsMiddleware());
  app.use(router.routes());
  return { app, parts };
}

/**
 * The document `/openapi.json` serves, built from the route declarations alone, so `npm run gen:client` and its
 * drift test need no running stack. Declaring routes reads nothing from deps but a sealing key (the codec route builds
 * its codec up front) and runs no handler; any other read fails loudly here rather than yield a wrong document.
 */
export function openApiDocument(): Record<string, unknown> {
  const known: Partial<AppDeps> = { sealingKey: randomKeyRing() };
  const deps = new Proxy(known, {
    get(target, key) {
      if (key in target) return target[key as keyof AppDeps];
      throw new Error(`openApiDocument: a route declaration read deps.${String(key)}`);
    },
  }) as AppDeps;
  return apiDocument(mountRoutes(new Router(), deps));
}
