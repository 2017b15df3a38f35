import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGithubOAuthClient,
  GithubAuthError,
  GITHUB_OAUTH_SCOPE,
  nextLink,
  readGithubOAuthSettings,
} from '../../clients/github-oauth-client';
import type { GithubOAuthClient } from '../../clients/github-oauth-client';
import { startFakeGithub } from '../fakes/github';
import type { FakeGithub } from '../fakes/github';

let gh: FakeGithub;
let client: GithubOAuthClient;

beforeAll(async () => {
  gh = await startFakeGithub({ redirectUri: 'https://cp.example/auth/github/callback?x=1&y=2' });
  client = createGithubOAuthClient({
    baseUrl: gh.url,
    apiUrl: gh.url,
    clientId: gh.clientId,
    clientSecret: gh.clientSecret,
    redirectUri: gh.redirectUri,
  });
});
afterAll(async () => {
  await gh.close();
});

describe('authorizeUrl', () => {
  it('URL-encodes every parameter', () => {
    const c = createGithubOAuthClient({
      baseUrl: 'https://github.com/',
      apiUrl: 'https://api.github.com',
      clientId: 'id&evil=1',
      clientSecret: 's',
      redirectUri: 'https://cp.example/cb?a=1&b=2#frag',
    });
    const raw = c.authorizeUrl('st+a/te=&x');
    expect(raw.startsWith('https://github.com/login/oauth/authorize?')).toBe(true);
    const query = raw.split('?')[1]!;
    expect(query.split('&')).toHaveLength(4);
    expect(raw).not.toContain(' ');
    expect(raw).not.toContain('#');
    expect(query).toContain('scope=read%3Auser%20user%3Aemail%20read%3Aorg');
    const u = new URL(raw);
    expect(u.searchParams.get('client_id')).toBe('id&evil=1');
    expect(u.searchParams.get('redirect_uri')).toBe('https://cp.example/cb?a=1&b=2#frag');
    expect(u.searchParams.get('scope')).toBe(GITHUB_OAUTH_SCOPE);
    expect(u.searchParams.get('state')).toBe('st+a/te=&x');
    expect(u.searchParams.has('evil')).toBe(false);
  });
});

describe('code exchange, profile, orgs against the fake', () => {
  it('runs the full flow', async () => {
    const code = gh.addUser({ login: 'octocat', id: 583231, email: 'octo@example.com', orgs: ['octo-org', 'acme'] });
    const token = await client.exchangeCode(code);
    expect(token).toMatch(/^gho_/);

    const exchange = gh.requests.find((r) => r.path === '/login/oauth/access_token')!;
    expect(exchange.method).toBe('POST');
    expect(exchange.headers.accept).toBe('application/json');
    expect(exchange.headers['content-type']).toContain('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(exchange.body))).toEqual({
      client_id: gh.clientId,
      client_secret: gh.clientSecret,
      code,
      redirect_uri: gh.redirectUri,
    });

    const profile = await client.fetchProfile(token);
    expect(profile).toEqual({
      id: 583231,
      login: 'octocat',
      email: 'octo@example.com',
      avatar_url: `${gh.url}/avatars/octocat.png`,
    });
    const userReq = gh.requests.find((r) => r.path === '/user')!;
    expect(userReq.headers.authorization).toBe(`Bearer ${token}`);
    expect(userReq.headers['user-agent']).toBeTruthy();

    expect(await client.fetchOrgs(token)).toEqual(['octo-org', 'acme']);
  });

  it('a code is one-time', async () => {
    const code = gh.addUser({ login: 'once' });
    await client.exchangeCode(code);
    await expect(client.exchangeCode(code)).rejects.toMatchObject({ code: 'oauth', detail: 'bad_verification_code' });
  });

  it('follows orgs pagination', async () => {
    const orgs = Array.from({ length: 250 }, (_, i) => `org-${i}`);
    gh.addUser({ login: 'joiner', orgs });
    const token = gh.accessTokenFor('joiner');
    const before = gh.requests.length;
    expect(await client.fetchOrgs(token)).toEqual(orgs);
    const pages = gh.requests.slice(before).filter((r) => r.path === '/user/orgs');
    expect(pages.map((p) => p.query.page ?? '1')).toEqual(['1', '2', '3']);
    expect(pages.every((p) => p.query.per_page === '100')).toBe(true);
  });

  it('stops after 10 pages', async () => {
    const orgs = Array.from({ length: 1200 }, (_, i) => `o${i}`);
    gh.addUser({ login: 'hoarder', orgs });
    expect(await client.fetchOrgs(gh.accessTokenFor('hoarder'))).toHaveLength(1000);
  });

  it('returns [] when orgs cannot be fetched', async () => {
    gh.addUser({ login: 'lonely', orgs: ['x'] });
    const token = gh.accessTokenFor('lonely');
    gh.failPath('/user/orgs', 500);
    try {
      expect(await client.fetchOrgs(token)).toEqual([]);
    } finally {
      gh.failPath('/user/orgs', null);
    }
    expect(await client.fetchOrgs('gho_not-a-token')).toEqual([]);
    expect(await client.fetchOrgs(token)).toEqual(['x']);
  });

  it('rejects a bad code with GithubAuthError', async () => {
    const err = await client.exchangeCode('not-a-code').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GithubAuthError);
    expect(err).toMatchObject({ code: 'oauth', detail: 'bad_verification_code' });
    expect((err as Error).message).toContain('bad_verification_code');
  });

  it('rejects wrong client credentials and a mismatched redirect_uri', async () => {
    const code = gh.addUser({ login: 'creds' });
    const wrongSecret = createGithubOAuthClient({
      baseUrl: gh.url,
      apiUrl: gh.url,
      clientId: gh.clientId,
      clientSecret: 'nope',
      redirectUri: gh.redirectUri,
    });
    await expect(wrongSecret.exchangeCode(code)).rejects.toMatchObject({ detail: 'incorrect_client_credentials' });
    const wrongRedirect = createGithubOAuthClient({
      baseUrl: gh.url,
      apiUrl: gh.url,
      clientId: gh.clientId,
      clientSecret: gh.clientSecret,
      redirectUri: 'https://elsewhere.example/cb',
    });
    await expect(wrongRedirect.exchangeCode(code)).rejects.toMatchObject({ detail: 'redirect_uri_mismatch' });
  });

  it('maps HTTP and network failures to GithubAuthError', async () => {
    gh.failPath('/login/oauth/access_token', 502);
    try {
      await expect(client.exchangeCode('x')).rejects.toMatchObject({
        name: 'GithubAuthError',
        code: 'http',
        detail: 502,
      });
    } finally {
      gh.failPath('/login/oauth/access_token', null);
    }
    await expect(client.fetchProfile('gho_bad')).rejects.toMatchObject({ code: 'http', detail: 401 });

    const down = createGithubOAuthClient({
      baseUrl: 'http://127.0.0.1:1',
      apiUrl: 'http://127.0.0.1:1',
      clientId: 'a',
      clientSecret: 'b',
      redirectUri: 'c',
    });
    await expect(down.exchangeCode('x')).rejects.toBeInstanceOf(GithubAuthError);
    await expect(down.fetchProfile('t')).rejects.toMatchObject({ code: 'network' });
  });

  it('times out', async () => {
    const hanging: typeof fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const slow = createGithubOAuthClient({
      baseUrl: gh.url,
      apiUrl: gh.url,
      clientId: 'a',
      clientSecret: 'b',
      redirectUri: 'c',
      fetch: hanging,
      timeoutMs: 50,
    });
    await expect(slow.exchangeCode('x')).rejects.toMatchObject({ code: 'network', message: /timed out/ });
  });
});

