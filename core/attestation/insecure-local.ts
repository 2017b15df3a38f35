/**
 * `insecure-local` attestation: development without TDX (agent `--local`). The agent builds a quote-shaped
 * document itself — a v4 TDX layout with an all-zero MRTD/RTMRs and the challenge nonce in REPORTDATA — and sends
 * it with `attestation.provider = "insecure-local"` and no Intel Trust Authority token. Nothing about it is
 * attested: anyone can produce one. The control plane therefore accepts it only when the setting
 * `operational.allow_insecure_local_agents` is true (default false) and records such agents as `unverified-dev`,
 * never `verified`. Pure (no I/O, no Buffer): the agent and the control plane both import it.
 */
import { QUOTE_HEADER_SIZE, quoteFromBase64, REPORT_DATA_SIZE, TD_REPORT_10_SIZE } from './tdx-quote';

export const INSECURE_LOCAL_PROVIDER = 'insecure-local';
/** Status and verification label of an agent registered with insecure-local evidence. */
export const UNVERIFIED_DEV = 'unverified-dev';
export const ALLOW_INSECURE_LOCAL_SETTING = 'operational.allow_insecure_local_agents';

/** A v4-layout TDX quote with zero measurements and the given REPORTDATA (64 bytes), without a signature. */
export function buildInsecureLocalQuote(reportData: Uint8Array): Uint8Array {
  if (reportData.length !== REPORT_DATA_SIZE) throw new RangeError(`report data must be ${REPORT_DATA_SIZE} bytes`);
  const q = new Uint8Array(QUOTE_HEADER_SIZE + TD_REPORT_10_SIZE + 4);
  q[0] = 4; // version 4
  q[4] = 0x81; // tee_type TDX; att_key_type 0 = no ECDSA signature section
  q.set(reportData, QUOTE_HEADER_SIZE + 520);
  return q;
}

/** True when an attestation document claims the insecure-local provider. */
export function isInsecureLocalEvidence(attestation: unknown): boolean {
  return (
    typeof attestation === 'object' &&
    attestation !== null &&
    (attestation as { provider?: unknown }).provider === INSECURE_LOCAL_PROVIDER
  );
}

export type InsecureLocalVerdict =
  { ok: true; mrtd: string; reportData: string } | { ok: false; status: number; detail: string };

/** The CP's decision on insecure-local evidence: refused unless allowed; the quote must parse. */
export function evaluateInsecureLocal(attestation: unknown, allowed: boolean): InsecureLocalVerdict {
  if (!allowed) {
    return {
      ok: false,
      status: 403,
      detail: `insecure-local attestation refused: the setting ${ALLOW_INSECURE_LOCAL_SETTING} is false (development only)`,
    };
  }
  const quote = (attestation as { tdx?: { quote_b64?: unknown } }).tdx?.quote_b64;
  if (typeof quote !== 'string' || quote === '') {
    return { ok: false, status: 400, detail: 'insecure-local attestation needs tdx.quote_b64' };
  }
  try {
    const parsed = quoteFromBase64(quote);
    return { ok: true, mrtd: parsed.mrtd, reportData: parsed.reportData };
  } catch (err) {
    return { ok: false, status: 400, detail: `insecure-local quote does not parse: ${(err as Error).message}` };
  }
}
