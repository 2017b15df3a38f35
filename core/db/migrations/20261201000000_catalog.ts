/**
 * App catalog v2: maintainers proven by account id (not only GitHub logins), the measured compose with every image
 * pinned to its digest (what deploys send), and the services registry tied to the deployment that serves it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('apps', (t) => {
    t.text('maintainer_accounts')
      .defaultTo('[]')
      .comment('JSON array of account ids that maintain the app (the creating deployer key, added maintainers)');
  });
  await knex.schema.alterTable('app_versions', (t) => {
    t.text('pinned_compose').comment(
      'Base64 compose with every image rewritten to repository@sha256:… by the measurement; what deploys send',
    );
    t.timestamp('measured_at', { useTz: true }).comment('When the measurement workflow recorded the digests');
  });
  await knex.schema.alterTable('services', (t) => {
    t.string('agent_id', 36).index().comment('Agent serving the service (the proxy forwards through it)');
    t.string('deployment_id', 36).index().comment('Deployment that registered the service; removed when it stops');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('services', (t) => {
    t.dropIndex(['agent_id']);
    t.dropIndex(['deployment_id']);
  });
  await knex.schema.alterTable('services', (t) => {
    t.dropColumn('agent_id');
    t.dropColumn('deployment_id');
  });
  await knex.schema.alterTable('app_versions', (t) => {
    t.dropColumn('pinned_compose');
    t.dropColumn('measured_at');
  });
  await knex.schema.alterTable('apps', (t) => t.dropColumn('maintainer_accounts'));
}
