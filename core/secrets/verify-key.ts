/**
 * The client's check of an agent's encryption key (issue #17) before it encrypts a tenant's secrets: the control
 * plane only relays the evidence, so nothing it says is taken on trust.
 *
 *  1. the ITA token's signature verifies against the client's own ITA JWKS (issuer/audience as configured);
 *  2. the MRTD in the SIGNED claims is on the client's trusted list;
 *  3. the SIGNED report data carries SHA-256(public_key) in bytes 32..64.
 *
 * The token served is the agent's registration token, so it may be past its `exp`: its signature and claims are
 * checked as of its own `iat` (the key is the TD's for as long as the TD lives), and `maxAgeSeconds` bounds how old
 * such evidence may be. No I/O: the JWKS resolver is injected.
 */
import { decodeJwt, type JWTVerifyGetKey } from 'jose';
import { verifyItaToken } from '../attestation/ita-verify';
import { reportDataBinding } from '../attestation/report-data';
import { HPKE_AEAD_ID, HPKE_KDF_ID, HPKE_KEM_ID, keyBindingHex, parsePublicKey } from './hpke-env';

/** The body of GET /api/v1/agents/{agent_id}/encryption-key (the fields the check reads). */
export interface EncryptionKeyEvidence {
  agent_id: string;
  public_key: string;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  attestation: { ita_token: string | null; mrtd?: string; report_data?: string | null };
}

export type KeyRefusal =
  'agent_mismatch' | 'suite' | 'bad_key' | 'no_token' | 'token' | 'too_old' | 'mrtd_untrusted' | 'key_hash_mismatch';

export type KeyCheck =
  | { ok: true; agentId: string; publicKey: Uint8Array; mrtd: string; issuedAt: string }
  | { ok: false; code: KeyRefusal; detail: string };

export interface KeyCheckOptions {
  /** The agent the caller means to encrypt to (the answer must be about it). */
  agentId: string;
  jwks: JWTVerifyGetKey;
  /** Expected ITA `iss` (empty: not checked). */
  issuer?: string;
  audience?: string;
  /** Lower- or upper-case hex MRTDs the client trusts. */
  trustedMrtds: readonly string[];
  /** Refuse evidence issued longer ago than this (seconds); unset: any age. */
  maxAgeSeconds?: number;
  now?: Date;
}

const refuse = (code: KeyRefusal, detail: string): KeyCheck => ({ ok: false, code, detail });

export async function checkEncryptionKey(ev: EncryptionKeyEvidence, opts: KeyCheckOptions): Promise<KeyCheck> {
  if (ev.agent_id !== opts.agentId) {
    return refuse('agent_mismatch', `the control plane answered for agent ${ev.agent_id}, not ${opts.agentId}`);
  }
  if (ev.kem_id !== HPKE_KEM_ID || ev.kdf_id !== HPKE_KDF_ID || ev.aead_id !== HPKE_AEAD_ID) {
    return refuse('suite', `unsupported HPKE suite kem=${ev.kem_id} kdf=${ev.kdf_id} aead=${ev.aead_id}`);
  }
  const publicKey = parsePublicKey(ev.public_key);
  if (!publicKey) return refuse('bad_key', 'public_key is not base64url of a 32-byte X25519 key');
  const token = ev.attestation?.ita_token;
  if (!token) return refuse('no_token', `agent ${ev.agent_id} has no ITA token vouching for its key (insecure-local?)`);

  let iat: number;
  try {
    const c = decodeJwt(token);
    if (typeof c.iat !== 'number') return refuse('token', 'ITA token has no iat');
    iat = c.iat;
  } catch (e) {
    return refuse('token', `ITA token is not a JWT: ${(e as Error).message}`);
  }
  const now = opts.now ?? new Date();
  if (opts.maxAgeSeconds !== undefined && now.getTime() / 1000 - iat > opts.maxAgeSeconds) {
    return refuse('too_old', `ITA evidence was issued ${new Date(iat * 1000).toISOString()}, beyond max age`);
  }
  // Checked as of its issue time (see above); a future iat is refused by verifyItaToken's own iat check.
  const at = new Date(Math.min(iat * 1000, now.getTime()));
  const v = await verifyItaToken(token, { jwks: opts.jwks, issuer: opts.issuer, audience: opts.audience, now: at });
  if (!v.ok) return refuse('token', `ITA token does not verify: ${v.error}`);

  const trusted = new Set(opts.trustedMrtds.map((m) => m.trim().toLowerCase()));
  if (!v.mrtd || !trusted.has(v.mrtd)) {
    return refuse('mrtd_untrusted', `MRTD ${v.mrtd ?? '(none)'} in the signed token is not on the trusted list`);
  }
  const expected = keyBindingHex(publicKey);
  const bound = reportDataBinding(v.reportData);
  if (bound !== expected) {
    return refuse(
      'key_hash_mismatch',
      `signed report data bytes 32..64 are ${bound ?? 'empty'}, not SHA-256(public_key) ${expected}`,
    );
  }
  return { ok: true, agentId: ev.agent_id, publicKey, mrtd: v.mrtd, issuedAt: new Date(iat * 1000).toISOString() };
}
