/**
 * Intel TDX quote parsing (pure: no I/O, no Node-only globals such as Buffer), so workflows may import it.
 *
 * Layout (Intel TDX DCAP Quote Generation Library and Quote Verification Library, "Quote Format"):
 *
 *   v4: header (48) | TD report body (584)                                  | sig_data_len u32 | sig_data
 *   v5: header (48) | body type u16 | body size u32 | body (584 or 648)     | sig_data_len u32 | sig_data
 *
 * Header: version u16, att_key_type u16, tee_type u32 (0x81 = TDX), qe_svn u16, pce_svn u16,
 *         qe_vendor_id [16], user_data [20]. All integers little-endian.
 *
 * TD report body (TDX 1.0, 584 bytes; offsets relative to the body):
 *   tee_tcb_svn 0..16, mrseam 16..64, mrsignerseam 64..112, seam_attributes 112..120, td_attributes 120..128,
 *   xfam 128..136, mrtd 136..184, mrconfigid 184..232, mrowner 232..280, mrownerconfig 280..328,
 *   rtmr0 328..376, rtmr1 376..424, rtmr2 424..472, rtmr3 472..520, report_data 520..584.
 * TDX 1.5 body (v5 body type 3, 648 bytes) appends tee_tcb_svn2 [16] and mrservicetd [48].
 *
 * ECDSA signature data (att_key_type 2/3): signature [64] | attestation public key [64] |
 *   certification data type u16 | certification data size u32 | certification data.
 */

export const TDX_TEE_TYPE = 0x81;
export const QUOTE_HEADER_SIZE = 48;
export const TD_REPORT_10_SIZE = 584;
export const TD_REPORT_15_SIZE = 648;
export const REPORT_DATA_SIZE = 64;

/** Offsets inside the TD report body. */
export const TD_REPORT_OFFSETS = {
  teeTcbSvn: [0, 16],
  mrSeam: [16, 64],
  mrSignerSeam: [64, 112],
  seamAttributes: [112, 120],
  tdAttributes: [120, 128],
  xfam: [128, 136],
  mrtd: [136, 184],
  mrConfigId: [184, 232],
  mrOwner: [232, 280],
  mrOwnerConfig: [280, 328],
  rtmr0: [328, 376],
  rtmr1: [376, 424],
  rtmr2: [424, 472],
  rtmr3: [472, 520],
  reportData: [520, 584],
  // TDX 1.5 only
  teeTcbSvn2: [584, 600],
  mrServiceTd: [600, 648],
} as const;

export type QuoteParseErrorCode =
  | 'not_bytes'
  | 'too_short'
  | 'unsupported_version'
  | 'not_tdx'
  | 'unsupported_body_type'
  | 'bad_signature_length'
  | 'bad_signature_data'
  | 'bad_base64';

export class QuoteParseError extends Error {
  readonly code: QuoteParseErrorCode;
  constructor(code: QuoteParseErrorCode, message: string) {
    super(message);
    this.name = 'QuoteParseError';
    this.code = code;
  }
}

export interface TdxQuoteHeader {
  version: number;
  attKeyType: number;
  teeType: number;
  qeSvn: number;
  pceSvn: number;
  qeVendorId: string;
  userData: string;
}

export interface TdReport {
  /** 'tdx10' (584-byte body) or 'tdx15' (648-byte body, v5 only). */
  kind: 'tdx10' | 'tdx15';
  teeTcbSvn: string;
  mrSeam: string;
  mrSignerSeam: string;
  seamAttributes: string;
  tdAttributes: string;
  xfam: string;
  mrtd: string;
  mrConfigId: string;
  mrOwner: string;
  mrOwnerConfig: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  reportData: string;
  teeTcbSvn2?: string;
  mrServiceTd?: string;
}

export interface EcdsaSignatureData {
  signature: string;
  attestationKey: string;
  certificationDataType: number;
  certificationDataSize: number;
  /** Raw certification data (e.g. QE report certification data for type 6). */
  certificationData: Uint8Array;
}

