/**
 * Verification of GitHub Actions OIDC ID tokens (the deploy endpoint's alternative to an `ee_live_` API key).
 *
 * New in v2 — v1 had no OIDC (attestation.md §11). Contract, following §11's "natural contract":
 * - issuer `https://token.actions.githubusercontent.com`, keys from `<issuer>/.well-known/jwks` (settings
 *   `github_oidc.issuer`, `github_oidc.jwks_url`), audience = setting `github_oidc.audience` (default `easyenclave`);
 *   the deploy action must request its token with exactly that audience (`core.getIDToken('easyenclave')`).
 * - RS256 only (what GitHub signs with); the allow-list is checked before any key is fetched, so `none`, HS256
 *   (key-confusion) and friends are refused without touching the network.
 * - `exp`, `iat`, `iss`, `aud` required; 60 s clock tolerance; `iat` may not lie in the future (beyond tolerance).
 * - `repository` and `repository_owner` required, and `repository` must sit under `repository_owner`.
 *
 * Ownership (decision, see `ownerIdentities`): the only identity a token proves is its `repository_owner` — the
 * user or organisation that owns the repository running the workflow. It is compared case-insensitively with
 * `agent.github_owner`, because GitHub logins are case-insensitive (`Octo-Org` and `octo-org` are the same account).
 * This deliberately differs from v1's exact, case-sensitive session matching (api.md §3).
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { z } from 'zod';
import type { SettingsReader } from '../settings/types';

/** Claims of a GitHub Actions OIDC token that easyenclave uses (all strings, as GitHub issues them). */
export interface GithubOidcClaims {
  iss: string;
  aud: string | string[];
  sub: string;
  exp: number;
  iat: number;
  /** `owner/name`. Required. */
  repository: string;
  /** Login of the user or organisation owning the repository. Required; the ownership identity. */
  repository_owner: string;
  /** Numeric id (as a string) of the owner; stable across renames. `''` if absent. */
  repository_owner_id: string;
  /** Numeric id (as a string) of the repository. `''` if absent. */
  repository_id: string;
  /** e.g. `refs/heads/main`, `refs/tags/v1`. `''` if absent. */
  ref: string;
  sha: string;
  workflow: string;
  /** e.g. `octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main`. */
  job_workflow_ref: string;
  /** Who triggered the run. Informational only — never used for ownership. */
  actor: string;
  event_name: string;
  /** Deployment environment of the job, when the job declares one. */
  environment?: string;
}

export type GithubOidcErrorCode =
  'malformed' | 'signature' | 'expired' | 'issuer' | 'audience' | 'algorithm' | 'claims' | 'jwks';

export type GithubOidcResult =
  { ok: true; claims: GithubOidcClaims } | { ok: false; code: GithubOidcErrorCode; error: string };

export interface VerifyGithubOidcOptions {
  /** Key resolver, normally `githubJwks(jwksUrl)` (a cached remote JWKS); tests may pass a local set. */
  jwks: JWTVerifyGetKey;
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (a token listing several audiences passes if one matches). */
  audience: string;
  /** Verification time; defaults to the current time. */
  now?: Date;
  /** Allowed JWS algorithms. Default `['RS256']`. */
  algorithms?: string[];
  /** Clock skew tolerated on exp/nbf/iat, seconds. Default 60. */
  clockToleranceSec?: number;
}

export const DEFAULT_GITHUB_OIDC_ALGORITHMS: readonly string[] = ['RS256'];
export const DEFAULT_CLOCK_TOLERANCE_SEC = 60;

const optionalString = z.string().optional().default('');
const claimsSchema = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  sub: optionalString,
  exp: z.number(),
  iat: z.number(),
  repository: z.string().min(1),
  repository_owner: z.string().min(1),
  repository_owner_id: optionalString,
  repository_id: optionalString,
  ref: optionalString,
  sha: optionalString,
  workflow: optionalString,
  job_workflow_ref: optionalString,
  actor: optionalString,
  event_name: optionalString,
  environment: z.string().optional(),
});

function fail(code: GithubOidcErrorCode, error: string): GithubOidcResult {
  return { ok: false, code, error };
}

/**
 * Cheap shape test used to route a bearer credential: a compact JWS (three dot-separated base64url segments whose
 * header starts with `{"`, i.e. `eyJ`). `ee_live_` API keys and session tokens never contain a dot. Says nothing
 * about validity.
 */
export function isJwtShaped(token: string): boolean {
  return /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

function joseCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function classify(err: unknown, jwksFailure: unknown): GithubOidcResult {
  const code = joseCode(err);
  if (code === 'ERR_JWKS_NO_MATCHING_KEY') return fail('signature', 'no published key matches the token (kid/alg)');
  if (err === jwksFailure) return fail('jwks', `cannot load GitHub OIDC keys: ${message(err)}`);
  switch (code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail('signature', 'signature verification failed');
    case 'ERR_JWT_EXPIRED':
      return fail('expired', 'token expired');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('algorithm', message(err));
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return fail('malformed', message(err));
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as { claim?: string }).claim;
      if (claim === 'iss') return fail('issuer', message(err));
      if (claim === 'aud') return fail('audience', message(err));
      return fail('claims', message(err));
    }
    default:
      // Anything else comes from key import/verification plumbing: treat as a key problem, never as success.
      return fail('jwks', message(err));
  }
}

