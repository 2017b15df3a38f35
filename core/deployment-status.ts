/**
 * The one vocabulary of a deployment's `status` (SEED data model): typed on the row (core/db/tables.ts), used by the
 * stores, the API views and the deployment workflow. Pure, so workflows import it directly.
 *
 * pending → deploying → running → stopped, or → failed at any step before stopped; billing adds
 * insufficient_funds (running, then stopped by the terminator); failover adds running → reassigning → running (on
 * another agent) or → failed after the give-up time (issue #20). `reassigning` is never billed.
 */
export const DEPLOYMENT_STATUSES = [
  'pending',
  'deploying',
  'running',
  'failed',
  'stopped',
  'insufficient_funds',
  'reassigning',
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** Statuses in which a deployment holds, or may still claim, an agent. */
export const ACTIVE_DEPLOYMENT_STATUSES = [
  'pending',
  'deploying',
  'running',
  'insufficient_funds',
  'reassigning',
] as const satisfies readonly DeploymentStatus[];
