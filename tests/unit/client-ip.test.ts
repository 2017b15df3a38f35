import { describe, expect, it } from 'vitest';
import { normalizeIp, parseTrustedProxies, resolveClientIp } from '../../api/http/client-ip';
import { parseRate, retryAfterSeconds } from '../../core/rate-limit';

describe('client IP resolution', () => {
  const trusted = parseTrustedProxies('10.0.0.0/8, 192.0.2.1, fd00::/8').proxies;

  it('parses IPs and CIDRs and reports junk', () => {
    const r = parseTrustedProxies(' 10.0.0.0/8 ,nope, 1.2.3.4/33, ::1, 2001:db8::/129,');
    expect(r.invalid).toEqual(['nope', '1.2.3.4/33', '2001:db8::/129']);
    expect(r.proxies.has('10.200.1.1')).toBe(true);
    expect(r.proxies.has('::1')).toBe(true);
    expect(r.proxies.has('11.0.0.1')).toBe(false);
    expect(parseTrustedProxies('').proxies.empty).toBe(true);
  });

  it('ignores X-Forwarded-For unless the peer is a trusted proxy', () => {
    expect(resolveClientIp('203.0.113.5', '1.1.1.1', trusted)).toBe('203.0.113.5');
    expect(resolveClientIp('::ffff:203.0.113.5', '1.1.1.1', trusted)).toBe('203.0.113.5');
    expect(resolveClientIp('10.0.0.2', '1.1.1.1', parseTrustedProxies('').proxies)).toBe('10.0.0.2');
  });

  it('takes the rightmost untrusted hop from a trusted proxy', () => {
    expect(resolveClientIp('10.0.0.2', '1.1.1.1', trusted)).toBe('1.1.1.1');
    expect(resolveClientIp('10.0.0.2', 'forged, 9.9.9.9, 192.0.2.1', trusted)).toBe('9.9.9.9');
    expect(resolveClientIp('::ffff:10.0.0.2', ' 8.8.8.8 , 10.1.1.1', trusted)).toBe('8.8.8.8');
    expect(resolveClientIp('10.0.0.2', '10.9.9.9, 10.1.1.1', trusted)).toBe('10.9.9.9');
    expect(resolveClientIp('10.0.0.2', 'garbage', trusted)).toBe('10.0.0.2');
    expect(resolveClientIp('10.0.0.2', undefined, trusted)).toBe('10.0.0.2');
    expect(normalizeIp(' ::FFFF:1.2.3.4 ')).toBe('1.2.3.4');
  });
});

describe('rate setting values', () => {
  it('reads <count>/<n><unit>', () => {
    expect(parseRate('5/15m')).toEqual({ limit: 5, windowMs: 900_000 });
    expect(parseRate(' 60 / 1 s ')).toEqual({ limit: 60, windowMs: 1000 });
    expect(parseRate('0/1h')).toEqual({ limit: 0, windowMs: 3_600_000 });
    for (const bad of ['', '5', '5/', '5/0m', '-1/1m', '5/1d', '1.5/1m']) expect(parseRate(bad)).toBeNull();
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(59_001)).toBe(60);
  });
});
