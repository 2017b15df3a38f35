/**
 * Composite indexes on the sort key of every paginated list (core/db/keyset.ts), so `WHERE (k1, k2) > (?, ?) ORDER BY
 * k1, k2 LIMIT n` is an index range scan that reads n rows, wherever the page starts, instead of a sort of the table.
 */
import type { Knex } from 'knex';

const INDEXES: ReadonlyArray<readonly [table: string, columns: string[], name: string]> = [
  ['agents', ['registered_at', 'agent_id'], 'agents_registered_at_agent_id'],
  ['deployments', ['created_at', 'deployment_id'], 'deployments_created_at_deployment_id'],
  ['accounts', ['created_at', 'account_id'], 'accounts_created_at_account_id'],
  ['apps', ['created_at', 'name'], 'apps_created_at_name'],
  ['capacity_launch_orders', ['created_at', 'order_id'], 'capacity_launch_orders_created_at_order_id'],
  ['transactions', ['account_id', 'created_at', 'seq', 'transaction_id'], 'transactions_account_page'],
];

export async function up(knex: Knex): Promise<void> {
  for (const [table, columns, name] of INDEXES) {
    await knex.schema.alterTable(table, (t) => t.index(columns, name));
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const [table, columns, name] of INDEXES) {
    await knex.schema.alterTable(table, (t) => t.dropIndex(columns, name));
  }
}
