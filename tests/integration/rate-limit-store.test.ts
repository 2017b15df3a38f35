/** The shared rate-limit counters on every engine: exact under concurrency, window reset, refunds, purge. */
import { afterEach, describe, expect, it } from 'vitest';
import { consumeRate, purgeRateLimits, rateCount, refundRate } from '../../core/stores/rate-limits';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';

const W = { limit: 5, windowMs: 60_000 };
const T0 = 1_800_000_000_000; // a window boundary (divisible by 60 000)

for (const engine of testEngines()) {
  describe(`rate-limit store (${engine})`, () => {
    let t: TestDb | undefined;
    afterEach(async () => {
      await t?.destroy();
      t = undefined;
    });

    it('allows exactly `limit` of 20 concurrent requests and does not count the refused ones', async () => {
      t = await createTestDb(engine);
      const db = t.db;
      const results = await Promise.all(Array.from({ length: 20 }, () => consumeRate(db, 'k', W, T0 + 1000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(5);
      expect(results.filter((r) => !r.allowed)).toEqual(
        Array.from({ length: 15 }, () => ({ allowed: false, retryAfterMs: 59_000 })),
      );
      expect(await rateCount(db, 'k', W, T0 + 1000)).toBe(5);
    });

    it('starts a new window after the old one ends, and keys are independent', async () => {
      t = await createTestDb(engine);
      for (let i = 0; i < 5; i += 1) expect((await consumeRate(t.db, 'k', W, T0)).allowed).toBe(true);
      expect(await consumeRate(t.db, 'k', W, T0 + 59_999)).toEqual({ allowed: false, retryAfterMs: 1 });
      expect((await consumeRate(t.db, 'other', W, T0 + 59_999)).allowed).toBe(true);
      expect((await consumeRate(t.db, 'k', W, T0 + 60_000)).allowed).toBe(true);
      expect(await rateCount(t.db, 'k', W, T0 + 60_000)).toBe(1);
    });

    it('a refund gives one request back; a limit of 0 refuses everything', async () => {
      t = await createTestDb(engine);
      for (let i = 0; i < 5; i += 1) await consumeRate(t.db, 'k', W, T0);
      await refundRate(t.db, 'k', W, T0);
      expect((await consumeRate(t.db, 'k', W, T0)).allowed).toBe(true);
      expect((await consumeRate(t.db, 'k', W, T0)).allowed).toBe(false);
      expect((await consumeRate(t.db, 'zero', { limit: 0, windowMs: 1000 }, T0)).allowed).toBe(false);
      expect(await t.db('rate_limits').where({ key: 'zero' }).first()).toBeUndefined();
    });

    it('purges counters of past windows only', async () => {
      t = await createTestDb(engine);
      await consumeRate(t.db, 'old', W, T0);
      await consumeRate(t.db, 'new', W, T0 + 120_000);
      expect(await purgeRateLimits(t.db, T0 + 60_000)).toBe(1);
      expect((await t.db('rate_limits').select('key')).map((r) => r.key)).toEqual(['new']);
    });
  });
}
