/**
 * POST /api/v1/admin/billing/runs over HTTP against the real stack: a deployment that the hour's scheduled run did
 * not see is charged by an operator re-run of that hour, a second re-run charges nothing, and the ledger rows in
 * the database say so. Malformed and future hours are 422 with a detail; the route is admin-only.
 */
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hourLabel } from '../../core/billing';
import { appendLedgerEntry, getBalance } from '../../core/stores/ledger';
import { billingRunWorkflowId, type BillingRunCharged } from '../../workflows/contracts/billing';
import { seedAccount, seedDeployment } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

/** A random whole UTC hour in the past, so workflow ids of repeated runs on one dev server stay apart. */
function randomPastHour(): { hour: string; chargeMs: number } {
  const chargeMs = Date.UTC(2020, 0, 1) + Math.floor(Math.random() * 40_000) * 3_600_000;
  return { hour: hourLabel(chargeMs), chargeMs };
}

async function deployerRows(db: Knex, deploymentId: string) {
  return (await db('transactions')
    .where({ reference_id: deploymentId, tx_type: 'charge' })
    .select('ledger_key', 'amount')) as { ledger_key: string; amount: number | string }[];
}

describe('admin billing re-run', () => {
  let stack: Stack;
  let api: ReturnType<typeof http>;
  let token: string;
  beforeAll(async () => {
    stack = await startStack();
    api = http(stack.url);
    token = await adminLogin(stack.url);
  });
  afterAll(() => stack?.close());

  it('charges a deployment the scheduled run missed, once; a second re-run charges nothing', async () => {
    const { hour, chargeMs } = randomPastHour();
    const payer = (await seedAccount(stack.db)).account_id;
    await appendLedgerEntry(stack.db, { accountId: payer, amount: 10_000_000, txType: 'deposit' });
    const hourAgo = new Date(chargeMs - 3_600_000).toISOString();
    const early = (await seedDeployment(stack.db, { account_id: payer, started_at: hourAgo })).deployment_id;

    // The hour's scheduled run (as billingHourly starts it).
    const scheduled = (await stack.client.workflow.execute('billingRun', {
      taskQueue: stack.taskQueue,
      workflowId: billingRunWorkflowId(hour),
      args: [{ hour }],
    })) as BillingRunCharged;
    expect(scheduled).toMatchObject({ deploymentsCharged: 1, chargedMicros: 100_000 });

    // Running since before the hour, but recorded after its run (e.g. missed during an outage).
    const late = (await seedDeployment(stack.db, { account_id: payer, started_at: hourAgo })).deployment_id;
    expect(await deployerRows(stack.db, late)).toEqual([]);

    const first = await api.post('/api/v1/admin/billing/runs', { token, json: { hour } });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toEqual({
      workflow_id: `billing-run:${hour}:rerun-1`,
      hour,
      charge_time: new Date(chargeMs).toISOString(),
      status: 'charged',
      deployments_charged: 1,
      charged_micros: 100_000,
      charged_usd: '0.10',
      already_charged: 1,
      already_charged_micros: 100_000,
      already_charged_usd: '0.10',
      insufficient_funds: 0,
      skipped: 0,
      errors: 0,
      error_ids: [],
      ledger_rows: 1,
    });
    const lateRows = await deployerRows(stack.db, late);
    expect(lateRows.map((r) => [r.ledger_key, Number(r.amount)])).toEqual([
      [`charge:${late}:${hour}:deployer`, -100_000],
    ]);

    const second = await api.post('/api/v1/admin/billing/runs', { token, json: { hour } });
    expect(second.status, second.text).toBe(200);
    expect(second.body).toMatchObject({
      workflow_id: `billing-run:${hour}:rerun-2`,
      deployments_charged: 0,
      charged_micros: 0,
      already_charged: 2,
      already_charged_micros: 200_000,
      ledger_rows: 0,
    });
    for (const id of [early, late]) expect(await deployerRows(stack.db, id)).toHaveLength(1);
    expect(await getBalance(stack.db, payer)).toBe(10_000_000 - 200_000);
    const all = await stack.db('transactions').whereIn('reference_id', [early, late]).count({ n: '*' }).first();
    expect(Number(all?.n)).toBe(2);
    await stack.db('deployments').whereIn('deployment_id', [early, late]).update({ status: 'completed' });
  });

  it('defaults to the current UTC hour', async () => {
    const before = hourLabel(Date.now());
    const res = await api.post('/api/v1/admin/billing/runs', { token, json: {} });
    expect(res.status, res.text).toBe(200);
    expect([before, hourLabel(Date.now())]).toContain(res.body.hour);
    expect(res.body.workflow_id).toMatch(new RegExp(`^billing-run:${res.body.hour}:rerun-\\d+$`));
    expect(res.body).toMatchObject({ status: 'charged', deployments_charged: 0, errors: 0 });
  });

  it('refuses malformed and future hours with 422, and non-admins with 401', async () => {
    for (const hour of ['2026-11-24', '2026-11-24T5', 'yesterday', '2026-13-01T00', '2026-02-30T10']) {
      const res = await api.post('/api/v1/admin/billing/runs', { token, json: { hour } });
      expect(res.status, hour).toBe(422);
      expect(res.body.detail, hour).toBeTruthy();
    }
    const future = hourLabel(Date.now() + 2 * 3_600_000);
    const res = await api.post('/api/v1/admin/billing/runs', { token, json: { hour: future } });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ detail: `hour ${future} is in the future` });
    const anon = await api.post('/api/v1/admin/billing/runs', { json: { hour: '2026-01-01T00' } });
    expect(anon.status).toBe(401);
    expect(anon.body.detail).toBeTruthy();
  });
});
