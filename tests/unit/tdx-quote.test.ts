import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  QuoteParseError,
  base64ToBytes,
  bytesToBase64,
  parseTdxQuote,
  quoteFromBase64,
} from '../../core/attestation/tdx-quote';
import {
  ReportDataError,
  nonceFromReportData,
  reportDataBinding,
  reportDataForNonce,
  reportDataMatchesNonce,
} from '../../core/attestation/report-data';
import { FIXTURE_NONCE, makeTdxQuote, pattern } from '../fixtures/make-tdx-quote';

const fixtureDir = fileURLToPath(new URL('../fixtures/', import.meta.url));
const bin = new Uint8Array(readFileSync(fixtureDir + 'tdx-quote-v4.bin'));
const expected = JSON.parse(readFileSync(fixtureDir + 'tdx-quote-v4.json', 'utf8')) as {
  sha256: string;
  size: number;
  nonce: string;
  header: Record<string, unknown>;
  bodyOffset: number;
  body: Record<string, string>;
  signatureDataLength: number;
  ecdsa: Record<string, unknown>;
};

const hexOf = (b: Uint8Array, start: number, end: number) => Buffer.from(b.subarray(start, end)).toString('hex');

function expectParseError(bytes: Uint8Array, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    parseTdxQuote(bytes);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(QuoteParseError);
  expect((caught as QuoteParseError).code).toBe(code);
  expect((caught as QuoteParseError).message).toMatch(message);
}

describe('tdx-quote-v4.bin fixture', () => {
  it('is the committed, unmodified fixture', () => {
    expect(bin.length).toBe(expected.size);
    expect(createHash('sha256').update(bin).digest('hex')).toBe(expected.sha256);
  });

  it('is reproduced byte for byte by the generator', () => {
    expect(Buffer.from(makeTdxQuote()).equals(Buffer.from(bin))).toBe(true);
  });

  it('parses to the expected header, TD report and signature data', () => {
    const q = parseTdxQuote(bin);
    expect(q.header).toEqual(expected.header);
    expect(q.bodyOffset).toBe(expected.bodyOffset);
    expect(q.bodyType).toBeNull();
    expect(q.body).toEqual(expected.body);
    expect(q.signatureDataLength).toBe(expected.signatureDataLength);
    expect(q.signatureData.length).toBe(expected.signatureDataLength);
    expect(q.ecdsa).not.toBeNull();
    const { certificationData, ...ecdsa } = q.ecdsa!;
    expect(ecdsa).toEqual(expected.ecdsa);
    expect(certificationData.length).toBe(expected.ecdsa.certificationDataSize);
    expect(q.size).toBe(bin.length);
    expect(q.trailingBytes).toBe(0);
    // convenience copies
    expect(q.mrtd).toBe(expected.body.mrtd);
    expect(q.reportData).toBe(expected.body.reportData);
    expect(q.rtmrs).toEqual({
      rtmr0: expected.body.rtmr0,
      rtmr1: expected.body.rtmr1,
      rtmr2: expected.body.rtmr2,
      rtmr3: expected.body.rtmr3,
    });
  });

  it('agrees with independently computed absolute offsets', () => {
    const q = parseTdxQuote(bin);
    // header
    expect(bin[0]! | (bin[1]! << 8)).toBe(4);
    expect(Buffer.from(bin).readUInt32LE(4)).toBe(0x81);
    // TD report at 48: MRTD [48+136, 48+184) = [184, 232)
    expect(q.mrtd).toBe(hexOf(bin, 184, 232));
    expect(q.body.mrSeam).toBe(hexOf(bin, 64, 112));
    expect(q.rtmrs.rtmr0).toBe(hexOf(bin, 376, 424));
    expect(q.rtmrs.rtmr1).toBe(hexOf(bin, 424, 472));
    expect(q.rtmrs.rtmr2).toBe(hexOf(bin, 472, 520));
    expect(q.rtmrs.rtmr3).toBe(hexOf(bin, 520, 568));
    expect(q.reportData).toBe(hexOf(bin, 568, 632));
    // signature data length u32 at 632, data from 636
    expect(q.signatureDataLength).toBe(Buffer.from(bin).readUInt32LE(632));
    expect(q.ecdsa!.signature).toBe(hexOf(bin, 636, 700));
    expect(Buffer.from(bin).readUInt16LE(636 + 128)).toBe(6);
    // all hex fields are lowercase
    expect(q.mrtd).toMatch(/^[0-9a-f]{96}$/);
  });

  it('binds the fixture nonce in report data (v1 layout)', () => {
    const q = parseTdxQuote(bin);
    expect(reportDataMatchesNonce(q.reportData, FIXTURE_NONCE)).toBe(true);
    expect(reportDataMatchesNonce(q.reportData, expected.nonce)).toBe(true);
    expect(nonceFromReportData(q.reportData)).toBe(FIXTURE_NONCE);
    expect(reportDataMatchesNonce(q.reportData, FIXTURE_NONCE.replace(/.$/, '0'))).toBe(false);
  });

  it('parses from standard and URL-safe base64', () => {
    const std = Buffer.from(bin).toString('base64');
    const url = Buffer.from(bin).toString('base64url');
    expect(quoteFromBase64(std).mrtd).toBe(expected.body.mrtd);
    expect(quoteFromBase64(url).mrtd).toBe(expected.body.mrtd);
    expect(quoteFromBase64(std.replace(/(.{76})/g, '$1\n')).size).toBe(bin.length);
    expect(bytesToBase64(bin)).toBe(std);
    expect(Buffer.from(base64ToBytes(std)).equals(Buffer.from(bin))).toBe(true);
  });
});

