/**
 * The one REPORTDATA layout that the control plane checks and the in-VM agent writes (spec/agent.md §4.4):
 *
 *   bytes  0..32  the registration nonce, hex-DECODED (the CP issues 16 random bytes as 32 hex chars), zero-padded
 *   bytes 32..64  an optional binding: SHA-256 of a key the agent holds (e.g. its HPKE public key); zero when unused
 *
 * A v1 agent writes `hex_decode(nonce)` padded with zeros to 64 bytes, which is this layout with no binding.
 * Nothing here does I/O: the agent and the control plane both import it.
 */
import { bytesToHex, hexToBytes, REPORT_DATA_SIZE } from './tdx-quote';

/** Size of the nonce region at the start of REPORTDATA. */
export const NONCE_REGION_SIZE = 32;
/** Size of the nonce the control plane issues (bytes; the challenge carries it as 2× as many hex chars). */
export const ISSUED_NONCE_BYTES = 16;
/** Size of the binding region at the end of REPORTDATA. */
export const BINDING_SIZE = REPORT_DATA_SIZE - NONCE_REGION_SIZE;

export class ReportDataError extends Error {
  override readonly name = 'ReportDataError';
}

function nonceBytes(nonceHex: string): Uint8Array {
  const hex = nonceHex.trim();
  if (hex === '' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new ReportDataError('nonce must be a non-empty even-length hex string');
  }
  const bytes = hexToBytes(hex);
  if (bytes.length > NONCE_REGION_SIZE) throw new ReportDataError(`nonce longer than ${NONCE_REGION_SIZE} bytes`);
  return bytes;
}

/** REPORTDATA for a challenge nonce (hex) and an optional 32-byte binding. Throws ReportDataError on bad input. */
export function reportDataForNonce(nonceHex: string, binding?: Uint8Array): Uint8Array {
  const out = new Uint8Array(REPORT_DATA_SIZE);
  out.set(nonceBytes(nonceHex), 0);
  if (binding) {
    if (binding.length !== BINDING_SIZE) throw new ReportDataError(`binding must be ${BINDING_SIZE} bytes`);
    out.set(binding, NONCE_REGION_SIZE);
  }
  return out;
}

function parse(reportDataHex: string | null | undefined): Uint8Array | null {
  if (!reportDataHex) return null;
  const hex = reportDataHex.trim();
  if (hex.length !== REPORT_DATA_SIZE * 2 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  return hexToBytes(hex);
}

/**
 * True iff the nonce region of the report data (hex, any case) is exactly `nonceHex` decoded and zero-padded.
 * An empty or malformed nonce never matches (all-zero report data must not count as bound). The binding region is
 * not looked at: check it with `reportDataBinding`.
 */
export function reportDataMatchesNonce(
  reportDataHex: string | null | undefined,
  nonceHex: string | null | undefined,
): boolean {
  const bytes = parse(reportDataHex);
  if (!bytes || !nonceHex) return false;
  let expected: Uint8Array;
  try {
    expected = reportDataForNonce(nonceHex);
  } catch {
    return false;
  }
  for (let i = 0; i < NONCE_REGION_SIZE; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

/**
 * The nonce the report data carries, as the lower-case hex the challenge issued: the first ISSUED_NONCE_BYTES bytes,
 * when the rest of the nonce region is zero and those bytes are not all zero. Null otherwise.
 */
export function nonceFromReportData(reportDataHex: string | null | undefined): string | null {
  const bytes = parse(reportDataHex);
  if (!bytes) return null;
  for (let i = ISSUED_NONCE_BYTES; i < NONCE_REGION_SIZE; i++) if (bytes[i] !== 0) return null;
  const nonce = bytes.subarray(0, ISSUED_NONCE_BYTES);
  if (nonce.every((b) => b === 0)) return null;
  return bytesToHex(nonce);
}

/** The binding region as hex, or null when it is all zero or the report data is malformed. */
export function reportDataBinding(reportDataHex: string | null | undefined): string | null {
  const bytes = parse(reportDataHex);
  if (!bytes) return null;
  const binding = bytes.subarray(NONCE_REGION_SIZE);
  return binding.every((b) => b === 0) ? null : bytesToHex(binding);
}

/** Hex of a full report data value (for fixtures and the agent's quote request). */
export function reportDataHex(nonceHex: string, binding?: Uint8Array): string {
  return bytesToHex(reportDataForNonce(nonceHex, binding));
}
