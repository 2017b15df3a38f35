/**
 * The trust decision shared by registration and attestation refresh (spec/attestation.md §3–§4, fixed): ITA token
 * verified against the configured JWKS, issuer and audience; MRTD, RTMRs, TCB status and REPORTDATA read from the
 * SIGNED claims only; TCB policy → MRTD trust list (env + DB) → RTMR baseline, in v1's order.
 */
import type { Knex } from 'knex';
import { verifyItaToken, type ItaVerifyResult } from '../core/attestation/ita-verify';
import { JwksCache } from '../core/attestation/jwks';
import {
  checkRtmrs,
  checkTcb,
  lookupMrtdTrust,
  lookupRtmrBaseline,
  mergeTrustedMrtds,
  normalizeRtmrMode,
  normalizeTcbMode,
  parseAllowedTcbStatuses,
  parseRtmrProfiles,
  type MrtdType,
  type Rtmrs,
} from '../core/attestation/policy';
import { listTrustedMrtds } from '../core/stores/trusted-mrtds';
import type { SettingsReader } from '../core/settings/types';
import { TrustFailure, type TrustFailureCode } from '../workflows/contracts/failures';

/** TRUSTED_{AGENT,PROXY}_MRTDS, SYSTEM_*_MRTD, TRUSTED_*_RTMRS[_BY_SIZE] (any env-like record). */
export type TrustEnv = Readonly<Record<string, string | undefined>>;

/** What the signed token says, kept for an `unverified` record when the MRTD is not trusted. */
export interface SignedMeasurements {
  mrtd: string;
  rtmrs: Rtmrs | null;
  tcbStatus: string;
  reportData: string | null;
}

export type TrustVerdict =
  | ({ ok: true; mrtdType: MrtdType; warnings: string[] } & SignedMeasurements)
  | {
      ok: false;
      /** Why: callers branch on this, never on `detail`. */
      code: TrustFailureCode;
      status: number;
      detail: string;
      untrusted: boolean;
      signed: SignedMeasurements | null;
    };

export interface AttestationVerifierDeps {
  db: Knex;
  settings: SettingsReader;
  trustEnv?: TrustEnv;
}

export function createAttestationVerifier(deps: AttestationVerifierDeps) {
  const jwks = new JwksCache();
  const profiles = parseRtmrProfiles(deps.trustEnv ?? {}).profiles;

  async function verifyToken(token: string): Promise<ItaVerifyResult> {
    const [url, issuer, audience] = await Promise.all(
      (['intel_ta.jwks_url', 'intel_ta.issuer', 'intel_ta.audience'] as const).map((k) => deps.settings.get(k)),
    );
    return verifyItaToken(token, { jwks: jwks.get(url!), issuer, audience });
  }

  async function evaluate(token: string, nodeSize: string): Promise<TrustVerdict> {
    const ita = await verifyToken(token);
    if (!ita.ok) {
      const error = ita.code === 'error';
      return {
        ok: false,
        code: error ? TrustFailure.ItaError : TrustFailure.ItaRejected,
        status: 403,
        detail: `${error ? 'Intel TA verification error' : 'Intel TA verification failed'}: ${ita.error}`,
        untrusted: false,
        signed: null,
      };
    }
    if (!ita.mrtd) {
      return {
        ok: false,
        code: TrustFailure.NoMrtd,
        status: 403,
        detail: 'Intel TA token does not contain MRTD claim',
        untrusted: false,
        signed: null,
      };
    }
    const signed: SignedMeasurements = {
      mrtd: ita.mrtd,
      rtmrs: ita.rtmrs,
      tcbStatus: ita.tcbStatus,
      reportData: ita.reportData,
    };
    const warnings: string[] = [];
    const [tcbMode, allowed, rtmrMode] = await Promise.all([
      deps.settings.get('operational.tcb_enforcement_mode'),
      deps.settings.get('operational.allowed_tcb_statuses'),
      deps.settings.get('operational.rtmr_enforcement_mode'),
    ]);
    const tcb = checkTcb(ita.tcbStatus, normalizeTcbMode(tcbMode), parseAllowedTcbStatuses(allowed));
    if (!tcb.ok) return { ...tcb, code: TrustFailure.Tcb, untrusted: false, signed };
    if (tcb.warning) warnings.push(tcb.warning);

    const trusted = mergeTrustedMrtds(deps.trustEnv ?? {}, await listTrustedMrtds(deps.db));
    const trust = lookupMrtdTrust(ita.mrtd, trusted);
    if (!trust.ok) return { ...trust, code: TrustFailure.MrtdUntrusted, untrusted: true, signed };

    const baseline = lookupRtmrBaseline(profiles, trust.type, nodeSize);
    const rtmr = checkRtmrs(baseline, ita.rtmrs, normalizeRtmrMode(rtmrMode), nodeSize);
    if (!rtmr.ok) return { ...rtmr, code: TrustFailure.Rtmr, untrusted: false, signed };
    if (rtmr.warning) warnings.push(rtmr.warning);
    return { ok: true, mrtdType: trust.type, warnings, ...signed };
  }

  return { verifyToken, evaluate };
}

export type AttestationVerifier = ReturnType<typeof createAttestationVerifier>;
