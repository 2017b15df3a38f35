import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { MeasurementActivities } from '../activities/measurement';
import { type ImageMeasurement, type MeasureVersionInput, type MeasureVersionResult } from './contracts/measurement';
import { MeasurementFailureType } from './contracts/failures';

const db = proxyActivities<
  Pick<MeasurementActivities, 'planMeasurement' | 'recordVersionMeasurement' | 'rejectVersion'>
>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});
// One activity per image, so the Web UI shows each step. Registry 5xx/timeouts are retried with backoff; 404/401,
// bad manifests and a missing cosign are non-retryable (their ApplicationFailure types).
const images = proxyActivities<Pick<MeasurementActivities, 'measureImage'>>({
  startToCloseTimeout: '3 minutes',
  retry: {
    maximumAttempts: 4,
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    nonRetryableErrorTypes: [
      MeasurementFailureType.ImageNotFound,
      MeasurementFailureType.RegistryUnauthorized,
      MeasurementFailureType.RegistryInvalid,
      MeasurementFailureType.CosignMissing,
    ],
  },
});

function reasonOf(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const attempts = cause.type === MeasurementFailureType.RegistryUnavailable ? ' (gave up after retries)' : '';
    return `${cause.message}${attempts}`;
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Measurement of one published version: plan (parse the stored compose, read the signature mode once), resolve
 * and verify each image, record the measurement (pending → measured, immutable from here), then apply the
 * signature policy (→ published or rejected). Any image that cannot be measured rejects the version with the
 * reason naming its service.
 */
export async function measureVersion(input: MeasureVersionInput): Promise<MeasureVersionResult> {
  const plan = await db.planMeasurement({ versionId: input.versionId });
  if (!plan.ok) {
    await db.rejectVersion({ versionId: input.versionId, reason: plan.reason });
    return { versionId: input.versionId, status: 'rejected', reason: plan.reason, warnings: [] };
  }
  const measured: ImageMeasurement[] = [];
  for (const img of plan.plan.images) {
    try {
      measured.push(await images.measureImage({ ...img, mode: plan.plan.mode }));
    } catch (err) {
      const reason = `service ${img.service}: ${reasonOf(err)}`;
      await db.rejectVersion({ versionId: input.versionId, reason });
      return { versionId: input.versionId, status: 'rejected', reason, warnings: [] };
    }
  }
  return db.recordVersionMeasurement({ plan: plan.plan, images: measured });
}
