/** Activity proxies shared by the admin cloud workflows, grouped by timeout profile. */
import { proxyActivities } from '@temporalio/workflow';
import type { CloudAdminActivities } from '../../activities/cloud-admin';
import type { CloudflareActivities } from '../../activities/cloudflare';
import type { GcpActivities } from '../../activities/gcp';
import type { ProvisionerActivities } from '../../activities/provisioner';

/** Plans and views read several systems at once: one consistent read, retried whole. */
export const plans = proxyActivities<CloudAdminActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});
// Deletes are idempotent (Cloudflare 404 and a GCP delete of a missing VM answer `deleted: false`), so retries are safe.
export const cf = proxyActivities<Pick<CloudflareActivities, 'deleteTunnel' | 'deleteDnsRecord'>>({
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});
export const gcp = proxyActivities<Pick<GcpActivities, 'deleteGcpInstance'>>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second', backoffCoefficient: 2 },
});
// provisioner.timeout_seconds bounds each call; network errors and 5xx are retried, a 4xx is an answer.
export const provisioner = proxyActivities<Pick<ProvisionerActivities, 'provisionerCleanup'>>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

export const errorText = (err: unknown): string => {
  const e = err as { cause?: { message?: string }; message?: string };
  return String(e.cause?.message ?? e.message ?? err).slice(0, 300);
};
