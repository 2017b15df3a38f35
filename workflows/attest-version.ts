import { proxyActivities } from '@temporalio/workflow';
import type { MeasurementActivities } from '../activities/measurement';
import type { AttestVersionInput, AttestVersionResult } from './contracts/measurement';

const db = proxyActivities<Pick<MeasurementActivities, 'applyVersionAttestation'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});

/**
 * An admin's manual attest or an external measurer's callback: one execution per request, so the Web UI keeps who
 * changed the version, and the row is written by the measurement activities like every other version change.
 */
export async function attestVersion(input: AttestVersionInput): Promise<AttestVersionResult> {
  return db.applyVersionAttestation(input);
}
