import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccountNotFoundError,
  InsufficientFundsError,
  appendLedgerEntries,
  appendLedgerEntry,
  getBalance,
  getBalances,
  listTransactions,
} from '../../core/stores/ledger';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAccount } from '../helpers/seed';

describe.each(testEngines())('ledger store (%s)', (engine) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(engine);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('derives the balance from the ledger and records balance_after', async () => {
    const { account_id } = await seedAccount(t.db);
    expect(await getBalance(t.db, account_id)).toBe(0);
    const a = await appendLedgerEntry(t.db, { accountId: account_id, amount: 5_000_000, txType: 'deposit' });
    const b = await appendLedgerEntry(t.db, { accountId: account_id, amount: -1_250_000, txType: 'charge' });
    expect(a.balance_after).toBe(5_000_000);
    expect(b.balance_after).toBe(3_750_000);
    expect(await getBalance(t.db, account_id)).toBe(3_750_000);
    expect((await getBalances(t.db, [account_id, 'nobody'])).get(account_id)).toBe(3_750_000);
    expect(await listTransactions(t.db, account_id)).toHaveLength(2);
  });

  it('writes an entry with a ledger_key once; a repeat returns the original', async () => {
    const { account_id } = await seedAccount(t.db);
    const first = await appendLedgerEntry(t.db, {
      accountId: account_id,
      amount: 1_000_000,
      txType: 'deposit',
      ledgerKey: `stripe:pi_${account_id}`,
    });
    const again = await appendLedgerEntry(t.db, {
      accountId: account_id,
      amount: 1_000_000,
      txType: 'deposit',
      ledgerKey: `stripe:pi_${account_id}`,
    });
    expect(again.transaction_id).toBe(first.transaction_id);
    // Concurrent repeats of one key: still a single row (the key is checked under the account lock).
    const racers = await Promise.all(
      Array.from({ length: 8 }, () =>
        appendLedgerEntry(t.db, {
          accountId: account_id,
          amount: 2_000_000,
          txType: 'deposit',
          ledgerKey: `race:${account_id}`,
        }),
      ),
    );
    expect(new Set(racers.map((r) => r.transaction_id)).size).toBe(1);
    expect(await getBalance(t.db, account_id)).toBe(3_000_000);
    expect(await listTransactions(t.db, account_id)).toHaveLength(2);
  });

  it('never overdraws through a race with forbidNegative', async () => {
    const { account_id } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: account_id, amount: 1_000_000, txType: 'deposit' });
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        appendLedgerEntry(t.db, {
          accountId: account_id,
          amount: -300_000,
          txType: 'charge',
          ledgerKey: `debit:${account_id}:${i}`,
          forbidNegative: true,
        }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(3);
    expect(refused).toHaveLength(7);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(InsufficientFundsError);
    expect(await getBalance(t.db, account_id)).toBe(100_000);
    const rows = await listTransactions(t.db, account_id);
    expect(rows.every((r) => r.balance_after >= 0)).toBe(true);
    // balance_after of the rows forms the exact running sum
    expect(rows.map((r) => r.balance_after).sort((a, b) => a - b)).toEqual([100_000, 400_000, 700_000, 1_000_000]);
  });

  it('a debit to exactly zero is allowed; one micro more is refused', async () => {
    const { account_id } = await seedAccount(t.db);
    await appendLedgerEntry(t.db, { accountId: account_id, amount: 500, txType: 'deposit' });
    await expect(
      appendLedgerEntry(t.db, { accountId: account_id, amount: -501, txType: 'charge' }),
    ).rejects.toBeInstanceOf(InsufficientFundsError);
    const zero = await appendLedgerEntry(t.db, { accountId: account_id, amount: -500, txType: 'charge' });
    expect(zero.balance_after).toBe(0);
  });

  it('appends several entries all or nothing', async () => {
    const { account_id: payer } = await seedAccount(t.db);
    const { account_id: payee } = await seedAccount(t.db, { account_type: 'agent' });
    await appendLedgerEntry(t.db, { accountId: payer, amount: 100, txType: 'deposit' });
    // The debit fails → the credit listed before it is rolled back too.
    await expect(
      appendLedgerEntries(t.db, [
        { accountId: payee, amount: 150, txType: 'earning', ledgerKey: `x:${payee}:credit` },
        { accountId: payer, amount: -150, txType: 'charge', ledgerKey: `x:${payer}:debit` },
      ]),
    ).rejects.toBeInstanceOf(InsufficientFundsError);
    // An unknown account anywhere in the list → nothing written.
    await expect(
      appendLedgerEntries(t.db, [
        { accountId: payer, amount: -50, txType: 'charge' },
        { accountId: 'no-such-account', amount: 50, txType: 'earning' },
      ]),
    ).rejects.toBeInstanceOf(AccountNotFoundError);
    expect(await getBalance(t.db, payee)).toBe(0);
    expect(await getBalance(t.db, payer)).toBe(100);
    expect(await t.db('transactions').whereIn('ledger_key', [`x:${payee}:credit`, `x:${payer}:debit`])).toHaveLength(0);

    const both = await appendLedgerEntries(t.db, [
      { accountId: payer, amount: -60, txType: 'charge', ledgerKey: `y:${payer}` },
      { accountId: payee, amount: 60, txType: 'earning', ledgerKey: `y:${payee}` },
    ]);
    expect(both.map((e) => e.balance_after)).toEqual([40, 60]);
  });

  it('refuses amounts that are not integer micros', async () => {
    const { account_id } = await seedAccount(t.db);
    await expect(appendLedgerEntry(t.db, { accountId: account_id, amount: 0.5, txType: 'deposit' })).rejects.toThrow(
      RangeError,
    );
  });

  it('opposite-direction transfers between two accounts do not deadlock', async () => {
    const { account_id: a } = await seedAccount(t.db);
    const { account_id: b } = await seedAccount(t.db);
    await appendLedgerEntries(t.db, [
      { accountId: a, amount: 1_000, txType: 'deposit' },
      { accountId: b, amount: 1_000, txType: 'deposit' },
    ]);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? appendLedgerEntries(t.db, [
              { accountId: a, amount: -10, txType: 'charge' },
              { accountId: b, amount: 10, txType: 'earning' },
            ])
          : appendLedgerEntries(t.db, [
              { accountId: b, amount: -10, txType: 'charge' },
              { accountId: a, amount: 10, txType: 'earning' },
            ]),
      ),
    );
    expect(await getBalance(t.db, a)).toBe(1_000);
    expect(await getBalance(t.db, b)).toBe(1_000);
  });

  it('keeps every account a gap-free chain: seq 1..n, newest balance_after equals SUM(amount)', async () => {
    const accounts = (await t.db('transactions').distinct('account_id')) as { account_id: string }[];
    expect(accounts.length).toBeGreaterThan(5);
    for (const { account_id } of accounts) {
      const rows = await t
        .db('transactions')
        .where({ account_id })
        .orderBy('seq', 'asc')
        .select('seq', 'amount', 'balance_after');
      let sum = 0;
      rows.forEach((r, i) => {
        sum += Number(r.amount);
        expect(Number(r.seq)).toBe(i + 1);
        expect(Number(r.balance_after)).toBe(sum);
      });
      expect(await getBalance(t.db, account_id)).toBe(sum);
    }
  });
});
