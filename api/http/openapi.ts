/**
 * Collects every route's declared schemas and renders them as an OpenAPI 3.0 document.
 * One instance per app (created in createApp), never module state.
 */
import { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
export type AuthScheme =
  | 'none'
  | 'session'
  | 'admin'
  | 'apiKey'
  | 'agent'
  | 'oidc'
  | 'launcherKey'
  | 'stripe'
  /** API key OR GitHub Actions OIDC token (deploy). */
  | 'deployer'
  /** Session, API key or GitHub Actions OIDC token, required (owner-scoped reads such as agent logs). */
  | 'caller'
  /** Like `caller` but optional: anonymous callers see the public part only. */
  | 'viewer'
  /** API key, GitHub Actions OIDC token OR session (app catalog writes: who maintains is decided per app). */
  | 'catalog'
  /** An external measurer's callback: X-Measurement-Signature (HMAC of the body), or a measurer agent's secret. */
  | 'measurement';

/**
 * An OpenAPI link: how a value in this response feeds another operation (a list's first item → the item
 * operation), so generated clients and stateful testers can walk from one to the other.
 */
export interface LinkSpec {
  /** The target operation as `<method> <path as declared>`, e.g. `get /api/v1/agents/:agent_id`. */
  operation: `${HttpMethod} ${string}`;
  /** Target parameter name → runtime expression, e.g. `{ agent_id: '$response.body#/agents/0/agent_id' }`. */
  parameters: Record<string, string>;
  description?: string;
}

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
  /** Links by name (OpenAPI `links`); the target must be a declared route, or the document refuses to build. */
  links?: Record<string, LinkSpec>;
}

export interface RouteDoc {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: AuthScheme | AuthScheme[];
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, ResponseSpec>;
}

const SECURITY: Record<Exclude<AuthScheme, 'none'>, string | string[]> = {
  session: 'adminSession',
  admin: 'adminSession',
  apiKey: 'apiKey',
  launcherKey: 'launcherKey',
  agent: 'agentSecret',
  oidc: 'githubOidc',
  deployer: ['apiKey', 'githubOidc'],
  caller: ['adminSession', 'apiKey', 'githubOidc'],
  viewer: ['adminSession', 'apiKey', 'githubOidc'],
  catalog: ['apiKey', 'githubOidc', 'adminSession'],
  stripe: 'stripeSignature',
  measurement: ['measurementSignature', 'agentSecret'],
};

/** Shared error responses (`#/components/responses/<name>`), all with the `{detail}` body. */
const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'BadRequest', description: 'Malformed request (e.g. JSON that does not parse)' },
  401: { name: 'Unauthorized', description: 'Missing or invalid credentials' },
  403: { name: 'Forbidden', description: 'Authenticated but not allowed' },
  404: { name: 'NotFound', description: 'No such resource' },
  405: { name: 'MethodNotAllowed', description: 'Method not allowed on this path (see the Allow header)' },
  409: { name: 'Conflict', description: 'Conflicts with the current state' },
  413: { name: 'PayloadTooLarge', description: 'Request body over the size limit' },
  422: { name: 'ValidationError', description: 'Invalid input: a list of {type, loc, msg} (or a message)' },
  429: { name: 'TooManyRequests', description: 'Rate limited: retry after the Retry-After header' },
  503: { name: 'ServiceUnavailable', description: 'A dependency (Temporal, an integration) is unavailable' },
};

/**
 * Error statuses every operation of this shape can answer, whatever its handler declares: credentials (401/403),
 * path ids (404), bodies (400 malformed JSON, 413, 422), any input (422), and the orchestrator (503). Declared
 * responses win (they carry a route-specific description).
 */
function defaultErrors(r: RouteDoc): number[] {
  const auths = (Array.isArray(r.auth) ? r.auth : [r.auth]).filter((a) => a !== 'none');
  const out = new Set<number>([503]);
  if (auths.length > 0) out.add(401);
  // Signatures (Stripe, measurer) are valid or not: 401 only. An optional credential never forbids.
  if (auths.some((a) => a !== 'viewer' && a !== 'stripe' && a !== 'measurement')) out.add(403);
  if (r.params) out.add(404).add(422);
  if (r.query) out.add(422);
  if (r.body) out.add(400).add(413).add(422);
  return [...out];
}

const toJson = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;

