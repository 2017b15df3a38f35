import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SettingsService, UnknownSettingError } from '../../core/settings/service';
import { upsertSetting } from '../../core/stores/settings';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';

for (const engine of testEngines()) {
  describe(`settings service (${engine})`, () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await createTestDb(engine);
    });
    afterAll(() => t?.destroy());

    it('resolves DB > env > default, treating empty strings as unset', async () => {
      const env: NodeJS.ProcessEnv = { EASYENCLAVE_DOMAIN: 'env.example' };
      const s = new SettingsService(t.db, { env });
      expect(await s.resolve('cloudflare.domain')).toEqual({ value: 'env.example', source: 'env' });
      expect(await s.resolve('operational.agent_stale_hours')).toEqual({ value: '24', source: 'default' });
      env.AGENT_STALE_HOURS = '';
      expect(await s.resolve('operational.agent_stale_hours')).toEqual({ value: '24', source: 'default' });
      await upsertSetting(t.db, { key: 'cloudflare.domain', value: 'db.example', isSecret: false });
      s.invalidate();
      expect(await s.resolve('cloudflare.domain')).toEqual({ value: 'db.example', source: 'db' });
      await upsertSetting(t.db, { key: 'cloudflare.domain', value: '', isSecret: false });
      s.invalidate();
      expect(await s.resolve('cloudflare.domain')).toEqual({ value: 'env.example', source: 'env' });
    });

    it('caches DB values for 5 s but reads env live', async () => {
      let clock = 0;
      const env: NodeJS.ProcessEnv = {};
      const s = new SettingsService(t.db, { env, clock: () => clock });
      await upsertSetting(t.db, { key: 'billing.contributor_pool_bps', value: '4000', isSecret: false });
      expect(await s.get('billing.contributor_pool_bps')).toBe('4000');
      await upsertSetting(t.db, { key: 'billing.contributor_pool_bps', value: '3000', isSecret: false });
      clock = 4999;
      expect(await s.get('billing.contributor_pool_bps')).toBe('4000');
      env.BILLING_PLATFORM_ACCOUNT_ID = 'acct-1';
      expect(await s.get('billing.platform_account_id')).toBe('acct-1');
      clock = 5001;
      expect(await s.get('billing.contributor_pool_bps')).toBe('3000');
    });

    it('unknown keys are an error; listings mask secrets', async () => {
      const s = new SettingsService(t.db, {
        env: { CLOUDFLARE_API_TOKEN: 'abcdefghijklmnop', STRIPE_SECRET_KEY: 'sk_test' },
      });
      // @ts-expect-error an unregistered key does not compile; a cast one is still refused at run time.
      await expect(s.get('nope')).rejects.toBeInstanceOf(UnknownSettingError);
      const list = await s.list('cloudflare');
      expect(list.find((x) => x.key === 'cloudflare.api_token')?.value).toBe('abcd****mnop');
      expect((await s.list('stripe')).find((x) => x.key === 'stripe.secret_key')?.value).toBe('****');
      expect((await s.list('stripe')).find((x) => x.key === 'stripe.webhook_secret')?.value).toBe('');
    });
  });
}
