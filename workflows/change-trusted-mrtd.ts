import { proxyActivities } from '@temporalio/workflow';
import type { AdminDbActivities } from '../activities/admin-db';
import type { ChangeTrustedMrtdInput, ChangeTrustedMrtdResult } from './contracts/admin';

const { writeTrustedMrtd, removeTrustedMrtd } = proxyActivities<AdminDbActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '200 ms' },
});

/** One change to the trusted MRTD baselines, validated by the API before it starts. */
export async function changeTrustedMrtd(input: ChangeTrustedMrtdInput): Promise<ChangeTrustedMrtdResult> {
  if (input.action === 'upsert') {
    const row = await writeTrustedMrtd({ mrtd: input.mrtd, type: input.type ?? 'agent', note: input.note ?? '' });
    return { action: 'upsert', mrtd: row.mrtd, found: true, type: row.type, note: row.note };
  }
  const { removed } = await removeTrustedMrtd({ mrtd: input.mrtd });
  return { action: 'delete', mrtd: input.mrtd, found: removed };
}
