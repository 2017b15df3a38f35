/**
 * Route declaration: one spec drives auth, validation, the handler's input types and the
 * OpenAPI document. Order per request: auth (401/403) → params/query/body validation
 * (422) → handler, as v1 did.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { type z } from 'zod';
import { HttpError, type ValidationIssue } from './errors';
import { NOT_MODIFIED, respondWithEtag } from './etag';
import type { RateLimitSetting } from '../../core/rate-limit';
import type { RateLimiter } from '../middleware/rate-limit';
import type { AuthScheme, HttpMethod, OpenApiRegistry, ResponseSpec } from './openapi';

export type Guard = (ctx: Context) => Promise<void>;
export type Guards = Record<AuthScheme, Guard>;

export interface RouteSpec<
  P extends z.ZodObject | undefined,
  Q extends z.ZodObject | undefined,
  B extends z.ZodType | undefined,
> {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  auth: AuthScheme;
  params?: P;
  query?: Q;
  body?: B;
  responses: Record<number, ResponseSpec>;
  /** Per-client-IP limit (the setting that holds it), checked before auth and validation. */
  rateLimit?: RateLimitSetting;
  /**
   * A weak `ETag` on the 200 answer and `304 Not Modified` (no body) for a request whose `If-None-Match` names it
   * (api/http/etag.ts). For hot reads: a client polling an unchanged list pays neither the transfer nor its parse.
   */
  etag?: boolean;
}

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface HandlerInput<P, Q, B> {
  params: Out<P>;
  query: Out<Q>;
  body: Out<B>;
}

/** A zod error as the v1/FastAPI 422 detail list (`loc` starts with where the value came from). */
export function issuesOf(where: string, error: z.ZodError): ValidationIssue[] {
  return error.issues.map((i) => ({
    type: i.code,
    loc: [where, ...i.path.filter((p): p is string | number => typeof p !== 'symbol')],
    msg: i.message,
  }));
}

export class Routes {
  constructor(
    private readonly router: Router,
    private readonly registry: OpenApiRegistry,
    private readonly guards: Partial<Guards>,
    private readonly limiter?: RateLimiter,
  ) {}

  add<
    P extends z.ZodObject | undefined = undefined,
    Q extends z.ZodObject | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
  >(
    spec: RouteSpec<P, Q, B>,
    handler: (input: HandlerInput<P, Q, B>, ctx: Context) => Promise<unknown> | unknown,
  ): void {
    const guard = this.guards[spec.auth];
    if (!guard) throw new Error(`No guard for auth scheme ${spec.auth} (${spec.method} ${spec.path})`);
    const limiter = this.limiter;
    if (spec.rateLimit && !limiter) throw new Error(`No rate limiter for ${spec.method} ${spec.path}`);
    const responses: Record<number, ResponseSpec> = { ...spec.responses };
    if (spec.etag) responses[304] = { description: NOT_MODIFIED };
    if (spec.rateLimit) responses[429] = { description: 'Rate limit exceeded (see Retry-After)' };
    this.registry.add({ ...spec, responses });
    this.router[spec.method](spec.path, async (ctx) => {
      if (spec.rateLimit) await limiter!.perIp(spec.rateLimit, ctx);
      await guard(ctx);
      const issues: ValidationIssue[] = [];
      const parse = (where: string, schema: z.ZodType | undefined, value: unknown) => {
        if (!schema) return undefined;
        const r = schema.safeParse(value);
        if (!r.success) {
          issues.push(...issuesOf(where, r.error));
          return undefined;
        }
        return r.data;
      };
      const params = parse('path', spec.params, ctx.params);
      const query = parse('query', spec.query, ctx.query);
      const rawBody = (ctx.request as { body?: unknown }).body;
      const body = spec.body ? parse('body', spec.body, rawBody) : undefined;
      if (issues.length > 0) throw new HttpError(422, issues);
      const result = await handler({ params, query, body } as HandlerInput<P, Q, B>, ctx);
      if (result === undefined) return;
      if (spec.etag) respondWithEtag(ctx, result);
      else ctx.body = result;
    });
  }
}
