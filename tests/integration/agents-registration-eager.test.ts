/**
 * Registration with eager workflow start (issue #19): as in `npm start`, the API's registration client is on the
 * NativeConnection of the worker in its process and asks the server to hand the new workflow's first task back with
 * the start's answer. The registration's guarantees must not move: one execution per attempt (REJECT_DUPLICATE), an
 * identical request — after the first, or at the same time — rejoins it and never gets the credentials again, and a
 * start with no local worker to take the task falls back to the task queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  challenge,
  countAgents,
  register,
  registrationWorkflowId,
  startAgentWorld,
  token,
  type AgentWorld,
} from '../helpers/agents';

describe('agent registration with eager workflow start', () => {
  let w: AgentWorld;
  const starts: boolean[] = [];
  beforeAll(async () => {
    w = await startAgentWorld({ eagerStart: { onStarted: (eagerly) => starts.push(eagerly) } });
  }, 60_000);
  afterAll(() => w?.close());

  it('starts the registration eagerly; a repeated identical request rejoins it (409, no credentials, one agent)', async () => {
    const vm = 'vm-eager';
    const tok = await token(w, { nonce: await challenge(w, vm) });
    starts.length = 0;
    const res = await register(w, vm, tok);
    expect(res.status, res.text).toBe(200);
    expect(starts).toEqual([true]);
    const { agent_id, agent_api_secret, tunnel_token } = res.body;
    const handle = w.stack.client.workflow.getHandle(registrationWorkflowId(vm, tok));
    expect((await handle.describe()).status.name).toBe('COMPLETED');

    // The eager start of the same workflow id is refused (REJECT_DUPLICATE, even though it closed) and the API
    // rejoins it: the answer names the agent, never the secret or the tunnel token.
    const again = await register(w, vm, tok);
    expect(again.status, again.text).toBe(409);
    expect(again.body.detail).toContain(agent_id);
    expect(again.text).not.toContain(agent_api_secret);
    expect(again.text).not.toContain(tunnel_token);
    expect(await countAgents(w, vm)).toBe(1);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${agent_id}`)).toHaveLength(1);
    // Still the one run: the refused start made no second execution.
    const runs: string[] = [];
    for await (const run of w.stack.client.workflow.list({
      query: `WorkflowId = '${registrationWorkflowId(vm, tok)}'`,
    }))
      runs.push(run.runId);
    expect(runs).toHaveLength(1);
  });

  it('identical requests at the same time: one registers, the others rejoin the same run', async () => {
    const vm = 'vm-eager-race';
    const tok = await token(w, { nonce: await challenge(w, vm) });
    const answers = await Promise.all(Array.from({ length: 4 }, () => register(w, vm, tok)));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses, answers.map((a) => a.text).join('\n')).toEqual([200, 409, 409, 409]);
    const winner = answers.find((a) => a.status === 200)!.body;
    for (const a of answers.filter((x) => x.status === 409)) {
      expect(a.body.detail).toContain(winner.agent_id);
      expect(a.text).not.toContain(winner.agent_api_secret);
    }
    expect(await countAgents(w, vm)).toBe(1);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${winner.agent_id}`)).toHaveLength(1);
    expect(w.cf.dnsRecords().filter((r) => r.name === winner.hostname)).toHaveLength(1);
  });

  it('with no local worker polling, the start falls back to the task queue and completes once one polls', async () => {
    const vm = 'vm-eager-fallback';
    const tok = await token(w, { nonce: await challenge(w, vm) });
    await w.stack.stopWorker();
    starts.length = 0;
    const pending = register(w, vm, tok);
    // The start is answered (not eagerly) while no worker runs; the registration waits in the task queue.
    await expect.poll(() => starts.length, { timeout: 10_000 }).toBe(1);
    expect(starts).toEqual([false]);
    await w.stack.startWorker();
    const res = await pending;
    expect(res.status, res.text).toBe(200);
    expect(await countAgents(w, vm)).toBe(1);
    // The new worker on the same connection takes eager starts again.
    const vm2 = 'vm-eager-after-restart';
    const tok2 = await token(w, { nonce: await challenge(w, vm2) });
    starts.length = 0;
    expect((await register(w, vm2, tok2)).status).toBe(200);
    expect(starts).toEqual([true]);
  });
});
