/**
 * JWKS resolvers for Intel Trust Authority (I/O: fetches over HTTP). Kept apart from the pure verifier so workflow
 * code never imports it.
 */
import { HOUR_MS } from '../time';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

export interface JwksResolverOptions {
  /** How long a fetched key set is used before it is re-fetched. Default 3 600 000 ms (1 h, as v1). */
  cacheMaxAgeMs?: number;
  /** HTTP timeout for the JWKS fetch. Default 5000 ms (jose's default). */
  timeoutMs?: number;
  /**
   * Minimum time between two fetches triggered by an unknown `kid`. Default 30 000 ms (jose's default): an unknown
   * kid re-fetches once, then fails until the cooldown passes.
   */
  cooldownMs?: number;
}

export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = HOUR_MS;

/** A jose remote JWKS resolver for `url` (key selection by `kid`/`alg`, refetch on unknown kid built in). */
export function createJwksResolver(url: string, opts: JwksResolverOptions = {}): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), {
    cacheMaxAge: opts.cacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
    ...(opts.timeoutMs !== undefined ? { timeoutDuration: opts.timeoutMs } : {}),
    ...(opts.cooldownMs !== undefined ? { cooldownDuration: opts.cooldownMs } : {}),
  });
}

/**
 * One resolver per JWKS URL, owned by whoever instantiates it (no module-level state). When the
 * `intel_ta.jwks_url` setting changes, `get(newUrl)` returns a fresh resolver; resolvers for URLs no longer in use
 * are evicted oldest-first beyond `maxEntries`.
 */
export class JwksCache {
  private readonly resolvers = new Map<string, JWTVerifyGetKey>();
  private readonly opts: JwksResolverOptions;
  private readonly maxEntries: number;

  constructor(opts: JwksResolverOptions & { maxEntries?: number } = {}) {
    const { maxEntries, ...rest } = opts;
    this.opts = rest;
    this.maxEntries = Math.max(1, maxEntries ?? 4);
  }

  get(url: string): JWTVerifyGetKey {
    const key = url.trim();
    const hit = this.resolvers.get(key);
    if (hit) {
      // refresh recency
      this.resolvers.delete(key);
      this.resolvers.set(key, hit);
      return hit;
    }
    const resolver = createJwksResolver(key, this.opts);
    this.resolvers.set(key, resolver);
    while (this.resolvers.size > this.maxEntries) {
      const oldest = this.resolvers.keys().next().value as string;
      this.resolvers.delete(oldest);
    }
    return resolver;
  }

  /** Number of cached resolvers (for tests/diagnostics). */
  get size(): number {
    return this.resolvers.size;
  }

  clear(): void {
    this.resolvers.clear();
  }
}
