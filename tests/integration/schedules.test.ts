import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, randomToken, tokenPrefix } from '../../core/auth/secrets';
import { silentLogger } from '../../core/logger';
import { ensureSchedules } from '../../bin/lib/schedules';
import { SCHEDULES } from '../../workflows/contracts/schedules';
import { startStack, type Stack } from '../helpers/stack';

async function insertSession(stack: Stack, expiresAt: Date): Promise<string> {
  const token = randomToken(32);
  const id = randomUUID();
  await stack.db('admin_sessions').insert({
    session_id: id,
    token_hash: await hashPassword(token),
    token_prefix: tokenPrefix(token),
    created_at: new Date(expiresAt.getTime() - 24 * 3600_000).toISOString(),
    expires_at: expiresAt.toISOString(),
    last_used: new Date().toISOString(),
    auth_method: 'password',
  });
  return id;
}

describe('schedules', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('creates the session-cleanup schedule idempotently and its run deletes only expired sessions and used OAuth states', async () => {
    // Schedule ids are namespace-wide: give this test its own copy of the definition.
    const def = SCHEDULES.find((s) => s.scheduleId === 'session-cleanup')!;
    const mine = {
      ...def,
      scheduleId: `session-cleanup-${stack.taskQueue}`,
      workflowId: `session-cleanup-${stack.taskQueue}`,
    };
    await ensureSchedules(stack.client, stack.taskQueue, silentLogger(), [mine]);
    await ensureSchedules(stack.client, stack.taskQueue, silentLogger(), [mine]); // second start: no error

    const handle = stack.client.schedule.getHandle(mine.scheduleId);
    const desc = await handle.describe();
    expect(desc.spec.intervals?.[0]?.every).toBe(3_600_000);
    expect(desc.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'sessionCleanup',
      taskQueue: stack.taskQueue,
    });

    const expired = await insertSession(stack, new Date(Date.now() - 60_000));
    const live = await insertSession(stack, new Date(Date.now() + 3600_000));
    const used = new Date().toISOString();
    await stack.db('oauth_states_used').insert([
      { nonce: 'expired-state', expires_at: new Date(Date.now() - 60_000).toISOString(), used_at: used },
      { nonce: 'live-state', expires_at: new Date(Date.now() + 600_000).toISOString(), used_at: used },
    ]);

    await handle.trigger();
    let result: { deleted: number; oauthStates: number; cutoff: string } | undefined;
    for (let i = 0; i < 80 && !result; i++) {
      const recent = (await handle.describe()).info.recentActions;
      const started = recent[recent.length - 1]?.action.workflow;
      if (started) {
        result = await stack.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
      } else {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(result?.deleted).toBe(1);
    expect(result?.oauthStates).toBe(1);
    expect((await stack.db('oauth_states_used').select('nonce')).map((r) => r.nonce)).toEqual(['live-state']);
    expect(await stack.db('admin_sessions').where({ session_id: expired }).first()).toBeUndefined();
    expect(await stack.db('admin_sessions').where({ session_id: live }).first()).toBeDefined();
    await handle.delete();
  });
});
