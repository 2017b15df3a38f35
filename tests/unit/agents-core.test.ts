import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeDatacenter, normalizeRegistration } from '../../core/agents/registration-input';
import { cachedCpAttestation, measurementsOf, mintCpQuote } from '../../core/attestation/cp-quote';
import { mintConsoleToken, verifyConsoleToken } from '../../core/auth/console-token';
import { redactAttestation } from '../../core/stores/agents';
import { DEFAULT_FIELDS, makeTdxQuote } from '../fixtures/make-tdx-quote';

describe('registration input (attestation.md §5.1)', () => {
  it.each([
    ['gcp', 'gcp:default'],
    ['google:us-central1-a', 'gcp:us-central1-a'],
    ['OnPrem', 'baremetal:default'],
    ['az: westeurope ', 'azure:westeurope'],
    ['aws:', 'aws:default'],
    ['', ''],
  ])('normalizes datacenter %j → %j', (raw, want) => expect(normalizeDatacenter(raw)).toBe(want));

  it('reports the first failure in v1 order', () => {
    const base = { attestation: { tdx: {} }, vm_name: 'vm', node_size: 'tiny', datacenter: 'gcp' };
    expect(normalizeRegistration({ ...base, attestation: {} })).toEqual({
      ok: false,
      detail: 'Registration requires attestation',
    });
    expect(normalizeRegistration({ ...base, vm_name: ' ' })).toMatchObject({ detail: 'Registration requires vm_name' });
    expect(normalizeRegistration({ ...base, node_size: '-x' })).toMatchObject({ ok: false });
    expect(normalizeRegistration({ ...base, datacenter: 'bad dc' })).toMatchObject({
      detail: "Invalid datacenter 'bad dc'. Expected '<cloud>:<zone>' (for example gcp:us-central1-a)",
    });
    expect(normalizeRegistration({ ...base, node_size: ' TINY ' })).toEqual({
      ok: true,
      value: { vm_name: 'vm', node_size: 'tiny', datacenter: 'gcp:default' },
    });
  });
});

describe('console token eea1 (attestation.md §9.4)', () => {
  it('signs sorted compact JSON with the agent secret and clamps the ttl', () => {
    const now = Date.UTC(2026, 10, 24);
    const { token, expiresAtSec } = mintConsoleToken({
      agentId: 'a1',
      secret: 's3cret',
      ttlSeconds: 99_999,
      nowMs: now,
      isAdmin: true,
    });
    expect(expiresAtSec - now / 1000).toBe(3600);
    const payload = Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8');
    expect(payload.startsWith('{"agent_id":"a1","auth_method":"unknown","exp":')).toBe(true);
    expect(verifyConsoleToken(token, 's3cret', now)).toMatchObject({ agent_id: 'a1', v: 1 });
    expect(verifyConsoleToken(token, 'other', now)).toBeNull();
    expect(verifyConsoleToken(token, 's3cret', now + 3601_000)).toBeNull();
  });
});

describe('CP quote (attestation.md §10)', () => {
  it('reads measurements at the TD report offsets', () => {
    const m = measurementsOf(makeTdxQuote());
    expect(m?.mrtd).toBe(DEFAULT_FIELDS.mrtd);
    expect(measurementsOf(new Uint8Array(100))).toBeNull();
  });

  it('reports a missing TSM and a failing one without throwing', async () => {
    expect(await mintCpQuote('n', '/nonexistent/tsm')).toEqual({
      ok: false,
      error: 'TDX not available (control plane not in TEE)',
    });
    const dir = mkdtempSync(join(tmpdir(), 'tsm-'));
    const r = await mintCpQuote('n', dir, 100); // a plain directory: no outblob appears within 100 ms
    expect(r.ok).toBe(false);
    expect((r as { error: string }).error).toMatch(/^TDX attestation failed: /);
  });

  it('caches the /health summary for the TTL', async () => {
    let t = 0;
    const get = cachedCpAttestation({ root: '/nonexistent/tsm', ttlMs: 1000, now: () => new Date(t) });
    const first = get();
    expect(get()).toBe(first);
    t = 1500;
    expect(get()).not.toBe(first);
    expect(await get()).toBeNull();
  });
});

it('redacts tokens and secrets from the served attestation blob', () => {
  expect(redactAttestation({ tdx: { intel_ta_token: 'x', measurements: { mrtd: 'm' } }, api_secret: 'y' })).toEqual({
    tdx: { measurements: { mrtd: 'm' } },
  });
});
