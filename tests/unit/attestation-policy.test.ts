import { describe, expect, it } from 'vitest';
import {
  checkNonce,
  checkRtmrs,
  checkTcb,
  lookupMrtdTrust,
  lookupRtmrBaseline,
  mergeTrustedMrtds,
  normalizeEnforcementMode,
  normalizeNonceMode,
  normalizeRtmrMode,
  normalizeTcbMode,
  parseAllowedTcbStatuses,
  parseRtmrProfiles,
  trustRowType,
  type NonceCheckInput,
  type Rtmrs,
} from '../../core/attestation/policy';

const rt = (a: string, b: string, c: string, d: string): Rtmrs => ({
  rtmr0: a.repeat(96),
  rtmr1: b.repeat(96),
  rtmr2: c.repeat(96),
  rtmr3: d.repeat(96),
});

describe('mode normalization', () => {
  it('tcb/rtmr: strict|warn|disabled, unknown → warn', () => {
    expect(normalizeTcbMode('strict')).toBe('strict');
    expect(normalizeRtmrMode(' DISABLED ')).toBe('disabled');
    expect(normalizeEnforcementMode('warn')).toBe('warn');
    expect(normalizeEnforcementMode('enforce')).toBe('warn');
    expect(normalizeEnforcementMode('')).toBe('warn');
    expect(normalizeEnforcementMode(undefined)).toBe('warn');
  });

  it('nonce: required|optional|disabled, unknown → required (fail closed)', () => {
    expect(normalizeNonceMode('required')).toBe('required');
    expect(normalizeNonceMode('Disabled')).toBe('disabled');
    expect(normalizeNonceMode('optional')).toBe('optional');
    expect(normalizeNonceMode('strict')).toBe('required');
    expect(normalizeNonceMode(null)).toBe('required');
  });
});

describe('checkTcb', () => {
  const allowed = parseAllowedTcbStatuses('UpToDate, SWHardeningNeeded');

  it('parses the allowed list (trimmed, case-sensitive)', () => {
    expect([...allowed]).toEqual(['UpToDate', 'SWHardeningNeeded']);
    expect(parseAllowedTcbStatuses(' , ').size).toBe(0);
  });

  it('passes allowed statuses in every mode', () => {
    for (const mode of ['strict', 'warn', 'disabled'] as const) {
      expect(checkTcb('UpToDate', mode, allowed)).toEqual({ ok: true });
    }
  });

  it('strict rejects with the spec message', () => {
    expect(checkTcb('OutOfDate', 'strict', allowed)).toEqual({
      ok: false,
      status: 403,
      detail: "TCB status 'OutOfDate' not in allowed list: UpToDate, SWHardeningNeeded",
    });
    // case-sensitive
    expect(checkTcb('uptodate', 'strict', allowed).ok).toBe(false);
  });

  it('warn passes with a warning; disabled skips', () => {
    expect(checkTcb('Unknown', 'warn', allowed)).toEqual({
      ok: true,
      warning: "TCB status 'Unknown' not in allowed list: UpToDate, SWHardeningNeeded",
    });
    expect(checkTcb('Revoked', 'disabled', allowed)).toEqual({ ok: true });
  });
});

describe('trusted MRTDs', () => {
  const A = 'aa'.repeat(48);
  const B = 'bb'.repeat(48);
  const C = 'cc'.repeat(48);

  it('merges env lists (trimmed, lower-cased, not validated) with DB rows; DB wins', () => {
    const m = mergeTrustedMrtds(
      {
        TRUSTED_AGENT_MRTDS: ` ${A.toUpperCase()} , ,${B}`,
        TRUSTED_PROXY_MRTDS: 'short-not-validated',
        SYSTEM_PROXY_MRTD: C,
      },
      [
        { mrtd: B, type: 'proxy' },
        { mrtd: ` ${C.toUpperCase()} `, type: ' ' },
        { mrtd: 'dd'.repeat(48), type: 'admin' },
      ],
    );
    expect(m.get(A)).toBe('agent');
    expect(m.get(B)).toBe('proxy'); // DB overrides env agent
    expect(m.get(C)).toBe('agent'); // blank DB type → agent, overrides env proxy
    expect(m.get('short-not-validated')).toBe('proxy');
    expect(m.has('dd'.repeat(48))).toBe(false); // unusable type skipped
    expect(m.has('')).toBe(false);
    expect(m.size).toBe(4);
  });

  it('normalizes types', () => {
    expect(trustRowType(undefined)).toBe('agent');
    expect(trustRowType(' PROXY ')).toBe('proxy');
    expect(trustRowType('other')).toBeNull();
  });

  it('looks up with a normalized probe, rejecting unknown MRTDs with the spec message', () => {
    const m = mergeTrustedMrtds({ TRUSTED_PROXY_MRTDS: A }, []);
    expect(lookupMrtdTrust(`  ${A.toUpperCase()}\n`, m)).toEqual({ ok: true, mrtd: A, type: 'proxy' });
    expect(lookupMrtdTrust(B, m)).toEqual({
      ok: false,
      status: 403,
      detail: `MRTD not in trusted list: ${B.slice(0, 32)}...`,
    });
    expect(lookupMrtdTrust('', m).ok).toBe(false);
    expect(lookupMrtdTrust(null, m).ok).toBe(false);
  });
});

