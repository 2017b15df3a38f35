/**
 * The app catalog (api.md §5, SEED "App Catalog"). Reads are public, as in v1. Writes are authenticated (guard
 * `catalog`): creating an app needs a deployer API key, a GitHub Actions OIDC token or an admin session, and the
 * creator's proven identities become its maintainers; publishing, deleting and maintainer changes need a
 * maintainer or an admin. A publish checks the compose (YAML, every image reference) before anything is written,
 * inserts a `pending` version and starts its `measure:` workflow, which owns the row from then on.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { LISTS, nextCursor, nextCursorField, pageQuery, pageRequest } from '../http/pagination';
import { ComposeError, MAX_COMPOSE_BYTES, decodeCompose, parseCompose } from '../../core/compose';
import { HttpError, conflict, forbidden, notFound, unauthorized, unprocessable } from '../http/errors';
import {
  createApp,
  deleteApp,
  getApp,
  getVersion,
  getVersionById,
  insertVersion,
  listApps,
  listAppsPage,
  listVersions,
  setMaintainers,
  type App,
  type AppVersion,
} from '../../core/stores/apps';
import { measurementWorkflowId } from '../../workflows/contracts/measurement';
import { catalogCaller, maintains } from '../catalog-caller';
import type { AppDeps } from '../deps';
import type { Guard, Routes } from '../http/route';
import { parseBearer } from '../http/bearer';
import { checkAgentSecret } from '../../core/auth/agent-secrets';
import { getAgent, getCredential } from '../../core/stores/agents';

const APP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const login = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'a GitHub login or organization');

const AppSchema = z.object({
  app_id: z.string(),
  name: z.string(),
  description: z.string(),
  source_repo: z.string().nullable(),
  maintainers: z.array(z.string()).describe('GitHub logins/orgs that maintain the app'),
  maintainer_accounts: z.array(z.string()).describe('Account ids that maintain the app'),
  tags: z.array(z.string()),
  created_at: z.string(),
});
const Ingress = z.object({ path: z.string().max(512).optional(), port: z.number().int().min(1).max(65535) });
const VersionSchema = z.object({
  version_id: z.string(),
  app_name: z.string(),
  version: z.string(),
  node_size: z.string(),
  compose: z.string().describe('Base64 compose as published'),
  pinned_compose: z.string().nullable().describe('Base64 compose with every image pinned to its digest'),
  image_digest: z.string().nullable(),
  source_commit: z.string().nullable(),
  source_tag: z.string().nullable(),
  mrtd: z.string().nullable(),
  attestation: z.record(z.string(), z.unknown()).nullable().describe('The measurement payload'),
  ingress: z.array(Ingress).nullable(),
  status: z.string().describe('pending → measured → published | rejected'),
  rejection_reason: z.string().nullable(),
  published_at: z.string(),
  measured_at: z.string().nullable(),
});
const NameParam = z.object({ name: z.string().min(1) });
const VersionParams = z.object({ name: z.string().min(1), version: z.string().min(1) });
const NodeSizeQuery = z.object({ node_size: z.string().default('') });

export const versionView = (v: AppVersion): z.infer<typeof VersionSchema> => ({ ...v });

function requireMaintainer(ctx: Context, app: App): void {
  if (!maintains(app, catalogCaller(ctx))) {
    throw forbidden(`Only a maintainer of '${app.name}' or an admin may do this`);
  }
}

/** HMAC-SHA256 of the raw body under the callback secret, as `sha256=<hex>`. */
export function measurementSignature(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function appRoutes(routes: Routes, deps: AppDeps): void {
  const requireApp = async (name: string) => {
    const app = await getApp(deps.db, name);
    if (!app) throw notFound('App not found');
    return app;
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/apps',
      summary: 'Register an app; the creator (deployer key, OIDC repository owner or admin) becomes its maintainer',
      tag: 'apps',
      auth: 'catalog',
      body: z
        .object({
          name: z
            .string()
            .regex(APP_NAME_RE, 'App name: letters, digits, . _ - (max 128, starting alphanumeric)')
            .describe('Letters, digits, . _ - (max 128, starting alphanumeric)'),
          description: z.string().max(4096).default(''),
          source_repo: z.string().max(1024).nullish(),
          maintainers: z.array(login).max(50).default([]).describe('Further GitHub logins/orgs to add as maintainers'),
          tags: z
            .array(z.string().regex(TAG_RE, 'a tag: letters, digits, . _ : + - (max 64, starting alphanumeric)'))
            .max(50)
            .default([]),
        })
        .meta({ example: { name: 'hello-web', description: 'A static page', tags: ['demo'] } }),
      responses: {
        200: { description: 'The app', schema: AppSchema },
        403: { description: 'Not a deployer key / admin' },
        409: { description: 'App already exists' },
        422: { description: 'Invalid name or fields' },
      },
    },
    async ({ body }, ctx) => {
      const caller = catalogCaller(ctx);
      if (caller.kind === 'api_key' && caller.accountType !== 'deployer') throw forbidden('Deployer API key required');
      if (caller.kind === 'session' && !caller.isAdmin) {
        throw forbidden('Creating an app needs a deployer API key, a GitHub Actions OIDC token or an admin session');
      }
      const name = body.name;
      const maintainers = [...new Set([...caller.identities, ...body.maintainers.map((m) => m.toLowerCase())])];
      const r = await createApp(
        deps.db,
        {
          name,
          description: body.description,
          source_repo: body.source_repo ?? null,
          maintainers,
          maintainer_accounts: caller.accountId ? [caller.accountId] : [],
          tags: [...new Set(body.tags)],
        },
        deps.now().toISOString(),
      );
      if ('error' in r) throw conflict(`App '${name}' already exists`);
      return r;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/apps',
      summary: 'List apps (name: case-insensitive substring; tags: comma list, any overlap)',
      tag: 'apps',
      auth: 'none',
      etag: true,
      query: z.object({ name: z.string().optional(), tags: z.string().optional(), ...pageQuery(LISTS.apps) }),
      responses: {
        200: {
          description: 'Apps in creation order',
          schema: z.object({ apps: z.array(AppSchema), total: z.number(), next_cursor: nextCursorField }),
          links: {
            GetApp: {
              operation: 'get /api/v1/apps/:name',
              parameters: { name: '$response.body#/apps/0/name' },
              description: 'The first app listed',
            },
            ListAppVersions: {
              operation: 'get /api/v1/apps/:name/versions',
              parameters: { name: '$response.body#/apps/0/name' },
            },
          },
        },
      },
    },
    async ({ query }) => {
      const tags = query.tags
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const page = pageRequest(query);
      if (!page) {
        const apps = await listApps(deps.db, { name: query.name, tags });
        return { apps, total: apps.length };
      }
      const p = await listAppsPage(deps.db, { name: query.name, tags }, page);
      return { apps: p.items, total: p.items.length, next_cursor: nextCursor(LISTS.apps, p) };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/apps/:name',
      summary: 'One app',
      tag: 'apps',
      auth: 'none',
      params: NameParam,
      responses: { 200: { description: 'App', schema: AppSchema }, 404: { description: 'App not found' } },
    },
    async ({ params }) => requireApp(params.name),
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/apps/:name',
      summary: 'Delete an app row (versions and revenue shares remain, as in v1); maintainer or admin',
      tag: 'apps',
      auth: 'catalog',
      params: NameParam,
      responses: {
        200: { description: 'Deleted', schema: z.object({ status: z.literal('deleted'), name: z.string() }) },
        401: { description: 'No credential' },
        403: { description: 'Not a maintainer' },
        404: { description: 'App not found' },
      },
    },
    async ({ params }, ctx) => {
      requireMaintainer(ctx, await requireApp(params.name));
      if (!(await deleteApp(deps.db, params.name))) throw notFound('App not found');
      return { status: 'deleted' as const, name: params.name };
    },
  );

  routes.add(
    {
      method: 'put',
      path: '/api/v1/apps/:name/maintainers',
      summary: 'Replace the maintainers of an app (maintainer or admin); a caller cannot remove itself',
      tag: 'apps',
      auth: 'catalog',
      params: NameParam,
      body: z.object({
        maintainers: z.array(login).max(50),
        maintainer_accounts: z.array(z.uuid()).max(50).optional(),
      }),
      responses: {
        200: { description: 'The app', schema: AppSchema },
        403: { description: 'Not a maintainer' },
        404: { description: 'App not found' },
        409: { description: 'The change would leave the app without maintainers, or lock the caller out' },
      },
    },
    async ({ params, body }, ctx) => {
      const app = await requireApp(params.name);
      requireMaintainer(ctx, app);
      const next = {
        maintainers: [...new Set(body.maintainers.map((m) => m.toLowerCase()))],
        maintainer_accounts: [...new Set(body.maintainer_accounts ?? app.maintainer_accounts)],
      };
      if (next.maintainers.length === 0 && next.maintainer_accounts.length === 0) {
        throw conflict('An app needs at least one maintainer');
      }
      if (!maintains(next, catalogCaller(ctx))) {
        throw conflict('This change would remove your own access; ask another maintainer or an admin');
      }
      return (await setMaintainers(deps.db, app.name, next))!;
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/apps/:name/versions',
      summary: 'Publish a version (maintainer or admin): checks the compose, then starts its measure: workflow',
      tag: 'apps',
      auth: 'catalog',
      params: NameParam,
      body: z.object({
        version: z
          .string()
          .regex(VERSION_RE, 'Version: letters, digits, . _ + - (max 128, starting alphanumeric)')
          .describe('Letters, digits, . _ + - (max 128, starting alphanumeric)'),
        compose: z
          .string()
          .regex(/\S/, 'Compose file is required (base64 encoded)')
          .describe('docker-compose YAML, as base64 (v1) or text; checked (YAML, services, image references) → 422'),
        node_size: z.string().max(32).default(''),
        image_digest: z.string().max(128).nullish(),
        source_commit: z.string().max(128).nullish(),
        source_tag: z.string().max(128).nullish(),
        ingress: z.array(Ingress).max(32).nullish(),
      }),
      responses: {
        200: {
          description: 'The pending version and its measurement workflow',
          schema: VersionSchema.extend({ measurement_workflow_id: z.string() }),
        },
        403: { description: 'Not a maintainer' },
        404: { description: 'App not found' },
        409: { description: 'The version (and node_size) already exists: versions are immutable' },
        422: { description: 'Compose is not YAML / has no services / an image reference cannot be parsed' },
      },
    },
    async ({ params, body }, ctx) => {
      const app = await requireApp(params.name);
      requireMaintainer(ctx, app);
      const version = body.version;
      const text = decodeCompose(body.compose);
      if (Buffer.byteLength(text) > MAX_COMPOSE_BYTES)
        throw unprocessable(`compose exceeds ${MAX_COMPOSE_BYTES} bytes`);
      try {
        parseCompose(text);
      } catch (err) {
        if (err instanceof ComposeError) throw unprocessable(err.message);
        throw err;
      }
      const v = await insertVersion(
        deps.db,
        {
          app_name: app.name,
          version,
          node_size: body.node_size,
          compose: Buffer.from(text, 'utf8').toString('base64'),
          image_digest: body.image_digest ?? null,
          source_commit: body.source_commit ?? null,
          source_tag: body.source_tag ?? null,
          ingress: body.ingress ?? null,
        },
        deps.now().toISOString(),
      );
      if ('error' in v) {
        const ns = body.node_size ? ` (node_size='${body.node_size}')` : '';
        throw conflict(`Version '${version}'${ns} already exists for app '${app.name}'`);
      }
      const ids = { versionId: v.version_id, appName: app.name, version, nodeSize: body.node_size };
      const workflowId = measurementWorkflowId(app.name, version, body.node_size);
      try {
        await deps.workflows.catalog.startMeasurement(ids);
      } catch (err) {
        // The version is stored; the measurement-sweep schedule starts it later under the same id.
        deps.logger.warn(`could not start ${workflowId} now (the sweep will): ${(err as Error).message}`);
      }
      return { ...versionView(v), measurement_workflow_id: workflowId };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/apps/:name/versions',
      summary: 'Versions of an app, newest first',
      tag: 'apps',
      auth: 'none',
      params: NameParam,
      responses: {
        200: {
          description: 'Versions',
          schema: z.object({ versions: z.array(VersionSchema), total: z.number() }),
          links: {
            GetAppVersion: {
              operation: 'get /api/v1/apps/:name/versions/:version',
              parameters: { name: '$request.path.name', version: '$response.body#/versions/0/version' },
              description: 'The newest version listed',
            },
          },
        },
        404: { description: 'App not found' },
      },
    },
    async ({ params }) => {
      await requireApp(params.name);
      const versions = (await listVersions(deps.db, params.name)).map(versionView);
      return { versions, total: versions.length };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/apps/:name/versions/:version',
      summary: 'One version (node_size variant, default the generic one)',
      tag: 'apps',
      auth: 'none',
      params: VersionParams,
      query: NodeSizeQuery,
      responses: { 200: { description: 'Version', schema: VersionSchema }, 404: { description: 'Not found' } },
    },
    async ({ params, query }) => {
      await requireApp(params.name);
      const v = await getVersion(deps.db, params.name, params.version, query.node_size);
      if (!v) throw notFound('Version not found');
      return versionView(v);
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/apps/:name/versions/:version/attest',
      summary: 'Manually attest a version (admin): → published; mrtd/attestation overwritten only when given',
      tag: 'apps',
      auth: 'admin',
      params: VersionParams,
      query: NodeSizeQuery,
      body: z
        .object({
          mrtd: z.string().max(256).nullish(),
          attestation: z.record(z.string(), z.unknown()).nullish(),
        })
        .optional(),
      responses: {
        200: {
          description: 'Attested',
          schema: z.object({ status: z.literal('attested'), version_id: z.string(), version_status: z.string() }),
        },
        404: { description: 'Version not found' },
      },
    },
    async ({ params, query, body }, ctx) => {
      const v = await getVersion(deps.db, params.name, params.version, query.node_size);
      if (!v) throw notFound('Version not found');
      const actor = ctx.state.session?.github_login ?? ctx.state.session?.auth_method ?? 'admin';
      const r = await deps.workflows.catalog.attest(
        {
          kind: 'manual',
          versionId: v.version_id,
          mrtd: body?.mrtd ?? null,
          attestation: body?.attestation ?? null,
          actor,
        },
        randomUUID(),
      );
      if (!r.found) throw notFound('Version not found');
      return { status: 'attested' as const, version_id: v.version_id, version_status: r.status };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/internal/measurement-callback',
      summary:
        'Result of an external measurer for a pending version; the body must carry X-Measurement-Signature (HMAC)',
      tag: 'apps',
      auth: 'measurement',
      body: z.object({
        version_id: z.string().min(1),
        status: z.string(),
        error: z.string().max(2000).nullish(),
        measurement: z.record(z.string(), z.unknown()).nullish(),
      }),
      responses: {
        200: { description: 'Applied', schema: z.object({ status: z.literal('ok'), version_status: z.string() }) },
        401: { description: 'Missing or wrong signature, or the callback is not configured' },
        404: { description: 'Version not found' },
        409: { description: 'The version is already measured (immutable)' },
      },
    },
    async ({ body }, ctx) => {
      const v = await getVersionById(deps.db, body.version_id);
      if (!v) throw notFound('Version not found');
      if (v.status !== 'pending') {
        throw conflict(`Version '${v.version}' is already ${v.status}; versions are immutable once measured`);
      }
      const r = await deps.workflows.catalog.attest(
        {
          kind: 'callback',
          versionId: v.version_id,
          success: body.status === 'success',
          error: body.error ?? null,
          measurement: body.measurement ?? null,
        },
        randomUUID(),
      );
      void ctx;
      return { status: 'ok' as const, version_status: r.status };
    },
  );
}

