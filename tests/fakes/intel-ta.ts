/**
 * A local fake of Intel Trust Authority's token side: `GET /certs` serves a JWKS (keys with `kid` and `alg`, like
 * https://portal.trustauthority.intel.com/certs), and helpers mint tokens shaped like ITA TDX attestation tokens.
 * `POST /appraisal/v1/attest` (header `x-api-key`, body `{"quote": "<base64>"}`) answers `{"token": "<JWT>"}` whose
 * claims carry the submitted quote's MRTD, RTMRs and `tdx_report_data` (parsed with core's quote parser).
 *
 *   const ita = await startFakeIntelTa();
 *   const token = await ita.signToken(itaClaims({ mrtd, rtmrs, nonce }));
 *   ... verify against ita.jwksUrl ...
 *   await ita.close();
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { quoteFromBase64 } from '../../core/attestation/tdx-quote';
import { nonceReportDataHex } from '../fixtures/make-tdx-quote';

export const ITA_ISSUER = 'https://portal.trustauthority.intel.com';

export type FakeItaAlg = 'RS256' | 'PS384' | 'ES256' | 'ES384' | 'EdDSA';

export interface SignTokenOptions {
  /** Signing algorithm (default RS256). Must be one of the server's published algorithms unless `forged`. */
  alg?: FakeItaAlg;
  /** Header kid (default: the published key's kid for `alg`). */
  kid?: string;
  /** exp = iat + expiresInSec (default 300). Negative values make already expired tokens. */
  expiresInSec?: number;
  /** iss (default ITA_ISSUER); pass null to omit. */
  issuer?: string | null;
  /** aud (default: none). */
  audience?: string | string[];
  omitExp?: boolean;
  omitIat?: boolean;
  /** Shift iat from `now` (seconds; positive = in the future). exp is computed from the shifted iat. */
  iatOffsetSec?: number;
  /** nbf = now + nbfOffsetSec when given. */
  nbfOffsetSec?: number;
  /** Reference time (default: the real clock). */
  now?: Date;
  /** Sign with a key pair that is NOT published (same kid as the published key, so only the signature is wrong). */
  forged?: boolean;
}

export interface ItaClaimsInput {
  mrtd?: string;
  rtmrs?: { rtmr0: string; rtmr1: string; rtmr2: string; rtmr3: string } | null;
  tcbStatus?: string;
  /** Hex REPORTDATA; defaults to the v1 layout of `nonce` when a nonce is given, else 64 zero bytes. */
  reportData?: string;
  /** Bound into tdx_report_data (v1 layout) unless reportData is given. Not copied to attester_held_data. */
  nonce?: string;
  /** Optional attester_held_data (ITA runtime data, base64). */
  attesterHeldData?: string;
}

/** A claims set shaped like ITA's TDX attestation token (top-level tdx_* claims). */
export function itaClaims(input: ItaClaimsInput = {}): Record<string, unknown> {
  const mrtd = input.mrtd ?? 'a1'.repeat(48);
  const rtmrs =
    input.rtmrs === null
      ? null
      : (input.rtmrs ?? {
          rtmr0: 'b0'.repeat(48),
          rtmr1: 'b1'.repeat(48),
          rtmr2: 'b2'.repeat(48),
          rtmr3: '00'.repeat(48),
        });
  const reportData =
    input.reportData ?? (input.nonce !== undefined ? nonceReportDataHex(input.nonce) : '00'.repeat(64));
  const claims: Record<string, unknown> = {
    eat_profile: 'https://portal.trustauthority.intel.com/eat_profile.html',
    intuse: 'generic',
    ver: '1.0.0',
    attester_type: 'TDX',
    attester_tcb_status: input.tcbStatus ?? 'UpToDate',
    attester_tcb_date: '2024-03-13T00:00:00Z',
    attester_advisory_ids: [],
    dbgstat: 'disabled',
    tdx_mrseam: '5b'.repeat(48),
    tdx_mrsignerseam: '00'.repeat(48),
    tdx_seamsvn: 1,
    tdx_td_attributes: '0000001000000000',
    tdx_td_attributes_debug: false,
    tdx_xfam: 'e702060000000000',
    tdx_mrtd: mrtd,
    tdx_mrconfigid: '00'.repeat(48),
    tdx_mrowner: '00'.repeat(48),
    tdx_mrownerconfig: '00'.repeat(48),
    tdx_report_data: reportData,
    tdx_is_debuggable: false,
    verifier_instance_ids: [randomUUID()],
    jti: randomUUID(),
  };
  if (rtmrs) {
    claims.tdx_rtmr0 = rtmrs.rtmr0;
    claims.tdx_rtmr1 = rtmrs.rtmr1;
    claims.tdx_rtmr2 = rtmrs.rtmr2;
    claims.tdx_rtmr3 = rtmrs.rtmr3;
  }
  if (input.attesterHeldData !== undefined) claims.attester_held_data = input.attesterHeldData;
  return claims;
}

interface KeyEntry {
  alg: FakeItaAlg;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  forgedPrivateKey: CryptoKey;
}