export interface TdxQuote {
  header: TdxQuoteHeader;
  /** Byte offset of the TD report body inside the quote (48 for v4, 54 for v5). */
  bodyOffset: number;
  /** v5 body type (2 = TDX 1.0, 3 = TDX 1.5); null for v4. */
  bodyType: number | null;
  body: TdReport;
  /** Convenience copies of the measurements most callers need. */
  mrtd: string;
  rtmrs: { rtmr0: string; rtmr1: string; rtmr2: string; rtmr3: string };
  reportData: string;
  signatureDataLength: number;
  signatureData: Uint8Array;
  /** Parsed ECDSA signature section, or null when att_key_type is not ECDSA (2 or 3). */
  ecdsa: EcdsaSignatureData | null;
  /** Bytes after the signature data (normally 0; some transports pad). */
  trailingBytes: number;
  /** Total size of the quote proper (header + body + 4 + signature data). */
  size: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers (no Buffer: must run inside Temporal's workflow sandbox too)

const HEX = '0123456789abcdef';

export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += HEX[b >> 4]! + HEX[b & 0x0f]!;
  }
  return out;
}

export function hexToBytes(hex: string): Uint8Array {
  const clean = hex.trim().toLowerCase();
  if (clean.length % 2 !== 0 || !/^[0-9a-f]*$/.test(clean)) {
    throw new TypeError('invalid hex string');
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP: Record<string, number> = {};
for (let i = 0; i < B64.length; i++) B64_LOOKUP[B64[i]!] = i;
B64_LOOKUP['-'] = 62;
B64_LOOKUP['_'] = 63;

/** Decodes standard or URL-safe base64 (padding optional, whitespace ignored). */
export function base64ToBytes(input: string): Uint8Array {
  const s = input.replace(/\s+/g, '').replace(/=+$/, '');
  if (s.length % 4 === 1) throw new QuoteParseError('bad_base64', 'Invalid base64: bad length');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    const v = B64_LOOKUP[s[i]!];
    if (v === undefined) {
      throw new QuoteParseError('bad_base64', `Invalid base64: unexpected character at position ${i}`);
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, j);
}

export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = bytes[i + 1];
    const c = bytes[i + 2];
    out += B64[a >> 2]!;
    out += B64[((a & 0x03) << 4) | ((b ?? 0) >> 4)]!;
    out += b === undefined ? '=' : B64[((b & 0x0f) << 2) | ((c ?? 0) >> 6)]!;
    out += c === undefined ? '=' : B64[c & 0x3f]!;
  }
  return out;
}

function u16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

function u32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x1000000;
}

function hexAt(b: Uint8Array, off: number, len: number): string {
  return bytesToHex(b.subarray(off, off + len));
}

