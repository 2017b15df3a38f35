import { createServer } from 'node:net';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyItaToken, type ItaVerifyResult } from '../../core/attestation/ita-verify';
import { JwksCache, createJwksResolver } from '../../core/attestation/jwks';
import { nonceFromReportData, reportDataMatchesNonce } from '../../core/attestation/report-data';
import { ITA_ISSUER, itaClaims, startFakeIntelTa, type FakeIntelTa } from '../fakes/intel-ta';

const MRTD = 'c3'.repeat(48);
const RTMRS = { rtmr0: 'd0'.repeat(48), rtmr1: 'd1'.repeat(48), rtmr2: 'd2'.repeat(48), rtmr3: 'd3'.repeat(48) };
const NONCE = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const NOW = new Date('2025-06-01T12:00:00Z');

let ita: FakeIntelTa;

beforeAll(async () => {
  ita = await startFakeIntelTa({ algs: ['RS256', 'PS384', 'ES256', 'EdDSA'] });
});
afterAll(async () => {
  await ita?.close();
});

function expectFail(r: ItaVerifyResult, code: string, error: string | RegExp): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.code).toBe(code);
  if (typeof error === 'string') expect(r.error).toBe(error);
  else expect(r.error).toMatch(error);
}

/** A port on which nothing listens. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('verifyItaToken against the fake ITA JWKS', () => {
  it('accepts a valid token and extracts the signed claims', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const token = await ita.signToken(itaClaims({ mrtd: MRTD, rtmrs: RTMRS, tcbStatus: 'OutOfDate', nonce: NONCE }), {
      now: NOW,
    });
    const r = await verifyItaToken(token, { jwks, issuer: ITA_ISSUER, now: NOW });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.alg).toBe('RS256');
    expect(r.mrtd).toBe(MRTD);
    expect(r.rtmrs).toEqual(RTMRS);
    expect(r.tcbStatus).toBe('OutOfDate');
    expect(r.attesterHeldData).toBeNull();
    expect(r.claims.iss).toBe(ITA_ISSUER);
    expect(r.claims.attester_type).toBe('TDX');
    // nonce binding through the signed report data
    expect(reportDataMatchesNonce(r.reportData, NONCE)).toBe(true);
    expect(nonceFromReportData(r.reportData)).toBe(NONCE);
    expect(reportDataMatchesNonce(r.reportData, 'f'.repeat(32))).toBe(false);
  });

  it('accepts ES256, PS384 and EdDSA keys from the JWKS', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    for (const alg of ['ES256', 'PS384', 'EdDSA'] as const) {
      const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { alg, now: NOW });
      const r = await verifyItaToken(token, { jwks, now: NOW });
      expect(r.ok, `${alg}: ${JSON.stringify(r)}`).toBe(true);
      if (r.ok) expect(r.alg).toBe(alg);
    }
  });

  it('rejects a token signed by an unpublished key (forged)', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const token = await ita.forgeToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expectFail(await verifyItaToken(token, { jwks, now: NOW }), 'signature', 'Token signature verification failed');
  });

  it('rejects a token expired for more than 120 s, accepts one within the leeway', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const claims = itaClaims({ mrtd: MRTD });
    // iat = NOW - 600, exp = iat + 479 = NOW - 121
    const expired = await ita.signToken(claims, { now: NOW, iatOffsetSec: -600, expiresInSec: 479 });
    expectFail(await verifyItaToken(expired, { jwks, now: NOW }), 'expired', 'Token has expired');
    // exp = NOW - 119
    const lenient = await ita.signToken(claims, { now: NOW, iatOffsetSec: -600, expiresInSec: 481 });
    const r = await verifyItaToken(lenient, { jwks, now: NOW });
    expect(r.ok).toBe(true);
  });

  it('rejects HS256 and alg=none tokens with an algorithm error, without fetching keys', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const before = ita.requests.certs;
    const hs = await ita.hs256Token(itaClaims({ mrtd: MRTD }), { now: NOW, kid: ita.kids.RS256 });
    expectFail(await verifyItaToken(hs, { jwks, now: NOW }), 'algorithm', /^JWT verification failed: .*HS256/);
    const none = ita.unsignedToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expectFail(await verifyItaToken(none, { jwks, now: NOW }), 'algorithm', /^JWT verification failed: .*none/);
    expect(ita.requests.certs).toBe(before);
  });

  it('checks the issuer only when one is configured', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, issuer: 'https://evil.example' });
    expectFail(
      await verifyItaToken(token, { jwks, issuer: ITA_ISSUER, now: NOW }),
      'issuer',
      /^JWT verification failed: Invalid issuer/,
    );
    expect((await verifyItaToken(token, { jwks, issuer: '', now: NOW })).ok).toBe(true);
    expect((await verifyItaToken(token, { jwks, now: NOW })).ok).toBe(true);
    const noIss = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, issuer: null });
    expectFail(await verifyItaToken(noIss, { jwks, issuer: ITA_ISSUER, now: NOW }), 'issuer', /iss/);
  });

  it('rejects a token carrying aud when no audience is configured', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, audience: 'someone-else' });
    expectFail(
      await verifyItaToken(token, { jwks, now: NOW }),
      'audience',
      'JWT verification failed: Invalid audience',
    );
    expectFail(
      await verifyItaToken(token, { jwks, audience: '  ', now: NOW }),
      'audience',
      'JWT verification failed: Invalid audience',
    );
    const arr = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, audience: ['x'] });
    expectFail(await verifyItaToken(arr, { jwks, now: NOW }), 'audience', /Invalid audience/);
    // empty aud counts as absent (PyJWT semantics)
    const empty = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, audience: [] });
    expect((await verifyItaToken(empty, { jwks, now: NOW })).ok).toBe(true);
  });

  it('enforces a configured audience', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const wrong = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, audience: 'other-cp' });
    expectFail(
      await verifyItaToken(wrong, { jwks, audience: 'easyenclave-cp', now: NOW }),
      'audience',
      /^JWT verification failed: Invalid audience/,
    );
    const missing = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expectFail(await verifyItaToken(missing, { jwks, audience: 'easyenclave-cp', now: NOW }), 'audience', /aud/);
    const right = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, audience: 'easyenclave-cp' });
    expect((await verifyItaToken(right, { jwks, audience: 'easyenclave-cp', now: NOW })).ok).toBe(true);
  });

  it('reports a JWKS endpoint that is down as a jwks error', async () => {
    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    const down = createJwksResolver(`http://127.0.0.1:${await deadPort()}/certs`, { timeoutMs: 2000 });
    expectFail(
      await verifyItaToken(token, { jwks: down, now: NOW }),
      'jwks',
      /^Failed to fetch signing keys from Intel TA: .+/,
    );

    ita.setJwksStatus(503);
    try {
      const failing = createJwksResolver(ita.jwksUrl);
      expectFail(
        await verifyItaToken(token, { jwks: failing, now: NOW }),
        'jwks',
        /^Failed to fetch signing keys from Intel TA: Expected 200 OK/,
      );
    } finally {
      ita.setJwksStatus(null);
    }
  });

  it('caches the key set and refetches once for an unknown kid', async () => {
    const jwks = createJwksResolver(ita.jwksUrl, { cooldownMs: 0 });
    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    const start = ita.requests.certs;
    expect((await verifyItaToken(token, { jwks, now: NOW })).ok).toBe(true);
    expect((await verifyItaToken(token, { jwks, now: NOW })).ok).toBe(true);
    expect(ita.requests.certs - start).toBe(1);

    const unknownKid = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, kid: 'rotated-away' });
    expectFail(
      await verifyItaToken(unknownKid, { jwks, now: NOW }),
      'jwks',
      /^Failed to fetch signing keys from Intel TA: /,
    );
    expect(ita.requests.certs - start).toBe(2);
  });

  it('requires exp and iat', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const noExp = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, omitExp: true });
    expectFail(await verifyItaToken(noExp, { jwks, now: NOW }), 'claims', /^JWT verification failed: .*"exp"/);
    const noIat = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, omitIat: true });
    expectFail(await verifyItaToken(noIat, { jwks, now: NOW }), 'claims', /^JWT verification failed: .*"iat"/);
    // a non-numeric iat is a "malformed iat"
    const withStringIat = await ita.signToken(
      { ...itaClaims({ mrtd: MRTD }), iat: 'yesterday' },
      { now: NOW, omitIat: true },
    );
    expectFail(await verifyItaToken(withStringIat, { jwks, now: NOW }), 'claims', 'Token has invalid issued-at time');
  });

  it('rejects iat more than 120 s in the future and a future nbf', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const future = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, iatOffsetSec: 121 });
    expectFail(
      await verifyItaToken(future, { jwks, now: NOW }),
      'claims',
      'JWT verification failed: The token is not yet valid (iat)',
    );
    const nearFuture = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, iatOffsetSec: 119 });
    expect((await verifyItaToken(nearFuture, { jwks, now: NOW })).ok).toBe(true);
    const nbf = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW, nbfOffsetSec: 600 });
    expectFail(
      await verifyItaToken(nbf, { jwks, now: NOW }),
      'claims',
      'JWT verification failed: The token is not yet valid (nbf)',
    );
  });

  it('rejects empty and malformed tokens', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    expectFail(await verifyItaToken('', { jwks }), 'empty', 'No attestation token provided');
    expectFail(await verifyItaToken('   ', { jwks }), 'empty', 'No attestation token provided');
    expectFail(await verifyItaToken(null, { jwks }), 'empty', 'No attestation token provided');
    expectFail(await verifyItaToken('not-a-jwt', { jwks }), 'malformed', /^JWT verification failed: /);
    const good = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    const [h, , s] = good.split('.');
    // a header that decodes, but not a three-part compact JWS
    expectFail(await verifyItaToken(h!, { jwks, now: NOW }), 'malformed', /^JWT verification failed: Invalid/);
    expectFail(
      await verifyItaToken(`garbage.${h}.${s}`, { jwks, now: NOW }),
      'malformed',
      /^JWT verification failed: /,
    );
    // a tampered payload fails the signature (it covers the exact bytes)
    expectFail(
      await verifyItaToken(`${h}.%%%.${s}`, { jwks, now: NOW }),
      'signature',
      'Token signature verification failed',
    );
  });

  it('reads nested tdx claims, and reports missing MRTD/RTMRs as null', async () => {
    const jwks = createJwksResolver(ita.jwksUrl);
    const nested = await ita.signToken(
      {
        attester_type: 'TDX',
        attester_held_data: '  aGVsZA==  ',
        tdx: {
          tdx_mrtd: MRTD.toUpperCase(),
          tdx_rtmr0: RTMRS.rtmr0,
          tdx_rtmr1: RTMRS.rtmr1,
          tdx_rtmr2: RTMRS.rtmr2,
          tdx_rtmr3: RTMRS.rtmr3,
          tdx_report_data: 'AB'.repeat(64),
          attester_tcb_status: 'UpToDate',
        },
      },
      { now: NOW },
    );
    const r = await verifyItaToken(nested, { jwks, now: NOW });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.mrtd).toBe(MRTD);
      expect(r.rtmrs).toEqual(RTMRS);
      expect(r.reportData).toBe('ab'.repeat(64));
      expect(r.tcbStatus).toBe('UpToDate');
      expect(r.attesterHeldData).toBe('aGVsZA==');
    }

    const partial = itaClaims({ mrtd: MRTD });
    delete partial.tdx_rtmr3;
    delete partial.tdx_mrtd;
    delete partial.attester_tcb_status;
    const r2 = await verifyItaToken(await ita.signToken(partial, { now: NOW }), { jwks, now: NOW });
    expect(r2.ok).toBe(true);
    if (r2.ok) {
      expect(r2.rtmrs).toBeNull();
      expect(r2.mrtd).toBeNull();
      expect(r2.tcbStatus).toBe('Unknown');
    }
  });

  it('works with a local JWKS too', async () => {
    const jwks = createLocalJWKSet(ita.jwks());
    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expect((await verifyItaToken(token, { jwks, now: NOW })).ok).toBe(true);
    const forged = await ita.forgeToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expectFail(await verifyItaToken(forged, { jwks, now: NOW }), 'signature', 'Token signature verification failed');
  });
});

describe('JwksCache', () => {
  it('returns one resolver per URL and a new one when the URL changes', async () => {
    const cache = new JwksCache({ maxEntries: 2 });
    const a = cache.get(ita.jwksUrl);
    expect(cache.get(ita.jwksUrl)).toBe(a);
    const b = cache.get(`${ita.url}/certs?v=2`);
    expect(b).not.toBe(a);
    expect(cache.size).toBe(2);
    cache.get(`${ita.url}/certs?v=3`);
    expect(cache.size).toBe(2);
    // a was evicted (oldest) → new instance
    expect(cache.get(ita.jwksUrl)).not.toBe(a);

    const token = await ita.signToken(itaClaims({ mrtd: MRTD }), { now: NOW });
    expect((await verifyItaToken(token, { jwks: cache.get(ita.jwksUrl), now: NOW })).ok).toBe(true);
  });
});