export interface FakeIntelTa {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** `${url}/certs` */
  jwksUrl: string;
  issuer: string;
  /** Published kids by algorithm. */
  kids: Record<string, string>;
  /** Request counters. */
  readonly requests: { total: number; certs: number; attest: number };
  /** The API key `/appraisal/v1/attest` accepts. */
  apiKey: string;
  /** Make `/appraisal/v1/attest` answer with this status (ITA down) until reset with null. */
  setAttestStatus(status: number | null): void;
  /** The JWKS document as served. */
  jwks(): { keys: JWK[] };
  signToken(claims: Record<string, unknown>, opts?: SignTokenOptions): Promise<string>;
  /** Same as signToken with `forged: true`. */
  forgeToken(claims: Record<string, unknown>, opts?: SignTokenOptions): Promise<string>;
  /** An HS256 token (symmetric; must be rejected by the verifier). */
  hs256Token(claims: Record<string, unknown>, opts?: { secret?: string; kid?: string; now?: Date }): Promise<string>;
  /** An unsecured `alg: none` token (empty signature). */
  unsignedToken(claims: Record<string, unknown>, opts?: { now?: Date }): string;
  /** Make `/certs` answer with this status (and a non-JWKS body) until reset with null. */
  setJwksStatus(status: number | null): void;
  /** Publish or withhold keys (e.g. rotate). */
  setPublishedKids(kids: string[] | null): void;
  close(): Promise<void>;
}

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

const keyParams: Record<FakeItaAlg, Parameters<typeof generateKeyPair>[1]> = {
  RS256: { modulusLength: 2048, extractable: true },
  PS384: { modulusLength: 2048, extractable: true },
  ES256: { extractable: true },
  ES384: { extractable: true },
  EdDSA: { extractable: true, crv: 'Ed25519' },
};

export async function startFakeIntelTa(opts: { algs?: FakeItaAlg[]; apiKey?: string } = {}): Promise<FakeIntelTa> {
  const apiKey = opts.apiKey ?? 'fake-ita-api-key';
  let attestStatus: number | null = null;
  const algs = opts.algs ?? ['RS256'];
  const entries = new Map<FakeItaAlg, KeyEntry>();
  for (const alg of algs) {
    const { privateKey, publicKey } = await generateKeyPair(alg, keyParams[alg]);
    const forged = await generateKeyPair(alg, keyParams[alg]);
    const kid = `${alg.toLowerCase()}-${randomUUID().replace(/-/g, '')}`;
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    entries.set(alg, { alg, kid, privateKey, publicJwk, forgedPrivateKey: forged.privateKey });
  }

  const requests = { total: 0, certs: 0, attest: 0 };
  let jwksStatus: number | null = null;
  let publishedKids: string[] | null = null;

  const jwks = () => ({
    keys: [...entries.values()]
      .filter((e) => publishedKids === null || publishedKids.includes(e.kid))
      .map((e) => e.publicJwk),
  });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.total++;
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/certs') {
      requests.certs++;
      if (jwksStatus !== null) {
        res.writeHead(jwksStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'unavailable' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(jwks()));
      return;
    }
    if (req.method === 'POST' && path === '/appraisal/v1/attest') {
      requests.attest++;
      void attest(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  });

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  async function attest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (attestStatus !== null) return reply(res, attestStatus, { error: 'unavailable' });
    if (req.headers['x-api-key'] !== apiKey) return reply(res, 401, { error: 'invalid api key' });
    let quote: ReturnType<typeof quoteFromBase64>;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { quote?: unknown };
      quote = quoteFromBase64(String(body.quote ?? ''));
    } catch (err) {
      return reply(res, 400, { error: `invalid quote: ${(err as Error).message}` });
    }
    const token = await signToken(itaClaims({ mrtd: quote.mrtd, rtmrs: quote.rtmrs, reportData: quote.reportData }));
    reply(res, 200, { token });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const timeClaims = (o: SignTokenOptions) => {
    const nowSec = Math.floor((o.now ?? new Date()).getTime() / 1000);
    const iat = nowSec + (o.iatOffsetSec ?? 0);
    const out: Record<string, number> = {};
    if (!o.omitIat) out.iat = iat;
    if (!o.omitExp) out.exp = iat + (o.expiresInSec ?? 300);
    if (o.nbfOffsetSec !== undefined) out.nbf = nowSec + o.nbfOffsetSec;
    return out;
  };

  const signToken = async (claims: Record<string, unknown>, o: SignTokenOptions = {}): Promise<string> => {
    const alg = o.alg ?? 'RS256';
    const entry = entries.get(alg);
    if (!entry) throw new Error(`fake ITA has no ${alg} key (started with algs ${algs.join(', ')})`);
    const payload: Record<string, unknown> = { ...claims, ...timeClaims(o) };
    const iss = o.issuer === undefined ? ITA_ISSUER : o.issuer;
    if (iss !== null) payload.iss = iss;
    if (o.audience !== undefined) payload.aud = o.audience;
    return new SignJWT(payload)
      .setProtectedHeader({ alg, kid: o.kid ?? entry.kid, typ: 'JWT', jku: `${url}/certs` })
      .sign(o.forged ? entry.forgedPrivateKey : entry.privateKey);
  };

  return {
    url,
    jwksUrl: `${url}/certs`,
    issuer: ITA_ISSUER,
    kids: Object.fromEntries([...entries.values()].map((e) => [e.alg, e.kid])),
    requests,
    apiKey,
    setAttestStatus(status) {
      attestStatus = status;
    },
    jwks,
    signToken,
    forgeToken: (claims, o = {}) => signToken(claims, { ...o, forged: true }),
    async hs256Token(claims, o = {}) {
      const secret = new TextEncoder().encode(o.secret ?? 'not-a-real-secret-not-a-real-secret');
      return new SignJWT({ iss: ITA_ISSUER, ...claims, ...timeClaims({ now: o.now }) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(o.kid ? { kid: o.kid } : {}) })
        .sign(secret);
    },
    unsignedToken(claims, o = {}) {
      const header = b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const payload = b64url(JSON.stringify({ iss: ITA_ISSUER, ...claims, ...timeClaims({ now: o.now }) }));
      return `${header}.${payload}.`;
    },
    setJwksStatus(status) {
      jwksStatus = status;
    },
    setPublishedKids(kids) {
      publishedKids = kids;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