describe('parseTdxQuote errors', () => {
  it('rejects input shorter than the header with both byte counts', () => {
    expectParseError(bin.subarray(0, 20), 'too_short', /got 20 bytes, need at least 48/);
    expectParseError(new Uint8Array(0), 'too_short', /got 0 bytes/);
  });

  it('rejects a header without a full TD report', () => {
    expectParseError(bin.subarray(0, 600), 'too_short', /got 600 bytes, need at least 636/);
    expectParseError(bin.subarray(0, 634), 'too_short', /got 634 bytes, need at least 636/);
  });

  it('rejects unsupported versions', () => {
    const v3 = bin.slice();
    v3[0] = 3;
    expectParseError(v3, 'unsupported_version', /Unsupported quote version 3/);
  });

  it('rejects non-TDX (SGX) quotes', () => {
    expectParseError(makeTdxQuote({ teeType: 0 }), 'not_tdx', /Not a TDX quote: tee_type is 0x0/);
  });

  it('rejects a signature length beyond the buffer', () => {
    expectParseError(
      makeTdxQuote({ signatureDataLengthOverride: 5000 }),
      'bad_signature_length',
      /signature data length 5000 exceeds the 1016 bytes left/,
    );
    // truncated in the middle of the signature data
    expectParseError(bin.subarray(0, bin.length - 1), 'bad_signature_length', /1016 exceeds the 1015 bytes/);
  });

  it('rejects ECDSA signature data whose certification data overruns it', () => {
    const sig = Buffer.alloc(140);
    sig.writeUInt16LE(6, 128);
    sig.writeUInt32LE(1000, 130);
    expectParseError(
      makeTdxQuote({ signatureData: sig.toString('hex') }),
      'bad_signature_data',
      /certification data size 1000 exceeds the 6 bytes/,
    );
    expectParseError(makeTdxQuote({ signatureData: '00'.repeat(10) }), 'bad_signature_data', /got 10 bytes/);
  });

  it('skips ECDSA parsing for unknown attestation key types', () => {
    const q = parseTdxQuote(makeTdxQuote({ attKeyType: 9, signatureData: 'abcd' }));
    expect(q.ecdsa).toBeNull();
    expect(q.signatureDataLength).toBe(2);
  });

  it('reports trailing bytes without failing', () => {
    const q = parseTdxQuote(makeTdxQuote({ trailing: 7 }));
    expect(q.trailingBytes).toBe(7);
    expect(q.size).toBe(bin.length);
  });

  it('rejects invalid base64 and non-bytes', () => {
    expect(() => quoteFromBase64('not*base64')).toThrow(QuoteParseError);
    expect(() => quoteFromBase64('')).toThrow(/empty/);
    expect(() => parseTdxQuote('abc' as unknown as Uint8Array)).toThrow(/Uint8Array/);
  });
});

describe('TDX quote v5', () => {
  it('parses a TDX 1.0 body (type 2) at offset 54', () => {
    const mrtd = pattern(42, 48);
    const bytes = makeTdxQuote({ version: 5, bodyType: 2, mrtd });
    const q = parseTdxQuote(bytes);
    expect(q.header.version).toBe(5);
    expect(q.bodyType).toBe(2);
    expect(q.bodyOffset).toBe(54);
    expect(q.mrtd).toBe(mrtd);
    expect(q.mrtd).toBe(hexOf(bytes, 54 + 136, 54 + 184));
    expect(q.body.kind).toBe('tdx10');
    expect(q.body.mrServiceTd).toBeUndefined();
  });

  it('parses a TDX 1.5 body (type 3) with mrservicetd', () => {
    const bytes = makeTdxQuote({ version: 5, bodyType: 3, mrServiceTd: pattern(9, 48) });
    const q = parseTdxQuote(bytes);
    expect(q.body.kind).toBe('tdx15');
    expect(q.body.mrServiceTd).toBe(pattern(9, 48));
    expect(q.body.mrServiceTd).toBe(hexOf(bytes, 54 + 600, 54 + 648));
    expect(q.signatureDataLength).toBe(Buffer.from(bytes).readUInt32LE(54 + 648));
  });

  it('rejects unknown body types', () => {
    const bytes = makeTdxQuote({ version: 5, bodyType: 2 });
    bytes[48] = 1; // SGX enclave report body type
    expectParseError(bytes, 'unsupported_body_type', /body type 1/);
  });
});

