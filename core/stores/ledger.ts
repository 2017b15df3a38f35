/**
 * The append-only ledger (table `transactions`), amounts in integer micro-dollars.
 *
 * A balance is derived from the ledger: the sum of the account's amounts. Every append
 * runs in a DB transaction that first locks the account row (PostgreSQL `FOR UPDATE`;
 * SQLite serializes writers), so concurrent appends never both pass a balance check and
 * `balance_after` is exact. Under that lock an append continues the newest entry (highest
 * `seq`, migration 20261124040000) instead of summing the whole history, so its cost does not
 * grow with the account's ledger; rows must therefore be written only through this file. Entries carrying a `ledger_key` are written at most once: a
 * retried activity, a re-run billing hour or a re-delivered webhook gets the original
 * entry back instead of a second one.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isPostgres } from '../db/connection';
import { nowIso, requireIso, type TransactionRow } from '../db/tables';
import { keysetPage, keyTime } from '../db/keyset';
import type { Page, PageRequest } from '../pagination';

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

/** An entry that would take a balance beyond what integer micro-dollars can hold exactly (±2^53 − 1). */
export class BalanceOverflowError extends Error {
  constructor(
    readonly balance: number,
    readonly amount: number,
  ) {
    super('Balance out of range');
    this.name = 'BalanceOverflowError';
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
export async function getBalances(
  db: Knex | Knex.Transaction,
  accountIds: readonly string[],
): Promise<Map<string, number>> {
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

/**
 * Locks the given account rows in one global (sorted) order and returns the ids that exist. PostgreSQL takes the
 * row locks with `FOR UPDATE` as the sorted rows are returned; SQLite has a single writer, so the transaction
 * itself serializes. Two appends touching the same accounts (a deployer that is also an operator elsewhere, the
 * platform account) therefore queue instead of deadlocking.
 */
export async function lockLedgerAccounts(trx: Knex.Transaction, accountIds: readonly string[]): Promise<Set<string>> {
  const ids = [...new Set(accountIds)].sort();
  if (ids.length === 0) return new Set();
  const q = trx('accounts').whereIn('account_id', ids).orderBy('account_id').select('account_id');
  const rows = (isPostgres(trx) ? await q.forUpdate() : await q) as { account_id: string }[];
  return new Set(rows.map((r) => r.account_id));
}

/**
 * Appends entries whose accounts the caller has locked in this transaction (lockLedgerAccounts). Everything is
 * checked before anything is written — keys already taken, integer amounts, the running balance of each account
 * in entry order — so a refusal (InsufficientFundsError, RangeError) leaves the transaction untouched. Entries
 * whose ledger_key exists (or repeats an earlier entry of the same call) return that entry instead of a new one.
 */
export async function appendLockedLedgerEntries(
  trx: Knex.Transaction,
  entries: readonly NewLedgerEntry[],
  createdAt: string = nowIso(),
): Promise<LedgerEntry[]> {
  const [result] = await appendLockedLedgerGroups(trx, [entries], createdAt);
  if (result instanceof InsufficientFundsError) throw result;
  return result!;
}

/**
 * Like appendLockedLedgerEntries for many independent groups at once (the hourly charge of a chunk of
 * deployments): each group is all or nothing and is applied after the previous ones, so balances run on; a group
 * that would overdraw a `forbidNegative` account is refused (its slot holds the InsufficientFundsError) and
 * writes nothing. A constant number of queries whatever the number of groups: keys, heads, batched inserts.
 */
export async function appendLockedLedgerGroups(
  trx: Knex.Transaction,
  groups: readonly (readonly NewLedgerEntry[])[],
  createdAt: string = nowIso(),
): Promise<(LedgerEntry[] | InsufficientFundsError)[]> {
  const all = groups.flat();
  for (const e of all) {
    if (!Number.isSafeInteger(e.amount)) throw new RangeError(`ledger amount must be integer micros, got ${e.amount}`);
  }
  const keys = [...new Set(all.map((e) => e.ledgerKey).filter((k): k is string => !!k))];
  const byKey = new Map<string, LedgerEntry>();
  for (let i = 0; i < keys.length; i += KEY_CHUNK) {
    const taken = await trx<TransactionRow>('transactions').whereIn('ledger_key', keys.slice(i, i + KEY_CHUNK));
    for (const row of taken) byKey.set(row.ledger_key!, toEntry(row));
  }
  const fresh = all.filter((e) => !e.ledgerKey || !byKey.has(e.ledgerKey));
  const heads = await ledgerHeads(trx, [...new Set(fresh.map((e) => e.accountId))]);
  const results: (LedgerEntry[] | InsufficientFundsError)[] = [];
  const rows: (LedgerEntry & { seq: number })[] = [];
  for (const group of groups) {
    // Work on a copy of the heads; commit them only when the whole group passes.
    const local = new Map<string, { seq: number; balance: number }>();
    const head = (id: string) => local.get(id) ?? heads.get(id) ?? { seq: 0, balance: 0 };
    const out: LedgerEntry[] = [];
    const pending: (LedgerEntry & { seq: number })[] = [];
    const localKeys = new Map<string, LedgerEntry>();
    let refused: InsufficientFundsError | null = null;
    for (const e of group) {
      const existing = e.ledgerKey ? (byKey.get(e.ledgerKey) ?? localKeys.get(e.ledgerKey)) : undefined;
      if (existing) {
        out.push(existing);
        continue;
      }
      const h = head(e.accountId);
      const balanceAfter = h.balance + e.amount;
      // Checked before anything is written: an unsafe balance would be stored rounded and break every later sum.
      if (!Number.isSafeInteger(balanceAfter)) throw new BalanceOverflowError(h.balance, e.amount);
      if ((e.forbidNegative ?? true) && e.amount < 0 && balanceAfter < 0) {
        refused = new InsufficientFundsError(h.balance, e.amount);
        break;
      }
      local.set(e.accountId, { seq: h.seq + 1, balance: balanceAfter });
      const row: LedgerEntry = {
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
      if (e.ledgerKey) localKeys.set(e.ledgerKey, row);
      pending.push({ ...row, seq: h.seq + 1 });
      out.push(row);
    }
    if (refused) {
      results.push(refused);
      continue;
    }
    for (const [id, h] of local) heads.set(id, h);
    for (const [k, row] of localKeys) byKey.set(k, row);
    rows.push(...pending);
    results.push(out);
  }
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx('transactions').insert(rows.slice(i, i + INSERT_CHUNK));
  return results;
}

/** Bound on bind variables per statement (SQLite's limit is 32766; PostgreSQL's 65535). */
const KEY_CHUNK = 500;
const INSERT_CHUNK = 200;
/** Accounts per head look-up statement (SQLite caps compound SELECTs at 500 terms). */
const HEADS_CHUNK = 200;

/**
 * The newest entry of each account (highest seq): its position and balance_after. One statement of index look-ups
 * (O(log rows) each), instead of summing the account's whole history on every append.
 */
async function ledgerHeads(
  trx: Knex.Transaction,
  accountIds: readonly string[],
): Promise<Map<string, { seq: number; balance: number }>> {
  const out = new Map<string, { seq: number; balance: number }>();
  const one =
    'SELECT * FROM (SELECT account_id, seq, balance_after FROM transactions WHERE account_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1) h';
  for (let i = 0; i < accountIds.length; i += HEADS_CHUNK) {
    const ids = accountIds.slice(i, i + HEADS_CHUNK);
    const res = (await trx.raw(ids.map(() => one).join(' UNION ALL '), [...ids])) as { rows: HeadRow[] } | HeadRow[];
    for (const r of Array.isArray(res) ? res : res.rows) {
      out.set(r.account_id, { seq: Number(r.seq), balance: Number(r.balance_after) });
    }
  }
  return out;
}

interface HeadRow {
  account_id: string;
  seq: number | string;
  balance_after: number | string;
}

/** Append one entry atomically (see the file comment for locking and idempotency). */
export async function appendLedgerEntry(db: Knex | Knex.Transaction, e: NewLedgerEntry): Promise<LedgerEntry> {
  return (await appendLedgerEntries(db, [e]))[0]!;
}

/**
 * Append several entries in ONE transaction: all or none (a charge and its revenue split
 * land together). Entries whose ledger_key already exists are returned unchanged. Given a transaction, it runs
 * as a savepoint inside it. The ledger_key check runs only after the account locks, so two concurrent appends
 * with one key cannot both miss it.
 */
export async function appendLedgerEntries(
  db: Knex | Knex.Transaction,
  entries: readonly NewLedgerEntry[],
): Promise<LedgerEntry[]> {
  const createdAt = nowIso();
  return db.transaction(async (trx) => {
    const found = await lockLedgerAccounts(
      trx,
      entries.map((e) => e.accountId),
    );
    const missing = entries.find((e) => !found.has(e.accountId));
    if (missing) throw new AccountNotFoundError(missing.accountId);
    return appendLockedLedgerEntries(trx, entries, createdAt);
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
      // Entries of one append share created_at; seq keeps them in ledger order.
      { column: 'seq', order: 'desc' },
      { column: 'transaction_id', order: 'desc' },
    ])
    .limit(limit);
  return rows.map(toEntry);
}

/** Newest first, in ledger order within one append; served by transactions_account_page. */
const TRANSACTION_KEY = ['created_at', 'seq', 'transaction_id'] as const;

/** One keyset page of `listTransactions`, skipping `offset` entries after the cursor (v1's offset parameter). */
export async function listTransactionsPage(
  db: Knex | Knex.Transaction,
  accountId: string,
  page: PageRequest,
  offset = 0,
): Promise<Page<LedgerEntry>> {
  const q = db<TransactionRow>('transactions').where({ account_id: accountId });
  if (offset > 0) q.offset(offset);
  const p = await keysetPage<TransactionRow>(
    q,
    TRANSACTION_KEY,
    'desc',
    page,
    // seq is null only on rows written outside the ledger store (never by the API's appends).
    (r) => [
      keyTime(r.created_at),
      Number((r as TransactionRow & { seq?: number | string | null }).seq ?? 0),
      r.transaction_id,
    ],
  );
  return { items: p.items.map(toEntry), next: p.next };
}

export async function countTransactions(db: Knex | Knex.Transaction, accountId: string): Promise<number> {
  const row = await db('transactions').where({ account_id: accountId }).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}
