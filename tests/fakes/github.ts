/**
 * Local fake of github.com (OAuth web flow), api.github.com (user, emails, orgs) and
 * token.actions.githubusercontent.com (OIDC JWKS + discovery) and the Actions runtime's ID-token endpoint (what
 * ACTIONS_ID_TOKEN_REQUEST_URL points at in a job with `permissions: id-token: write`), all on one 127.0.0.1 port.
 *
 *   const gh = await startFakeGithub();
 *   const code = gh.addUser({ login: 'octocat', orgs: ['octo-org'] });
 *   const token = await gh.signOidcToken({ repository: 'octo-org/app', repository_owner: 'octo-org' });
 *   ... point settings github_oauth.base_url / api_url at gh.url, github_oidc.jwks_url at gh.jwksUrl ...
 *   const job = gh.actionsJob({ repository: 'octo-org/app' });   // a job's runtime: the two env vars
 *   // GET job.requestUrl&audience=easyenclave, Authorization: Bearer job.requestToken → {"value": "<jwt>"}
 *   await gh.close();
 *
 * Tokens carry the real GitHub issuer by default (not this server's URL), so code under test is configured
 * exactly as in production except for the key URL.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, generateSecret } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import type { GithubOidcClaims } from '../../core/auth/github-oidc';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';
export const DEFAULT_AUDIENCE = 'easyenclave';
export const PUBLISHED_KID = 'fake-github-oidc-1';

export interface FakeGithubEmail {
  email: string;
  primary: boolean;
  verified: boolean;
  visibility?: 'public' | 'private' | null;
}

export interface AddUserInput {
  login: string;
  id?: number;
  /** Shorthand: becomes the single primary+verified entry of `/user/emails` (unless `emails` is given). */
  email?: string;
  /** Full `/user/emails` list; overrides `email`. */
  emails?: FakeGithubEmail[];
  /** `email` field of `/user` (the public profile email). Default null, as for most accounts. */
  publicEmail?: string | null;
  avatarUrl?: string | null;
  orgs?: string[];
}

interface FakeUser {
  login: string;
  id: number;
  emails: FakeGithubEmail[];
  publicEmail: string | null;
  avatarUrl: string | null;
  orgs: string[];
}

export interface FakeGithubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: string;
}

export type OidcTokenClaims = Partial<GithubOidcClaims> & {
  aud?: string | string[];
  iss?: string;
  [claim: string]: unknown;
};

export interface SignOidcOptions {
  /** exp = iat + expiresInSec. Default 300. Negative → already expired. */
  expiresInSec?: number;
  /** `published` (default) = the key in the JWKS; `unpublished` = a key nobody published (forgery). */
  key?: 'published' | 'unpublished';
  /** JWS alg. Default RS256; other algs sign with a fresh unpublished key of that type. */
  alg?: string;
  /** Header kid. Default the published kid — so an unpublished-key forgery must fail on the signature itself. */
  kid?: string;
  /** Token clock (iat), unix seconds. Default now. */
  nowSec?: number;
  /** Claims to leave out entirely (e.g. `['repository_owner']`). */
  omit?: string[];
}

export interface FakeGithubOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** Default `iss` of signed tokens and of the discovery document. */
  issuer?: string;
  /** Default `aud` of signed tokens. */
  audience?: string;
}

/** A job's OIDC runtime: the values of ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
export interface FakeActionsJob {
  requestUrl: string;
  requestToken: string;
  /** ID tokens minted for this job, in order, with the audience asked for. */
  minted: { audience: string | null; token: string }[];
}