function need(bytes: Uint8Array, needed: number, what: string): void {
  if (bytes.length < needed) {
    throw new QuoteParseError(
      'too_short',
      `TDX quote too short: got ${bytes.length} bytes, need at least ${needed} (${what})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------

function parseBody(bytes: Uint8Array, off: number, kind: 'tdx10' | 'tdx15'): TdReport {
  const f = (range: readonly [number, number]) => hexAt(bytes, off + range[0], range[1] - range[0]);
  const o = TD_REPORT_OFFSETS;
  const body: TdReport = {
    kind,
    teeTcbSvn: f(o.teeTcbSvn),
    mrSeam: f(o.mrSeam),
    mrSignerSeam: f(o.mrSignerSeam),
    seamAttributes: f(o.seamAttributes),
    tdAttributes: f(o.tdAttributes),
    xfam: f(o.xfam),
    mrtd: f(o.mrtd),
    mrConfigId: f(o.mrConfigId),
    mrOwner: f(o.mrOwner),
    mrOwnerConfig: f(o.mrOwnerConfig),
    rtmr0: f(o.rtmr0),
    rtmr1: f(o.rtmr1),
    rtmr2: f(o.rtmr2),
    rtmr3: f(o.rtmr3),
    reportData: f(o.reportData),
  };
  if (kind === 'tdx15') {
    body.teeTcbSvn2 = f(o.teeTcbSvn2);
    body.mrServiceTd = f(o.mrServiceTd);
  }
  return body;
}

function parseEcdsa(sig: Uint8Array): EcdsaSignatureData {
  const fixed = 64 + 64 + 2 + 4;
  if (sig.length < fixed) {
    throw new QuoteParseError(
      'bad_signature_data',
      `TDX quote signature data too short: got ${sig.length} bytes, need at least ${fixed} for an ECDSA signature`,
    );
  }
  const certificationDataType = u16(sig, 128);
  const certificationDataSize = u32(sig, 130);
  if (fixed + certificationDataSize > sig.length) {
    throw new QuoteParseError(
      'bad_signature_data',
      `TDX quote certification data size ${certificationDataSize} exceeds the ${sig.length - fixed} bytes left in the signature data`,
    );
  }
  return {
    signature: hexAt(sig, 0, 64),
    attestationKey: hexAt(sig, 64, 64),
    certificationDataType,
    certificationDataSize,
    certificationData: sig.slice(fixed, fixed + certificationDataSize),
  };
}

/** Parses a TDX quote (version 4 or 5). Throws {@link QuoteParseError} on short or malformed input. */
export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  if (!(bytes instanceof Uint8Array)) {
    throw new QuoteParseError('not_bytes', 'TDX quote must be a Uint8Array');
  }
  need(bytes, QUOTE_HEADER_SIZE, 'quote header');

  const header: TdxQuoteHeader = {
    version: u16(bytes, 0),
    attKeyType: u16(bytes, 2),
    teeType: u32(bytes, 4),
    qeSvn: u16(bytes, 8),
    pceSvn: u16(bytes, 10),
    qeVendorId: hexAt(bytes, 12, 16),
    userData: hexAt(bytes, 28, 20),
  };
  if (header.version !== 4 && header.version !== 5) {
    throw new QuoteParseError('unsupported_version', `Unsupported quote version ${header.version} (expected 4 or 5)`);
  }
  if (header.teeType !== TDX_TEE_TYPE) {
    throw new QuoteParseError(
      'not_tdx',
      `Not a TDX quote: tee_type is 0x${header.teeType.toString(16)} (expected 0x81)`,
    );
  }

  let bodyOffset = QUOTE_HEADER_SIZE;
  let bodyType: number | null = null;
  let kind: 'tdx10' | 'tdx15' = 'tdx10';
  let bodySize = TD_REPORT_10_SIZE;
  if (header.version === 5) {
    need(bytes, QUOTE_HEADER_SIZE + 6, 'v5 body descriptor');
    bodyType = u16(bytes, QUOTE_HEADER_SIZE);
    const declared = u32(bytes, QUOTE_HEADER_SIZE + 2);
    if (bodyType === 2) {
      kind = 'tdx10';
      bodySize = TD_REPORT_10_SIZE;
    } else if (bodyType === 3) {
      kind = 'tdx15';
      bodySize = TD_REPORT_15_SIZE;
    } else {
      throw new QuoteParseError(
        'unsupported_body_type',
        `Unsupported v5 quote body type ${bodyType} (expected 2 = TDX 1.0 or 3 = TDX 1.5)`,
      );
    }
    if (declared !== bodySize) {
      throw new QuoteParseError(
        'unsupported_body_type',
        `v5 quote body size ${declared} does not match body type ${bodyType} (expected ${bodySize})`,
      );
    }
    bodyOffset = QUOTE_HEADER_SIZE + 6;
  }

  const sigLenOffset = bodyOffset + bodySize;
  need(bytes, sigLenOffset + 4, 'header, TD report and signature data length');
  const body = parseBody(bytes, bodyOffset, kind);

  const signatureDataLength = u32(bytes, sigLenOffset);
  const sigStart = sigLenOffset + 4;
  const available = bytes.length - sigStart;
  if (signatureDataLength > available) {
    throw new QuoteParseError(
      'bad_signature_length',
      `TDX quote signature data length ${signatureDataLength} exceeds the ${available} bytes left in the buffer`,
    );
  }
  const signatureData = bytes.slice(sigStart, sigStart + signatureDataLength);
  const ecdsa = header.attKeyType === 2 || header.attKeyType === 3 ? parseEcdsa(signatureData) : null;
  const size = sigStart + signatureDataLength;

  return {
    header,
    bodyOffset,
    bodyType,
    body,
    mrtd: body.mrtd,
    rtmrs: { rtmr0: body.rtmr0, rtmr1: body.rtmr1, rtmr2: body.rtmr2, rtmr3: body.rtmr3 },
    reportData: body.reportData,
    signatureDataLength,
    signatureData,
    ecdsa,
    trailingBytes: bytes.length - size,
    size,
  };
}

/** Decodes a base64 (standard or URL-safe) quote and parses it. */
export function quoteFromBase64(b64: string): TdxQuote {
  if (typeof b64 !== 'string' || b64.trim() === '') {
    throw new QuoteParseError('bad_base64', 'TDX quote base64 is empty');
  }
  return parseTdxQuote(base64ToBytes(b64));
}
