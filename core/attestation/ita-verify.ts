/**
 * Intel Trust Authority (ITA) attestation token verification (spec/attestation.md §3).
 *
 * No I/O of its own: keys come from the injected `jwks` resolver (see ./jwks.ts for the HTTP one, or jose's
 * createLocalJWKSet). Differences from v1, on purpose:
 *  - the issuer is checked when one is configured (setting `intel_ta.issuer`);
 *  - the audience is checked when one is configured (setting `intel_ta.audience`); with none configured, a token that
 *    carries a non-empty `aud` is rejected (what v1's library did);
 *  - RTMRs and REPORTDATA are extracted from the signed claims so policy never relies on the agent's self-report.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Rtmrs } from './policy';

export const ITA_ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
] as const;

export const ITA_CLOCK_TOLERANCE_SECONDS = 120;

export type ItaErrorCode =
  | 'empty'
  | 'expired'
  | 'signature'
  | 'jwks'
  | 'algorithm'
  | 'claims'
  | 'issuer'
  | 'audience'
  | 'malformed'
  /** Unexpected exception (spec §3.2 `Token verification error: …`). */
  | 'error';

export interface ItaVerifyOptions {
  jwks: JWTVerifyGetKey;
  /** Expected `iss`; empty/undefined → not checked. */
  issuer?: string;
  /** Expected `aud`; empty/undefined → tokens carrying a non-empty `aud` are rejected. */
  audience?: string;
  /** Verification time (default: now). */
  now?: Date;
}

export interface ItaClaimsExtract {
  /** Lower-cased MRTD from `tdx_mrtd` (top level) else `tdx.tdx_mrtd`; null when absent. */
  mrtd: string | null;
  /** From `tdx_rtmr0..3` (top level or under `tdx`); null unless all four are present. */
  rtmrs: Rtmrs | null;
  /** `attester_tcb_status`, else 'Unknown'. */
  tcbStatus: string;
  /** Lower-cased hex `tdx_report_data` (top level or under `tdx`); null when absent. */
  reportData: string | null;
  /** Trimmed `attester_held_data`; null when absent/empty. */
  attesterHeldData: string | null;
}

export type ItaVerifyResult =
  ({ ok: true; claims: JWTPayload; alg: string } & ItaClaimsExtract) | { ok: false; error: string; code: ItaErrorCode };

// ---------------------------------------------------------------------------------------------------------------

function str(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t === '' ? null : t;
}

/** Reads a claim at top level, else under the nested `tdx` object (ITA's newer token layout). */
function claim(claims: Record<string, unknown>, name: string): string | null {
  const top = str(claims[name]);
  if (top !== null) return top;
  const tdx = claims['tdx'];
  if (tdx !== null && typeof tdx === 'object' && !Array.isArray(tdx)) {
    return str((tdx as Record<string, unknown>)[name]);
  }
  return null;
}

/** Extracts the claims policy needs from an already verified ITA payload. */
export function extractItaClaims(claims: JWTPayload): ItaClaimsExtract {
  const c = claims as Record<string, unknown>;
  const r = [0, 1, 2, 3].map((i) => claim(c, `tdx_rtmr${i}`)?.toLowerCase() ?? null);
  const rtmrs = r[0] && r[1] && r[2] && r[3] ? { rtmr0: r[0], rtmr1: r[1], rtmr2: r[2], rtmr3: r[3] } : null;
  return {
    mrtd: claim(c, 'tdx_mrtd')?.toLowerCase() ?? null,
    rtmrs,
    tcbStatus: claim(c, 'attester_tcb_status') ?? 'Unknown',
    reportData: claim(c, 'tdx_report_data')?.toLowerCase() ?? null,
    attesterHeldData: claim(c, 'attester_held_data'),
  };
}

/** Marks failures raised while resolving the signing key (JWKS fetch / kid lookup). */
class KeyResolutionError extends Error {
  constructor(readonly inner: unknown) {
    super('key resolution failed');
  }
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  let msg = e.message || e.name;
  const cause = (e as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && !msg.includes(cause.message)) {
    const code = (cause as { code?: unknown }).code;
    msg += ` (${cause.message}${typeof code === 'string' && !cause.message.includes(code) ? `, ${code}` : ''})`;
  }
  return msg;
}

