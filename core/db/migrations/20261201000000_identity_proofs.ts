/**
 * Identity links are proven (trust issue): `accounts.github_login` is set only from a verified GitHub OAuth session
 * and `accounts.github_org` only from a verified GitHub Actions OIDC token. Links written before this migration
 * were whatever the caller typed, so they are cleared here: placement, OIDC billing and contributor credit trust
 * these columns, and an unproven name must never grant anything. Owners re-link with a proof.
 *
 * Deployments record who may act on them besides their account: `github_owner`, the verified repository_owner of
 * a GitHub Actions OIDC deploy (an upgrade onto a running deployment needs the same account or the same owner).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('github_orgs').comment(
      'JSON list of the GitHub orgs of the session that proved github_login (at link time)',
    );
    t.string('github_login_proof', 32).comment("How github_login was proven: 'github_session'");
    t.string('github_org_proof', 32).comment("How github_org was proven: 'github_oidc'");
  });
  await knex('accounts').update({ github_login: null, github_org: null, github_id: null, linked_at: null });
  await knex.schema.alterTable('deployments', (t) => {
    t.string('github_owner').comment(
      'Verified repository_owner of the OIDC token that deployed it (null for API keys)',
    );
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('github_owner');
  });
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('github_orgs');
    t.dropColumn('github_login_proof');
    t.dropColumn('github_org_proof');
  });
}
