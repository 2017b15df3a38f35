/**
 * Failover (issue #20): the moves of a deployment (`deployment_reassignments`, written by its workflow's activities
 * only) and the agents it left (`agent_pending_resets`: inserted by the move, deleted by the health sweep once the
 * agent has answered an undeploy). An agent with a pending reset is never placed.
 */
import type { Knex } from 'knex';
import { toIso } from '../db/tables';

type Db = Knex | Knex.Transaction;

export interface Reassignment {
  seq: number;
  from_agent_id: string;
  to_agent_id: string | null;
  /** When the move began (billing stopped on the old agent). */
  at: string;
  reason: string;
  completed_at: string | null;
  /** null while in progress; running | failed | stopped */
  outcome: string | null;
}

interface ReassignmentRow {
  deployment_id: string;
  seq: number | string;
  from_agent_id: string;
  to_agent_id: string | null;
  reason: string;
  at: string | Date;
  completed_at: string | Date | null;
  outcome: string | null;
}

/** A deployment's moves, oldest first. */
export async function listReassignments(db: Db, deploymentId: string): Promise<Reassignment[]> {
  const rows = (await db('deployment_reassignments')
    .where({ deployment_id: deploymentId })
    .orderBy('seq', 'asc')) as ReassignmentRow[];
  return rows.map((r) => ({
    seq: Number(r.seq),
    from_agent_id: r.from_agent_id,
    to_agent_id: r.to_agent_id,
    at: toIso(r.at)!,
    reason: r.reason,
    completed_at: toIso(r.completed_at),
    outcome: r.outcome,
  }));
}

/** The move's row; a retry of the same move leaves the first one as it is. */
export async function insertReassignment(
  db: Db,
  r: { deploymentId: string; seq: number; fromAgentId: string; reason: string; at: string },
): Promise<void> {
  await db('deployment_reassignments')
    .insert({
      deployment_id: r.deploymentId,
      seq: r.seq,
      from_agent_id: r.fromAgentId,
      reason: r.reason.slice(0, 2000),
      at: r.at,
    })
    .onConflict(['deployment_id', 'seq'])
    .ignore();
}

/** Records where the move landed (null: released again) while it is still in progress. */
export async function setReassignmentTarget(
  db: Db,
  r: { deploymentId: string; seq: number; toAgentId: string | null },
): Promise<void> {
  await db('deployment_reassignments')
    .where({ deployment_id: r.deploymentId, seq: r.seq })
    .whereNull('outcome')
    .update({ to_agent_id: r.toAgentId });
}

/** Ends the move once (a retry finds the outcome set and changes nothing). */
export async function endReassignment(
  db: Db,
  r: { deploymentId: string; seq: number; outcome: 'running' | 'failed' | 'stopped'; at: string },
): Promise<void> {
  await db('deployment_reassignments')
    .where({ deployment_id: r.deploymentId, seq: r.seq })
    .whereNull('outcome')
    .update({ outcome: r.outcome, completed_at: r.at });
}

/** The agent must be told to undeploy before it is placed again (idempotent: the first request stays). */
export async function requestAgentReset(
  db: Db,
  r: { agentId: string; deploymentId: string; at: string },
): Promise<void> {
  await db('agent_pending_resets')
    .insert({ agent_id: r.agentId, deployment_id: r.deploymentId, requested_at: r.at })
    .onConflict('agent_id')
    .ignore();
}

/** Agents waiting for their reset, by id → the deployment they may still run. */
export async function pendingResets(db: Db): Promise<Map<string, string>> {
  const rows = (await db('agent_pending_resets').select('agent_id', 'deployment_id')) as {
    agent_id: string;
    deployment_id: string;
  }[];
  return new Map(rows.map((r) => [r.agent_id, r.deployment_id]));
}

export async function hasPendingReset(db: Db, agentId: string): Promise<boolean> {
  return !!(await db('agent_pending_resets').where({ agent_id: agentId }).first('agent_id'));
}

/**
 * The agent answered the undeploy: the reset request goes and, if it holds nothing, the agent is free again (its own
 * heartbeat may have reported the stale workload as `deployed`).
 */
export async function completeAgentReset(db: Knex, r: { agentId: string; deploymentId: string }): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('agent_pending_resets').where({ agent_id: r.agentId, deployment_id: r.deploymentId }).delete();
    await trx('agents')
      .where({ agent_id: r.agentId })
      .whereNull('current_deployment_id')
      .update({ status: 'undeployed', deployed_app: null });
    return n > 0;
  });
}
