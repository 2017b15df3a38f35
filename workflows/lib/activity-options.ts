/**
 * The activity option presets the workflows share, named for what they call (pure constants: part of no history).
 */
import type { ActivityOptions } from '@temporalio/workflow';

/** A short database step: retried many times quickly (idempotent writes; a busy database clears in moments). */
export const DB_STEP: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '200 ms' },
};

/** An agent-lifecycle database step (heartbeats, status, deletion bookkeeping). */
export const LIFECYCLE_DB_STEP: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
};

/**
 * A call to an agent's HTTP API (deploy, undeploy): a few tries only — the call is idempotent under the deployment
 * id, but a dead agent should fail its step quickly.
 */
export const AGENT_CALL: ActivityOptions = {
  startToCloseTimeout: '45 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
};
