/** Periodic work, each a Temporal Schedule created idempotently at worker start. */

import { HOUR_MS } from '../../core/time';

export const SESSION_CLEANUP_WORKFLOW = 'sessionCleanup';

export interface SessionCleanupResult {
  deleted: number;
  /** Used OAuth states past their expiry, deleted in the same run. */
  oauthStates: number;
  cutoff: string;
}

export interface ScheduleDef {
  scheduleId: string;
  workflowType: string;
  /** Prefix of the workflow ids the schedule starts (Temporal appends the run time). */
  workflowId: string;
  everyMs: number;
  description: string;
}

export const SCHEDULES: readonly ScheduleDef[] = [
  {
    scheduleId: 'session-cleanup',
    workflowType: SESSION_CLEANUP_WORKFLOW,
    workflowId: 'session-cleanup',
    everyMs: HOUR_MS,
    description: 'Delete expired admin sessions (hourly)',
  },
  {
    scheduleId: 'agent-health-sweep',
    workflowType: 'agentHealthSweep',
    workflowId: 'agent-health-sweep',
    everyMs: 30 * 1000,
    description: 'Pull /api/health from every agent with a hostname; pull-mode attestation refresh (every 30 s)',
  },
  {
    scheduleId: 'agent-stale-cleanup',
    workflowType: 'agentStaleCleanup',
    workflowId: 'agent-stale-cleanup',
    everyMs: HOUR_MS,
    description: 'Remove agents silent for operational.agent_stale_hours with their tunnel and DNS record (hourly)',
  },
  {
    scheduleId: 'billing-hourly',
    workflowType: 'billingHourly',
    workflowId: 'billing-hourly',
    everyMs: HOUR_MS,
    description: 'Start billing-run:<UTC hour>: charge every running deployment for the past hour (hourly)',
  },
  {
    scheduleId: 'terminate-unfunded',
    workflowType: 'terminateUnfunded',
    workflowId: 'terminate-unfunded',
    everyMs: 5 * 60 * 1000,
    description: 'Stop deployments marked insufficient_funds on their agents (every 5 min)',
  },
  {
    scheduleId: 'measurement-sweep',
    workflowType: 'measurementSweep',
    workflowId: 'measurement-sweep',
    everyMs: 5 * 60 * 1000,
    description:
      'Start the measure: workflow of app versions left pending (a publish whose start failed) (every 5 min)',
  },
  {
    scheduleId: 'capacity-reconcile',
    workflowType: 'capacityReconcile',
    workflowId: 'capacity-reconcile',
    everyMs: 30 * 1000,
    description: 'Fill warm-pool reservations and queue launch orders for dispatching pools (every 30 s)',
  },
  {
    scheduleId: 'gcp-reaper',
    workflowType: 'gcpReaper',
    workflowId: 'gcp-reaper',
    everyMs: 60 * 1000,
    description:
      'Delete VMs of stale fulfilled GCP orders and orphaned managed instances (background.md §4; every 60 s, no-op without GCP)',
  },
];
