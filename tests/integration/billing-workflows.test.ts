/**
 * Billing through the real thing: Temporal + worker + Koa. The hourly run charges the scenario to the hand-computed
 * micro-dollar, a re-run and a worker crash leave the ledger as one clean run, the schedules exist, and the
 * terminator stops unfunded workloads through the agent's real undeploy endpoint.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchedules } from '../../bin/lib/schedules';
import { newApiKey } from '../../core/auth/api-keys';
import { seal } from '../../core/auth/seal';
import { MIN_CHARGE_MS, hourLabel } from '../../core/billing';
import { silentLogger } from '../../core/logger';
import { upsertSetting } from '../../core/stores/settings';
import { appendLedgerEntry, getBalance } from '../../core/stores/ledger';
import type { BillingHourlyResult, BillingRunCharged, BillingRunResult } from '../../workflows/contracts/billing';
import { SCHEDULES } from '../../workflows/contracts/schedules';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { EXPECTED, EXPECTED_CHARGES, randomHour, seedBillingScenario } from '../helpers/billing-fixture';
import { testEngines } from '../helpers/databases';
import { seedAccount, seedAgent, seedAgentSecret, seedDeployment } from '../helpers/seed';
import { recordHistory } from '../helpers/histories';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

type LedgerRow = { ledger_key: string; account_id: string; amount: number; tx_type: string };

async function ledgerOf(db: Knex, referenceIds: string[]): Promise<LedgerRow[]> {
  const rows = (await db('transactions')
    .whereIn('reference_id', referenceIds)
    .orderBy('ledger_key')
    .select('ledger_key', 'account_id', 'amount', 'tx_type')) as LedgerRow[];
  return rows.map((r) => ({ ...r, amount: Number(r.amount) }));
}

describe.each(testEngines())('billing workflows (%s)', (engine) => {
  let stack: Stack;
  let agentFake: FakeAgentServer;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    agentFake = await startFakeAgent();
    stack = await startStack({ engine, env: { AGENT_DIRECT_URL: agentFake.directUrlTemplate } });
    api = http(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await agentFake?.close();
  });

  async function setSetting(key: string, value: string) {
    await upsertSetting(stack.db, { key, value, isSecret: false });
    stack.deps.settings.invalidate();
  }

  const runBilling = (workflowId: string, hour: string, extra: Record<string, unknown> = {}) =>
    stack.client.workflow.execute('billingRun', {
      taskQueue: stack.taskQueue,
      workflowId,
      args: [{ hour, ...extra }],
    }) as Promise<BillingRunResult>;

  it('GET /api/v1/billing/rates serves the v1 rate card', async () => {
    const res = await api.get('/api/v1/billing/rates');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      rates: { cpu_per_vcpu_hr: 0.04, memory_per_gb_hr: 0.005, gpu_per_gpu_hr: 0.5, storage_per_gb_mo: 0.1 },
      currency: 'USD',
    });
  });

  it('one run charges every account to the hand-computed micro-dollar; a re-run of the hour changes nothing', async () => {
    const { hour, chargeMs } = randomHour();
    const f = await seedBillingScenario(stack.db, chargeMs, { withShares: false });
    await setSetting('billing.platform_account_id', f.accounts.P);

    // The two contributors arrive through the revenue-share API (admin).
    const token = await adminLogin(stack.url);
    for (const [accountId, bps, label] of [
      [f.accounts.C1, 6000, 'core'],
      [f.accounts.C2, 4000, 'docs'],
    ] as const) {
      const res = await api.post(`/api/v1/apps/${f.appName}/revenue-shares`, {
        token,
        json: { account_id: accountId, share_bps: bps, label },
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ account_id: accountId, share_bps: bps, share_percent: bps / 100, label });
    }

    const result = (await runBilling(`billing-run:${hour}`, hour, { batchSize: 2 })) as BillingRunCharged;
    await recordHistory(stack.client, `billing-run:${hour}`, 'billing', 'billing-run-batches');
    expect(result).toMatchObject({
      hour,
      deploymentsCharged: 5,
      insufficientFunds: 1,
      errors: 0,
      chargedMicros: 29_885_500,
      operatorMicros: EXPECTED.O,
      contributorMicros: EXPECTED.C1 + EXPECTED.C2,
      platformMicros: EXPECTED.P,
      unrecordedMicros: 0,
      chargedUsd: '29.8855',
    });
    for (const [name, id] of Object.entries(f.accounts)) {
      expect(await getBalance(stack.db, id), name).toBe(EXPECTED[name as keyof typeof EXPECTED]);
    }
    const deploymentIds = Object.values(f.deployments);
    const once = await ledgerOf(stack.db, deploymentIds);
    for (const [name, charge] of Object.entries(EXPECTED_CHARGES)) {
      const id = f.deployments[name as keyof typeof f.deployments];
      const rows = once.filter((r) => r.ledger_key.startsWith(`charge:${id}:${hour}:`));
      expect(rows.find((r) => r.tx_type === 'charge')?.amount, name).toBe(-charge);
      expect(
        rows.filter((r) => r.tx_type !== 'charge').reduce((a, r) => a + r.amount, 0),
        name,
      ).toBe(charge);
    }
    // v1 defect absent: a `running` deployment is charged (v1 only ever reached `completed` and billed nothing).
    expect(once.filter((r) => r.tx_type === 'charge')).toHaveLength(5);
    expect((await stack.db('deployments').where({ deployment_id: f.deployments.d5 }).first()).status).toBe(
      'insufficient_funds',
    );

    // The same hour again: under the same business id, and as an explicit re-run.
    expect(await runBilling(`billing-run:${hour}`, hour)).toMatchObject({ deploymentsCharged: 0, ledgerRows: 0 });
    const rerun = (await runBilling(`billing-run:${hour}:rerun-1`, hour)) as BillingRunCharged;
    // What the first run charged is reported as charged before this run, not as this run's.
    expect(rerun).toMatchObject({
      deploymentsCharged: 0,
      chargedMicros: 0,
      ledgerRows: 0,
      alreadyCharged: 5,
      alreadyChargedMicros: 29_885_500,
      alreadyChargedUsd: '29.8855',
    });
    expect(await ledgerOf(stack.db, deploymentIds)).toEqual(once);
    for (const [name, id] of Object.entries(f.accounts)) {
      expect(await getBalance(stack.db, id), name).toBe(EXPECTED[name as keyof typeof EXPECTED]);
    }

    // Revenue-share API: list, limits, delete.
    const list = await api.get(`/api/v1/apps/${f.appName}/revenue-shares`);
    expect(list.body).toMatchObject({ app_name: f.appName, total_bps: 10_000, total_percent: 100 });
    expect(list.body.shares.map((s: { account_id: string }) => s.account_id)).toEqual([f.accounts.C1, f.accounts.C2]);
    const over = await api.post(`/api/v1/apps/${f.appName}/revenue-shares`, {
      token,
      json: { account_id: f.accounts.C1, share_bps: 1 },
    });
    expect(over.status).toBe(409);
    expect(over.body.detail).toBe('Revenue share total exceeds 10000 bps: current=10000, requested=1');
    const wrongType = await api.post(`/api/v1/apps/${f.appName}/revenue-shares`, {
      token,
      json: { account_id: f.accounts.D1, share_bps: 1 },
    });
    expect(wrongType.status).toBe(409);
    expect(wrongType.body.detail).toBe("Revenue share account_type must be 'contributor' or 'agent'");
    expect(
      (
        await api.post(`/api/v1/apps/${f.appName}/revenue-shares`, {
          json: { account_id: f.accounts.C1, share_bps: 1 },
        })
      ).status,
    ).toBe(401);
    expect((await api.get('/api/v1/apps/no-such-app/revenue-shares')).status).toBe(404);
    const shareId = list.body.shares[1].share_id as string;
    const del = await api.delete(`/api/v1/apps/${f.appName}/revenue-shares/${shareId}`, { token });
    expect(del.body).toEqual({ status: 'deleted', share_id: shareId, app_name: f.appName });
    expect((await api.delete(`/api/v1/apps/${f.appName}/revenue-shares/${shareId}`, { token })).status).toBe(404);

    await stack.db('deployments').whereIn('deployment_id', deploymentIds).update({ status: 'completed' });
  });

  it('a worker killed during a run resumes it; the ledger equals one clean run', async () => {
    const { hour, chargeMs } = randomHour();
    const payer = (await seedAccount(stack.db)).account_id;
    const operator = (await seedAccount(stack.db, { account_type: 'agent' })).account_id;
    await appendLedgerEntry(stack.db, { accountId: payer, amount: 1_000_000_000, txType: 'deposit' });
    const agentId = (await seedAgent(stack.db, { account_id: operator })).agent_id;
    const platform = (await seedAccount(stack.db)).account_id;
    await setSetting('billing.platform_account_id', platform);
    const N = 300;
    const rows = Array.from({ length: N }, () => ({
      deployment_id: randomUUID(),
      compose: 'c2VydmljZXM6IHt9',
      config: '{}',
      agent_id: agentId,
      account_id: payer,
      status: 'running',
      created_at: new Date().toISOString(),
      started_at: new Date(chargeMs - 3_600_000).toISOString(),
    }));
    for (let i = 0; i < rows.length; i += 100) await stack.db('deployments').insert(rows.slice(i, i + 100));
    const ids = rows.map((r) => r.deployment_id);

    const handle = await stack.client.workflow.start('billingRun', {
      taskQueue: stack.taskQueue,
      workflowId: `billing-run:${hour}`,
      args: [{ hour, batchSize: 5, concurrency: 2 }],
    });
    // Kill the worker once charging is under way, then bring it back.
    for (let i = 0; i < 400; i++) {
      const n = Number((await stack.db('transactions').whereIn('reference_id', ids).count({ n: '*' }).first())?.n);
      if (n > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await stack.stopWorker();
    const charged = Number(
      (
        await stack
          .db('transactions')
          .whereIn('reference_id', ids)
          .where({ tx_type: 'charge' })
          .count({ n: '*' })
          .first()
      )?.n,
    );
    expect(charged).toBeGreaterThan(0);
    expect(charged).toBeLessThan(N); // the crash really interrupted the run
    await stack.startWorker();
    const result = (await handle.result()) as BillingRunCharged;
    expect(result.errors).toBe(0);
    // The run's result equals the ledger: chunks committed by the attempt the crash interrupted count as charged
    // by this run (not as skipped), and nothing was charged before the run began.
    expect(result).toMatchObject({
      deploymentsCharged: N,
      chargedMicros: N * 100_000,
      operatorMicros: N * 70_000,
      platformMicros: N * 30_000,
      ledgerRows: 3 * N,
      alreadyCharged: 0,
      alreadyChargedMicros: 0,
      skipped: 0,
    });

    // One clean run: per deployment exactly deployer −100_000, operator +70_000, platform +30_000.
    const ledger = await ledgerOf(stack.db, ids);
    expect(ledger).toHaveLength(3 * N);
    const expected = ids
      .flatMap((id) => [
        { ledger_key: `charge:${id}:${hour}:deployer`, account_id: payer, amount: -100_000, tx_type: 'charge' },
        { ledger_key: `charge:${id}:${hour}:operator`, account_id: operator, amount: 70_000, tx_type: 'earning' },
        {
          ledger_key: `charge:${id}:${hour}:platform`,
          account_id: platform,
          amount: 30_000,
          tx_type: 'platform_revenue',
        },
      ])
      .sort((a, b) => (a.ledger_key < b.ledger_key ? -1 : 1));
    expect(ledger).toEqual(expected);
    expect(await getBalance(stack.db, payer)).toBe(1_000_000_000 - N * 100_000);
    expect(await getBalance(stack.db, operator)).toBe(N * 70_000);
    expect(await getBalance(stack.db, platform)).toBe(N * 30_000);
    const totals = await stack.db('deployments').whereIn('deployment_id', ids).sum({ t: 'total_charged' }).first();
    expect(Number(totals?.t)).toBe(N * 100_000);
    await stack.db('deployments').whereIn('deployment_id', ids).update({ status: 'completed' });
  });

  // Registered for one engine only (not skipped on the other).
  if (engine === 'sqlite')
    it('a deployment the agent confirms running (deploy API → agent callback) is charged by the next run', async () => {
      const k = await newApiKey(stack.deps.sealingKey);
      const deployer = (
        await seedAccount(stack.db, { account_type: 'deployer', api_key_hash: k.hash, api_key_prefix: k.prefix })
      ).account_id;
      await appendLedgerEntry(stack.db, { accountId: deployer, amount: 5_000_000, txType: 'deposit' });
      const a = await seedAgent(stack.db);
      const secret = await seedAgentSecret(stack.db, a.agent_id);
      await stack
        .db('agent_control_credentials')
        .where({ agent_id: a.agent_id })
        .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
      agentFake.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
      // Only this agent may take the deployment.
      await stack.db('agents').whereNot({ agent_id: a.agent_id }).update({ verified: false });

      const res = await api.post('/api/v1/deploy', {
        token: k.key,
        json: { compose: 'services:\n  web:\n    image: nginx\n', app_name: 'billed-app', agent_id: a.agent_id },
      });
      expect(res.status, res.text).toBe(202);
      const id = res.body.deployment_id as string;
      let row: { status: string; started_at: string | Date | null; account_id: string | null } | undefined;
      for (let i = 0; i < 200; i++) {
        row = await stack.db('deployments').where({ deployment_id: id }).first();
        if (row?.status === 'running') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(row).toMatchObject({ status: 'running', account_id: deployer });

      // The next hour boundary that is a billable period after the start: within MIN_CHARGE_MS of the boundary
      // the run rightly skips it as too soon (a run of this test at hh:59:30 did), so take the hour after.
      const startedMs = new Date(row!.started_at!).getTime();
      let chargeMs = (Math.floor(Date.now() / 3_600_000) + 1) * 3_600_000;
      if (chargeMs - startedMs < MIN_CHARGE_MS) chargeMs += 3_600_000;
      const hour = hourLabel(chargeMs);
      const elapsedMs = chargeMs - startedMs;
      const expected = Math.floor((100_000 * elapsedMs) / 3_600_000 + 0.5);
      const result = (await runBilling(`billing-run:${hour}:deploy-${id}`, hour)) as BillingRunCharged;
      expect(result.errors).toBe(0);
      const debit = await stack
        .db('transactions')
        .where({ ledger_key: `charge:${id}:${hour}:deployer` })
        .first();
      expect(Number(debit.amount)).toBe(-expected);
      expect(await getBalance(stack.db, deployer)).toBe(5_000_000 - expected);

      // When billing stops it for lack of funds, the deployment's own workflow ends too (no undeploy left waiting).
      await stack.db('deployments').where({ deployment_id: id }).update({ status: 'insufficient_funds' });
      await stack.client.workflow.execute('terminateUnfunded', {
        taskQueue: stack.taskQueue,
        workflowId: `terminate-unfunded:${randomUUID()}`,
      });
      const ended = await stack.client.workflow.getHandle(`deployment:${id}`).result();
      expect(ended).toMatchObject({ deploymentId: id, outcome: 'stopped', error: 'Insufficient funds' });
      await recordHistory(stack.client, `deployment:${id}`, 'deployments', 'deploy-stopped-by-billing');
      expect(await stack.db('deployments').where({ deployment_id: id }).first()).toMatchObject({ status: 'stopped' });
      await stack.db('agents').update({ verified: true });
    });

  it('billing.enabled=false: the run completes as skipped and charges nothing', async () => {
    const { hour, chargeMs } = randomHour();
    const payer = (await seedAccount(stack.db)).account_id;
    await appendLedgerEntry(stack.db, { accountId: payer, amount: 1_000_000, txType: 'deposit' });
    const { deployment_id } = await seedDeployment(stack.db, {
      account_id: payer,
      started_at: new Date(chargeMs - 3_600_000).toISOString(),
    });
    await setSetting('billing.enabled', 'false');
    try {
      expect(await runBilling(`billing-run:${hour}`, hour)).toEqual({
        hour,
        chargeTime: `${hour}:00:00.000Z`,
        skipped: 'billing disabled',
      });
      expect(await getBalance(stack.db, payer)).toBe(1_000_000);
    } finally {
      await setSetting('billing.enabled', 'true');
      await stack.db('deployments').where({ deployment_id }).update({ status: 'completed' });
    }
  });

  // The current hour's billing-run id is namespace-wide: one engine exercises the real schedule.
  // Registered for one engine only (not skipped on the other).
  if (engine === 'sqlite')
    it('the billing-hourly schedule runs hourly and a trigger produces billing-run:<hour> with the totals', async () => {
      const def = SCHEDULES.find((s) => s.scheduleId === 'billing-hourly')!;
      // Schedule ids are namespace-wide: this test's own copy of the definition.
      const mine = {
        ...def,
        scheduleId: `billing-hourly-${stack.taskQueue}`,
        workflowId: `billing-hourly-${stack.taskQueue}`,
      };
      await ensureSchedules(stack.client, stack.taskQueue, silentLogger(), [mine]);
      const handle = stack.client.schedule.getHandle(mine.scheduleId);
      try {
        const desc = await handle.describe();
        // What the server holds is what the product declares (the run-to-hour mapping below relies on hourly).
        expect(desc.spec.intervals?.[0]?.every).toBe(def.everyMs);
        expect(desc.action).toMatchObject({ type: 'startWorkflow', workflowType: def.workflowType });

        // A deployment running since before the previous hour: the current hour's run bills it.
        const payer = (await seedAccount(stack.db)).account_id;
        await appendLedgerEntry(stack.db, { accountId: payer, amount: 1_000_000, txType: 'deposit' });
        const hourStart = Math.floor(Date.now() / 3_600_000) * 3_600_000;
        const { deployment_id } = await seedDeployment(stack.db, {
          account_id: payer,
          started_at: new Date(hourStart - 3_600_000).toISOString(),
        });

        // Both triggers must land in one UTC hour: near the turn of the hour, wait it out first.
        const toNextHour = hourStart + 3_600_000 - Date.now();
        if (toNextHour < 20_000) await new Promise((r) => setTimeout(r, toNextHour + 1_000));
        const hour = hourLabel(Date.now());

        const results: BillingHourlyResult[] = [];
        for (let trigger = 0; trigger < 2; trigger++) {
          const seen = (await handle.describe()).info.recentActions.length;
          await handle.trigger();
          let started: { workflowId: string; firstExecutionRunId: string } | undefined;
          for (let i = 0; i < 200 && !started; i++) {
            const recent = (await handle.describe()).info.recentActions;
            if (recent.length > seen) started = recent[recent.length - 1]?.action.workflow;
            else await new Promise((r) => setTimeout(r, 50));
          }
          expect(started).toBeDefined();
          results.push(
            (await stack.client.workflow
              .getHandle(started!.workflowId, started!.firstExecutionRunId)
              .result()) as BillingHourlyResult,
          );
        }
        const [first, second] = results;
        expect(first).toMatchObject({ hour, runWorkflowId: `billing-run:${hour}`, started: true });
        expect(first!.result).toMatchObject({ deploymentsCharged: 1, chargedMicros: 100_000 });
        const run = await stack.client.workflow.getHandle(`billing-run:${hour}`).describe();
        expect(run.type).toBe('billingRun');
        expect(second).toEqual({ hour, runWorkflowId: `billing-run:${hour}`, started: false });
        expect(await getBalance(stack.db, payer)).toBe(900_000);
        await stack.db('deployments').where({ deployment_id }).update({ status: 'completed' });
      } finally {
        await handle.delete();
      }
    }, 90_000);

  it('terminate-unfunded stops the workload through the agent undeploy endpoint, then sets it stopped', async () => {
    const agentId = (await seedAgent(stack.db, { status: 'deployed' })).agent_id;
    const fake = agentFake.agent(agentId, { status: 'deployed' });
    const { deployment_id } = await seedDeployment(stack.db, { agent_id: agentId, status: 'insufficient_funds' });
    await stack.db('agents').where({ agent_id: agentId }).update({ current_deployment_id: deployment_id });
    // An agent that fails first: the pass reports it, the deployment stays unfunded for the next pass.
    const other = (await seedAgent(stack.db)).agent_id;
    const failing = (await seedDeployment(stack.db, { agent_id: other, status: 'insufficient_funds' })).deployment_id;
    agentFake.failNext(10, 409, { agentId: other, pathIncludes: '/api/undeploy' });

    const result = (await stack.client.workflow.execute('terminateUnfunded', {
      taskQueue: stack.taskQueue,
      workflowId: `terminate-unfunded:${randomUUID()}`,
    })) as { stopped: number; failed: number; failedIds: string[] };
    expect(result).toMatchObject({ stopped: 1, failed: 1, failedIds: [failing] });
    // v1 defect absent: the real undeploy route was called (v1 posted /api/terminate, which no agent serves).
    expect(fake.undeploys).toBe(1);
    expect(
      agentFake.requests.some((r) => r.agentId === agentId && r.method === 'POST' && r.path === '/api/undeploy'),
    ).toBe(true);
    expect(agentFake.requests.some((r) => r.path === '/api/terminate')).toBe(false);
    const dep = await stack.db('deployments').where({ deployment_id }).first();
    expect(dep).toMatchObject({ status: 'stopped', error: 'Insufficient funds' });
    const agent = await stack.db('agents').where({ agent_id: agentId }).first();
    expect(agent).toMatchObject({ status: 'undeployed', current_deployment_id: null });
    expect((await stack.db('deployments').where({ deployment_id: failing }).first()).status).toBe('insufficient_funds');
    await stack.db('deployments').where({ deployment_id: failing }).update({ status: 'stopped' });
  });
});