export interface FakeGithub {
  /** Base URL of this server (serves as github.com, api.github.com and the OIDC issuer's host). */
  url: string;
  jwksUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  issuer: string;
  audience: string;
  /** Every request received, in order. */
  requests: FakeGithubRequest[];
  /** Register (or replace) a user; returns a one-time OAuth code for them. */
  addUser(user: AddUserInput): string;
  /** Another one-time code for an existing user. */
  issueCode(login: string): string;
  /**
   * The user the browser is signed in to GitHub as: `GET /login/oauth/authorize` then approves at once and redirects
   * to the redirect URI with a fresh code and the state, as github.com does for an app the user authorized before.
   * `null` (the default) answers the authorize page 401.
   */
  signInAs(login: string | null): void;
  /** A valid API access token for an existing user (skip the code exchange). */
  accessTokenFor(login: string): string;
  /** Make every request to `path` answer `status` (JSON `{message}`); `null` clears. */
  failPath(path: string, status: number | null): void;
  signOidcToken(claims?: OidcTokenClaims, opts?: SignOidcOptions): Promise<string>;
  /**
   * A job's ID-token runtime: `GET <requestUrl>&audience=<aud>` with `Authorization: Bearer <requestToken>` answers
   * `{"count": 1, "value": "<jwt>"}` signed with the published key, `aud` = the audience asked for (GitHub's
   * default without one: `https://github.com/<repository_owner>`), and these claims. Wrong bearer → 401.
   */
  actionsJob(claims?: OidcTokenClaims): FakeActionsJob;
  /** `alg: none` token with the same default claims. */
  unsignedToken(claims?: OidcTokenClaims): string;
  /** The published JWKS. */
  jwks(): { keys: JWK[] };
  close(): Promise<void>;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

export async function startFakeGithub(options: FakeGithubOptions = {}): Promise<FakeGithub> {
  const clientId = options.clientId ?? 'fake-client-id';
  const clientSecret = options.clientSecret ?? 'fake-client-secret';
  const redirectUri = options.redirectUri ?? 'http://127.0.0.1/auth/github/callback';
  const issuer = options.issuer ?? GITHUB_ACTIONS_ISSUER;
  const audience = options.audience ?? DEFAULT_AUDIENCE;

  const published = await generateKeyPair('RS256', { extractable: true });
  const unpublished = await generateKeyPair('RS256', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(published.publicKey)), kid: PUBLISHED_KID, alg: 'RS256', use: 'sig' };
  const otherAlgKeys = new Map<string, CryptoKey | Uint8Array>();

  const users = new Map<string, FakeUser>();
  const codes = new Map<string, string>(); // code → login (one-time)
  const tokens = new Map<string, string>(); // access token → login
  const failures = new Map<string, number>();
  const requests: FakeGithubRequest[] = [];
  const jobs = new Map<string, FakeActionsJob & { claims: OidcTokenClaims }>();
  let nextId = 1000;
  let url = '';
  let browserUser: string | null = null;

  function newCode(login: string): string {
    const code = randomBytes(10).toString('hex');
    codes.set(code, login);
    return code;
  }

  function newAccessToken(login: string): string {
    const token = `gho_${randomBytes(18).toString('base64url')}`;
    tokens.set(token, login);
    return token;
  }

