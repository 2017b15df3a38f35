/**
 * `billingRun` with stub activities: billing disabled, pagination by cursor (a short last page, an exact last page),
 * batches charged at most `concurrency` at a time, errors counted and their ids capped, and a run resuming from the
 * state continue-as-new carries (cursor, totals and config: the config is not read again). Stubs know their run by
 * the workflow id in the activity context.
 */
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { billingRun } from '../../../workflows/billing-run';
import { hourStartIso } from '../../../core/billing';
import { formatUsd } from '../../../core/money';
import {
  billingRunWorkflowId,
  zeroChargeCounters,
  type BillingConfig,
  type BillingRunInput,
  type BillingRunTotals,
  type ChargeBatchInput,
} from '../../../workflows/contracts/billing';
import { startStubWorker, type StubWorker } from '../../helpers/stub-worker';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MICROS_PER_ID = 1000;

interface Run {
  config: BillingConfig;
  ids: string[];
  lists: { after: string; limit: number }[];
  batches: ChargeBatchInput[];
  configReads: number;
  inFlight: number;
  maxInFlight: number;
}

describe('billingRun workflow (stub activities)', () => {
  let w: StubWorker;
  const runs = new Map<string, Run>();
  const runOf = () => runs.get(Context.current().info.workflowExecution!.workflowId)!;
  let hourNo = 0;

  beforeAll(async () => {
    w = await startStubWorker({
      billingConfig: async () => {
        const r = runOf();
        r.configReads++;
        return r.config;
      },
      listChargeableDeployments: async (input: { after: string; limit: number }) => {
        const r = runOf();
        r.lists.push(input);
        return { ids: r.ids.filter((id) => id > input.after).slice(0, input.limit) };
      },
      chargeBatch: async (input: ChargeBatchInput) => {
        const r = runOf();
        r.batches.push(input);
        r.inFlight++;
        r.maxInFlight = Math.max(r.maxInFlight, r.inFlight);
        await sleep(50);
        r.inFlight--;
        const n = input.deploymentIds.length;
        // Every id fails once: errors count per id and errorIds are kept up to 20.
        return {
          ...zeroChargeCounters(),
          charged: n,
          chargedMicros: n * MICROS_PER_ID,
          ledgerRows: n,
          errors: n,
          errorIds: input.deploymentIds,
        };
      },
    });
  });
  afterAll(async () => {
    await w?.close();
  });

  const ids = (n: number) => Array.from({ length: n }, (_, i) => `d${String(i + 1).padStart(3, '0')}`);

  async function run(
    config: Partial<BillingConfig>,
    idList: string[],
    opts: Omit<BillingRunInput, 'hour'> = {},
  ): Promise<{ run: Run; hour: string; result: Awaited<ReturnType<typeof billingRun>> }> {
    const hour = `2031-01-${String(1 + Math.floor(hourNo / 24)).padStart(2, '0')}T${String(hourNo % 24).padStart(2, '0')}`;
    hourNo++;
    const r: Run = {
      config: {
        enabled: true,
        contributorPoolBps: 3000,
        platformAccountId: 'platform',
        startedAt: '2031-01-01T00:00:05.000Z',
        ...config,
      },
      ids: idList,
      lists: [],
      batches: [],
      configReads: 0,
      inFlight: 0,
      maxInFlight: 0,
    };
    runs.set(billingRunWorkflowId(hour), r);
    const result = await w.client.workflow.execute<typeof billingRun>('billingRun', {
      taskQueue: w.taskQueue,
      workflowId: billingRunWorkflowId(hour),
      args: [{ hour, ...opts }],
    });
    return { run: r, hour, result };
  }

  it('billing disabled: skipped, nothing listed or charged', async () => {
    const { run: r, hour, result } = await run({ enabled: false }, ids(5));
    expect(result).toEqual({ hour, chargeTime: hourStartIso(hour), skipped: 'billing disabled' });
    expect(r.lists).toEqual([]);
    expect(r.batches).toEqual([]);
  });

  it('pages by cursor, charges every id once in batches, at most `concurrency` at a time, and counts errors', async () => {
    const all = ids(25);
    const { run: r, hour, result } = await run({}, all, { pageSize: 10, batchSize: 3, concurrency: 2 });
    // A short last page ends the listing: no call after it.
    expect(r.lists).toEqual([
      { after: '', limit: 10 },
      { after: 'd010', limit: 10 },
      { after: 'd020', limit: 10 },
    ]);
    const charged = r.batches.flatMap((b) => b.deploymentIds);
    expect([...charged].sort()).toEqual(all);
    expect(r.batches.every((b) => b.deploymentIds.length <= 3)).toBe(true);
    expect(r.batches).toHaveLength(10);
    expect(r.maxInFlight).toBe(2);
    expect(r.batches[0]).toMatchObject({
      hour,
      chargeTime: hourStartIso(hour),
      contributorPoolBps: 3000,
      platformAccountId: 'platform',
      runStartedAt: '2031-01-01T00:00:05.000Z',
    });
    expect(result).toMatchObject({
      hour,
      deploymentsCharged: 25,
      batches: 10,
      errors: 25,
      chargedMicros: 25 * MICROS_PER_ID,
      chargedUsd: formatUsd(25 * MICROS_PER_ID),
      ledgerRows: 25,
    });
    expect('errorIds' in result && result.errorIds).toHaveLength(20);
  });

  it('an exact last page asks once more and stops on the empty answer', async () => {
    const { run: r, result } = await run({}, ids(20), { pageSize: 10, batchSize: 10 });
    expect(r.lists.map((l) => l.after)).toEqual(['', 'd010', 'd020']);
    expect(result).toMatchObject({ deploymentsCharged: 20, batches: 2 });
  });

  it('resumes from continue-as-new state: the cursor, the totals so far and the carried config', async () => {
    const carried: BillingRunTotals = {
      ...zeroChargeCounters(),
      deploymentsCharged: 7,
      batches: 1,
      chargedMicros: 7 * MICROS_PER_ID,
      errors: 2,
      errorIds: ['old-1', 'old-2'],
      alreadyCharged: 0,
      alreadyChargedMicros: 0,
    };
    const config: BillingConfig = {
      enabled: true,
      contributorPoolBps: 1234,
      platformAccountId: 'carried',
      startedAt: '2031-01-01T00:00:09.000Z',
    };
    const { run: r, result } = await run({ contributorPoolBps: 1 }, ids(12), {
      pageSize: 10,
      batchSize: 10,
      state: { cursor: 'd007', totals: carried, config },
    });
    expect(r.configReads).toBe(0);
    expect(r.lists[0]).toEqual({ after: 'd007', limit: 10 });
    expect(r.batches.flatMap((b) => b.deploymentIds)).toEqual(['d008', 'd009', 'd010', 'd011', 'd012']);
    expect(r.batches[0]).toMatchObject({ contributorPoolBps: 1234, platformAccountId: 'carried' });
    expect(result).toMatchObject({ deploymentsCharged: 12, batches: 2, errors: 7 });
    expect('errorIds' in result && result.errorIds.slice(0, 2)).toEqual(['old-1', 'old-2']);
  });
});
