import { describe, expect, it } from 'vitest';
import { parseBool, parseFloatLoose, parseIntStrict, parseMode, parseSet } from '../../core/settings/parse';
import { settingBool, settingInt } from '../../core/settings/read';
import { SETTINGS, maskSecret } from '../../core/settings/registry';

describe('setting parsers', () => {
  it('bool', () => {
    for (const v of ['1', 'true', ' YES ', 'on']) expect(parseBool(v, false)).toBe(true);
    for (const v of ['0', 'false', 'No', 'off']) expect(parseBool(v, true)).toBe(false);
    expect(parseBool('maybe', true)).toBe(true);
    expect(parseBool('', false)).toBe(false);
  });
  it('int: Python int() semantics', () => {
    expect(parseIntStrict(' +42 ', 0)).toBe(42);
    expect(parseIntStrict('-7', 0)).toBe(-7);
    expect(parseIntStrict('1.5', 9)).toBe(9);
    expect(parseIntStrict('12abc', 9)).toBe(9);
    expect(parseIntStrict('', 300)).toBe(300);
  });
  it('float, set, mode', () => {
    expect(parseFloatLoose('25.5', 0)).toBe(25.5);
    expect(parseFloatLoose('x', 25)).toBe(25);
    expect([...parseSet(' UpToDate, ,SWHardeningNeeded ')]).toEqual(['UpToDate', 'SWHardeningNeeded']);
    expect(parseMode(' STRICT ', ['strict', 'warn', 'disabled'] as const, 'warn')).toBe('strict');
    expect(parseMode('bogus', ['strict', 'warn', 'disabled'] as const, 'warn')).toBe('warn');
  });
  it('masking', () => {
    expect(maskSecret('')).toBe('');
    expect(maskSecret('12345678')).toBe('****');
    expect(maskSecret('abcdefghijklmnop')).toBe('abcd****mnop');
  });
  it('registry: unique keys and env vars, every v1 key present, secret defaults empty', () => {
    const keys = SETTINGS.map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(SETTINGS.map((s) => s.envVar)).size).toBe(keys.length);
    for (const s of SETTINGS.filter((x) => x.secret)) expect(s.default).toBe('');
    const v1 = [
      'cloudflare.account_id',
      'github_oauth.redirect_uri',
      'stripe.webhook_secret',
      'intel_ta.jwks_url',
      'operational.tcb_enforcement_mode',
      'operational.default_gcp_tiny_capacity_dispatch',
      'billing.capacity_price_llm_monthly_usd',
      'provisioner.cleanup_token',
      'auth.allow_password_login_in_production',
    ];
    for (const k of v1) expect(keys).toContain(k);
    const secrets = new Set(SETTINGS.filter((s) => s.secret).map((s) => s.key));
    for (const k of [
      'cloudflare.api_token',
      'github_oauth.client_secret',
      'stripe.secret_key',
      'stripe.webhook_secret',
      'provisioner.webhook_token',
      'provisioner.inventory_token',
      'provisioner.cleanup_token',
    ] as const) {
      expect(secrets.has(k), k).toBe(true);
    }
  });
  it('typed reads fall back to the registry default when a value does not parse', async () => {
    const reader = (values: Record<string, string>) => ({ get: async (k: string) => values[k] ?? '' });
    expect(await settingInt(reader({ 'operational.nonce_ttl_seconds': '1.5' }), 'operational.nonce_ttl_seconds')).toBe(
      300,
    );
    expect(await settingInt(reader({ 'operational.nonce_ttl_seconds': ' 60 ' }), 'operational.nonce_ttl_seconds')).toBe(
      60,
    );
    expect(await settingBool(reader({ 'billing.enabled': 'maybe' }), 'billing.enabled')).toBe(true);
    expect(await settingBool(reader({ 'billing.enabled': 'off' }), 'billing.enabled')).toBe(false);
    // @ts-expect-error an unregistered key does not compile; a cast one is still refused at run time.
    await expect(settingInt(reader({}), 'no.such.key')).rejects.toThrow(/Unknown setting/);
  });
});
