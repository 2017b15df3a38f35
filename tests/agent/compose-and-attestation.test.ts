import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import {
  AttestationError,
  createAttester,
  healthReportData,
  itaAttest,
  tsmQuoteSource,
} from '../../agent/core/attestation';
import { applyResourceLimits, ComposeError, safeWorkloadPath } from '../../agent/core/compose';
import { nonceFromReportData, reportDataForNonce } from '../../core/attestation/report-data';
import { startFakeIntelTa, type FakeIntelTa } from '../fakes/intel-ta';
import { startFakeTsm } from '../fakes/tsm-kernel';

const MRTD = 'a1'.repeat(48);
const RTMRS = { rtmr0: 'b0'.repeat(48), rtmr1: 'b1'.repeat(48), rtmr2: 'b2'.repeat(48), rtmr3: '00'.repeat(48) };

describe('compose limits', () => {
  const compose = `services:
  web:
    image: web
    cpus: 8
    deploy:
      resources:
        limits: { cpus: "16", memory: 64g }
        reservations:
          devices: [{ driver: nvidia, count: all, capabilities: [gpu] }]
  small:
    image: small
    mem_limit: 256m
`;
  it('applies the paid-for limits to every service, lowering larger tenant values and keeping smaller ones', () => {
    const out = parse(applyResourceLimits(compose, { cpu_vcpus: 2, memory_gb: 4, gpu_count: 0 }));
    expect(out.services.web.deploy.resources.limits).toEqual({ cpus: '2', memory: '4096M' });
    expect(out.services.web.cpus).toBeUndefined();
    expect(out.services.web.deploy.resources.reservations).toBeUndefined(); // no GPU paid for: none reserved
    expect(out.services.small.deploy.resources.limits).toEqual({ cpus: '2', memory: '256M' });
    expect(out.services.small.mem_limit).toBeUndefined();
    const gpu = parse(applyResourceLimits(compose, { cpu_vcpus: 4, memory_gb: 8, gpu_count: 1 }));
    expect(gpu.services.small.deploy.resources.reservations.devices).toEqual([
      { driver: 'nvidia', count: 1, capabilities: ['gpu'] },
    ]);
    expect(applyResourceLimits(compose, undefined)).toBe(compose); // older CP: unchanged
    expect(() => applyResourceLimits('image: x', null)).toThrow(ComposeError);
  });

  it('keeps build-context files inside the workload directory', () => {
    expect(safeWorkloadPath('/w', 'app/main.py')).toBe('/w/app/main.py');
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../x', 'docker-compose.yml', '.env', '']) {
      expect(() => safeWorkloadPath('/w', bad), bad).toThrow(ComposeError);
    }
  });
});

describe('attestation', () => {
  let ita: FakeIntelTa;
  beforeAll(async () => {
    ita = await startFakeIntelTa();
  });
  afterAll(async () => ita?.close());

  for (const version of [4, 5] as const) {
    it(`configfs-tsm v${version}: the nonce lands in REPORTDATA and ITA signs the submitted quote's values`, async () => {
      const tsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, version });
      try {
        const attester = createAttester({ source: tsmQuoteSource(tsm.root), itaUrl: ita.url, itaApiKey: ita.apiKey });
        const nonce = '0123456789abcdef0123456789abcdef';
        const doc = await attester.attest(reportDataForNonce(nonce));
        expect(doc.tdx.measurements).toMatchObject({ mrtd: MRTD, ...RTMRS, version });
        expect(nonceFromReportData(doc.tdx.measurements.report_data)).toBe(nonce);
        const claims = decodeJwt(doc.tdx.intel_ta_token!);
        expect(claims).toMatchObject({ tdx_mrtd: MRTD, tdx_rtmr0: RTMRS.rtmr0, tdx_report_data: tsm.reportData[0] });
      } finally {
        tsm.close();
      }
    });
  }

  it('fails with typed errors: missing TSM, ITA down, wrong key', async () => {
    const missing = tsmQuoteSource(join(mkdtempSync(join(tmpdir(), 'no-tsm-')), 'report'));
    await expect(missing.quote(new Uint8Array(64))).rejects.toMatchObject({ kind: 'tsm_unavailable' });
    ita.setAttestStatus(503);
    await expect(itaAttest({ baseUrl: ita.url, apiKey: ita.apiKey, quoteB64: 'AA==' })).rejects.toMatchObject({
      kind: 'ita_rejected',
      status: 503,
    });
    ita.setAttestStatus(null);
    await expect(itaAttest({ baseUrl: ita.url, apiKey: 'wrong', quoteB64: 'AA==' })).rejects.toMatchObject({
      status: 401,
    });
    await expect(itaAttest({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', quoteB64: 'AA==' })).rejects.toMatchObject({
      kind: 'ita_unreachable',
    });
  });

  it('health attestation REPORTDATA is bound to the caller nonce but never reads as a registration nonce', () => {
    const rd = Buffer.from(healthReportData('5a'.repeat(16))).toString('hex');
    expect(rd).not.toBe(Buffer.from(healthReportData('5b'.repeat(16))).toString('hex'));
    expect(nonceFromReportData(rd)).toBeNull();
    expect(() => healthReportData('xyz')).toThrow(AttestationError);
  });
});