describe('RTMR profiles', () => {
  const base = rt('1', '2', '3', '4');
  const tiny = rt('5', '6', '7', '8');

  it('parses default and by-size profiles per type', () => {
    const { profiles, warnings } = parseRtmrProfiles({
      TRUSTED_AGENT_RTMRS: JSON.stringify(base),
      TRUSTED_AGENT_RTMRS_BY_SIZE: JSON.stringify({ ' Tiny ': tiny }),
      TRUSTED_PROXY_RTMRS: JSON.stringify({ ...tiny, rtmr0: tiny.rtmr0.toUpperCase() }),
    });
    expect(warnings).toEqual([]);
    expect(profiles.agent.default).toEqual(base);
    expect(profiles.agent.bySize).toEqual({ tiny });
    expect(profiles.proxy.default).toEqual(tiny); // lower-cased
    expect(profiles.proxy.bySize).toEqual({});
    expect(lookupRtmrBaseline(profiles, 'agent', 'tiny')).toEqual(tiny);
    expect(lookupRtmrBaseline(profiles, 'agent', 'llm')).toEqual(base);
    expect(lookupRtmrBaseline(profiles, 'agent', '')).toEqual(base);
    expect(lookupRtmrBaseline(profiles, 'proxy', 'tiny')).toEqual(tiny);
  });

  it('ignores invalid JSON and incomplete profiles with warnings', () => {
    const { rtmr3: _drop, ...incomplete } = base;
    const { profiles, warnings } = parseRtmrProfiles({
      TRUSTED_AGENT_RTMRS: '{not json',
      TRUSTED_PROXY_RTMRS: JSON.stringify(incomplete),
      TRUSTED_AGENT_RTMRS_BY_SIZE: JSON.stringify({ tiny: incomplete, standard: base, bad: 'x' }),
      TRUSTED_PROXY_RTMRS_BY_SIZE: '[1,2]',
    });
    expect(profiles.agent.default).toBeNull();
    expect(profiles.proxy.default).toBeNull();
    expect(profiles.agent.bySize).toEqual({ standard: base });
    expect(profiles.proxy.bySize).toEqual({});
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toMatch(/TRUSTED_AGENT_RTMRS is not valid JSON/);
    expect(warnings.some((w) => w.includes('TRUSTED_AGENT_RTMRS_BY_SIZE["tiny"]'))).toBe(true);
    expect(warnings.some((w) => w.startsWith('TRUSTED_PROXY_RTMRS_BY_SIZE must be'))).toBe(true);
    expect(lookupRtmrBaseline(profiles, 'proxy', 'tiny')).toBeNull();
  });

  it('no env → no baselines', () => {
    const { profiles, warnings } = parseRtmrProfiles({});
    expect(warnings).toEqual([]);
    expect(lookupRtmrBaseline(profiles, 'agent', 'tiny')).toBeNull();
  });
});

describe('checkRtmrs', () => {
  const baseline = rt('a', 'b', 'c', 'd');

  it('passes when signed RTMRs match (hex case-insensitive)', () => {
    const upper: Rtmrs = { ...baseline, rtmr1: baseline.rtmr1.toUpperCase() };
    expect(checkRtmrs(baseline, upper, 'strict', 'tiny')).toEqual({ ok: true });
  });

  it('strict rejects mismatches with the spec message, including node_size', () => {
    const actual = rt('a', 'e', 'c', 'f');
    expect(checkRtmrs(baseline, actual, 'strict', 'tiny')).toEqual({
      ok: false,
      status: 403,
      detail:
        "RTMR mismatch node_size='tiny': RTMR1: expected bbbbbbbbbbbbbbbb..., got eeeeeeeeeeeeeeee...; " +
        'RTMR3: expected dddddddddddddddd..., got ffffffffffffffff...',
    });
  });

  it('omits node_size from the message when empty', () => {
    const r = checkRtmrs(baseline, rt('0', 'b', 'c', 'd'), 'strict', '');
    expect(r).toEqual({
      ok: false,
      status: 403,
      detail: 'RTMR mismatch: RTMR0: expected aaaaaaaaaaaaaaaa..., got 0000000000000000...',
    });
  });

  it('warn passes with the same text as a warning; disabled skips', () => {
    const actual = rt('0', 'b', 'c', 'd');
    expect(checkRtmrs(baseline, actual, 'warn', 'llm')).toEqual({
      ok: true,
      warning: "RTMR mismatch node_size='llm': RTMR0: expected aaaaaaaaaaaaaaaa..., got 0000000000000000...",
    });
    expect(checkRtmrs(baseline, actual, 'disabled', 'llm')).toEqual({ ok: true });
  });

  it('an empty value on either side is not a mismatch', () => {
    expect(checkRtmrs({ ...baseline, rtmr2: '' }, rt('a', 'b', 'f', 'd'), 'strict')).toEqual({ ok: true });
    expect(checkRtmrs(baseline, { ...baseline, rtmr3: '' }, 'strict')).toEqual({ ok: true });
  });

  it('baseline configured but no signed RTMRs', () => {
    const detail = 'Agent attestation does not contain RTMRs but trusted RTMRs are configured';
    expect(checkRtmrs(baseline, null, 'strict', 'tiny')).toEqual({ ok: false, status: 403, detail });
    expect(checkRtmrs(baseline, null, 'warn', 'tiny')).toEqual({ ok: true, warning: detail });
    expect(checkRtmrs(baseline, null, 'disabled', 'tiny')).toEqual({ ok: true });
  });

  it('no baseline passes', () => {
    expect(checkRtmrs(null, rt('1', '2', '3', '4'), 'strict', 'tiny')).toEqual({ ok: true });
    expect(checkRtmrs(null, null, 'strict', 'tiny')).toEqual({ ok: true });
  });
});