const fail = (code: ItaErrorCode, error: string): ItaVerifyResult => ({ ok: false, code, error });

function mapError(e: unknown): ItaVerifyResult {
  if (e instanceof KeyResolutionError) {
    return fail('jwks', `Failed to fetch signing keys from Intel TA: ${describe(e.inner)}`);
  }
  if (e instanceof errors.JWTExpired) return fail('expired', 'Token has expired');
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return fail('signature', 'Token signature verification failed');
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) {
    return fail('algorithm', `JWT verification failed: ${e.message}`);
  }
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'iat' && e.reason === 'invalid') return fail('claims', 'Token has invalid issued-at time');
    if (e.claim === 'iss') return fail('issuer', `JWT verification failed: Invalid issuer (${e.message})`);
    if (e.claim === 'aud') return fail('audience', `JWT verification failed: Invalid audience (${e.message})`);
    if (e.claim === 'nbf' && e.reason === 'check_failed') {
      return fail('claims', 'JWT verification failed: The token is not yet valid (nbf)');
    }
    return fail('claims', `JWT verification failed: ${e.message}`);
  }
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) {
    return fail('malformed', `JWT verification failed: ${e.message}`);
  }
  return fail('error', `Token verification error: ${describe(e)}`);
}

/**
 * Verifies an ITA attestation token: signature against the JWKS (key chosen by `kid`), algorithm allow-list,
 * required `exp` + `iat` with 120 s leeway, `nbf` if present, issuer/audience as configured.
 * Never throws; failures come back as `{ ok: false, code, error }` with spec §3.2 error strings.
 */
export async function verifyItaToken(
  token: string | null | undefined,
  opts: ItaVerifyOptions,
): Promise<ItaVerifyResult> {
  const jwt = typeof token === 'string' ? token.trim() : '';
  if (jwt === '') return fail('empty', 'No attestation token provided');

  let alg: string;
  try {
    const header = decodeProtectedHeader(jwt);
    alg = typeof header.alg === 'string' ? header.alg : '';
  } catch (e) {
    return fail('malformed', `JWT verification failed: ${describe(e)}`);
  }
  if (!(ITA_ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    return fail('algorithm', `JWT verification failed: The specified alg value is not allowed (${alg || 'missing'})`);
  }

  const now = opts.now ?? new Date();
  const issuer = opts.issuer?.trim() || undefined;
  const audience = opts.audience?.trim() || undefined;
  const getKey: JWTVerifyGetKey = async (header, input) => {
    try {
      return await opts.jwks(header, input);
    } catch (e) {
      throw new KeyResolutionError(e);
    }
  };

  let payload: JWTPayload;
  try {
    const res = await jwtVerify(jwt, getKey, {
      algorithms: [...ITA_ALLOWED_ALGORITHMS],
      clockTolerance: ITA_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'iat'],
      currentDate: now,
      ...(issuer ? { issuer } : {}),
      ...(audience ? { audience } : {}),
    });
    payload = res.payload;
  } catch (e) {
    return mapError(e);
  }

  // iat in the future beyond the leeway (jose only checks iat together with maxTokenAge).
  const nowSec = Math.floor(now.getTime() / 1000);
  if (typeof payload.iat === 'number' && payload.iat > nowSec + ITA_CLOCK_TOLERANCE_SECONDS) {
    return fail('claims', 'JWT verification failed: The token is not yet valid (iat)');
  }
  // No audience configured: a token addressed to someone (non-empty aud) is not for us.
  if (!audience) {
    const aud = payload.aud;
    const present = Array.isArray(aud) ? aud.length > 0 : aud !== undefined && aud !== null && aud !== '';
    if (present) return fail('audience', 'JWT verification failed: Invalid audience');
  }

  return { ok: true, claims: payload, alg, ...extractItaClaims(payload) };
}
