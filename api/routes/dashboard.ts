/**
 * Read endpoints the web dashboard (web/, served by ./web.ts) needs beyond the v1 API: where the Temporal Web UI is,
 * an agent's measurements beside the trusted baseline, the ledger's daily charges and earnings, and an account's
 * ledger for admins (the v1 listing takes the account's own API key only).
 */
import { DAY_MS } from '../../core/time';
import type { Context } from 'koa';
import { z } from 'zod';
import { sessionIdentities } from '../../core/auth/admin-sessions';
import { isOwnedBy } from '../../core/auth/github-oidc';
import { RTMR_KEYS, lookupRtmrBaseline, mergeTrustedMrtds, parseRtmrProfiles } from '../../core/attestation/policy';
import { parseJsonColumn } from '../../core/db/tables';
import { forbidden, notFound } from '../http/errors';
import { microsToUsd } from '../../core/money';
import { getAccount } from '../../core/stores/accounts';
import { getAgent } from '../../core/stores/agents';
import { countTransactions, listTransactions } from '../../core/stores/ledger';
import { dailyLedgerTotals } from '../../core/stores/ledger-reports';
import { listTrustedMrtds } from '../../core/stores/trusted-mrtds';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { TransactionView, txView } from './accounts';

const DashboardConfig = z.object({
  temporal_ui_url: z.string().describe('Temporal Web UI base URL (setting operational.temporal_ui_url); "" = none'),
  temporal_namespace: z.string(),
});

const Measurement = z.object({
  name: z.string().describe('mrtd, rtmr0 … rtmr3'),
  actual: z.string().nullable().describe('What the agent’s attestation carries'),
  baseline: z.string().nullable().describe('What the trust policy expects; null when nothing is configured'),
  match: z.boolean().nullable().describe('null when there is nothing to compare'),
});
const Baseline = z.object({
  agent_id: z.string(),
  mrtd_type: z.enum(['agent', 'proxy']).nullable().describe('Trusted type of the agent’s MRTD, null if not trusted'),
  node_size: z.string(),
  measurements: z.array(Measurement),
  trusted_mrtds: z.array(z.object({ mrtd: z.string(), type: z.enum(['agent', 'proxy']) })),
});

const DailyLedger = z.object({
  days: z.array(
    z.object({
      day: z.string().describe('UTC day YYYY-MM-DD'),
      charges: z.number().describe('USD charged to deployers that day'),
      earnings: z.number().describe('USD credited to operators, contributors and the platform that day'),
    }),
  ),
});

const AccountParam = z.object({ account_id: z.string() });
const AgentParam = z.object({ agent_id: z.string() });

export function dashboardRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/dashboard/config',
      summary: 'What the dashboard needs to link objects to their workflow runs in the Temporal Web UI',
      tag: 'dashboard',
      auth: 'session',
      responses: { 200: { description: 'Links', schema: DashboardConfig } },
    },
    async () => ({
      temporal_ui_url: (await deps.settings.get('operational.temporal_ui_url')).trim().replace(/\/+$/, ''),
      temporal_namespace: deps.config.temporal.namespace,
    }),
  );

  /** owner-or-admin, as /api/v1/me/agents/{agent_id}: 404, then 403. */
  const ownedAgent = async (ctx: Context, agentId: string) => {
    const agent = await getAgent(deps.db, agentId);
    if (!agent) throw notFound('Agent not found');
    if (!ctx.state.isAdmin && !isOwnedBy(sessionIdentities(ctx.state.session!), agent.github_owner)) {
      throw forbidden('Not authorized for this agent');
    }
    return agent;
  };
  /** What `ownedAgent` answers besides the route's own success. */
  const ownedAgentErrors = {
    403: { description: 'Not the owner and not an admin' },
    404: { description: 'Agent not found' },
  };

  routes.add(
    {
      method: 'get',
      path: '/api/v1/me/agents/:agent_id/baseline',
      summary: 'The agent’s MRTD and RTMRs beside the trusted baseline the attestation policy compares them with',
      tag: 'me',
      auth: 'session',
      params: AgentParam,
      responses: {
        200: { description: 'Side by side', schema: Baseline },
        ...ownedAgentErrors,
      },
    },
    async ({ params }, ctx) => {
      const a = await ownedAgent(ctx, params.agent_id);
      const trusted = mergeTrustedMrtds(deps.config.trustedMrtdEnv, await listTrustedMrtds(deps.db));
      const mrtd = a.mrtd.trim().toLowerCase();
      const type = trusted.get(mrtd) ?? null;
      const profiles = parseRtmrProfiles(deps.config.trustedRtmrEnv).profiles;
      const rtmrBaseline = lookupRtmrBaseline(profiles, type ?? 'agent', a.node_size);
      const actualRtmrs = parseJsonColumn<Record<string, unknown> | null>(a.rtmrs, null);
      const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim().toLowerCase() : null);
      const compare = (actual: string | null, baseline: string | null) =>
        actual === null || baseline === null ? null : actual === baseline;
      const measurements: z.infer<typeof Measurement>[] = [
        // The MRTD baseline is the trusted list: the agent's own value when it is on it.
        { name: 'mrtd', actual: mrtd || null, baseline: type ? mrtd : null, match: trusted.size > 0 ? !!type : null },
        ...RTMR_KEYS.map((k) => {
          const actual = text(actualRtmrs?.[k]);
          const baseline = text(rtmrBaseline?.[k]);
          return { name: k, actual, baseline, match: compare(actual, baseline) };
        }),
      ];
      return {
        agent_id: a.agent_id,
        mrtd_type: type,
        node_size: a.node_size ?? '',
        measurements,
        trusted_mrtds: [...trusted].map(([m, t]) => ({ mrtd: m, type: t })),
      } satisfies z.infer<typeof Baseline>;
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/ledger/daily',
      summary: 'Charges and earnings per UTC day over the last `days` days (today included), every account',
      tag: 'admin',
      auth: 'admin',
      query: z.object({ days: z.coerce.number().int().min(1).max(366).optional().default(30) }),
      responses: { 200: { description: 'Oldest day first, days without entries as zeros', schema: DailyLedger } },
    },
    async ({ query }) => {
      const today = deps.now();
      const from = new Date(today.getTime() - (query.days - 1) * DAY_MS).toISOString().slice(0, 10);
      const rows = await dailyLedgerTotals(deps.db, from, today.toISOString().slice(0, 10));
      return {
        days: rows.map((r) => ({ day: r.day, charges: microsToUsd(r.charges), earnings: microsToUsd(r.earnings) })),
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/accounts/:account_id/transactions',
      summary: 'Ledger entries of any account, newest first (admin)',
      tag: 'admin',
      auth: 'admin',
      params: AccountParam,
      query: z.object({
        limit: z.coerce.number().int().min(0).max(200).optional().default(50),
        offset: z.coerce.number().int().min(0).optional().default(0),
      }),
      responses: {
        200: {
          description: 'Entries',
          schema: z.object({ transactions: z.array(TransactionView), total: z.number() }),
        },
        404: { description: 'Account not found' },
      },
    },
    async ({ params, query }) => {
      if (!(await getAccount(deps.db, params.account_id))) throw notFound('Account not found');
      const rows = await listTransactions(deps.db, params.account_id, query.offset + query.limit);
      const total = await countTransactions(deps.db, params.account_id);
      return { transactions: rows.slice(query.offset).map(txView), total };
    },
  );
}
