/**
 * Bookkeeping of the batched health sweep (workflows/agent-health-sweep.ts): one page of targets at a time, keyed by
 * agent id, and the final report (log line + sweep-duration metric). Both are reads or observations, so retries are
 * harmless.
 */
import type { Knex } from 'knex';
import type { Logger } from '../core/logger';
import type { Metrics } from '../core/metrics';
import { settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import type { HealthSweepTarget } from '../workflows/contracts/health-sweep';

export interface HealthSweepDeps {
  db: Knex;
  settings: SettingsReader;
  logger: Logger;
  metrics?: Metrics;
}

export function createHealthSweepActivities(deps: HealthSweepDeps) {
  const { db, settings } = deps;
  const log = deps.logger.child('health-sweep');
  return {
    /**
     * Up to `limit` agents with a hostname after `afterAgentId` (keyset by primary key: no OFFSET scan, stable while
     * agents come and go); `attest` when pull mode is on and the last check is older than the interval.
     */
    async listHealthTargetPage(input: {
      afterAgentId: string | null;
      limit: number;
    }): Promise<{ targets: HealthSweepTarget[]; nextAfterAgentId: string | null }> {
      const limit = Math.max(1, Math.min(5000, Math.floor(input.limit)));
      const [pull, seconds] = await Promise.all([
        settings.get('operational.agent_attestation_pull_enabled'),
        settingInt(settings, 'operational.agent_attestation_interval'),
      ]);
      const pullOn = pull.trim() === 'true' && seconds > 0;
      const q = db('agents')
        .whereNotNull('hostname')
        .leftJoin('agent_pending_resets as r', 'r.agent_id', 'agents.agent_id')
        .select('agents.agent_id', 'agents.hostname', 'agents.last_attestation_check', 'r.deployment_id as reset_for')
        .orderBy('agents.agent_id')
        // One more than asked: tells whether another page exists, so the last page ends the sweep.
        .limit(limit + 1);
      if (input.afterAgentId !== null) q.where('agents.agent_id', '>', input.afterAgentId);
      const found = (await q) as {
        agent_id: string;
        hostname: string;
        last_attestation_check: unknown;
        reset_for: string | null;
      }[];
      const rows = found.slice(0, limit);
      const nowMs = Date.now();
      const due = (last: unknown) =>
        !last || nowMs - new Date(last instanceof Date ? last : String(last)).getTime() > seconds * 1000;
      return {
        targets: rows.map((r) => ({
          agentId: r.agent_id,
          hostname: r.hostname,
          attest: pullOn && due(r.last_attestation_check),
          ...(r.reset_for ? { resetFor: r.reset_for } : {}),
        })),
        nextAfterAgentId: found.length > limit ? rows.at(-1)!.agent_id : null,
      };
    },

    /**
     * Running deployments whose agent has been unhealthy — or silent: no heartbeat and no healthy probe — for longer
     * than `operational.reassign_after_seconds` (issue #20), oldest first, at most `limit`. The sweep signals each
     * one's workflow, which moves it; a deployment already moving is `reassigning` and not listed again.
     */
    async listLostDeployments(
      input: { limit?: number } = {},
    ): Promise<{ lost: { deploymentId: string; agentId: string; since: string; reason: string }[] }> {
      const seconds = await settingInt(settings, 'operational.reassign_after_seconds');
      if (!(seconds > 0)) return { lost: [] };
      const cutoff = new Date(Date.now() - seconds * 1000).toISOString();
      const rows = (await db('deployments as d')
        .join('agents as a', function () {
          this.on('a.agent_id', '=', 'd.agent_id').andOn('a.current_deployment_id', '=', 'd.deployment_id');
        })
        .where('d.status', 'running')
        .where((q) =>
          q
            .where((u) => u.where('a.health_status', 'unhealthy').andWhere('a.unhealthy_since', '<=', cutoff))
            .orWhere('a.last_contact_at', '<=', cutoff)
            .orWhere((m) => m.whereNull('a.last_contact_at').andWhere('a.last_heartbeat', '<=', cutoff)),
        )
        .orderBy('d.deployment_id')
        .limit(Math.max(1, Math.min(1000, input.limit ?? 500)))
        .select(
          'd.deployment_id',
          'a.agent_id',
          'a.health_status',
          'a.unhealthy_since',
          'a.last_contact_at',
          'a.last_heartbeat',
        )) as {
        deployment_id: string;
        agent_id: string;
        health_status: string;
        unhealthy_since: unknown;
        last_contact_at: unknown;
        last_heartbeat: unknown;
      }[];
      const iso = (v: unknown) => (v ? new Date(v instanceof Date ? v : String(v)).toISOString() : null);
      return {
        lost: rows.map((r) => {
          const unhealthy = r.health_status === 'unhealthy' ? iso(r.unhealthy_since) : null;
          const silent = iso(r.last_contact_at) ?? iso(r.last_heartbeat);
          const since = unhealthy && unhealthy <= cutoff ? unhealthy : (silent ?? cutoff);
          const reason =
            unhealthy && unhealthy <= cutoff
              ? `Agent ${r.agent_id} unhealthy since ${since}`
              : `Agent ${r.agent_id} silent since ${since}`;
          return { deploymentId: r.deployment_id, agentId: r.agent_id, since, reason };
        }),
      };
    },

    /** The sweep's outcome: one log line and the duration histogram; answers the duration it measured. */
    async reportHealthSweep(input: {
      startedAtMs: number;
      checked: number;
      healthy: number;
      attested: number;
      batches: number;
      runs: number;
    }): Promise<{ durationMs: number }> {
      const durationMs = Math.max(0, Date.now() - input.startedAtMs);
      deps.metrics?.sweepDuration.observe(durationMs / 1000);
      log.info(
        `health sweep: ${input.checked} agents (${input.healthy} healthy, ${input.attested} re-attested) in ` +
          `${input.batches} batches over ${input.runs} runs, ${durationMs} ms`,
      );
      return { durationMs };
    },
  };
}

export type HealthSweepActivities = ReturnType<typeof createHealthSweepActivities>;
