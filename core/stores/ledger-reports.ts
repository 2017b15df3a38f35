/**
 * Read-only reports over the ledger (table `transactions`) for the dashboard: charges and earnings per UTC day
 * across every account. Grouped in SQL, so a month of hourly charges stays one small result.
 */
import type { Knex } from 'knex';
import { isPostgres } from '../db/connection';
import type { TxType } from './ledger';

/** Money paid out of deployers' balances for usage and capacity. */
const CHARGE_TYPES: readonly TxType[] = ['charge'];
/** Money credited from charges: agent operators, app contributors and the platform. */
const EARNING_TYPES: readonly TxType[] = ['earning', 'contributor_credit', 'platform_revenue'];

export interface DailyLedgerTotals {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** Sum of charges that day, positive micro-dollars. */
  charges: number;
  /** Sum of earnings (operator, contributor, platform) that day, micro-dollars. */
  earnings: number;
}

/**
 * One row per UTC day from `from` (inclusive, a day) through `to` (inclusive), days without entries included with
 * zeros, oldest first.
 */
export async function dailyLedgerTotals(db: Knex, from: string, to: string): Promise<DailyLedgerTotals[]> {
  const dayExpr = isPostgres(db) ? `to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')` : 'substr(created_at, 1, 10)';
  const rows = (await db('transactions')
    .select(db.raw(`${dayExpr} as day`), 'tx_type')
    .sum({ total: 'amount' })
    .where('created_at', '>=', `${from}T00:00:00.000Z`)
    .whereIn('tx_type', [...CHARGE_TYPES, ...EARNING_TYPES])
    .groupByRaw(`1, tx_type`)) as { day: string; tx_type: TxType; total: number | string | null }[];
  const byDay = new Map<string, DailyLedgerTotals>();
  for (
    let d = new Date(`${from}T00:00:00.000Z`);
    d.toISOString().slice(0, 10) <= to;
    d.setUTCDate(d.getUTCDate() + 1)
  ) {
    const day = d.toISOString().slice(0, 10);
    byDay.set(day, { day, charges: 0, earnings: 0 });
  }
  for (const r of rows) {
    const slot = byDay.get(r.day);
    if (!slot) continue;
    const total = Number(r.total ?? 0);
    if (CHARGE_TYPES.includes(r.tx_type)) slot.charges += -total;
    else slot.earnings += total;
  }
  return [...byDay.values()];
}
