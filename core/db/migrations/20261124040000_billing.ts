/**
 * Ledger positions. Appending used to sum the whole account to learn its balance (O(rows) per append, so a billing
 * run grew quadratically with the platform account's history). Each entry now carries its position in the
 * account's ledger; under the account lock an append reads only the newest entry (index (account_id, seq)) and
 * continues its balance_after. UNIQUE(account_id, seq) makes a lost lock fail loudly instead of forking the chain.
 * getBalance stays SUM(amount); the two agree because every append goes through core/stores/ledger.ts.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('transactions', (t) => {
    t.bigInteger('seq').comment(
      "Position in the account's ledger (1, 2, …); the entry with the highest seq holds the balance. Null only for rows written outside the ledger store",
    );
  });
  // Existing entries: number them in created_at order and make balance_after the exact running sum.
  const rows = (await knex('transactions')
    .orderBy([{ column: 'account_id' }, { column: 'created_at' }, { column: 'transaction_id' }])
    .select('transaction_id', 'account_id', 'amount')) as {
    transaction_id: string;
    account_id: string;
    amount: number;
  }[];
  let account = '';
  let seq = 0;
  let balance = 0;
  for (const r of rows) {
    if (r.account_id !== account) {
      account = r.account_id;
      seq = 0;
      balance = 0;
    }
    seq += 1;
    balance += Number(r.amount);
    await knex('transactions').where({ transaction_id: r.transaction_id }).update({ seq, balance_after: balance });
  }
  await knex.schema.alterTable('transactions', (t) => {
    t.unique(['account_id', 'seq'], { indexName: 'transactions_account_seq_unique' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('transactions', (t) => {
    t.dropUnique(['account_id', 'seq'], 'transactions_account_seq_unique');
  });
  await knex.schema.alterTable('transactions', (t) => {
    t.dropColumn('seq');
  });
}