/** `/a/:id` → `/a/{id}` */
export const openApiPath = (koaPath: string) => koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** `get /api/v1/agents/:agent_id` → `getApiV1AgentsAgentId` (stable: clients are generated from it). */
export const operationId = (method: HttpMethod, path: string) =>
  `${method}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;

export class OpenApiRegistry {
  private readonly routes: RouteDoc[] = [];

  add(route: RouteDoc): void {
    this.routes.push(route);
  }

  list(): readonly RouteDoc[] {
    return this.routes;
  }

  document(info: { title: string; version: string; description?: string }): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    const declared = new Map(this.routes.map((r) => [`${r.method} ${r.path}`, r]));
    const linksOf = (owner: RouteDoc, links: Record<string, LinkSpec>) =>
      Object.fromEntries(
        Object.entries(links).map(([name, l]) => {
          const target = declared.get(l.operation);
          if (!target) throw new Error(`${owner.method} ${owner.path}: link ${name} targets undeclared ${l.operation}`);
          const known = new Set([
            ...Object.keys(target.params?.shape ?? {}),
            ...Object.keys(target.query?.shape ?? {}),
          ]);
          for (const p of Object.keys(l.parameters)) {
            if (!known.has(p))
              throw new Error(`${owner.method} ${owner.path}: link ${name} sets unknown parameter ${p}`);
          }
          return [
            name,
            {
              operationId: operationId(target.method, target.path),
              parameters: l.parameters,
              ...(l.description ? { description: l.description } : {}),
            },
          ];
        }),
      );
    for (const r of this.routes) {
      const parameters: unknown[] = [];
      for (const [where, schema] of [
        ['path', r.params],
        ['query', r.query],
      ] as const) {
        if (!schema) continue;
        for (const [name, field] of Object.entries(schema.shape)) {
          const f = field as z.ZodType;
          parameters.push({
            name,
            in: where,
            required: where === 'path' || !f.safeParse(undefined).success,
            description: f.description,
            schema: toJson(f, 'input'),
          });
        }
      }
      const auths = (Array.isArray(r.auth) ? r.auth : [r.auth]).filter((a) => a !== 'none');
      const op: Record<string, unknown> = {
        summary: r.summary,
        tags: [r.tag],
        operationId: operationId(r.method, r.path),
        parameters,
        responses: {
          ...Object.fromEntries(
            defaultErrors(r).map((status) => [
              String(status),
              { $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` },
            ]),
          ),
          ...Object.fromEntries(
            Object.entries(r.responses).map(([status, spec]) => [
              status,
              {
                description: spec.description,
                ...(spec.schema
                  ? { content: { [spec.contentType ?? 'application/json']: { schema: toJson(spec.schema, 'output') } } }
                  : Number(status) >= 400
                    ? { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
                    : {}),
                ...(spec.links ? { links: linksOf(r, spec.links) } : {}),
              },
            ]),
          ),
        },
      };
      if (r.body) {
        // A body whose schema accepts "nothing" (every field optional with a default, e.g. an admin re-run) may be
        // left out: the document says so instead of claiming every body is required.
        op.requestBody = {
          required: !r.body.safeParse(undefined).success,
          content: { 'application/json': { schema: toJson(r.body, 'input') } },
        };
      }
      if (auths.length > 0) {
        op.security = [...new Set(auths.flatMap((a) => SECURITY[a as Exclude<AuthScheme, 'none'>]))].map((s) => ({
          [s]: [],
        }));
        // An optional credential: the empty requirement says anonymous calls are allowed too.
        if (auths.includes('viewer')) (op.security as unknown[]).push({});
      }
      const path = openApiPath(r.path);
      paths[path] = { ...paths[path], [r.method]: op };
    }
    return {
      openapi: '3.0.3',
      info,
      paths,
      components: {
        schemas: {
          Error: {
            type: 'object',
            required: ['detail'],
            properties: {
              detail: {
                description: 'Human-readable message, or a list of validation issues',
                oneOf: [
                  { type: 'string' },
                  {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['type', 'loc', 'msg'],
                      properties: {
                        type: { type: 'string' },
                        loc: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
                        msg: { type: 'string' },
                      },
                    },
                  },
                ],
              },
            },
          },
        },
        responses: Object.fromEntries(
          Object.values(ERROR_RESPONSES).map(({ name, description }) => [
            name,
            { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          ]),
        ),
        securitySchemes: {
          adminSession: {
            type: 'http',
            scheme: 'bearer',
            description: 'Admin/GitHub session token from POST /admin/login or /auth/github/callback',
          },
          apiKey: { type: 'http', scheme: 'bearer', description: 'Account API key (ee_live_…)' },
          launcherKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'API key (ee_live_…) of an account of type launcher: claims and reports capacity orders',
          },
          agentSecret: {
            type: 'http',
            scheme: 'bearer',
            description: 'Per-agent control secret issued at registration',
          },
          githubOidc: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'GitHub Actions OIDC token' },
          measurementSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Measurement-Signature',
            description: 'sha256=<hex HMAC-SHA-256 of the raw body under operational.measurement_callback_secret>',
          },
          stripeSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'stripe-signature',
            description: 'Stripe webhook signature (t=…,v1=…: HMAC-SHA-256 of the raw body under the webhook secret)',
          },
        },
      },
    };
  }
}