/**
 * Verify a GitHub Actions OIDC token. Never throws: every refusal is `{ok:false, code, error}` so the caller can map
 * it to a 401 without a try/catch. `jwks` failures (GitHub unreachable, bad key set) are the only ones worth retrying.
 */
export async function verifyGithubOidcToken(
  token: string,
  options: VerifyGithubOidcOptions,
): Promise<GithubOidcResult> {
  const algorithms = options.algorithms ?? [...DEFAULT_GITHUB_OIDC_ALGORITHMS];
  const tolerance = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  const now = options.now ?? new Date();

  if (typeof token !== 'string' || !isJwtShaped(token)) return fail('malformed', 'not a compact JWT');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (err) {
    return fail('malformed', message(err));
  }
  // Refuse before fetching keys: `none`, HS256 (public-key-as-HMAC-secret confusion), ES*, etc.
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    return fail('algorithm', `algorithm ${JSON.stringify(alg)} not allowed`);
  }

  // Tag errors raised by the key resolver so a fetch failure is reported as `jwks`, not as a bad token.
  let jwksFailure: unknown;
  const getKey: JWTVerifyGetKey = async (header, jws) => {
    try {
      return await options.jwks(header, jws);
    } catch (err) {
      jwksFailure = err;
      throw err;
    }
  };
  const verifyOptions: JWTVerifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms,
    clockTolerance: tolerance,
    currentDate: now,
    requiredClaims: ['exp', 'iat'],
  };

  let payload: JWTPayload;
  try {
    payload = (await jwtVerify(token, getKey, verifyOptions)).payload;
  } catch (err) {
    if (joseCode(err) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') return classify(err, jwksFailure);
    // Token without a `kid` and several published keys: jose hands back the candidates; try each.
    const candidates = err as unknown as AsyncIterable<Parameters<typeof jwtVerify>[1]>;
    let last: unknown = err;
    let found: JWTPayload | undefined;
    for await (const key of candidates) {
      try {
        found = (await jwtVerify(token, key, verifyOptions)).payload;
        break;
      } catch (inner) {
        last = inner;
        if (joseCode(inner) !== 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') break;
      }
    }
    if (!found) return classify(last, jwksFailure);
    payload = found;
  }

  const nowSec = Math.floor(now.getTime() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > nowSec + tolerance) {
    return fail('claims', '"iat" claim is in the future');
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail('claims', `invalid claim ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`);
  }
  const claims = parsed.data;
  // GitHub always issues repository = "<repository_owner>/<name>"; anything else is not a token we understand.
  if (!claims.repository.toLowerCase().startsWith(`${claims.repository_owner.toLowerCase()}/`)) {
    return fail('claims', '"repository" is not owned by "repository_owner"');
  }
  const result: GithubOidcClaims = { ...claims };
  if (claims.environment === undefined) delete result.environment;
  return { ok: true, claims: result };
}

/**
 * Canonical form of a GitHub login for comparisons: trimmed, lower-cased. GitHub logins are ASCII
 * (alphanumerics and `-`) and case-insensitive, so this is exact.
 */
export function normalizeGithubLogin(login: string): string {
  return login.trim().toLowerCase();
}

/**
 * Identities an OIDC token may claim ownership with: just `[repository_owner]`, normalised (lower-case).
 *
 * - Org rule: a workflow in an organisation's repo acts as that organisation (owner = org login); a workflow in a
 *   personal repo acts as that user. There is no org-membership expansion — the token carries no membership list
 *   and `actor` (who pushed/triggered) is not the owner, so neither widens the set.
 * - Case: normalised with `normalizeGithubLogin`; compare with `isOwnedBy`, which normalises the other side too.
 */
export function ownerIdentities(claims: Pick<GithubOidcClaims, 'repository_owner'>): string[] {
  const owner = normalizeGithubLogin(claims.repository_owner);
  return owner ? [owner] : [];
}

/** Case-insensitive ownership check: `githubOwner` (e.g. `agent.github_owner`) is one of `identities`. Null → false. */
export function isOwnedBy(identities: readonly string[], githubOwner: string | null | undefined): boolean {
  if (!githubOwner) return false;
  const owner = normalizeGithubLogin(githubOwner);
  return owner !== '' && identities.some((id) => normalizeGithubLogin(id) === owner);
}

const jwksByUrl = new Map<string, JWTVerifyGetKey>();

/**
 * The remote JWKS for `url`, created once per URL and reused so jose's cache (10 min max age, 30 s cooldown
 * between refetches on unknown `kid`) actually works across requests. Keyed by URL so a settings change takes
 * effect on the next call.
 */
export function githubJwks(url: string, options: { timeoutMs?: number } = {}): JWTVerifyGetKey {
  const key = `${url}|${options.timeoutMs ?? ''}`;
  let set = jwksByUrl.get(key);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: options.timeoutMs ?? 5000 });
    jwksByUrl.set(key, set);
  }
  return set;
}

/** Verification options from settings `github_oidc.{jwks_url,issuer,audience}`. */
export async function githubOidcOptionsFromSettings(
  settings: SettingsReader,
): Promise<Pick<VerifyGithubOidcOptions, 'jwks' | 'issuer' | 'audience'>> {
  const [jwksUrl, issuer, audience] = await Promise.all([
    settings.get('github_oidc.jwks_url'),
    settings.get('github_oidc.issuer'),
    settings.get('github_oidc.audience'),
  ]);
  return { jwks: githubJwks(jwksUrl), issuer, audience };
}
