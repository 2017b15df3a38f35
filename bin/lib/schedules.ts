/**
 * Creates every Schedule of workflows/contracts/schedules.ts, idempotently: an existing
 * schedule is updated to the declared interval instead of failing start-up.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
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
  }
}
