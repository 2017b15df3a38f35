/**
 * GitHub OAuth web flow for admin/self-service UI login (attestation.md §7.4, api.md §7).
 *
 * A client of an outside system, so it lives beside the activities; its one caller is the API's OAuth callback
 * (api/routes/github-auth.ts), a documented read-only pull (docs/design-notes.md "Import arrows"): the code
 * exchange and the profile/org reads answer the login request itself and change nothing at GitHub.
 *
 * Differences from v1, on purpose:
 * - `authorizeUrl` URL-encodes every parameter (v1 concatenated raw values).
 * - Base URLs are settings (`github_oauth.base_url`, `github_oauth.api_url`) so tests and GitHub Enterprise work.
 * - `/user/orgs` follows `Link: rel="next"` (up to 10 pages of 100) instead of reading page 1 only.
 * - A failing `/user/emails` does not fail the login: the email is display-only, so we fall back to the profile's
 *   public email (v1 failed the whole login). `/user` and the code exchange still fail hard.
 * - Every request has a timeout; the access token is only ever sent to `apiUrl`'s origin (pagination links
 *   pointing elsewhere are not followed).
 */
import type { SettingsReader } from '../core/settings/types';

export type GithubAuthErrorCode =
  /** Transport failure or timeout talking to GitHub. */
  | 'network'
  /** GitHub answered with a non-2xx status. */
  | 'http'
  /** GitHub's OAuth endpoint answered `{error: ...}` (bad_verification_code, incorrect_client_credentials, …). */
  | 'oauth'
  /** A 2xx answer we could not understand. */
  | 'invalid_response';

export class GithubAuthError extends Error {
  override readonly name = 'GithubAuthError';
  constructor(
    readonly code: GithubAuthErrorCode,
    message: string,
    /** HTTP status for `http`; the OAuth error string (e.g. `bad_verification_code`) for `oauth`. */
    readonly detail?: number | string,
  ) {
    super(message);
  }
}

export interface GithubProfile {
  id: number;
  login: string;
  email: string | null;
  avatar_url: string | null;
}

export interface GithubOAuthClientOptions {
  /** GitHub web base, e.g. `https://github.com` (authorize + access_token live here). */
  baseUrl: string;
  /** GitHub REST API base, e.g. `https://api.github.com`. */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Per-request timeout, ms. Default 10000. */
  timeoutMs?: number;
}

export interface GithubOAuthClient {
  /** Browser redirect target for the given state (all parameters URL-encoded). */
  authorizeUrl(state: string): string;
  /** Exchange the callback `code` for an access token. Throws `GithubAuthError`. */
  exchangeCode(code: string): Promise<string>;
  /** `/user` + `/user/emails`. Throws `GithubAuthError` when `/user` fails. */
  fetchProfile(accessToken: string): Promise<GithubProfile>;
  /** Org logins of the user (paginated). Never throws: any failure → `[]` (as v1). */
  fetchOrgs(accessToken: string): Promise<string[]>;
}

export const GITHUB_OAUTH_SCOPE = 'read:user user:email read:org';
export const MAX_ORG_PAGES = 10;
const ORGS_PER_PAGE = 100;
const USER_AGENT = 'easyenclave';

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Target of `rel="next"` in an RFC 8288 `Link` header, if any. */
export function nextLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    const rels = (m[2] ?? '')
      .split(';')
      .map((p) => /^\s*rel\s*=\s*"?([^"]*)"?\s*$/i.exec(p)?.[1])
      .filter((r): r is string => r !== undefined)
      .flatMap((r) => r.toLowerCase().split(/\s+/));
    if (rels.includes('next')) return m[1] ?? null;
  }
  return null;
}

