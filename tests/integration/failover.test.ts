/**
 * Failover (issue #20): a deployment whose agent goes unhealthy moves to a healthy agent of the same owner through
 * its own `deployment:<id>` workflow. Real stack, deploys over HTTP, the health sweep run as the schedule runs it,
 * a fake agent fleet that calls back and records when each agent ran the workload.
 *
 * Each test works in its own datacenter and deploys with `allowed_datacenters: [it]`, so the agents of the other
 * tests are never eligible (and the constraint of the request is shown to survive the move).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { usageChargeMicros } from '../../core/pricing';
import { getBalance } from '../../core/stores/ledger';
import { deploymentWorkflowId } from '../../workflows/contracts/deployments';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { testEngines } from '../helpers/databases';
import { recordHistory } from '../helpers/histories';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const COMPOSE = 'services:\n  web:\n    image: nginx:1.27@sha256:' + 'ab'.repeat(32) + '\n';
const HOURLY = 100_000; // 2 vCPU + 4 GB, adhoc: $0.10/h
const AFTER_SECONDS = 1;
const GIVE_UP_SECONDS = 4;

describe.each(testEngines())('failover of a deployment whose agent goes unhealthy (%s)', (engine) => {
  let stack: Stack;
  let fleet: FakeAgentServer;
  let admin: string;
  let api: ReturnType<typeof http>;
  let order = 0;

  beforeAll(async () => {
    fleet = await startFakeAgent();
    stack = await startStack({
      engine,
      env: {
        AGENT_DIRECT_URL: fleet.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10',
        REASSIGN_AFTER_SECONDS: String(AFTER_SECONDS),
        REASSIGN_GIVE_UP_SECONDS: String(GIVE_UP_SECONDS),
      },
    });
    api = http(stack.url);
    admin = await adminLogin(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await fleet?.close();
  });

  const deployment = (id: string) => stack.db('deployments').where({ deployment_id: id }).first();
  const ledger = (id: string) =>
    stack.db('transactions').where('ledger_key', 'like', `charge:${id}:%`).orderBy('ledger_key');

  async function account(type: 'deployer' | 'agent', deposit = 0) {
    const r = await api.post('/api/v1/accounts', {
      json: { name: `${type}-${randomUUID().slice(0, 8)}`, account_type: type },
    });
    expect(r.body?.account_id, r.text).toBeTruthy();
    if (deposit > 0)
      await api.post(`/api/v1/accounts/${r.body.account_id}/deposit`, { token: admin, json: { amount: deposit } });
    return { accountId: r.body.account_id as string, apiKey: r.body.api_key as string };
  }

  /** An agent registered after every earlier one (placement prefers registration order), answering as `fleet`. */
  async function agent(datacenter: string, over: Record<string, unknown> = {}) {
    order += 1;
    const registeredAt = new Date(Date.UTC(2026, 0, 1) + order * 1000).toISOString();
    const a = await seedAgent(stack.db, { datacenter, github_owner: null, registered_at: registeredAt, ...over });
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    fleet.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
    return a.agent_id;
  }

  /** Deploys through the API into `datacenter` and waits until it runs; backdates its start by `minutesAgo`. */
  async function runningDeployment(
    apiKey: string,
    datacenter: string,
    minutesAgo: number,
    config: Record<string, unknown> = {},
  ) {
    const r = await api.post('/api/v1/deploy', {
      token: apiKey,
      json: {
        compose: COMPOSE,
        app_name: `fo-${randomUUID().slice(0, 6)}`,
        allowed_datacenters: [datacenter],
        config,
      },
    });
    expect(r.status, r.text).toBe(202);
    const id = r.body.deployment_id as string;
    await waitFor(
      'running',
      () => deployment(id),
      (d) => d?.status === 'running',
    );
    const startedAt = new Date(Date.now() - minutesAgo * 60_000).toISOString();
    await stack.db('deployments').where({ deployment_id: id }).update({ started_at: startedAt });
    return { id, startedAt };
  }

  /** One pass of the `agent-health-sweep` schedule's workflow. */
  async function sweep() {
    await stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: stack.taskQueue,
      workflowId: `test-failover-sweep-${randomUUID()}`,
      args: [{}],
    });
  }

  /** The agent stops answering; two sweeps further than the threshold apart report it, as the schedule would. */
  async function loseAgent(agentId: string, how: 'crash' | 'unhealthy' = 'crash') {
    if (how === 'crash') fleet.crash(agentId);
    else fleet.agent(agentId).healthMode = 'unhealthy';
    await sweep();
    await new Promise((r) => setTimeout(r, AFTER_SECONDS * 1000 + 200));
    await sweep();
  }

  /** Every run of `deploymentId` on any agent, in time order; throws if two overlap. */
  function expectNoOverlap(deploymentId: string, agentIds: string[]) {
    const runs = agentIds
      .flatMap((a) =>
        fleet
          .agent(a)
          .runs.filter((r) => r.deploymentId === deploymentId)
          .map((r) => ({ a, ...r })),
      )
      .sort((x, y) => x.from - y.from);
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i - 1]!.to, `run on ${runs[i - 1]!.a} still open when ${runs[i]!.a} started`).not.toBeNull();
      expect(runs[i - 1]!.to!).toBeLessThanOrEqual(runs[i]!.from);
    }
    return runs;
  }

  it('moves to another eligible agent of the same owner, which gets the same compose; the ledger splits at the move', async () => {
    const dc = 'gcp:fo-move-a';
    const deployer = await account('deployer', 20);
    const opA = await account('agent');
    const opB = await account('agent');
    const a = await agent(dc, { account_id: opA.accountId });
    // Free, healthy and earlier in registration order, but another owner's agent / outside the allowed datacenter.
    const stranger = await agent(dc, { github_owner: 'someone-else' });
    const elsewhere = await agent('gcp:fo-elsewhere');
    const b = await agent(dc, { account_id: opB.accountId });
    const { id, startedAt } = await runningDeployment(deployer.apiKey, dc, 30);
    expect((await deployment(id)).agent_id).toBe(a);

    await loseAgent(a);
    const moved = await waitFor(
      'running on b',
      () => deployment(id),
      (d) => d.status === 'running' && d.agent_id === b,
    );
    expect(moved.error).toBeNull();

    // The same compose (same pinned digest) and the same deployment id reached the new agent, nobody else's.
    const pushed = fleet.agent(b).deploys;
    expect(pushed).toHaveLength(1);
    expect(pushed[0]).toMatchObject({ deployment_id: id, compose: fleet.agent(a).deploys[0]!.compose });
    expect(Buffer.from(String(pushed[0]!.compose), 'base64').toString().trim()).toBe(COMPOSE.trim());
    expect(fleet.agent(stranger).deploys).toHaveLength(0);
    expect(fleet.agent(elsewhere).deploys).toHaveLength(0);

    const view = await api.get(`/api/v1/deployments/${id}`, { token: deployer.apiKey });
    expect(view.status, view.text).toBe(200);
    expect(view.body.status).toBe('running');
    expect(view.body.reassignments).toHaveLength(1);
    const mv = view.body.reassignments[0];
    expect(mv).toMatchObject({ from_agent_id: a, to_agent_id: b, outcome: 'running' });
    // A crashed agent is both unhealthy (failed probes) and silent (no contact since the deploy): either is the reason.
    expect(mv.reason).toMatch(new RegExp(`^Agent ${a} (unhealthy|silent) since `));
    expect(Date.parse(mv.at)).toBeLessThanOrEqual(Date.parse(mv.completed_at));

    // Run a little on b, then stop: the final period is b's operator's.
    await new Promise((r) => setTimeout(r, 1200));
    const stop = await api.post(`/api/v1/agents/${b}/undeploy`, { token: admin });
    expect(stop.status, stop.text).toBe(200);
    const end = await waitFor(
      'stopped',
      () => deployment(id),
      (d) => d.status === 'stopped',
    );

    const rows = await ledger(id);
    expect(rows.map((r) => r.ledger_key.split(':').slice(2).join(':'))).toEqual([
      'final:deployer',
      'final:operator',
      'move1:deployer',
      'move1:operator',
    ]);
    const byKey = Object.fromEntries(rows.map((r) => [r.ledger_key.split(':').slice(2).join(':'), r]));
    const usage = (from: string | Date, to: string | Date) =>
      usageChargeMicros({
        hourlyMicros: HOURLY,
        // PostgreSQL rows hold Date objects, SQLite ones ISO text: both through new Date().
        elapsedMs: Math.floor((new Date(to).getTime() - new Date(from).getTime()) / 1000) * 1000,
      });
    // Old operator: from the start to the move; new operator: from running again on b to the stop. The time in
    // between (reassigning) is in neither charge.
    const beforeMove = usage(startedAt, mv.at);
    const afterMove = usage(mv.completed_at, end.completed_at);
    expect(beforeMove).toBeGreaterThan(0);
    expect(afterMove).toBeGreaterThan(0);
    expect(-Number(byKey['move1:deployer'].amount)).toBe(beforeMove);
    expect(byKey['move1:operator'].account_id).toBe(opA.accountId);
    expect(Number(byKey['move1:operator'].amount)).toBe(Math.floor((beforeMove * 7000) / 10_000));
    expect(-Number(byKey['final:deployer'].amount)).toBe(afterMove);
    expect(byKey['final:operator'].account_id).toBe(opB.accountId);
    expect(await getBalance(stack.db, deployer.accountId)).toBe(20_000_000 - beforeMove - afterMove);
    expect(Number(end.total_charged)).toBe(beforeMove + afterMove);

    expectNoOverlap(id, [a, b]);
    if (engine === 'sqlite') {
      await recordHistory(stack.client, deploymentWorkflowId(id), 'deployments', 'deployment-failover');
    }
  });

  it('an agent silent past the bound (no heartbeat, no probe) counts as lost too', async () => {
    const dc = 'gcp:fo-silent-a';
    const deployer = await account('deployer', 20);
    const a = await agent(dc);
    const b = await agent(dc);
    const { id } = await runningDeployment(deployer.apiKey, dc, 5);
    // Not probed (no tunnel hostname) and last heard of before the bound: the sweep cannot see it healthy.
    const lastHeard = new Date(Date.now() - (AFTER_SECONDS + 5) * 1000).toISOString();
    await stack
      .db('agents')
      .where({ agent_id: a })
      .update({ hostname: null, last_contact_at: lastHeard, last_heartbeat: lastHeard });
    await sweep();
    await waitFor(
      'running on b',
      () => deployment(id),
      (d) => d.status === 'running' && d.agent_id === b,
    );
    const view = await api.get(`/api/v1/deployments/${id}`, { token: deployer.apiKey });
    expect(view.body.reassignments).toMatchObject([{ from_agent_id: a, to_agent_id: b, outcome: 'running' }]);
    expect(view.body.reassignments[0].reason).toBe(`Agent ${a} silent since ${lastHeard}`);
  });

  it('with no eligible agent it waits in reassigning with the reason, then fails after the give-up time, unbilled', async () => {
    const dc = 'gcp:fo-none-a';
    const deployer = await account('deployer', 20);
    const op = await account('agent');
    const a = await agent(dc, { account_id: op.accountId });
    await agent(dc, { github_owner: 'someone-else' }); // free and healthy, but not the deployer's to use
    const { id } = await runningDeployment(deployer.apiKey, dc, 10);

    await loseAgent(a);
    const waiting = await waitFor(
      'reassigning',
      () => deployment(id),
      (d) => d.status === 'reassigning',
    );
    expect(waiting.agent_id).toBe(a);
    const reason = await waitFor(
      'a waiting reason',
      () => api.get(`/api/v1/deployments/${id}`, { token: deployer.apiKey }),
      (r) => r.body.status === 'reassigning' && /no eligible agent yet/.test(r.body.error ?? ''),
    );
    expect(reason.body.error).toMatch(new RegExp(`^Agent ${a} (unhealthy|silent) since `));
    expect(reason.body.reassignments).toMatchObject([{ from_agent_id: a, to_agent_id: null, outcome: null }]);

    const failed = await waitFor(
      'failed',
      () => deployment(id),
      (d) => d.status === 'failed',
      GIVE_UP_SECONDS * 1000 + 20_000,
    );
    expect(failed.error).toContain(`Failover gave up after ${GIVE_UP_SECONDS} s without an eligible agent`);
    const view = await api.get(`/api/v1/deployments/${id}`, { token: deployer.apiKey });
    expect(view.body.reassignments).toMatchObject([{ from_agent_id: a, to_agent_id: null, outcome: 'failed' }]);

    // Billed up to the move only: nothing for the time in reassigning, no final charge after it.
    const rows = await ledger(id);
    expect(rows.map((r) => r.ledger_key.split(':').slice(2).join(':'))).toEqual(['move1:deployer', 'move1:operator']);
    const moveCharge = -Number(rows[0]!.amount);
    expect(Number(failed.total_charged)).toBe(moveCharge);
    expect(await getBalance(stack.db, deployer.accountId)).toBe(20_000_000 - moveCharge);
  });

  it('the old agent coming back is told to undeploy before it can be placed again; the workload never ran twice', async () => {
    const dc = 'gcp:fo-back-a';
    const deployer = await account('deployer', 20);
    const a = await agent(dc);
    const b = await agent(dc);
    const { id } = await runningDeployment(deployer.apiKey, dc, 5);

    await loseAgent(a);
    await waitFor(
      'running on b',
      () => deployment(id),
      (d) => d.status === 'running' && d.agent_id === b,
    );
    // Lost and not reset yet: not placeable, even by name.
    const early = await api.post('/api/v1/deploy', {
      token: deployer.apiKey,
      json: { compose: COMPOSE, agent_id: a, dry_run: true },
    });
    expect(early.status, early.text).toBe(200);
    expect(early.body.eligible).toBe(false);
    expect(early.body.reason).toContain('only allowed for a free agent');

    fleet.revive(a);
    expect(fleet.agent(a).deploymentId).toBe(id); // it still claims the workload
    const undeploysBefore = fleet.agent(a).undeploys;
    await sweep();
    expect(fleet.agent(a).undeploys).toBe(undeploysBefore + 1);
    expect(fleet.agent(a).deploymentId).toBeNull();
    expect(await stack.db('agent_pending_resets').where({ agent_id: a }).first()).toBeUndefined();
    const row = await stack.db('agents').where({ agent_id: a }).first();
    expect(row).toMatchObject({ status: 'undeployed', current_deployment_id: null, health_status: 'healthy' });
    const later = await api.post('/api/v1/deploy', {
      token: deployer.apiKey,
      json: { compose: COMPOSE, agent_id: a, dry_run: true },
    });
    expect(later.body.eligible, later.text).toBe(true);

    // b still runs it; a's run ended (crash) before b's began.
    expect((await deployment(id)).status).toBe('running');
    const runs = expectNoOverlap(id, [a, b]);
    expect(runs.map((r) => r.a)).toEqual([a, b]);
  });

  it('an agent that is unhealthy but still reachable is stopped before the new agent runs the workload', async () => {
    const dc = 'gcp:fo-half-a';
    const deployer = await account('deployer', 20);
    const a = await agent(dc);
    const b = await agent(dc);
    const { id } = await runningDeployment(deployer.apiKey, dc, 5);
    expect(fleet.agent(a).runs.at(-1)).toMatchObject({ deploymentId: id, to: null });

    await loseAgent(a, 'unhealthy'); // answers 503 but runs the workload on
    await waitFor(
      'running on b',
      () => deployment(id),
      (d) => d.status === 'running' && d.agent_id === b,
    );
    expect(fleet.agent(a).undeploys).toBe(1);
    const runs = expectNoOverlap(id, [a, b]);
    expect(runs.map((r) => r.a)).toEqual([a, b]);
    // It took the undeploy, so it is not waiting for a reset.
    expect(await stack.db('agent_pending_resets').where({ agent_id: a }).first()).toBeUndefined();
  });

  it('a worker killed mid-failover resumes it with no duplicate deploy to the new agent', async () => {
    const dc = 'gcp:fo-kill-a';
    const deployer = await account('deployer', 20);
    const a = await agent(dc);
    const b = await agent(dc);
    const { id } = await runningDeployment(deployer.apiKey, dc, 5);
    // b takes the push but answers it only after a long while: the worker dies with the push in flight.
    fleet.agent(b).deployDelayMs = 60_000;

    await loseAgent(a);
    await waitFor(
      'the push to b',
      () => fleet.agent(b).deploys.length,
      (n) => n === 1,
    );
    await stack.stopWorker();
    expect((await deployment(id)).status).toBe('reassigning');
    await stack.startWorker();

    await waitFor(
      'running on b',
      () => deployment(id),
      (d) => d.status === 'running' && d.agent_id === b,
    );
    expect(fleet.agent(b).deploys).toHaveLength(1);
    // The push really was retried on the new worker (attempt 2), and the retry found the deploy already there.
    const history = await stack.client.workflow.getHandle(deploymentWorkflowId(id)).fetchHistory();
    const events = history.events ?? [];
    const pushIds = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'agentDeploy')
        .map((e) => String(e.eventId)),
    );
    expect(pushIds.size).toBe(2); // the first deploy, then the failover push
    const attempts = events
      .filter((e) => pushIds.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)))
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(Math.max(...attempts.map(Number))).toBeGreaterThanOrEqual(2);
    expectNoOverlap(id, [a, b]);
  });

  it('an encrypted deploy is not pushed to the new agent: it waits in reassigning for a fresh ciphertext, unbilled', async () => {
    const dc = 'gcp:fo-sealed-a';
    const deployer = await account('deployer', 20);
    const a = await agent(dc);
    const b = await agent(dc);
    // Attested secrets (#17): an env sealed to agent a's key (AAD: deployment id ‖ agent a); only the client can
    // re-encrypt it for b. The envelope is set on the row as the deploy route stores it.
    const { id } = await runningDeployment(deployer.apiKey, dc, 5);
    await stack
      .db('deployments')
      .where({ deployment_id: id })
      .update({ encrypted_env: JSON.stringify({ enc: 'ZW5j', ct: 'c2VhbGVkLWZvci1h' }) });

    await loseAgent(a);
    const waiting = await waitFor(
      'waiting for a ciphertext',
      () => deployment(id),
      (d) => d.status === 'reassigning' && d.error === `needs a fresh ciphertext for agent ${b}`,
    );
    expect(waiting.agent_id).toBe(b);
    expect(fleet.agent(b).deploys).toHaveLength(0);
    const chargedAtMove = Number(waiting.total_charged);

    // It stays there (not failed by the give-up time, which is about finding an agent) until it is undeployed.
    await new Promise((r) => setTimeout(r, GIVE_UP_SECONDS * 1000 + 500));
    expect((await deployment(id)).status).toBe('reassigning');
    const stop = await api.post(`/api/v1/agents/${b}/undeploy`, { token: admin });
    expect(stop.status, stop.text).toBe(200);
    const end = await waitFor(
      'stopped',
      () => deployment(id),
      (d) => d.status === 'stopped',
    );
    expect(Number(end.total_charged)).toBe(chargedAtMove);
    // Agent a has no operator account: its share is the platform's (unrecorded here), as for any charge.
    expect((await ledger(id)).map((r) => r.ledger_key.split(':').slice(2).join(':'))).toEqual(['move1:deployer']);
    expect(await stack.db('agents').where({ agent_id: b }).first()).toMatchObject({
      status: 'undeployed',
      current_deployment_id: null,
    });
  });
});
