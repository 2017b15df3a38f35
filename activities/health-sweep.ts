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
        .select('agent_id', 'hostname', 'last_attestation_check')
        .orderBy('agent_id')
        // One more than asked: tells whether another page exists, so the last page ends the sweep.
        .limit(limit + 1);
      if (input.afterAgentId !== null) q.where('agent_id', '>', input.afterAgentId);
      const found = (await q) as { agent_id: string; hostname: string; last_attestation_check: unknown }[];
      const rows = found.slice(0, limit);
      const nowMs = Date.now();
      const due = (last: unknown) =>
        !last || nowMs - new Date(last instanceof Date ? last : String(last)).getTime() > seconds * 1000;
      return {
        targets: rows.map((r) => ({
          agentId: r.agent_id,
          hostname: r.hostname,
          attest: pullOn && due(r.last_attestation_check),
        })),
        nextAfterAgentId: found.length > limit ? rows.at(-1)!.agent_id : null,
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
