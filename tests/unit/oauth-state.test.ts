import { describe, expect, it } from 'vitest';
import { createOAuthState, OAUTH_STATE_TTL_MS, verifyOAuthState } from '../../core/auth/oauth-state';

const SECRET = 'test-secret-0123456789abcdef0123456789';
const NOW = 1_700_000_000_000;

describe('OAuth state', () => {
  it('round-trips and is URL-safe', () => {
    const state = createOAuthState(SECRET, NOW);
    expect(state).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(encodeURIComponent(state)).toBe(state);
    const r = verifyOAuthState(SECRET, state, NOW + 1000);
    expect(r).toEqual({ ok: true, nonce: state.split('.')[0], expiresAtMs: NOW + OAUTH_STATE_TTL_MS });
  });

  it('gives every state a different nonce', () => {
    const nonces = new Set(
      Array.from({ length: 50 }, () => {
        const r = verifyOAuthState(SECRET, createOAuthState(SECRET, NOW), NOW);
        return r.ok ? r.nonce : '';
      }),
    );
    expect(nonces.size).toBe(50);
  });

  it('refuses a tampered state', () => {
    const state = createOAuthState(SECRET, NOW);
    const [nonce, exp, mac] = state.split('.') as [string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    expect(verifyOAuthState(SECRET, `${flip(nonce)}.${exp}.${mac}`, NOW)).toEqual({ ok: false, reason: 'signature' });
    expect(verifyOAuthState(SECRET, `${nonce}.${Number(exp) + 3_600_000}.${mac}`, NOW)).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(verifyOAuthState(SECRET, `${nonce}.${exp}.${flip(mac)}`, NOW)).toEqual({ ok: false, reason: 'signature' });
    // Same decoded bytes, different text in the spare bits of the last char: still refused.
    const last = mac.slice(-1);
    const alt = 'AEIMQUYcgkosw048'.includes(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : last;
    if (alt !== last) {
      expect(verifyOAuthState(SECRET, `${nonce}.${exp}.${mac.slice(0, -1)}${alt}`, NOW).ok).toBe(false);
    }
  });

  it('refuses malformed states', () => {
    for (const s of ['', 'abc', 'a.b.c', `${'A'.repeat(22)}.12x.${'A'.repeat(43)}`, 'x'.repeat(500), 'a.b.c.d']) {
      expect(verifyOAuthState(SECRET, s, NOW), s).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('expires after the ttl', () => {
    const state = createOAuthState(SECRET, NOW, 60_000);
    expect(verifyOAuthState(SECRET, state, NOW + 59_999).ok).toBe(true);
    expect(verifyOAuthState(SECRET, state, NOW + 60_000)).toEqual({ ok: false, reason: 'expired' });
    const def = createOAuthState(SECRET, NOW);
    expect(verifyOAuthState(SECRET, def, NOW + 600_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a state made with another secret', () => {
    const state = createOAuthState('another-secret-xxxxxxxxxxxxxxxxxxxxxx', NOW);
    expect(verifyOAuthState(SECRET, state, NOW)).toEqual({ ok: false, reason: 'signature' });
  });

  it('binds to an optional value', () => {
    const state = createOAuthState(SECRET, NOW, undefined, { binding: 'cookie-1' });
    expect(verifyOAuthState(SECRET, state, NOW, { binding: 'cookie-1' }).ok).toBe(true);
    expect(verifyOAuthState(SECRET, state, NOW, { binding: 'cookie-2' })).toEqual({ ok: false, reason: 'signature' });
    expect(verifyOAuthState(SECRET, state, NOW)).toEqual({ ok: false, reason: 'signature' });
  });

  it('throws on an empty secret', () => {
    expect(() => createOAuthState('', NOW)).toThrow(TypeError);
    expect(() => verifyOAuthState('', 'x', NOW)).toThrow(TypeError);
    expect(() => createOAuthState(SECRET, NOW, 0)).toThrow(TypeError);
  });
});
