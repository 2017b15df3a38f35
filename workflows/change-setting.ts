import { proxyActivities } from '@temporalio/workflow';
import type { AdminDbActivities } from '../activities/admin-db';
import type { ChangeSettingInput, ChangeSettingResult } from './contracts/admin';

const { writeSetting, removeSetting } = proxyActivities<AdminDbActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '200 ms' },
});

/** One admin settings change; the input (secrets sealed) is the audit record. */
export async function changeSetting(input: ChangeSettingInput): Promise<ChangeSettingResult> {
  if (input.action === 'put') {
    if (!input.value) throw new Error('put without a value');
    await writeSetting({ key: input.key, value: input.value });
    return { key: input.key, action: 'put', changed: true };
  }
  const { removed } = await removeSetting({ key: input.key });
  return { key: input.key, action: 'delete', changed: removed };
}
