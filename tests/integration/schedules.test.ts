import { randomUUID } from 'node:crypto';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, randomToken, tokenPrefix } from '../../core/auth/secrets';
import { silentLogger } from '../../core/logger';
import { ensureSchedules } from '../../bin/lib/schedules';
import { SCHEDULES, SESSION_CLEANUP_WORKFLOW } from '../../workflows/contracts/schedules';
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
    expect(desc.spec.intervals?.[0]?.every).toBe(def.everyMs);
    expect(desc.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: SESSION_CLEANUP_WORKFLOW,
      workflowId: mine.workflowId,
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

  it('every declared schedule is held by the server with its interval, workflow, queue and skip-overlap policy', async () => {
    expect(SCHEDULES.length).toBeGreaterThan(0);
    // Test-scoped ids (schedule ids are namespace-wide); each is described, then deleted at once.
    const mine = SCHEDULES.map((def) => ({
      ...def,
      scheduleId: `${def.scheduleId}-${stack.taskQueue}`,
      workflowId: `${def.workflowId}-${stack.taskQueue}`,
    }));
    try {
      await ensureSchedules(stack.client, stack.taskQueue, silentLogger(), mine);
      for (const def of mine) {
        const desc = await stack.client.schedule.getHandle(def.scheduleId).describe();
        expect({
          id: def.scheduleId,
          every: desc.spec.intervals?.map((i) => i.every),
          action: desc.action,
          overlap: desc.policies.overlap,
          catchupWindow: desc.policies.catchupWindow,
          description: desc.memo?.description,
        }).toMatchObject({
          id: def.scheduleId,
          every: [def.everyMs],
          action: {
            type: 'startWorkflow',
            workflowType: def.workflowType,
            workflowId: def.workflowId,
            taskQueue: stack.taskQueue,
          },
          overlap: ScheduleOverlapPolicy.SKIP,
          catchupWindow: def.everyMs,
          description: def.description,
        });
      }
    } finally {
      for (const def of mine)
        await stack.client.schedule
          .getHandle(def.scheduleId)
          .delete()
          .catch(() => undefined);
    }
  });
});
