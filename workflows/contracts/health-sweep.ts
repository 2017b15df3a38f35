/**
 * The agent health sweep at fleet scale: the scheduled `agentHealthSweep` pages through the agents by id and fans
 * each page out to `agentHealthSweepBatch` children, a few at a time, each probing its agents with bounded
 * concurrency. The parent continues-as-new every `batchesPerRun` children, so no history grows with the fleet:
 * a child's history is at most ~12 events per target (probe + attestation refresh, each with its workflow task),
 * and a parent run's is bounded by `batchesPerRun`.
 */
import type { AgentHealthSweepResult } from './agents';

export const HEALTH_SWEEP_DEFAULTS = {
  /** Agents per child workflow. */
  batchSize: 100,
  /** Probes in flight per child. */
  probeConcurrency: 16,
  /** Children in flight at once (so at most parallelBatches × probeConcurrency probes fleet-wide). */
  parallelBatches: 4,
  /** Children per parent run before it continues-as-new. */
  batchesPerRun: 40,
} as const;

/** Largest accepted batch: keeps a child's history (≤ 12 events per target + a few) under 10,000 events. */
export const HEALTH_SWEEP_MAX_BATCH = 500;

export interface HealthSweepTarget {
  agentId: string;
  hostname: string;
  attest: boolean;
  /** A deployment moved away from this agent (failover): once it answers, it is told to undeploy that workload. */
  resetFor?: string | null;
}

export interface AgentHealthSweepInput {
  batchSize?: number;
  probeConcurrency?: number;
  parallelBatches?: number;
  batchesPerRun?: number;
  /** Carried across continue-as-new: the last agent id swept, the progress so far, when the sweep began. */
  progress?: {
    afterAgentId: string | null;
    batches: number;
    runs: number;
    startedAtMs: number;
    checked: number;
    healthy: number;
    attested: number;
  };
}

export interface AgentHealthSweepReport extends AgentHealthSweepResult {
  /** Child workflows run. */
  batches: number;
  /** Parent runs (1 + continue-as-new count). */
  runs: number;
  /** Wall time from the first run's start to the report. */
  durationMs: number;
}

export interface AgentHealthSweepBatchInput {
  targets: HealthSweepTarget[];
  probeConcurrency: number;
}

export type AgentHealthSweepBatchResult = AgentHealthSweepResult & {
  /** Agents a failover left that answered again and were told to undeploy (absent before failover existed). */
  reset?: number;
};

/** Child ids derive from the parent's id and the batch number, which continues across continue-as-new. */
export const healthSweepBatchId = (parentWorkflowId: string, batch: number) => `${parentWorkflowId}:batch:${batch}`;

/** Clamp a requested option into its safe range. */
export function sweepOption(value: number | undefined, fallback: number, max: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? Math.min(value, max) : fallback;
}