  function bearerUser(req: IncomingMessage): FakeUser | undefined {
    // GitHub accepts both `Bearer` and `token` schemes.
    const m = /^(?:bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const login = m?.[1] ? tokens.get(m[1]) : undefined;
    return login ? users.get(login) : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    requests.push({ method, path: u.pathname, query: Object.fromEntries(u.searchParams), headers: req.headers, body });

    const failStatus = failures.get(u.pathname);
    if (failStatus !== undefined) return send(res, failStatus, { message: 'Injected failure' });

    if (method === 'GET' && u.pathname === '/login/oauth/authorize') {
      const q = u.searchParams;
      if (q.get('client_id') !== clientId) return send(res, 404, { message: 'Not Found' });
      if (!browserUser || !users.has(browserUser)) return send(res, 401, { message: 'Not signed in to GitHub' });
      const back = new URL(q.get('redirect_uri') ?? redirectUri);
      back.searchParams.set('code', newCode(browserUser));
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }

    if (method === 'POST' && u.pathname === '/login/oauth/access_token') {
      const ct = req.headers['content-type'] ?? '';
      const form: Record<string, string> = ct.includes('application/json')
        ? (JSON.parse(body || '{}') as Record<string, string>)
        : Object.fromEntries(new URLSearchParams(body));
      const wantsJson = (req.headers.accept ?? '').includes('application/json');
      // GitHub answers OAuth errors with HTTP 200; the format follows Accept (JSON or form-encoded).
      const reply = (payload: Record<string, string>): void => {
        if (wantsJson) return send(res, 200, payload);
        res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
        res.end(new URLSearchParams(payload).toString());
      };
      if (form.client_id !== clientId || form.client_secret !== clientSecret) {
        return reply({
          error: 'incorrect_client_credentials',
          error_description: 'The client_id and/or client_secret passed are incorrect.',
        });
      }
      if (form.redirect_uri !== undefined && form.redirect_uri !== redirectUri) {
        return reply({
          error: 'redirect_uri_mismatch',
          error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        });
      }
      const login = form.code ? codes.get(form.code) : undefined;
      if (!login || !form.code) {
        return reply({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      }
      codes.delete(form.code);
      return reply({
        access_token: newAccessToken(login),
        token_type: 'bearer',
        scope: 'read:org,read:user,user:email',
      });
    }

    if (method === 'GET' && u.pathname === '/user') {
      const user = bearerUser(req);
      if (!user) return send(res, 401, { message: 'Bad credentials' });
      return send(res, 200, {
        login: user.login,
        id: user.id,
        node_id: `U_${user.id}`,
        avatar_url: user.avatarUrl,
        type: 'User',
        name: user.login,
        email: user.publicEmail,
      });
    }

    if (method === 'GET' && u.pathname === '/user/emails') {
      const user = bearerUser(req);
      if (!user) return send(res, 401, { message: 'Bad credentials' });
      return send(
        res,
        200,
        user.emails.map((e) => ({ visibility: null, ...e })),
      );
    }

    if (method === 'GET' && u.pathname === '/user/orgs') {
      const user = bearerUser(req);
      if (!user) return send(res, 401, { message: 'Bad credentials' });
      const perPage = Math.min(100, Math.max(1, Number(u.searchParams.get('per_page') ?? 30) || 30));
      const page = Math.max(1, Number(u.searchParams.get('page') ?? 1) || 1);
      const lastPage = Math.max(1, Math.ceil(user.orgs.length / perPage));
      const slice = user.orgs.slice((page - 1) * perPage, page * perPage);
      const link = (p: number, rel: string): string => {
        const l = new URL('/user/orgs', url);
        l.searchParams.set('per_page', String(perPage));
        l.searchParams.set('page', String(p));
        return `<${l.href}>; rel="${rel}"`;
      };
      const links: string[] = [];
      if (page > 1) links.push(link(page - 1, 'prev'), link(1, 'first'));
      if (page < lastPage) links.push(link(page + 1, 'next'), link(lastPage, 'last'));
      return send(
        res,
        200,
        slice.map((login, i) => ({ login, id: 5000 + (page - 1) * perPage + i, url: `${url}/orgs/${login}` })),
        links.length ? { link: links.join(', ') } : {},
      );
    }

    const jobMatch = /^\/_apis\/distributedtask\/hubs\/Actions\/plans\/([^/]+)\/jobs\/([^/]+)\/idtoken$/.exec(
      u.pathname,
    );
    if (method === 'GET' && jobMatch) {
      const job = jobs.get(jobMatch[2]!);
      const m = /^bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (!job || m?.[1] !== job.requestToken) return send(res, 401, { message: 'Unauthorized' });
      if (u.searchParams.get('api-version') !== '2.0') return send(res, 400, { message: 'api-version=2.0 required' });
      const audience = u.searchParams.get('audience');
      const owner = job.claims.repository_owner ?? (job.claims.repository ?? 'octo-org/octo-repo').split('/')[0];
      const token = await signToken({ ...job.claims, aud: audience ?? `https://github.com/${owner}` }, {});
      job.minted.push({ audience, token });
      return send(res, 200, { count: 1, value: token });
    }

    if (method === 'GET' && u.pathname === '/.well-known/jwks') {
      return send(res, 200, { keys: [publicJwk] });
    }

    if (method === 'GET' && u.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer,
        jwks_uri: `${url}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_owner'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      });
    }

    return send(res, 404, { message: 'Not Found' });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { message: String(err) });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function defaultClaims(overrides: OidcTokenClaims, nowSec: number, expiresInSec: number): Record<string, unknown> {
    const repository = overrides.repository ?? 'octo-org/octo-repo';
    const owner = overrides.repository_owner ?? repository.split('/')[0] ?? 'octo-org';
    const ref = overrides.ref ?? 'refs/heads/main';
    return {
      jti: randomBytes(8).toString('hex'),
      sub: `repo:${repository}:ref:${ref}`,
      aud: audience,
      ref,
      sha: 'd6e5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b',
      repository,
      repository_owner: owner,
      repository_owner_id: '1000001',
      repository_visibility: 'private',
      repository_id: '2000002',
      run_id: '3000003',
      run_number: '7',
      run_attempt: '1',
      runner_environment: 'github-hosted',
      actor: 'octocat',
      actor_id: '583231',
      workflow: 'deploy',
      head_ref: '',
      base_ref: '',
      event_name: 'push',
      ref_type: 'branch',
      workflow_ref: `${repository}/.github/workflows/deploy.yml@${ref}`,
      job_workflow_ref: `${repository}/.github/workflows/deploy.yml@${ref}`,
      iss: issuer,
      nbf: nowSec - 5,
      iat: nowSec,
      exp: nowSec + expiresInSec,
      ...overrides,
    };
  }

  function buildClaims(claims: OidcTokenClaims, opts: SignOidcOptions): Record<string, unknown> {
    const nowSec = opts.nowSec ?? Math.floor(Date.now() / 1000);
    const all = defaultClaims(claims, nowSec, opts.expiresInSec ?? 300);
    for (const k of opts.omit ?? []) delete all[k];
    return all;
  }

  async function keyForAlg(alg: string): Promise<CryptoKey | Uint8Array> {
    let key = otherAlgKeys.get(alg);
    if (!key) {
      key = alg.startsWith('HS') ? await generateSecret(alg) : (await generateKeyPair(alg)).privateKey;
      otherAlgKeys.set(alg, key);
    }
    return key;
  }

  async function signToken(claims: OidcTokenClaims, opts: SignOidcOptions): Promise<string> {
    const alg = opts.alg ?? 'RS256';
    const key =
      alg !== 'RS256'
        ? await keyForAlg(alg)
        : opts.key === 'unpublished'
          ? unpublished.privateKey
          : published.privateKey;
    return new SignJWT(buildClaims(claims, opts))
      .setProtectedHeader({ alg, typ: 'JWT', kid: opts.kid ?? PUBLISHED_KID, x5t: 'fake' })
      .sign(key);
  }

  return {
    url,
    jwksUrl: `${url}/.well-known/jwks`,
    clientId,
    clientSecret,
    redirectUri,
    issuer,
    audience,
    requests,
    addUser(input) {
      const emails = input.emails ?? (input.email ? [{ email: input.email, primary: true, verified: true }] : []);
      users.set(input.login, {
        login: input.login,
        id: input.id ?? nextId++,
        emails,
        publicEmail: input.publicEmail ?? null,
        avatarUrl: input.avatarUrl === undefined ? `${url}/avatars/${input.login}.png` : input.avatarUrl,
        orgs: [...(input.orgs ?? [])],
      });
      return newCode(input.login);
    },
    signInAs(login) {
      browserUser = login;
    },
    issueCode(login) {
      if (!users.has(login)) throw new Error(`fake github: unknown user ${login}`);
      return newCode(login);
    },
    accessTokenFor(login) {
      if (!users.has(login)) throw new Error(`fake github: unknown user ${login}`);
      return newAccessToken(login);
    },
    failPath(path, status) {
      if (status === null) failures.delete(path);
      else failures.set(path, status);
    },
    signOidcToken(claims = {}, opts = {}) {
      return signToken(claims, opts);
    },
    actionsJob(claims = {}) {
      const jobId = randomBytes(6).toString('hex');
      const job = {
        claims,
        requestUrl: `${url}/_apis/distributedtask/hubs/Actions/plans/plan-${jobId}/jobs/${jobId}/idtoken?api-version=2.0`,
        requestToken: `runtime-${randomBytes(16).toString('hex')}`,
        minted: [] as { audience: string | null; token: string }[],
      };
      jobs.set(jobId, job);
      return job;
    },
    unsignedToken(claims = {}) {
      return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(buildClaims(claims, {}))}.`;
    },
    jwks() {
      return { keys: [publicJwk] };
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
