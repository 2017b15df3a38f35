/**
 * The append-only ledger (table `transactions`), amounts in integer micro-dollars.
 *
 * A balance is derived from the ledger: the sum of the account's amounts. Every append
 * runs in a DB transaction that first locks the account row (PostgreSQL `FOR UPDATE`;
 * SQLite serializes writers), so concurrent appends never both pass a balance check and
 * `balance_after` is exact. Entries carrying a `ledger_key` are written at most once: a
 * retried activity, a re-run billing hour or a re-delivered webhook gets the original
 * entry back instead of a second one.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isPostgres } from '../db/connection';
import { nowIso, requireIso, type TransactionRow } from '../db/tables';

export type TxType = 'deposit' | 'charge' | 'earning' | 'contributor_credit' | 'platform_revenue';

export interface LedgerEntry {
  transaction_id: string;
  account_id: string;
  amount: number;
  balance_after: number;
  tx_type: TxType;
  description: string;
  reference_id: string | null;
  ledger_key: string | null;
  created_at: string;
}

export interface NewLedgerEntry {
  accountId: string;
  amount: number;
  txType: TxType;
  description?: string;
  referenceId?: string | null;
  /** Idempotency key, e.g. `charge:<deployment_id>:<hour>:deployer`. */
  ledgerKey?: string | null;
  /** Refuse a debit that would take the balance below zero (API path). Default true. */
  forbidNegative?: boolean;
}

export class AccountNotFoundError extends Error {
  constructor(readonly accountId: string) {
    super('Account not found');
    this.name = 'AccountNotFoundError';
  }
}

export class InsufficientFundsError extends Error {
  constructor(
    readonly balance: number,
    readonly amount: number,
  ) {
    super('Insufficient funds');
    this.name = 'InsufficientFundsError';
  }
}

function toEntry(row: TransactionRow): LedgerEntry {
  return {
    transaction_id: row.transaction_id,
    account_id: row.account_id,
    amount: Number(row.amount),
    balance_after: Number(row.balance_after),
    tx_type: row.tx_type as TxType,
    description: row.description,
    reference_id: row.reference_id,
    ledger_key: row.ledger_key,
    created_at: requireIso(row.created_at),
  };
}

export async function getBalance(db: Knex | Knex.Transaction, accountId: string): Promise<number> {
  const row = await db('transactions').where({ account_id: accountId }).sum({ total: 'amount' }).first();
  return Number(row?.total ?? 0);
}

/** Balances of many accounts at once (listings). */
export async function getBalances(db: Knex | Knex.Transaction, accountIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map(accountIds.map((id) => [id, 0]));
  if (accountIds.length === 0) return out;
  const rows = await db('transactions')
    .whereIn('account_id', accountIds as string[])
    .groupBy('account_id')
    .select('account_id')
    .sum({ total: 'amount' });
  for (const r of rows as { account_id: string; total: number | string }[]) out.set(r.account_id, Number(r.total));
  return out;
}

async function lockAccount(trx: Knex.Transaction, accountId: string): Promise<void> {
  const q = trx('accounts').where({ account_id: accountId }).first('account_id');
  const row = isPostgres(trx) ? await q.forUpdate() : await q;
  if (!row) throw new AccountNotFoundError(accountId);
}

async function appendLocked(trx: Knex.Transaction, e: NewLedgerEntry, createdAt: string): Promise<LedgerEntry> {
  if (e.ledgerKey) {
    const existing = await trx<TransactionRow>('transactions').where({ ledger_key: e.ledgerKey }).first();
    if (existing) return toEntry(existing);
  }
  await lockAccount(trx, e.accountId);
  const balance = await getBalance(trx, e.accountId);
  const balanceAfter = balance + e.amount;
  if ((e.forbidNegative ?? true) && e.amount < 0 && balanceAfter < 0) throw new InsufficientFundsError(balance, e.amount);
  const row = {
    transaction_id: randomUUID(),
    account_id: e.accountId,
    amount: e.amount,
    balance_after: balanceAfter,
    tx_type: e.txType,
    description: e.description ?? '',
    reference_id: e.referenceId ?? null,
    ledger_key: e.ledgerKey ?? null,
    created_at: createdAt,
  };
  await trx('transactions').insert(row);
  return row;
}

/** Append one entry atomically (see the file comment for locking and idempotency). */
export async function appendLedgerEntry(db: Knex, e: NewLedgerEntry): Promise<LedgerEntry> {
  return (await appendLedgerEntries(db, [e]))[0]!;
}

/**
 * Append several entries in ONE transaction: all or none (a charge and its revenue split
 * land together). Entries whose ledger_key already exists are returned unchanged.
 */
export async function appendLedgerEntries(db: Knex, entries: readonly NewLedgerEntry[]): Promise<LedgerEntry[]> {
  const createdAt = nowIso();
  return db.transaction(async (trx) => {
    const out: LedgerEntry[] = [];
    for (const e of entries) out.push(await appendLocked(trx, e, createdAt));
    return out;
  });
}

export async function listTransactions(
  db: Knex | Knex.Transaction,
  accountId: string,
  limit = 200,
): Promise<LedgerEntry[]> {
  const rows = await db<TransactionRow>('transactions')
    .where({ account_id: accountId })
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'transaction_id', order: 'desc' },
    ])
    .limit(limit);
  return rows.map(toEntry);
}