/** v1's measuring enclaves run as an app whose name starts with this (api.md §4.3). */
const MEASURER_APP_PREFIX = 'measuring-enclave';

/**
 * The `measurement` auth scheme (wired in api/app.ts), run before the route's validation like every guard: an
 * unauthenticated callback gets 401 and nothing else is looked at. Two credentials: `X-Measurement-Signature: sha256=<HMAC of the exact bytes received>` under
 * `operational.measurement_callback_secret`, or a measurer agent's control secret (`X-Agent-Id` +
 * `Authorization: Bearer <secret>`, the agent running a `measuring-enclave…` app).
 */
export function measurementCallbackGuard(deps: AppDeps): Guard {
  return async (ctx: Context) => {
    const agentId = ctx.get('x-agent-id');
    if (agentId && !ctx.get('x-measurement-signature')) {
      const agent = await getAgent(deps.db, agentId);
      const cred = agent ? await getCredential(deps.db, agentId) : undefined;
      const token = parseBearer(ctx.get('authorization')) ?? '';
      const isMeasurer = (agent?.deployed_app ?? '').startsWith(MEASURER_APP_PREFIX);
      if (
        !agent ||
        !cred ||
        !token ||
        !isMeasurer ||
        !(await checkAgentSecret(deps.db, deps.sealingKey, cred, token))
      ) {
        throw unauthorized('Invalid measurer agent credential');
      }
      return;
    }
    const secret = await deps.settings.get('operational.measurement_callback_secret');
    const given = ctx.get('x-measurement-signature');
    if (!secret) throw unauthorized('Measurement callback is not configured (operational.measurement_callback_secret)');
    if (!given) throw unauthorized('Missing X-Measurement-Signature');
    const want = Buffer.from(measurementSignature(secret, ctx.request.rawBody ?? Buffer.alloc(0)));
    const got = Buffer.from(given.trim());
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      throw new HttpError(401, 'Invalid X-Measurement-Signature', { 'WWW-Authenticate': 'HMAC-SHA256' });
    }
  };
}
