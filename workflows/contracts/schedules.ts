/** Periodic work, each a Temporal Schedule created idempotently at worker start. */

export const SESSION_CLEANUP_WORKFLOW = 'sessionCleanup';

export interface SessionCleanupResult {
  deleted: number;
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
    everyMs: 60 * 60 * 1000,
    description: 'Delete expired admin sessions (hourly)',
  },
];
