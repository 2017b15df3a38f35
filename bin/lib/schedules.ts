/**
 * Creates every Schedule of workflows/contracts/schedules.ts, idempotently: an existing
 * schedule is updated to the declared interval instead of failing start-up.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, ServiceError, type Client } from '@temporalio/client';
import type { Logger } from '../../core/logger';
import { SCHEDULES, type ScheduleDef } from '../../workflows/contracts/schedules';

export async function ensureSchedules(
  client: Client,
  taskQueue: string,
  logger: Logger,
  schedules: readonly ScheduleDef[] = SCHEDULES,
): Promise<void> {
  for (const s of schedules) {
    const spec = { intervals: [{ every: s.everyMs }] };
    const action = {
      type: 'startWorkflow' as const,
      workflowType: s.workflowType,
      workflowId: s.workflowId,
      taskQueue,
      args: [],
    };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: s.everyMs };
    const createOrUpdate = async (): Promise<void> => {
      try {
        await client.schedule.create({
          scheduleId: s.scheduleId,
          spec,
          action,
          policies,
          memo: { description: s.description },
        });
        logger.info(`schedule ${s.scheduleId} created (every ${s.everyMs / 1000}s)`);
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
        await client.schedule.getHandle(s.scheduleId).update((prev) => ({ ...prev, spec, action, policies }));
        logger.info(`schedule ${s.scheduleId} up to date (every ${s.everyMs / 1000}s)`);
      }
    };
    await retryTransient(`schedule ${s.scheduleId}`, logger, createOrUpdate);
  }
}

/**
 * Right after a dev server restarts on an existing state file, describing a schedule (a query to its scheduler
 * workflow) can time out while the server's own system workers catch up; it answers on a later attempt. Only
 * Temporal service errors are retried; create-or-update is idempotent.
 */
async function retryTransient(what: string, logger: Logger, fn: () => Promise<void>, attempts = 4): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !(err instanceof ServiceError)) throw err;
      logger.warn(`${what}: ${err.message}; retrying (attempt ${attempt + 1} of ${attempts})`);
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}