describe('checkNonce', () => {
  const nonce = '0123456789abcdef0123456789abcdef';
  const issuedAtMs = 1_700_000_000_000;
  const base = (over: Partial<NonceCheckInput>): NonceCheckInput => ({
    mode: 'required',
    presented: nonce,
    expected: { nonce, issuedAtMs },
    nowMs: issuedAtMs + 10_000,
    ttlSeconds: 300,
    vmName: 'vm-1',
    ...over,
  });

  it('disabled accepts anything and consumes nothing', () => {
    expect(checkNonce(base({ mode: 'disabled', presented: 'wrong', expected: null }))).toEqual({
      ok: true,
      consume: false,
    });
  });

  it('match → accept and consume (one-time use), compared trimmed and case-insensitive', () => {
    expect(checkNonce(base({}))).toEqual({ ok: true, consume: true });
    expect(checkNonce(base({ presented: `  ${nonce.toUpperCase()} ` }))).toEqual({ ok: true, consume: true });
    expect(checkNonce(base({ mode: 'optional' }))).toEqual({ ok: true, consume: true });
  });

  it('nothing bound: required → 400, optional → warning', () => {
    expect(checkNonce(base({ presented: null }))).toEqual({
      ok: false,
      consume: false,
      status: 400,
      detail: 'Nonce required. Call GET /api/v1/agents/challenge first',
    });
    expect(checkNonce(base({ presented: '  ' })).ok).toBe(false);
    const opt = checkNonce(base({ mode: 'optional', presented: null }));
    expect(opt.ok).toBe(true);
    expect(opt.consume).toBe(false);
    expect(opt.ok && opt.warning).toBeTruthy();
  });

  it('no challenge issued: required → 403, optional → accept', () => {
    expect(checkNonce(base({ expected: null }))).toEqual({
      ok: false,
      consume: false,
      status: 403,
      detail: 'Nonce verification failed: No nonce challenge found for vm-1',
    });
    expect(checkNonce(base({ mode: 'optional', expected: null })).ok).toBe(true);
  });

  it('expired (strictly greater than ttl): entry consumed; required → 403', () => {
    const atTtl = checkNonce(base({ nowMs: issuedAtMs + 300_000 }));
    expect(atTtl).toEqual({ ok: true, consume: true });
    expect(checkNonce(base({ nowMs: issuedAtMs + 300_001 }))).toEqual({
      ok: false,
      consume: true,
      status: 403,
      detail: 'Nonce verification failed: Nonce expired for vm-1',
    });
    const opt = checkNonce(base({ mode: 'optional', nowMs: issuedAtMs + 300_001 }));
    expect(opt).toMatchObject({ ok: true, consume: true });
  });

  it('unparsable ttl falls back to 300 s', () => {
    expect(checkNonce(base({ ttlSeconds: Number.NaN, nowMs: issuedAtMs + 299_000 })).ok).toBe(true);
    expect(checkNonce(base({ ttlSeconds: Number.NaN, nowMs: issuedAtMs + 301_000 })).ok).toBe(false);
  });

  it('mismatch: entry kept; required → 403, optional → accept', () => {
    expect(checkNonce(base({ presented: 'f'.repeat(32) }))).toEqual({
      ok: false,
      consume: false,
      status: 403,
      detail: 'Nonce verification failed: Nonce mismatch for vm-1',
    });
    expect(checkNonce(base({ mode: 'optional', presented: 'f'.repeat(32) }))).toMatchObject({
      ok: true,
      consume: false,
    });
  });
});
