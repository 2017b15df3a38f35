/** Daily ledger totals for the dashboard chart, on every engine (SQLite; PostgreSQL with TEST_DATABASE_URL). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLockedLedgerEntries, lockLedgerAccounts, type NewLedgerEntry } from '../../core/stores/ledger';
import { dailyLedgerTotals } from '../../core/stores/ledger-reports';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAccount } from '../helpers/seed';

describe.each(testEngines())('ledger reports (%s)', (engine) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(engine);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  const append = (entries: NewLedgerEntry[], at: string) =>
    t.db.transaction(async (trx) => {
      await lockLedgerAccounts(
        trx,
        entries.map((e) => e.accountId),
      );
      return appendLockedLedgerEntries(trx, entries, at);
    });

  it('sums charges and earnings per UTC day, zero days included, deposits left out', async () => {
    const deployer = (await seedAccount(t.db)).account_id;
    const operator = (await seedAccount(t.db, { account_type: 'agent' })).account_id;
    await append([{ accountId: deployer, amount: 50_000_000, txType: 'deposit' }], '2026-11-01T00:00:00.000Z');
    await append(
      [
        { accountId: deployer, amount: -2_000_000, txType: 'charge', forbidNegative: false },
        { accountId: operator, amount: 1_500_000, txType: 'earning' },
      ],
      '2026-11-02T23:59:59.000Z',
    );
    await append(
      [
        { accountId: deployer, amount: -1_000_000, txType: 'charge', forbidNegative: false },
        { accountId: operator, amount: 250_000, txType: 'contributor_credit' },
        { accountId: operator, amount: 100_000, txType: 'platform_revenue' },
      ],
      '2026-11-04T00:00:00.000Z',
    );
    // Before the window: not counted.
    await append([{ accountId: deployer, amount: -9_000_000, txType: 'charge' }], '2026-10-31T12:00:00.000Z');

    expect(await dailyLedgerTotals(t.db, '2026-11-01', '2026-11-04')).toEqual([
      { day: '2026-11-01', charges: 0, earnings: 0 },
      { day: '2026-11-02', charges: 2_000_000, earnings: 1_500_000 },
      { day: '2026-11-03', charges: 0, earnings: 0 },
      { day: '2026-11-04', charges: 1_000_000, earnings: 350_000 },
    ]);
  });
});
