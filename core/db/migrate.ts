/**
 * Migration runner. Migrations are imported statically (no directory scan) so the same code
 * runs under tsx, vitest and a bundled build. Add new migrations to MIGRATIONS in order.
 */
import type { Knex } from 'knex';
import * as initial from './migrations/20261124000000_initial';
import * as agentSecretSealed from './migrations/20261124010000_agent_secret_sealed';
import * as agents from './migrations/20261124020000_agents';
import * as accountsOauth from './migrations/20261124030000_accounts_oauth';
import * as billing from './migrations/20261124040000_billing';
import * as rateLimits from './migrations/20261125000000_rate_limits';
import * as identityProofs from './migrations/20261201000000_identity_proofs';
import * as catalog from './migrations/20261201010000_catalog';
import * as launchOrderWorkflows from './migrations/20261201030000_launch_order_workflows';
import * as composeBlobs from './migrations/20261201040000_compose_blobs';
import * as listKeysetIndexes from './migrations/20261201050000_list_keyset_indexes';
import * as failover from './migrations/20261201060000_failover';
import * as tenantSecrets from './migrations/20261201061700_tenant_secrets';
import * as agentRowVersion from './migrations/20261201063000_agent_row_version';
import * as agentHealthFreshness from './migrations/20261201210000_agent_health_freshness';
import * as listAgentsVersion from './migrations/20261202000100_list_agents_version';

const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: Knex.Migration]> = [
  ['20261124000000_initial', initial],
  ['20261124010000_agent_secret_sealed', agentSecretSealed],
  ['20261124020000_agents', agents],
  ['20261124030000_accounts_oauth', accountsOauth],
  ['20261124040000_billing', billing],
  ['20261125000000_rate_limits', rateLimits],
  ['20261201000000_identity_proofs', identityProofs],
  ['20261201010000_catalog', catalog],
  ['20261201030000_launch_order_workflows', launchOrderWorkflows],
  ['20261201040000_compose_blobs', composeBlobs],
  ['20261201050000_list_keyset_indexes', listKeysetIndexes],
  ['20261201060000_failover', failover],
  ['20261201061700_tenant_secrets', tenantSecrets],
  ['20261201063000_agent_row_version', agentRowVersion],
  ['20261201210000_agent_health_freshness', agentHealthFreshness],
  ['20261202000100_list_agents_version', listAgentsVersion],
];

/** Every migration name, oldest first. */
export const MIGRATION_NAMES: readonly string[] = MIGRATIONS.map(([name]) => name);

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map(([name]) => name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (!found) throw new Error(`unknown migration ${name}`);
    return found[1];
  },
};

const config: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

/** Applies pending migrations; returns the names applied (empty when already up to date). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest(config)) as [number, string[]];
  return applied;
}

/** Reverts every applied migration; returns the names reverted. */
export async function migrateRollbackAll(db: Knex): Promise<string[]> {
  const [, reverted] = (await db.migrate.rollback(config, true)) as [number, string[]];
  return reverted;
}
