import { proxyActivities } from '@temporalio/workflow';
import type { AdminDbActivities } from '../activities/admin-db';
import type { SessionCleanupResult } from './contracts/schedules';

const { purgeExpiredSessions } = proxyActivities<AdminDbActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});

/** Started hourly by the `session-cleanup` schedule; workflow time is the cut-off. Also purges used OAuth states. */
export async function sessionCleanup(): Promise<SessionCleanupResult> {
  const cutoff = new Date().toISOString();
  const { deleted, oauthStates } = await purgeExpiredSessions({ before: cutoff });
  return { deleted, oauthStates, cutoff };
}