describe('nonce binding (hex-decoded nonce, zero-padded; optional 32-byte binding)', () => {
  const nonce = '0123456789abcdef0123456789abcdef';

  it('hex-decodes the nonce into the first bytes and zero-pads to 64', () => {
    const rd = reportDataForNonce(nonce);
    expect(rd.length).toBe(64);
    expect(Buffer.from(rd.subarray(0, 16)).toString('hex')).toBe(nonce);
    expect(rd.subarray(16).every((b) => b === 0)).toBe(true);
  });

  it('is byte-identical to what a v1 agent writes (bytes.fromhex(nonce) padded to 64)', () => {
    const v1 = Buffer.alloc(64);
    Buffer.from(nonce, 'hex').copy(v1);
    expect(Buffer.from(reportDataForNonce(nonce)).equals(v1)).toBe(true);
    expect(reportDataMatchesNonce(v1.toString('hex'), nonce)).toBe(true);
  });

  it('refuses a nonce that is not hex or longer than the nonce region', () => {
    expect(() => reportDataForNonce('xyz')).toThrow(ReportDataError);
    expect(() => reportDataForNonce('abc')).toThrow(ReportDataError);
    expect(() => reportDataForNonce('ab'.repeat(33))).toThrow(ReportDataError);
    expect(() => reportDataForNonce('')).toThrow(ReportDataError);
  });

  it('does not match the ASCII bytes of the nonce string (the old, wrong layout)', () => {
    const ascii = Buffer.alloc(64);
    Buffer.from(nonce, 'utf8').copy(ascii);
    expect(reportDataMatchesNonce(ascii.toString('hex'), nonce)).toBe(false);
    expect(nonceFromReportData(ascii.toString('hex'))).toBeNull();
  });

  it('matches case-insensitively on the hex and exactly on the nonce region', () => {
    const rdHex = Buffer.from(reportDataForNonce(nonce)).toString('hex');
    expect(reportDataMatchesNonce(rdHex.toUpperCase(), nonce)).toBe(true);
    expect(reportDataMatchesNonce(rdHex, nonce.toUpperCase())).toBe(true);
    // non-zero bytes after the nonce inside the nonce region: not bound to this nonce
    const tampered = rdHex.slice(0, 32) + 'ff' + rdHex.slice(34);
    expect(reportDataMatchesNonce(tampered, nonce)).toBe(false);
    expect(reportDataMatchesNonce(rdHex.slice(0, 64), nonce)).toBe(false);
    expect(reportDataMatchesNonce('00'.repeat(64), '')).toBe(false);
    expect(reportDataMatchesNonce(null, nonce)).toBe(false);
  });

  it('carries a 32-byte binding after the nonce region without disturbing the nonce', () => {
    const binding = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    const rdHex = Buffer.from(reportDataForNonce(nonce, binding)).toString('hex');
    expect(reportDataMatchesNonce(rdHex, nonce)).toBe(true);
    expect(nonceFromReportData(rdHex)).toBe(nonce);
    expect(reportDataBinding(rdHex)).toBe(Buffer.from(binding).toString('hex'));
    expect(reportDataBinding(Buffer.from(reportDataForNonce(nonce)).toString('hex'))).toBeNull();
    expect(() => reportDataForNonce(nonce, new Uint8Array(31))).toThrow(ReportDataError);
  });

  it('reads the bound nonce back, or null for other report data', () => {
    expect(nonceFromReportData(Buffer.from(reportDataForNonce(nonce)).toString('hex'))).toBe(nonce);
    expect(nonceFromReportData('00'.repeat(64))).toBeNull();
    expect(nonceFromReportData('61' + '00'.repeat(16) + '01' + '00'.repeat(46))).toBeNull();
    expect(nonceFromReportData('zz'.repeat(64))).toBeNull();
    expect(nonceFromReportData('61')).toBeNull();
  });
});
