import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, createRemoteJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import {
  githubJwks,
  isJwtShaped,
  isOwnedBy,
  ownerIdentities,
  verifyGithubOidcToken,
} from '../../core/auth/github-oidc';
import { GITHUB_ACTIONS_ISSUER, PUBLISHED_KID, startFakeGithub } from '../fakes/github';
import type { FakeGithub } from '../fakes/github';

let gh: FakeGithub;
let jwks: JWTVerifyGetKey;

const opts = () => ({ jwks, issuer: GITHUB_ACTIONS_ISSUER, audience: 'easyenclave' });

beforeAll(async () => {
  gh = await startFakeGithub();
  jwks = createRemoteJWKSet(new URL(gh.jwksUrl));
});
afterAll(async () => {
  await gh.close();
});

describe('verifyGithubOidcToken', () => {
  it('accepts a valid token and returns its claims', async () => {
    const token = await gh.signOidcToken({
      repository: 'Octo-Org/app',
      repository_owner: 'Octo-Org',
      environment: 'production',
    });
    const r = await verifyGithubOidcToken(token, opts());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.claims).toMatchObject({
      iss: GITHUB_ACTIONS_ISSUER,
      aud: 'easyenclave',
      repository: 'Octo-Org/app',
      repository_owner: 'Octo-Org',
      repository_owner_id: '1000001',
      repository_id: '2000002',
      ref: 'refs/heads/main',
      workflow: 'deploy',
      job_workflow_ref: 'Octo-Org/app/.github/workflows/deploy.yml@refs/heads/main',
      actor: 'octocat',
      event_name: 'push',
      environment: 'production',
    });
    expect(r.claims.sha).toMatch(/^[0-9a-f]{40}$/);
    // Unknown claims are not passed through.
    expect(r.claims).not.toHaveProperty('run_id');
    expect(ownerIdentities(r.claims)).toEqual(['octo-org']);
    expect(isOwnedBy(ownerIdentities(r.claims), 'octo-org')).toBe(true);
    expect(isOwnedBy(ownerIdentities(r.claims), 'OCTO-ORG')).toBe(true);
    // The JWKS was fetched from the fake.
    expect(gh.requests.some((q) => q.path === '/.well-known/jwks')).toBe(true);
  });

  it('omits environment when the job has none', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken(), opts());
    expect(r.ok && 'environment' in r.claims).toBe(false);
  });

  it('verifies a token of another owner, whose identities do not match', async () => {
    const r = await verifyGithubOidcToken(
      await gh.signOidcToken({ repository: 'mallory/app', repository_owner: 'mallory', actor: 'octo-org' }),
      opts(),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ids = ownerIdentities(r.claims);
    expect(ids).toEqual(['mallory']);
    // `actor` never grants ownership.
    expect(isOwnedBy(ids, 'octo-org')).toBe(false);
    expect(isOwnedBy(ids, null)).toBe(false);
  });

  it('accepts a token listing the audience among several', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken({ aud: ['other', 'easyenclave'] }), opts());
    expect(r.ok).toBe(true);
  });

  it('refuses a wrong audience', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken({ aud: 'https://github.com/octo-org' }), opts());
    expect(r).toMatchObject({ ok: false, code: 'audience' });
  });

  it('refuses an expired token (beyond the 60 s tolerance) but accepts one within it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await gh.signOidcToken({}, { nowSec: now - 600, expiresInSec: 300 });
    expect(await verifyGithubOidcToken(expired, opts())).toMatchObject({ ok: false, code: 'expired' });

    const justExpired = await gh.signOidcToken({}, { nowSec: now - 330, expiresInSec: 300 });
    expect((await verifyGithubOidcToken(justExpired, opts())).ok).toBe(true);
  });

  it('honours the `now` option', async () => {
    const token = await gh.signOidcToken();
    const later = new Date(Date.now() + 3600_000);
    expect(await verifyGithubOidcToken(token, { ...opts(), now: later })).toMatchObject({ ok: false, code: 'expired' });
  });

  it('refuses a token issued in the future', async () => {
    const token = await gh.signOidcToken({}, { nowSec: Math.floor(Date.now() / 1000) + 600 });
    expect(await verifyGithubOidcToken(token, opts())).toMatchObject({ ok: false, code: 'claims' });
  });

  it('refuses an unsigned (alg none) token', async () => {
    const r = await verifyGithubOidcToken(gh.unsignedToken(), opts());
    expect(r).toMatchObject({ ok: false, code: 'algorithm' });
  });

  it('refuses a token forged with an unpublished key under the published kid', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken({}, { key: 'unpublished' }), opts());
    expect(r).toMatchObject({ ok: false, code: 'signature' });
  });

  it('refuses a token forged with an unpublished key under an unknown kid', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken({}, { key: 'unpublished', kid: 'rogue' }), opts());
    expect(r).toMatchObject({ ok: false, code: 'signature' });
  });

  it('refuses a tampered payload', async () => {
    const token = await gh.signOidcToken({ repository: 'mallory/app', repository_owner: 'mallory' });
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    claims.repository_owner = 'octo-org';
    claims.repository = 'octo-org/app';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    expect(await verifyGithubOidcToken(forged, opts())).toMatchObject({ ok: false, code: 'signature' });
  });

  it('refuses a wrong issuer', async () => {
    const r = await verifyGithubOidcToken(await gh.signOidcToken({ iss: 'https://evil.example' }), opts());
    expect(r).toMatchObject({ ok: false, code: 'issuer' });
  });

  it('refuses algorithms outside the allow-list before fetching keys', async () => {
    for (const alg of ['HS256', 'RS512', 'PS256', 'ES256']) {
      const before = gh.requests.length;
      const r = await verifyGithubOidcToken(await gh.signOidcToken({}, { alg }), opts());
      expect(r, alg).toMatchObject({ ok: false, code: 'algorithm' });
      expect(gh.requests.length).toBe(before);
    }
  });

  it('refuses tokens without the required claims', async () => {
    for (const omit of ['repository_owner', 'repository', 'exp', 'iat']) {
      const r = await verifyGithubOidcToken(await gh.signOidcToken({}, { omit: [omit] }), opts());
      expect(r, omit).toMatchObject({ ok: false, code: 'claims' });
    }
    const empty = await gh.signOidcToken({ repository_owner: '', repository: '/x' });
    expect(await verifyGithubOidcToken(empty, opts())).toMatchObject({ ok: false, code: 'claims' });
  });

  it('refuses a repository outside its repository_owner', async () => {
    const r = await verifyGithubOidcToken(
      await gh.signOidcToken({ repository: 'victim-org/app', repository_owner: 'mallory' }),
      opts(),
    );
    expect(r).toMatchObject({ ok: false, code: 'claims' });
  });

  it('refuses malformed input', async () => {
    for (const t of ['', 'ee_live_abcdefghijklmnopqrstuvwxyz012345', 'a.b.c', 'eyJhbGciOi.x', 'eyJub3Rqc29u.eyJ9.x']) {
      const r = await verifyGithubOidcToken(t, opts());
      expect(r, t).toMatchObject({ ok: false, code: 'malformed' });
    }
  });

  it('reports an unreachable key set as jwks', async () => {
    const token = await gh.signOidcToken();
    const broken = createRemoteJWKSet(new URL(`${gh.url}/no-such-jwks`));
    expect(await verifyGithubOidcToken(token, { ...opts(), jwks: broken })).toMatchObject({ ok: false, code: 'jwks' });
  });

  it('tries every candidate key when the token has no kid', async () => {
    const other = await generateKeyPair('RS256', { extractable: true });
    const local = createLocalJWKSet({
      // The matching key comes second, so the first candidate fails and the loop must go on.
      keys: [...gh.jwks().keys, { ...(await exportJWK(other.publicKey)), kid: 'x', alg: 'RS256' }],
    });
    const token = await gh.signOidcToken();
    const noKid = await new SignJWT({
      ...(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as object),
    })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(other.privateKey);
    expect((await verifyGithubOidcToken(noKid, { ...opts(), jwks: local })).ok).toBe(true);
    expect(gh.jwks().keys[0]?.kid).toBe(PUBLISHED_KID);

    const forged = await new SignJWT({
      ...(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as object),
    })
      .setProtectedHeader({ alg: 'RS256' })
      .sign((await generateKeyPair('RS256')).privateKey);
    expect(await verifyGithubOidcToken(forged, { ...opts(), jwks: local })).toMatchObject({
      ok: false,
      code: 'signature',
    });
  });

  it('works through the cached githubJwks helper', async () => {
    const a = githubJwks(gh.jwksUrl);
    expect(githubJwks(gh.jwksUrl)).toBe(a);
    const r = await verifyGithubOidcToken(await gh.signOidcToken(), { ...opts(), jwks: a });
    expect(r.ok).toBe(true);
  });
});

describe('isJwtShaped', () => {
  it('tells a JWT from API keys and session tokens', async () => {
    expect(isJwtShaped(await gh.signOidcToken())).toBe(true);
    expect(isJwtShaped(gh.unsignedToken())).toBe(true);
    expect(isJwtShaped('ee_live_' + 'A'.repeat(32))).toBe(false);
    expect(isJwtShaped('ee_live_abc-def_ghi')).toBe(false);
    expect(isJwtShaped('x'.repeat(43))).toBe(false);
    expect(isJwtShaped('')).toBe(false);
  });
});
