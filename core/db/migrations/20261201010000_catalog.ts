/**
 * App catalog v2: maintainers proven by account id (not only GitHub logins), the measured compose with every image
 * pinned to its digest (what deploys send), and the services registry tied to the deployment that serves it.
 */
import { randomUUID } from 'node:crypto';
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
  // Deployments already running were placed before the registry existed: register them, so the proxy (which only
  // forwards to registered services) keeps reaching them. First deployment per name wins, as v1's agent scan did.
  const running = (await knex('deployments as d')
    .join('agents as a', 'a.current_deployment_id', 'd.deployment_id')
    .where('d.status', 'running')
    .orderBy('a.registered_at', 'asc')
    .select('d.deployment_id', 'd.config', 'd.app_name', 'd.app_version', 'a.agent_id')) as {
    deployment_id: string;
    config: string | null;
    app_name: string | null;
    app_version: string | null;
    agent_id: string;
  }[];
  const now = new Date().toISOString();
  for (const d of running) {
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(d.config ?? '{}') as Record<string, unknown>;
    } catch {
      config = {};
    }
    const name = typeof config.service_name === 'string' && config.service_name ? config.service_name : d.app_name;
    if (!name) continue;
    await knex('services')
      .insert({
        service_id: randomUUID(),
        name,
        description: d.app_name ? `${d.app_name}${d.app_version ? `@${d.app_version}` : ''}` : '',
        agent_id: d.agent_id,
        deployment_id: d.deployment_id,
        endpoints: '{}',
        registered_at: now,
        health_status: 'healthy',
      })
      .onConflict('name')
      .ignore();
  }
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
