/**
 * Operator re-run of a billing hour (issue #8 item 11): charges running deployments that have no charge for that
 * hour yet — started after the hour's scheduled run, or missed during an outage — and nothing twice (ledger keys).
 */
import { z } from 'zod';
import { hourLabel, hourStartIso } from '../../core/billing';
import { unprocessable } from '../http/errors';
import { formatUsd } from '../../core/money';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { runAdminWorkflow } from './admin-workflow';

const HOUR = /^\d{4}-\d{2}-\d{2}T\d{2}$/;

const RunView = z.object({
  workflow_id: z.string().describe('`billing-run:<hour>:rerun-<n>`, visible in the Temporal Web UI'),
  hour: z.string(),
  charge_time: z.string().describe('Usage is billed up to this instant (the start of the hour)'),
  status: z.enum(['charged', 'billing_disabled']),
  deployments_charged: z.number().int().describe('Deployments this re-run charged for the hour'),
  charged_micros: z.number().int(),
  charged_usd: z.string(),
  already_charged: z.number().int().describe('Deployments whose hour was charged before this re-run began'),
  already_charged_micros: z.number().int(),
  already_charged_usd: z.string(),
  insufficient_funds: z.number().int(),
  skipped: z.number().int(),
  errors: z.number().int(),
  error_ids: z.array(z.string()),
  ledger_rows: z.number().int(),
});

/** The hour to bill: default the current UTC hour; 422 for anything that is not a past or current UTC hour. */
function hourToBill(raw: string | undefined, now: Date): string {
  if (raw === undefined) return hourLabel(now);
  let start: string;
  try {
    start = hourStartIso(raw);
  } catch {
    throw unprocessable(`hour must be a UTC hour YYYY-MM-DDTHH (e.g. 2026-11-24T05), got "${raw}"`);
  }
  if (Date.parse(start) > now.getTime()) throw unprocessable(`hour ${raw} is in the future`);
  return raw;
}

export function adminBillingRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/billing/runs',
      summary: 'Re-run billing for an hour (default: the current UTC hour); charges only what is not charged yet',
      tag: 'admin',
      auth: 'admin',
      body: z
        .object({ hour: z.string().regex(HOUR, 'expected YYYY-MM-DDTHH').optional().describe('UTC hour') })
        .optional(),
      responses: {
        200: { description: 'The re-run finished; its totals', schema: RunView },
        422: { description: 'Malformed or future hour' },
        503: { description: 'The run failed or Temporal is unavailable' },
      },
    },
    async ({ body }) => {
      const hour = hourToBill(body?.hour, deps.now());
      const { workflowId, result } = await runAdminWorkflow(deps, () => deps.workflows.billing.rerunHour(hour));
      if ('skipped' in result && typeof result.skipped === 'string') {
        return {
          workflow_id: workflowId,
          hour,
          charge_time: result.chargeTime,
          status: 'billing_disabled' as const,
          deployments_charged: 0,
          charged_micros: 0,
          charged_usd: formatUsd(0),
          already_charged: 0,
          already_charged_micros: 0,
          already_charged_usd: formatUsd(0),
          insufficient_funds: 0,
          skipped: 0,
          errors: 0,
          error_ids: [],
          ledger_rows: 0,
        } satisfies z.infer<typeof RunView>;
      }
      const r = result as Extract<typeof result, { chargedUsd: string }>;
      return {
        workflow_id: workflowId,
        hour,
        charge_time: r.chargeTime,
        status: 'charged' as const,
        deployments_charged: r.deploymentsCharged,
        charged_micros: r.chargedMicros,
        charged_usd: r.chargedUsd,
        already_charged: r.alreadyCharged ?? 0,
        already_charged_micros: r.alreadyChargedMicros ?? 0,
        already_charged_usd: formatUsd(r.alreadyChargedMicros ?? 0),
        insufficient_funds: r.insufficientFunds,
        skipped: r.skipped,
        errors: r.errors,
        error_ids: r.errorIds,
        ledger_rows: r.ledgerRows,
      } satisfies z.infer<typeof RunView>;
    },
  );
}