describe('email selection', () => {
  async function profileOf(input: Parameters<FakeGithub['addUser']>[0]) {
    gh.addUser(input);
    return client.fetchProfile(gh.accessTokenFor(input.login));
  }

  it('prefers the primary verified address over the profile email', async () => {
    const p = await profileOf({
      login: 'e1',
      publicEmail: 'public@example.com',
      emails: [
        { email: 'other@example.com', primary: false, verified: true },
        { email: 'primary@example.com', primary: true, verified: true },
      ],
    });
    expect(p.email).toBe('primary@example.com');
  });

  it('falls back to the profile email when the primary is unverified', async () => {
    const p = await profileOf({
      login: 'e2',
      publicEmail: 'public@example.com',
      emails: [
        { email: 'primary@example.com', primary: true, verified: false },
        { email: 'verified@example.com', primary: false, verified: true },
      ],
    });
    expect(p.email).toBe('public@example.com');
  });

  it('is null with neither', async () => {
    const p = await profileOf({ login: 'e3', avatarUrl: null });
    expect(p).toMatchObject({ login: 'e3', email: null, avatar_url: null });
  });

  it('falls back to the profile email when /user/emails fails', async () => {
    gh.failPath('/user/emails', 403);
    try {
      const p = await profileOf({ login: 'e4', publicEmail: 'public@example.com', email: 'primary@example.com' });
      expect(p.email).toBe('public@example.com');
    } finally {
      gh.failPath('/user/emails', null);
    }
  });
});

describe('helpers', () => {
  it('nextLink parses GitHub Link headers', () => {
    expect(
      nextLink(
        '<https://api.github.com/user/orgs?page=1>; rel="prev", <https://api.github.com/user/orgs?page=3>; rel="next"',
      ),
    ).toBe('https://api.github.com/user/orgs?page=3');
    expect(nextLink('<https://x/a>; rel="last"')).toBeNull();
    expect(nextLink('<https://x/a>; rel="next last"')).toBe('https://x/a');
    expect(nextLink(null)).toBeNull();
  });

  it('does not follow a next link to another origin', async () => {
    gh.addUser({ login: 'redir', orgs: ['a'] });
    const token = gh.accessTokenFor('redir');
    const seen: string[] = [];
    const evil: typeof fetch = async (input, init) => {
      const url = String(input);
      seen.push(url);
      if (url.startsWith(gh.url)) {
        const res = await fetch(url, init);
        return new Response(await res.text(), {
          status: 200,
          headers: { link: '<https://evil.example/user/orgs?page=2>; rel="next"' },
        });
      }
      throw new Error('must not be called');
    };
    const c = createGithubOAuthClient({
      baseUrl: gh.url,
      apiUrl: gh.url,
      clientId: 'a',
      clientSecret: 'b',
      redirectUri: 'c',
      fetch: evil,
    });
    expect(await c.fetchOrgs(token)).toEqual(['a']);
    expect(seen).toHaveLength(1);
  });

  it('reads settings', async () => {
    const values: Record<string, string> = {
      'github_oauth.client_id': 'id',
      'github_oauth.client_secret': 'secret',
      'github_oauth.redirect_uri': 'https://cp/cb',
      'github_oauth.base_url': '',
      'github_oauth.api_url': 'http://api',
    };
    const s = await readGithubOAuthSettings({ get: async (k) => values[k] ?? '' });
    expect(s).toEqual({
      clientId: 'id',
      clientSecret: 'secret',
      redirectUri: 'https://cp/cb',
      baseUrl: 'https://github.com',
      apiUrl: 'http://api',
      configured: true,
    });
    values['github_oauth.client_secret'] = '';
    expect((await readGithubOAuthSettings({ get: async (k) => values[k] ?? '' })).configured).toBe(false);
  });
});
