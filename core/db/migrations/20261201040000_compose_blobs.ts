/**
 * Compose files staged by `POST /api/v1/deploy` before the `deployment:<id>` workflow starts: the workflow inserts the
 * deployments row itself (one writer per record) and its input carries the compose's digest, not up to 1 MiB of YAML
 * (payloads stay small). Content-addressed, so a retried or repeated deploy of the same file writes nothing new.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('compose_blobs', (t) => {
    t.comment('Compose files by digest, staged for the deployment workflow that copies them into its row');
    t.string('sha256', 64).primary().comment('Hex SHA-256 of the stored (base64) compose');
    t.text('compose').notNullable().comment('Base64 compose file');
    t.string('created_at').notNullable().comment('When it was first staged (ISO)');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('compose_blobs');
}