export function createGithubOAuthClient(options: GithubOAuthClientOptions): GithubOAuthClient {
  const baseUrl = trimSlash(options.baseUrl);
  const apiUrl = trimSlash(options.apiUrl);
  const apiOrigin = new URL(apiUrl).origin;
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function request(url: string, init: RequestInit): Promise<Response> {
    try {
      return await doFetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const what =
        err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : String(err);
      throw new GithubAuthError('network', `GitHub request ${new URL(url).pathname} failed: ${what}`);
    }
  }

  async function json(res: Response, what: string): Promise<unknown> {
    if (!res.ok) {
      // Drain so the connection can be reused; content is not echoed (it may contain secrets).
      await res.text().catch(() => undefined);
      throw new GithubAuthError('http', `GitHub ${what} answered HTTP ${res.status}`, res.status);
    }
    try {
      return await res.json();
    } catch {
      throw new GithubAuthError('invalid_response', `GitHub ${what} did not return JSON`);
    }
  }

  function apiGet(pathOrUrl: string, accessToken: string): Promise<Response> {
    const url = pathOrUrl.startsWith('/') ? `${apiUrl}${pathOrUrl}` : pathOrUrl;
    return request(url, {
      method: 'GET',
      headers: {
        Authorization: `Bearer ${accessToken}`,
        Accept: 'application/vnd.github+json',
        'User-Agent': USER_AGENT,
      },
    });
  }

  return {
    authorizeUrl(state) {
      const params = [
        ['client_id', options.clientId],
        ['redirect_uri', options.redirectUri],
        ['scope', GITHUB_OAUTH_SCOPE],
        ['state', state],
      ]
        // encodeURIComponent: spaces become %20 (not '+'), unambiguous for every query decoder.
        .map(([k, v]) => `${k}=${encodeURIComponent(v ?? '')}`)
        .join('&');
      return `${baseUrl}/login/oauth/authorize?${params}`;
    },

    async exchangeCode(code) {
      const res = await request(`${baseUrl}/login/oauth/access_token`, {
        method: 'POST',
        headers: {
          Accept: 'application/json',
          'Content-Type': 'application/x-www-form-urlencoded',
          'User-Agent': USER_AGENT,
        },
        body: new URLSearchParams({
          client_id: options.clientId,
          client_secret: options.clientSecret,
          code,
          redirect_uri: options.redirectUri,
        }).toString(),
      });
      const body = await json(res, 'token exchange');
      if (typeof body !== 'object' || body === null) {
        throw new GithubAuthError('invalid_response', 'GitHub token exchange returned a non-object');
      }
      const b = body as Record<string, unknown>;
      // GitHub reports OAuth errors with HTTP 200 and an `error` field.
      if (b.error !== undefined && b.error !== null) {
        const error = String(b.error);
        const desc = typeof b.error_description === 'string' ? `: ${b.error_description}` : '';
        throw new GithubAuthError('oauth', `GitHub token exchange failed (${error})${desc}`, error);
      }
      if (typeof b.access_token !== 'string' || b.access_token === '') {
        throw new GithubAuthError('invalid_response', 'GitHub token exchange returned no access_token');
      }
      return b.access_token;
    },

    async fetchProfile(accessToken) {
      const user = await json(await apiGet('/user', accessToken), '/user');
      const u = (typeof user === 'object' && user !== null ? user : {}) as Record<string, unknown>;
      if (typeof u.id !== 'number' || !Number.isSafeInteger(u.id) || typeof u.login !== 'string' || u.login === '') {
        throw new GithubAuthError('invalid_response', 'GitHub /user lacks id or login');
      }
      const profileEmail = typeof u.email === 'string' && u.email !== '' ? u.email : null;
      let email = profileEmail;
      try {
        const emails = await json(await apiGet('/user/emails', accessToken), '/user/emails');
        if (Array.isArray(emails)) {
          const primary = emails.find(
            (e): e is { email: string } =>
              typeof e === 'object' &&
              e !== null &&
              e.primary === true &&
              e.verified === true &&
              typeof e.email === 'string',
          );
          if (primary) email = primary.email;
        }
      } catch {
        // Display-only field: keep the profile email rather than failing the login (see file header).
      }
      return {
        id: u.id,
        login: u.login,
        email,
        avatar_url: typeof u.avatar_url === 'string' && u.avatar_url !== '' ? u.avatar_url : null,
      };
    },

    async fetchOrgs(accessToken) {
      const orgs: string[] = [];
      let next: string | null = `/user/orgs?per_page=${ORGS_PER_PAGE}`;
      try {
        for (let page = 0; next && page < MAX_ORG_PAGES; page++) {
          const res = await apiGet(next, accessToken);
          const body = await json(res, '/user/orgs');
          if (!Array.isArray(body)) return [];
          for (const org of body) {
            if (typeof org === 'object' && org !== null && typeof org.login === 'string' && org.login !== '') {
              if (!orgs.includes(org.login)) orgs.push(org.login);
            }
          }
          const link = nextLink(res.headers.get('link'));
          // Never send the token to another host, whatever the Link header says.
          next = link && new URL(link, apiUrl).origin === apiOrigin ? new URL(link, apiUrl).href : null;
        }
        return orgs;
      } catch {
        return [];
      }
    },
  };
}

export interface GithubOAuthSettings {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  baseUrl: string;
  apiUrl: string;
  /** All of client id, secret and redirect URI non-empty (api.md §7 `/auth/methods` `github`). */
  configured: boolean;
}

/** Read `github_oauth.*` settings. */
export async function readGithubOAuthSettings(settings: SettingsReader): Promise<GithubOAuthSettings> {
  const [clientId, clientSecret, redirectUri, baseUrl, apiUrl] = await Promise.all([
    settings.get('github_oauth.client_id'),
    settings.get('github_oauth.client_secret'),
    settings.get('github_oauth.redirect_uri'),
    settings.get('github_oauth.base_url'),
    settings.get('github_oauth.api_url'),
  ]);
  return {
    clientId,
    clientSecret,
    redirectUri,
    baseUrl: baseUrl || 'https://github.com',
    apiUrl: apiUrl || 'https://api.github.com',
    configured: clientId !== '' && clientSecret !== '' && redirectUri !== '',
  };
}
