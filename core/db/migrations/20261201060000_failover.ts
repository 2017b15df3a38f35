/**
 * Failover (issue #20): a deployment whose agent stays unhealthy moves to another agent through its own workflow.
 * `deployment_reassignments` is the history of those moves (written by the `deployment:<id>` workflow's activities
 * only, shown as `reassignments` by GET /api/v1/deployments/{id}); `agent_pending_resets` names the agents a
 * deployment moved away from, which must be told to stop that workload before they can be placed again (inserted by
 * the move, deleted by the health sweep once the agent answered the undeploy). Keyed by agent id, so it survives a
 * re-registration of the same vm_name.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('deployment_reassignments', (t) => {
    t.comment('Moves of a deployment from an unhealthy agent to another (failover), one row per move');
    t.string('deployment_id', 36).notNullable().comment('The deployment that moved');
    t.integer('seq').notNullable().comment('1 for its first move, 2 for the next, ...');
    t.string('from_agent_id', 36).notNullable().index().comment('Agent it left');
    t.string('to_agent_id', 36).comment('Agent it was placed on; null while none was found');
    t.text('reason').notNullable().comment('Why it moved (e.g. agent unhealthy since ...)');
    t.timestamp('at', { useTz: true }).notNullable().comment('When the move began (billing stops on the old agent)');
    t.timestamp('completed_at', { useTz: true }).comment('When it ended: running again, failed or stopped');
    t.string('outcome', 16).comment('null while in progress; running | failed | stopped');
    t.primary(['deployment_id', 'seq']);
  });
  await knex.schema.createTable('agent_pending_resets', (t) => {
    t.comment('Agents a deployment moved away from: told to undeploy when they answer again, not placeable until then');
    t.string('agent_id', 36).primary().comment('Agent to reset');
    t.string('deployment_id', 36).notNullable().comment('Deployment whose workload it may still run');
    t.timestamp('requested_at', { useTz: true }).notNullable().comment('When the deployment moved away');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agent_pending_resets');
  await knex.schema.dropTable('deployment_reassignments');
}
